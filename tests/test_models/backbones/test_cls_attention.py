"""[CLS] attention maps from every encoder of the family."""
import pytest
import torch

from mmseg_cbsa.models import (CBT, CRATE, CRATECBT, CLSAttentionRecorder, ToST, ViT,
                               has_cls_attention)
from mmseg_cbsa.models.attentions.base import split_heads

ENCODERS = {
    'ViT': lambda: ViT(arch=(32, 4, 2), img_size=64),
    'CRATE': lambda: CRATE(arch=(32, 4, 2), img_size=64),
    'CBT': lambda: CBT(arch=(32, 4, 2), img_size=64, attn_cfg=dict(type='CBSA', rep_grid=2)),
    'ToST': lambda: ToST(arch=(32, 4, 2), img_size=64),
    'CRATECBT':
    lambda: CRATECBT(arch=(32, 4, 2), img_size=64, attn_cfg=dict(type='CBSA', rep_grid=2)),
}


@pytest.mark.parametrize('name', ENCODERS)
def test_maps_per_head_without_changing_the_forward(name):
    model = ENCODERS[name]().eval()
    model.init_weights()
    img = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        plain = model(img)
        outs, maps = model.forward_cls_attention(img, layers=(0, -1))
    torch.testing.assert_close(outs[0], plain[0])
    assert sorted(maps) == [0, 3]
    for m in maps.values():
        assert m.shape == (2, 2, 4, 5) and torch.isfinite(m).all()


@pytest.mark.parametrize('name', ['ViT', 'CRATE'])
def test_softmax_maps_are_the_cls_row(name):
    model = ENCODERS[name]().eval()
    with torch.no_grad():
        _, maps = model.forward_cls_attention(torch.randn(1, 3, 64, 64), layers=[1])
    # a softmax row over [CLS] + 16 patches: the patch part sums to at most one
    assert (maps[1].sum((-1, -2)) <= 1 + 1e-6).all() and (maps[1] >= 0).all()


def test_cbsa_map_is_the_cls_row_of_AtA():
    model = CBT(arch=(32, 1, 2), img_size=64, attn_cfg=dict(type='CBSA', rep_grid=2)).eval()
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        _, maps = model.forward_cls_attention(img, layers=[0])
        x, hw = model.embed(img)
        block = model.blocks[0]
        h = block.norm1(x)
        w = block.attn.proj(h)
        q0 = block.attn.init_representatives(w, hw, 1)
        a = block.attn.extract(q0, split_heads(w, 2)).matrix  # (1, K, m, N)
        expected = (a[..., 0:1].transpose(-1, -2) @ a)[:, :, 0, 1:].reshape(1, 2, 4, 4)
    torch.testing.assert_close(maps[0], expected)


def test_recorder_is_what_forward_cls_attention_records():
    # the one mechanism: forward_cls_attention is a forward under the recorder
    model = ENCODERS['CBT']().eval()
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        _, expected = model.forward_cls_attention(img, layers=[-1, 0])
        with CLSAttentionRecorder(model, layers=[-1, 0]) as rec:
            model(img)
            model(torch.randn(1, 3, 64, 64))  # a second call: the first is kept
    assert list(rec.maps) == [0, 3]
    for i in (0, 3):
        torch.testing.assert_close(rec.maps[i], expected[i])
    assert not any(b.attn._attention_hooks for b in model.blocks)  # removed on exit


def test_recorder_detaches_on_request_and_refuses_encoders_without_cls():
    model = ENCODERS['ViT']()
    img = torch.randn(1, 3, 64, 64)
    with CLSAttentionRecorder(model, layers=[0]) as kept, \
            CLSAttentionRecorder(model, layers=[0], detach=True) as detached:
        model(img)
    assert kept.maps[0].requires_grad and not detached.maps[0].requires_grad
    assert has_cls_attention(model) and not has_cls_attention(torch.nn.Conv2d(3, 8, 2))
    with pytest.raises(TypeError, match=r'Conv2d has no \[CLS\] token'):
        CLSAttentionRecorder(torch.nn.Conv2d(3, 8, 2))
