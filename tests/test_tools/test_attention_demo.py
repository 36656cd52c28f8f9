"""Attention recording (mmseg_cbsa.attention_maps), the pictures and demo/attention_demo.py."""
import os
import runpy
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mmseg_cbsa  # noqa: F401  (registers modules, allow-lists checkpoint types)
from mmseg_cbsa.attention_maps import (AttentionRecorder, extraction_centroids,
                                       representative_cells)
from mmseg_cbsa.models.attentions import CBSA
from mmseg_cbsa.models.backbones.white_box import CBT
from mmseg_cbsa.visualization import (GRID_HEADER_H, GRID_LABEL_W, GRID_PAD, GRID_TITLE_H,
                                      overlay_with_legend)

CONFIGS = {name: f'tests/data/configs/{name}.py'
           for name in ('tiny_cbt', 'tiny_cbt_backbone', 'tiny_cbt_nocls')}
# A 32x48 image; the configs' test pipeline resizes it to 85x128 (keep ratio,
# scale 128), a 11x16 grid of 8-pixel patches. (64, 96) and (21, 32) are that
# input fitted to the default --tile 96 and --map-size 32.
IMG_HW, INPUT_HW, TILE_HW, SMALL_H = (32, 48), (85, 128), (64, 96), 21


class _Segmentor(nn.Module):
    """The attributes AttentionRecorder reads: ``backbone``, ``data_preprocessor``."""

    def __init__(self, backbone: nn.Module, data_preprocessor: nn.Module = None) -> None:
        super().__init__()
        self.backbone = backbone
        if data_preprocessor is not None:
            self.data_preprocessor = data_preprocessor


# ---------------------------------------------------------------- recording
def test_cbsa_maps_are_the_layers_own_extraction_matrix():
    """Without extra tokens every row of A sums to 1 over the patches, and
    A^T A from the recorded maps is the attention the layer itself returns."""
    layer = CBSA(16, num_heads=2, rep_grid=(2, 3)).eval()
    x = torch.randn(2, 4 * 6, 16)
    plain = layer(x, (4, 6), 0)
    with AttentionRecorder(layer) as rec:
        out, attn = layer(x, (4, 6), 0, return_attn=True)
    assert not layer._forward_pre_hooks                         # hooks removed
    torch.testing.assert_close(out, plain)                      # outputs untouched
    (ext,) = rec.extractions
    assert ext.maps.shape == (2, 2, 6, 4, 6)                     # (B, K, m, h, w)
    assert (ext.where, ext.layer, ext.rep_grid, ext.patch_start) == ('model', None, (2, 3), 0)
    torch.testing.assert_close(ext.maps.sum((-2, -1)), torch.ones(2, 2, 6))
    assert torch.equal(ext.other_mass, torch.zeros(2, 2, 6))
    a = ext.maps.flatten(-2)                                     # (B, K, m, N)
    torch.testing.assert_close(a.transpose(-1, -2) @ a, attn)


def test_cbt_backbone_records_cls_and_extraction_maps():
    """[CLS] first: rows of A lose mass to it, and the [CLS] map CBSA hands
    out, the [CLS] row of A^T A, is sum_j A[j, cls] A[j, patches]."""
    backbone = CBT(arch=(16, 2, 2), img_size=32, patch_size=8, rep_grid=2).eval()
    model = _Segmentor(backbone)
    img = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        plain = backbone(img)
        with AttentionRecorder(model, cls_layers=None) as rec:
            outs = model.backbone(img)
    assert 'forward' not in vars(backbone)                        # restored
    torch.testing.assert_close(outs[0], plain[0])
    assert rec.inputs is not None and torch.equal(rec.inputs, img)
    assert rec.patch_size == 8
    assert sorted(rec.cls_maps) == [0, 1] and rec.cls_maps[0].shape == (1, 2, 4, 6)
    assert [(e.name, e.where, e.layer) for e in rec.extractions] == [
        ('backbone.blocks.0.attn', 'backbone', 0), ('backbone.blocks.1.attn', 'backbone', 1)]
    for ext in rec.extractions:
        assert ext.maps.shape == (1, 2, 4, 4, 6) and ext.patch_start == 1
        mass = ext.maps.sum((-2, -1))
        assert (mass < 1).all() and (mass > 0).all()
        torch.testing.assert_close(mass + ext.other_mass, torch.ones_like(mass))
        cls_row = (ext.other_mass[..., None, None] * ext.maps).sum(2)   # only [CLS] is extra
        torch.testing.assert_close(cls_row, rec.cls_maps[ext.layer], rtol=1e-4, atol=1e-7)


