"""The attention family's contract (BaseAttention), kept by every member."""
import pytest
import torch
from torch import nn

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.models.attentions import ATTENTION_TYPES, BaseAttention
from mmseg_cbsa.registry import MODELS


def _build(t, **kw):
    cfg = dict(type=t, embed_dims=24, num_heads=2)
    if t in ('CBSA', 'AgentAttention'):
        cfg['rep_grid'] = 2
    cfg.update(kw)
    return MODELS.build(cfg)


@pytest.mark.parametrize('t', ATTENTION_TYPES)
def test_every_member_is_a_base_attention_and_states_its_facts(t):
    layer = _build(t)
    assert isinstance(layer, BaseAttention)
    assert (layer.embed_dims, layer.num_heads) == (24, 2)
    bases = layer.subspace_bases()
    assert bases.shape[:2] == (2, 24) and bases.shape[2] == layer.head_dims
    assert not bases.requires_grad
    weights = layer.projection_weights()
    assert weights and all(isinstance(p, nn.Parameter) and p.ndim == 2 for p in weights.values())
    named = dict(layer.named_parameters())
    assert all(named[name] is p for name, p in weights.items())  # names are the layer's own
    assert layer.num_similarities(10, 10) > 0


@pytest.mark.parametrize('t', [t for t in ATTENTION_TYPES if t != 'DMSA'])
def test_heads_must_divide_the_width_unless_head_dims_is_given(t):
    with pytest.raises(ValueError, match='embed_dims=25 is not divisible by num_heads=2'):
        _build(t, embed_dims=25)
    assert _build(t, embed_dims=25, head_dims=8).head_dims == 8


@pytest.mark.parametrize('t', ATTENTION_TYPES)
def test_attention_hook_sees_the_maps_of_each_call_and_leaves_the_output(t):
    layer = _build(t).eval()
    x = torch.randn(2, 1 + 3 * 4, 24)
    with torch.no_grad():
        plain = layer(x, (3, 4), 1)
        seen = []
        handle = layer.register_attention_hook(lambda m, maps: seen.append((m, maps)))
        hooked = layer(x, (3, 4), 1)
        layer(x, (3, 4), 1)
        handle.remove()
        layer(x, (3, 4), 1)
    torch.testing.assert_close(hooked, plain, rtol=1e-5, atol=1e-6)
    assert len(seen) == 2 and seen[0][0] is layer
    maps = seen[0][1]
    assert maps.tokens.shape == (2, 2, 13, 13)
    assert (maps.hw_shape, maps.patch_start) == ((3, 4), 1)
    assert (maps.extraction is not None) == (t in ('CBSA', 'AgentAttention', 'QKVCBSA', 'MiTA'))


def test_token_map_of_cbsa_is_formed_only_when_read():
    layer = _build('CBSA')
    seen = []
    layer.register_attention_hook(lambda m, maps: seen.append(maps))
    layer(torch.randn(1, 16, 24), (4, 4))
    assert callable(seen[0]._tokens)  # not formed yet
    a = seen[0].extraction
    torch.testing.assert_close(seen[0].tokens, a.transpose(-1, -2) @ a)


def test_cross_attention_maps_have_one_row_per_query():
    layer = _build('TiedMSSA')
    seen = []
    layer.register_attention_hook(lambda m, maps: seen.append(maps))
    out = layer(torch.randn(2, 9, 24), query=torch.randn(2, 5, 24))
    assert out.shape == (2, 5, 24) and seen[0].tokens.shape == (2, 2, 5, 9)


def test_tied_projection_is_named_as_a_projection():
    assert list(_build('TiedMSSA').projection_weights()) == ['proj']
    assert list(_build('CBSA').projection_weights()) == ['proj.weight', 'to_out.weight']
    assert list(_build('MHSA').projection_weights()) == ['qkv.weight', 'proj.weight']
