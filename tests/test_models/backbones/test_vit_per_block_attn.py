"""``ViT`` takes one attention config per block, as the white-box encoders
do: MHSA blocks beside adapted ones, same parameter names as all-MHSA."""
import pytest
import torch

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.models import ViT

ARCH = (16, 3, 2)


def test_per_block_list_builds_each_block_with_the_host_defaults():
    vit = ViT(
        arch=ARCH,
        img_size=32,
        patch_size=8,
        qkv_bias=False,
        attn_cfg=[None, dict(type='QKVCBSA', rep_grid=2),
                  dict(type='MHSA')])
    layers = [b.attn for b in vit.blocks]
    assert [type(a).__name__ for a in layers] == ['MHSA', 'QKVCBSA', 'MHSA']
    assert all(a.num_heads == 2 for a in layers)
    assert layers[0].qkv.bias is None  # None keeps the host's default MHSA
    assert layers[2].qkv.bias is not None  # an explicit config is taken as given
    mhsa = ViT(arch=ARCH, img_size=32, patch_size=8)
    assert vit.state_dict().keys() == mhsa.state_dict().keys() - {'blocks.0.attn.qkv.bias'}
    (out, ) = vit(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 16, 4, 4)


def test_wrong_number_of_configs_names_both_counts():
    with pytest.raises(ValueError, match='2 attention configs for 3 layers'):
        ViT(arch=ARCH, img_size=32, patch_size=8, attn_cfg=[None, None])
