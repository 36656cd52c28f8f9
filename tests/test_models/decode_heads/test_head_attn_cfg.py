"""CBTHead and DEPICTHead take any member of the attention family through
``attn_cfg`` (DEPICT-CA's cross-attention through ``cross_attn_cfg``)."""
import pytest
import torch

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.models import CBTHead, DEPICTHead
from mmseg_cbsa.models.attentions import ATTENTION_TYPES


def _attn(t):
    return dict(type=t, rep_grid=2) if t in ('CBSA', 'AgentAttention') else dict(type=t)


HEADS = {
    'CBTHead':
    lambda cfg: CBTHead(
        in_channels=16, num_layers=2, num_heads=2, head_dims=8, num_classes=3, attn_cfg=cfg),
    'DEPICT-SA':
    lambda cfg: DEPICTHead(
        in_channels=16, num_layers=2, num_heads=2, head_dims=8, num_classes=3, attn_cfg=cfg),
    'DEPICT-CA':
    lambda cfg: DEPICTHead(
        in_channels=16,
        mode='ca',
        num_layers=2,
        num_heads=2,
        head_dims=8,
        num_cross_layers=1,
        cross_head_dims=4,
        num_classes=3,
        attn_cfg=cfg),
}


@pytest.mark.parametrize('head', HEADS)
@pytest.mark.parametrize('t', ATTENTION_TYPES)
def test_head_builds_and_trains_with_each_member(head, t):
    model = HEADS[head](_attn(t))
    layers = [layer.attn for layer in model.layers]
    assert [type(a).__name__ for a in layers] == [t, t]
    if t != 'DMSA':  # DMSA's heads all see the full space
        assert all((a.num_heads, a.head_dims) == (2, 8) for a in layers)
    feat = torch.randn(2, 16, 4, 5, requires_grad=True)
    logits = model([feat])
    assert logits.shape == (2, 3, 4, 5)
    logits.square().mean().backward()
    assert feat.grad.abs().sum() > 0


def test_cbt_head_defaults_to_cbsa_with_its_own_arguments():
    head = CBTHead(
        in_channels=16,
        num_layers=1,
        num_heads=2,
        head_dims=8,
        attn_cfg=dict(type='CBSA', rep_grid=3),
        num_classes=3)
    attn = head.layers[0].attn
    assert type(attn).__name__ == 'CBSA' and attn.rep_grid == (3, 3) and attn.head_dims == 8
    # the default: CBSA with 10x10 representatives and the head's widths
    attn = CBTHead(
        in_channels=16, num_layers=1, num_heads=2, head_dims=8, num_classes=3).layers[0].attn
    assert (type(attn).__name__, attn.rep_grid, attn.detach_init, attn.rep_init, attn.num_heads,
            attn.head_dims) == ('CBSA', (10, 10), False, 'pool', 2, 8)
    # a CBSA config keeps the head's grid unless it sets one
    attn = CBTHead(
        in_channels=16,
        num_layers=1,
        num_heads=2,
        head_dims=8,
        num_classes=3,
        attn_cfg=dict(type='CBSA', detach_init=True)).layers[0].attn
    assert attn.rep_grid == (10, 10) and attn.detach_init


@pytest.mark.parametrize(
    'moved', [dict(rep_grid=3), dict(detach_init=True),
              dict(rep_init='learned')])
def test_cbt_head_refuses_attention_options_beside_attn_cfg(moved, cbsa_scope):
    from mmseg_cbsa.registry import MODELS
    (key, value), = moved.items()
    cfg = dict(in_channels=16, num_layers=1, num_heads=2, head_dims=8, num_classes=3, **moved)
    match = rf"CBTHead takes no {key}: .* moved into attn_cfg, " \
        rf"e.g. CBTHead\(attn_cfg=dict\(type='CBSA', {key}={value!r}\)\)"
    with pytest.raises(TypeError, match=match):
        CBTHead(**cfg)
    # as a config, through the registry
    with pytest.raises(TypeError, match=match):
        MODELS.build(dict(type='CBTHead', **cfg))


def test_depict_cross_attention_needs_a_member_with_queries():
    head = DEPICTHead(
        in_channels=16,
        mode='ca',
        num_layers=1,
        num_heads=2,
        head_dims=8,
        num_cross_layers=1,
        num_classes=3,
        cross_attn_cfg=dict(type='TiedMSSA', head_dims=6))
    assert head.cross_layers[0].attn.head_dims == 6
    with pytest.raises(ValueError, match="cross_attn_cfg type 'MSSA' has no cross-attention"):
        DEPICTHead(
            in_channels=16,
            mode='ca',
            num_layers=1,
            num_heads=2,
            head_dims=8,
            num_cross_layers=1,
            num_classes=3,
            cross_attn_cfg=dict(type='MSSA'))
