"""The forms the layers take while exported equal their eager (training) forms exactly.

While ``torch.onnx.export`` traces a model (``is_exporting()``) the encoders
always resize the position embedding (an exact identity at the layout grid)
and the patch embeddings always pad (by zero pixels where nothing is needed).
CBSA's pooling and folded output projection have one form for training,
inference and export. These tests switch the export forms on in eager mode and
require bit-identical outputs (``torch.equal``); the pooling's agreement with
``adaptive_avg_pool2d`` (the authors' form) is to float rounding.
"""
import itertools
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmseg.models.backbones.vit import VisionTransformer as MMSegViT

import mmseg_cbsa.models.backbones.base as backbone_base
import mmseg_cbsa.models.layers.patch_embed as patch_embed
from mmseg_cbsa.models.attentions import CBSA
from mmseg_cbsa.models.attentions.representatives import (pool_patch_tokens, pooling_matrix,
                                                          representative_cells, separable_avg_pool)

EXPORT_SWITCHES = (backbone_base, patch_embed)
CONFIGS = osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'configs')


@pytest.fixture
def export_form(monkeypatch):
    """Turn the export forms on (as during torch.onnx.export)."""

    def on():
        for mod in EXPORT_SWITCHES:
            monkeypatch.setattr(mod, 'is_exporting', lambda: True)

    return on


def test_is_exporting_false_in_eager():
    from mmseg_cbsa.models.tracing import is_exporting
    assert not is_exporting()


@pytest.mark.parametrize('size,out', [(s, o) for s in range(1, 23) for o in range(1, s + 1)])
def test_pooling_matrix_is_adaptive_avg_pool1d(size, out):
    eye = torch.eye(size, dtype=torch.float64)[None]  # (1, size, size)
    expected = F.adaptive_avg_pool1d(eye, out)[0].T  # (out, size): weights per bin
    assert torch.allclose(pooling_matrix(size, out, torch.float64), expected, rtol=0, atol=1e-15)


GRIDS = [((h, w), (rh, rw)) for h, w in [(32, 32), (7, 13), (12, 8), (1, 5), (16, 40), (64, 39)]
         for rh, rw in [(10, 10), (2, 2), (3, 5), (8, 6)] if rh <= h and rw <= w]


@pytest.mark.parametrize('hw,grid', GRIDS)
def test_separable_pooling_equals_adaptive_avg_pool2d(hw, grid):
    h, w = hw
    maps = torch.randn(2, h, w, 12)
    expected = F.adaptive_avg_pool2d(maps.permute(0, 3, 1, 2), grid).permute(0, 2, 3, 1)
    got = separable_avg_pool(maps, grid)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() <= 1e-6
    # and in float64 the two agree to rounding of the last bits
    got64 = separable_avg_pool(maps.double(), grid)
    exp64 = F.adaptive_avg_pool2d(maps.double().permute(0, 3, 1, 2), grid).permute(0, 2, 3, 1)
    assert (got64 - exp64).abs().max() <= 1e-14


@pytest.mark.parametrize('hw,grid', GRIDS)
@pytest.mark.parametrize('patch_start', [0, 1])
def test_pool_patch_tokens_export_form(hw, grid, patch_start, export_form):
    h, w = hw
    tokens = torch.randn(2, patch_start + h * w + 3, 8)
    eager = pool_patch_tokens(tokens, hw, patch_start, grid)
    cells = representative_cells(hw, grid)
    export_form()
    exported = pool_patch_tokens(tokens, hw, patch_start, grid)
    assert torch.equal(exported, eager)
    # the pooling is adaptive_avg_pool2d up to float rounding
    maps = tokens[:, patch_start:patch_start + h * w].unflatten(1, hw).permute(0, 3, 1, 2)
    expected = F.adaptive_avg_pool2d(maps, grid).flatten(2).transpose(1, 2)
    assert (eager - expected).abs().max() <= 1e-6
    # the same cells: the bins are read off the pooling itself
    assert torch.equal(representative_cells(hw, grid), cells)


@pytest.mark.parametrize('hw', [(32, 32), (10, 10), (7, 13), (3, 40), (1, 1)])
def test_cbsa_export_form(hw, export_form):
    layer = CBSA(32, 2, rep_grid=(10, 10)).eval()
    x = torch.randn(2, 5 + hw[0] * hw[1], 32)
    with torch.no_grad():
        eager = layer(x, hw, 0)
        export_form()
        exported = layer(x, hw, 0)
    assert torch.equal(exported, eager)


@pytest.mark.parametrize('mode', ['bicubic', 'bilinear'])
def test_pos_embed_resize_at_layout_grid_is_identity(mode):
    pos = torch.randn(1, 1 + 32 * 24, 16)
    assert torch.equal(MMSegViT.resize_pos_embed(pos, (32, 24), (32, 24), mode), pos)


@pytest.mark.parametrize('arch', ['ViT', 'CBT', 'CRATE', 'ToST'])
def test_encoders_export_form(arch, export_form):
    from mmengine.registry import init_default_scope

    import mmseg_cbsa  # noqa: F401
    from mmseg_cbsa.registry import MODELS
    init_default_scope('mmseg_cbsa')
    extra = dict(attn_cfg=dict(type='CBSA', rep_grid=3)) if arch == 'CBT' else {}
    model = MODELS.build(dict(type=arch, arch=(16, 2, 2), img_size=32, patch_size=8, **extra))
    model.init_weights()
    model.eval()
    # the layout grid, a larger non-square one, partial patches, a tiny one
    shapes = [(32, 32), (40, 72), (37, 21), (8, 16)]
    with torch.no_grad():
        eager = [
            model(torch.randn(1, 3, *s, generator=torch.Generator().manual_seed(i)))[0]
            for i, s in enumerate(shapes)
        ]
        export_form()
        exported = [
            model(torch.randn(1, 3, *s, generator=torch.Generator().manual_seed(i)))[0]
            for i, s in enumerate(shapes)
        ]
    for a, b in itertools.zip_longest(eager, exported):
        assert a.shape == b.shape
        assert torch.equal(a, b)


@pytest.mark.parametrize('cfg', ['tiny_cbt.py', 'tiny_segmenter.py'])
def test_segmentors_export_form(cfg, export_form):
    """Whole segmentors (encoder + decode head, resize to the input) as exported."""
    from mmseg_cbsa.apis.loading import build_model
    from mmseg_cbsa.deployment import SegmentorLogits
    model = SegmentorLogits(build_model(osp.join(CONFIGS, cfg), seed=0).model.eval())
    shapes = [(64, 64), (40, 72), (37, 21)]
    with torch.no_grad():
        eager = [
            model(torch.randn(1, 3, *s, generator=torch.Generator().manual_seed(i)))
            for i, s in enumerate(shapes)
        ]
        export_form()
        exported = [
            model(torch.randn(1, 3, *s, generator=torch.Generator().manual_seed(i)))
            for i, s in enumerate(shapes)
        ]
    for a, b in zip(eager, exported):
        assert torch.equal(a, b)