def test_backbone_without_cls_token_is_skipped_not_an_error():
    model = _Segmentor(nn.Conv2d(3, 4, 3))
    with AttentionRecorder(model) as rec:
        model.backbone(torch.randn(1, 3, 8, 8))
    assert rec.cls_maps is None and 'Conv2d has no [CLS] token' in rec.cls_skip_reason
    assert rec.extractions == [] and rec.inputs.shape == (1, 3, 8, 8)


def test_input_images_undo_the_data_preprocessor():
    from mmseg.models import SegDataPreProcessor
    pre = SegDataPreProcessor(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                              bgr_to_rgb=True)
    bgr = np.random.RandomState(0).randint(0, 256, (6, 10, 3), dtype=np.uint8)
    data = pre(dict(inputs=[torch.from_numpy(bgr).permute(2, 0, 1)]), False)
    model = _Segmentor(nn.Identity(), pre)
    with AttentionRecorder(model) as rec:
        model.backbone(data['inputs'])
    np.testing.assert_array_equal(rec.input_images()[0], bgr[..., ::-1])


def test_starting_cells_are_the_pooling_bins_of_rep_grid():
    # divisible: the rh x rw cells tile the grid, each patch in exactly one
    cells = representative_cells((4, 6), (2, 3))
    assert cells.tolist() == [[0, 0, 2, 2], [0, 2, 2, 4], [0, 4, 2, 6],
                              [2, 0, 4, 2], [2, 2, 4, 4], [2, 4, 4, 6]]
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
    maps[0, 2, 3] = 0.7                                # one patch: its cell centre
    maps[1] = 0.01                                     # uniform: the grid's centre
    maps[2, 0, 0] = maps[2, 3, 5] = 0.2                # two equal blobs: between them
    torch.testing.assert_close(extraction_centroids(maps),
                               torch.tensor([[2.5, 3.5], [2.0, 3.0], [2.0, 3.0]]))


# ---------------------------------------------------------------- the demo
@pytest.fixture(scope='module')
def assets(tmp_path_factory, repo_root):
    """Random-weight checkpoints of the tiny configs and two 32x48 images."""
    from mmseg.apis import init_model
    from mmseg_cbsa.utils import save_checkpoint_file
    tmp = tmp_path_factory.mktemp('attention_demo')
    ckpts = {}
    for name, cfg in CONFIGS.items():
        model = init_model(os.path.join(repo_root, cfg), None, device='cpu')
        ckpts[name] = str(tmp / f'{name}.pth')
        save_checkpoint_file(model.state_dict(), ckpts[name], meta={})
    rng = np.random.RandomState(0)
    images = []
    for i in range(2):
        images.append(tmp / 'images' / f'img{i}.png')
        images[-1].parent.mkdir(exist_ok=True)
        cv2.imwrite(str(images[-1]), rng.randint(0, 256, (*IMG_HW, 3), dtype=np.uint8))
    return dict(ckpts=ckpts, images=images)


def _run_demo(repo_root, monkeypatch, capsys, *argv):
    """demo/attention_demo.py in this process (the imports are paid once)."""
    monkeypatch.chdir(repo_root)
    monkeypatch.syspath_prepend(os.path.join(repo_root, 'demo'))
    monkeypatch.setattr(sys, 'argv', ['attention_demo.py', *map(str, argv)])
    runpy.run_path(os.path.join(repo_root, 'demo', 'attention_demo.py'), run_name='__main__')
    return capsys.readouterr().out


def _cls_grid_shape(layers, heads):
    return (GRID_HEADER_H + layers * (TILE_HW[0] + GRID_PAD) + GRID_PAD,
            GRID_LABEL_W + heads * (TILE_HW[1] + GRID_PAD) + GRID_PAD)


