"""Residual wrappers, encoder blocks, ISTA and the attn_cfg rule."""
import pytest
import torch

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.models.layers import (ISTA, EncoderBlock, ResidualAttention, ResidualCrossAttention,
                                      attention_cfg, build_layer)


def test_residual_attention_adds_the_update_of_the_normalised_tokens():
    layer = ResidualAttention(16, dict(type='MSSA', num_heads=2))
    x = torch.randn(2, 6, 16)
    expected = x + layer.attn(layer.norm(x), (2, 3), 0)
    torch.testing.assert_close(layer(x, (2, 3)), expected)


def test_residual_cross_attention_updates_the_queries_only():
    layer = ResidualCrossAttention(16, dict(type='TiedMSSA', num_heads=2))
    x, q = torch.randn(2, 6, 16), torch.randn(2, 3, 16)
    torch.testing.assert_close(layer(x, q), q + layer.attn(layer.norm(x), query=q))


@pytest.mark.parametrize('residual_ffn', [True, False])
def test_encoder_block_layout(residual_ffn):
    block = EncoderBlock(
        16, dict(type='MSSA', num_heads=2), dict(type='ISTA'), residual_ffn=residual_ffn)
    x = torch.randn(1, 5, 16)
    h = x + block.attn(block.norm1(x), (2, 2), 1)
    y = block.mlp(block.norm2(h))
    torch.testing.assert_close(block(x, (2, 2), 1), h + y if residual_ffn else y)


def test_ista_is_one_proximal_step():
    ista = ISTA(8)
    x = torch.randn(3, 8)
    d = ista.weight
    expected = torch.relu(x + 0.1 * (x @ d - x @ d.t() @ d) - 0.1 * 0.1)
    torch.testing.assert_close(ista(x), expected)
    assert (ista(x) >= 0).all()


def test_attention_cfg_replaces_the_default_and_fills_host_arguments():
    default = dict(type='CBSA', rep_grid=10)
    assert attention_cfg(
        None, default, num_heads=3, head_dims=100) == dict(
            type='CBSA', rep_grid=10, num_heads=3, head_dims=100)
    # a user config replaces the default as a whole, its own keys win
    assert attention_cfg(
        dict(type='MSSA', num_heads=6), default, num_heads=3) == dict(
            type='MSSA', num_heads=6)
    assert attention_cfg(dict(type='MSSA'), default, head_dims=None) == dict(type='MSSA')
    with pytest.raises(KeyError, match='registered attention type'):
        attention_cfg(dict(num_heads=2), default)


def test_attention_cfg_with_overlay_lays_a_config_of_the_default_type_over_it():
    default = dict(type='CBSA', rep_grid=10)
    # the host's 10x10 grid stays unless the config sets a grid
    assert attention_cfg(
        dict(type='CBSA', rep_init='learned'), default, overlay=True, num_heads=3) == dict(
            type='CBSA', rep_grid=10, rep_init='learned', num_heads=3)
    assert attention_cfg(
        dict(type='CBSA', rep_grid=4), default, overlay=True) == dict(
            type='CBSA', rep_grid=4)
    # another member takes none of the default's options
    assert attention_cfg(
        dict(type='AgentAttention'), default, overlay=True) == dict(type='AgentAttention')
    assert default == dict(type='CBSA', rep_grid=10)  # not modified
    # without overlay the config replaces the default as a whole
    assert attention_cfg(dict(type='CBSA'), default) == dict(type='CBSA')


def test_build_layer_names_unregistered_types():
    with pytest.raises(
            KeyError, match="'Agent' is registered neither in mmseg_cbsa's nor in mmseg's"):
        build_layer(dict(type='Agent'), embed_dims=8)
