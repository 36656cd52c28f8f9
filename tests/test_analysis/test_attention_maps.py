"""Attention recording through the family's hooks (mmseg_cbsa/analysis/attention_maps.py)."""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import mmseg_cbsa  # noqa: F401  (registers modules)
from mmseg_cbsa.analysis.attention_maps import (AttentionRecorder, extraction_centroids,
                                                representative_cells)
from mmseg_cbsa.models.attentions import CBSA
from mmseg_cbsa.models.backbones.white_box import CBT


class _Segmentor(nn.Module):
    """The attributes AttentionRecorder reads: ``backbone``, ``data_preprocessor``."""

    def __init__(self, backbone: nn.Module, data_preprocessor: nn.Module = None) -> None:
        super().__init__()
        self.backbone = backbone
        if data_preprocessor is not None:
            self.data_preprocessor = data_preprocessor


def test_cbsa_maps_are_the_layers_own_extraction_matrix():
    """Without extra tokens every row of A sums to 1 over the patches, and
    A^T A from the recorded maps is the attention the layer itself returns."""
    layer = CBSA(16, num_heads=2, rep_grid=(2, 3)).eval()
    x = torch.randn(2, 4 * 6, 16)
    plain = layer(x, (4, 6), 0)
    tokens = []
    handle = layer.register_attention_hook(lambda m, maps: tokens.append(maps.tokens))
    with AttentionRecorder(layer) as rec:
        out = layer(x, (4, 6), 0)
    handle.remove()
    attn = tokens[0]
    assert not layer._attention_hooks  # hooks removed
    torch.testing.assert_close(out, plain)  # outputs untouched
    (ext, ) = rec.extractions
    assert ext.maps.shape == (2, 2, 6, 4, 6)  # (B, K, m, h, w)
    assert (ext.where, ext.layer, ext.rep_grid, ext.patch_start) == ('model', None, (2, 3), 0)
    torch.testing.assert_close(ext.maps.sum((-2, -1)), torch.ones(2, 2, 6))
    assert torch.equal(ext.other_mass, torch.zeros(2, 2, 6))
    a = ext.maps.flatten(-2)  # (B, K, m, N)
    torch.testing.assert_close(a.transpose(-1, -2) @ a, attn)


def test_cbt_backbone_records_cls_and_extraction_maps():
    """[CLS] first: rows of A lose mass to it, and the [CLS] map CBSA hands
    out, the [CLS] row of A^T A, is sum_j A[j, cls] A[j, patches]."""
    backbone = CBT(
        arch=(16, 2, 2), img_size=32, patch_size=8, attn_cfg=dict(type='CBSA', rep_grid=2)).eval()
    model = _Segmentor(backbone)
    img = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        plain = backbone(img)
        with AttentionRecorder(model, cls_layers=None) as rec:
            outs = model.backbone(img)
    assert not any(b.attn._attention_hooks for b in backbone.blocks)  # removed
    torch.testing.assert_close(outs[0], plain[0])
    assert rec.inputs is not None and torch.equal(rec.inputs, img)
    assert rec.patch_size == 8
    assert sorted(rec.cls_maps) == [0, 1] and rec.cls_maps[0].shape == (1, 2, 4, 6)
    assert [(e.name, e.where, e.layer)
            for e in rec.extractions] == [('backbone.blocks.0.attn', 'backbone', 0),
                                          ('backbone.blocks.1.attn', 'backbone', 1)]
    for ext in rec.extractions:
        assert ext.maps.shape == (1, 2, 4, 4, 6) and ext.patch_start == 1
        mass = ext.maps.sum((-2, -1))
        assert (mass < 1).all() and (mass > 0).all()
        torch.testing.assert_close(mass + ext.other_mass, torch.ones_like(mass))
        cls_row = (ext.other_mass[..., None, None] * ext.maps).sum(2)  # only [CLS] is extra
        torch.testing.assert_close(cls_row, rec.cls_maps[ext.layer], rtol=1e-4, atol=1e-7)


def test_backbone_without_cls_token_is_skipped_not_an_error():
    model = _Segmentor(nn.Conv2d(3, 4, 3))
    with AttentionRecorder(model) as rec:
        model.backbone(torch.randn(1, 3, 8, 8))
    assert rec.cls_maps is None and 'Conv2d has no [CLS] token' in rec.cls_skip_reason
    assert rec.extractions == [] and rec.inputs.shape == (1, 3, 8, 8)


def test_input_images_undo_the_data_preprocessor():
    from mmseg.models import SegDataPreProcessor
    pre = SegDataPreProcessor(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
    bgr = np.random.RandomState(0).randint(0, 256, (6, 10, 3), dtype=np.uint8)
    data = pre(dict(inputs=[torch.from_numpy(bgr).permute(2, 0, 1)]), False)
    model = _Segmentor(nn.Identity(), pre)
    with AttentionRecorder(model) as rec:
        model.backbone(data['inputs'])
    np.testing.assert_array_equal(rec.input_images()[0], bgr[..., ::-1])


def test_starting_cells_are_the_pooling_bins_of_rep_grid():
    # divisible: the rh x rw cells tile the grid, each patch in exactly one
    cells = representative_cells((4, 6), (2, 3))
    assert cells.tolist() == [[0, 0, 2, 2], [0, 2, 2, 4], [0, 4, 2, 6], [2, 0, 4, 2], [2, 2, 4, 4],
                              [2, 4, 4, 6]]
    # not divisible: adaptive pooling's bins [floor(i h / r), ceil((i + 1) h / r))
    h, w, rh, rw = 5, 7, 2, 3
    cells = representative_cells((h, w), (rh, rw))
    rows = [(i * h // rh, -(-(i + 1) * h // rh)) for i in range(rh)]
    cols = [(j * w // rw, -(-(j + 1) * w // rw)) for j in range(rw)]
    assert cells.tolist() == [[r0, c0, r1, c1] for r0, r1 in rows for c0, c1 in cols]
    # and the pooled initial representative is the mean over its cell
    grid = torch.randn(1, 1, h, w)
    pooled = F.adaptive_avg_pool2d(grid, (rh, rw)).flatten()
    means = torch.stack([grid[0, 0, y0:y1, x0:x1].mean() for y0, x0, y1, x1 in cells])
    torch.testing.assert_close(pooled, means)


def test_centroids_are_the_centre_of_mass_in_patch_units():
    maps = torch.zeros(3, 4, 6)
    maps[0, 2, 3] = 0.7  # one patch: its cell centre
    maps[1] = 0.01  # uniform: the grid's centre
    maps[2, 0, 0] = maps[2, 3, 5] = 0.2  # two equal blobs: between them
    torch.testing.assert_close(
        extraction_centroids(maps), torch.tensor([[2.5, 3.5], [2.0, 3.0], [2.0, 3.0]]))