def _cbsa_figure_height(heads, rh):
    row = rh * (SMALL_H + 3) + 1                     # framed small maps, 1 px gaps
    return GRID_TITLE_H + GRID_HEADER_H + heads * (row + GRID_PAD) + GRID_PAD


def _read(path):
    img = cv2.imread(str(path))
    assert img is not None, f'{path} does not decode'
    return img


def test_demo_command_line_vit_with_cbt_head(assets, repo_root, tmp_path):
    """ViT (MHSA, [CLS]) encoder + CBT head: one [CLS] grid, one CBSA picture."""
    res = subprocess.run(
        [sys.executable, 'demo/attention_demo.py', CONFIGS['tiny_cbt'],
         assets['ckpts']['tiny_cbt'], str(assets['images'][0]), '--out', str(tmp_path)],
        cwd=repo_root, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    written = [line for line in res.stdout.splitlines() if line.endswith('.png')]
    assert written == [str(tmp_path / 'cls_attention.png'),
                       str(tmp_path / 'cbsa_decode_head_layer0.png')]
    cls = _read(tmp_path / 'cls_attention.png')
    assert cls.shape[:2] == _cls_grid_shape(layers=1, heads=2)
    # each tile is a heat map over the image, not a blank
    tile = cls[GRID_HEADER_H + GRID_PAD:, GRID_LABEL_W + GRID_PAD:][:TILE_HW[0], :TILE_HW[1]]
    assert tile.std() > 5
    cbsa = _read(tmp_path / 'cbsa_decode_head_layer0.png')
    assert cbsa.shape[0] == _cbsa_figure_height(heads=2, rh=2)


def test_demo_cbt_backbone_layers_and_several_images(assets, repo_root, tmp_path,
                                                     monkeypatch, capsys):
    """CBT encoder: CBSA pictures for the chosen encoder blocks and the head;
    several images go to one folder each."""
    out = _run_demo(repo_root, monkeypatch, capsys, CONFIGS['tiny_cbt_backbone'],
                    assets['ckpts']['tiny_cbt_backbone'], assets['images'][0].parent,
                    '--out', tmp_path, '--layers', '-1')
    for stem in ('img0', 'img1'):
        folder = tmp_path / stem
        assert sorted(p.name for p in folder.iterdir()) == [
            'cbsa_backbone_layer1.png', 'cbsa_decode_head_layer0.png', 'cls_attention.png']
        assert str(folder / 'cbsa_backbone_layer1.png') in out
        assert _read(folder / 'cls_attention.png').shape[:2] == _cls_grid_shape(1, 2)
        for name in ('cbsa_backbone_layer1.png', 'cbsa_decode_head_layer0.png'):
            assert _read(folder / name).shape[0] == _cbsa_figure_height(heads=2, rh=2)


def test_demo_without_cls_token_skips_the_cls_grid(assets, repo_root, tmp_path,
                                                   monkeypatch, capsys):
    out = _run_demo(repo_root, monkeypatch, capsys, CONFIGS['tiny_cbt_nocls'],
                    assets['ckpts']['tiny_cbt_nocls'], assets['images'][0], '--out', tmp_path)
    assert 'skipping cls_attention.png: MixVisionTransformer has no [CLS] token' in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cbsa_decode_head_layer0.png']


def test_demo_refuses_layers_the_encoder_does_not_have(assets, repo_root, tmp_path,
                                                      monkeypatch, capsys):
    with pytest.raises(ValueError, match=r'--layers \[2\]: CBT has 2 blocks'):
        _run_demo(repo_root, monkeypatch, capsys, CONFIGS['tiny_cbt_backbone'],
                  assets['ckpts']['tiny_cbt_backbone'], assets['images'][0],
                  '--out', tmp_path / 'out', '--layers', '0', '2')
    assert not (tmp_path / 'out').exists()


def test_overlay_with_legend_still_importable():
    canvas = overlay_with_legend(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), int),
                                 ['a'], [[255, 0, 0]])
    assert canvas.shape[1] >= 4
