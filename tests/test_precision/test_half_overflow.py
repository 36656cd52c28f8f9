"""CBSA in half precision past float16's range: N > 65,504 tokens (4096x4096
images at patch 16), on CPU."""
import pytest
import torch

from mmseg_cbsa.models.attentions import CBSA

GRID = (200, 330)  # 66,000 patch tokens


def _layer_and_tokens():
    torch.manual_seed(0)
    layer = CBSA(8, 2, 4, rep_grid=2)
    with torch.no_grad():
        # the attention's update alone, and large enough to compare
        layer.to_out.bias.zero_()
        layer.step_broadcast.fill_(2000.0)
    # nearly equal tokens: every extraction weight E is about 1, so a row sum
    # over the tokens is about 66,000, past float16's largest value 65,504
    x = 2 * torch.randn(1, 1, 8) + 0.002 * torch.randn(1, GRID[0] * GRID[1], 8)
    return layer, x


def _relative_error(out, ref):
    return ((out.double() - ref.double()).norm() / ref.double().norm()).item()


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_model_past_float16_range(dtype):
    layer, x = _layer_and_tokens()
    with torch.no_grad():
        ref = layer(x, GRID)
        e, _ = layer.extraction_weights(*_operands(layer, x))
        assert e.shape[-1] == 66000 and e.sum(-1).min() > 65504  # the case is the hard one
        out = layer.to(dtype)(x.to(dtype), GRID)
    assert out.dtype == dtype
    assert torch.isfinite(out).all()
    assert _relative_error(out, ref) < (0.01 if dtype == torch.float16 else 0.05)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_past_float16_range(dtype):
    layer, x = _layer_and_tokens()
    with torch.no_grad():
        ref = layer(x, GRID)
        with torch.autocast('cpu', dtype=dtype):
            out = layer(x, GRID)
    assert torch.isfinite(out).all()
    assert _relative_error(out, ref) < (0.01 if dtype == torch.float16 else 0.05)


def test_float16_extraction_weights_are_a_softmax():
    layer, x = _layer_and_tokens()
    with torch.no_grad():
        q0, w = _operands(layer, x)
        e, r = layer.extraction_weights(q0.half(), w.half())
    a = (e * r).double()
    assert torch.isfinite(a).all()
    assert a.sum(-1).sub(1).abs().max() < 1e-2


def _operands(layer, x):
    from mmseg_cbsa.models.attentions.base import split_heads
    w = layer.proj(x)
    q0 = layer.init_representatives(w, GRID, 0)
    return q0, split_heads(w, layer.num_heads)
