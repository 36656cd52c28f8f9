"""Every encoder of the family takes any member of the attention family
through ``attn_cfg``, the same way."""
import pytest
import torch

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.models.attentions import ATTENTION_TYPES
from mmseg_cbsa.registry import MODELS, build_in_scope

BACKBONES = ('ViT', 'CRATE', 'CBT', 'ToST', 'CRATECBT')


def _attn(t):
    return dict(type=t, rep_grid=2) if t in ('CBSA', 'AgentAttention') else dict(type=t)


@pytest.mark.parametrize('backbone', BACKBONES)
@pytest.mark.parametrize('t', ATTENTION_TYPES)
def test_backbone_builds_and_trains_with_each_member(backbone, t):
    arch = (16, 2, 2)
    attn = [_attn(t)] * 2 if backbone == 'CRATECBT' else _attn(t)
    model = build_in_scope(MODELS,
                           dict(type=backbone, arch=arch, img_size=32, patch_size=8, attn_cfg=attn))
    layers = [block.attn for block in model.blocks]
    assert [type(a).__name__ for a in layers] == [t, t]
    assert all(a.num_heads == 2 and a.embed_dims == 16 for a in layers)  # host filled
    img = torch.randn(2, 3, 32, 40)
    (out, ) = model(img)
    assert out.shape == (2, 16, 4, 5)
    out.square().mean().backward()
    assert all(p.grad is not None for p in layers[0].projection_weights().values())


def test_host_num_heads_yields_to_the_config():
    model = build_in_scope(
        MODELS,
        dict(
            type='ViT',
            arch=(16, 1, 2),
            img_size=32,
            patch_size=8,
            attn_cfg=dict(type='MSSA', num_heads=4)))
    assert model.blocks[0].attn.num_heads == 4
