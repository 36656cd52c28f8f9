"""``CBTHead(attn_cfg=dict(type='CBSA', rep_init='learned'))`` keeps the
head's own 10x10 grid: a CBSA config is laid over the head's default CBSA
(before, it replaced it and got CBSA's 8x8 grid)."""
import torch

from mmseg_cbsa.models import CBTHead


def test_learned_representatives_keep_the_heads_grid():
    head = CBTHead(
        in_channels=32,
        num_layers=2,
        num_heads=3,
        head_dims=8,
        num_classes=5,
        attn_cfg=dict(type='CBSA', rep_init='learned'))
    for layer in head.layers:
        attn = layer.attn
        assert (type(attn).__name__, attn.rep_init, attn.rep_grid) == ('CBSA', 'learned', (10, 10))
        assert attn.representatives.shape == (3, 100, 8)  # (K, 10 x 10, p)
    logits = head([torch.randn(1, 32, 4, 6)])  # fewer patches than m
    logits.square().sum().backward()
    assert all(layer.attn.representatives.grad.abs().sum() > 0 for layer in head.layers)


def test_pool_default_has_no_learned_tensor():
    head = CBTHead(in_channels=32, num_layers=1, num_heads=2, head_dims=8, num_classes=5)
    assert head.layers[0].attn.rep_init == 'pool'
    assert not any('representatives' in k for k in head.state_dict())
