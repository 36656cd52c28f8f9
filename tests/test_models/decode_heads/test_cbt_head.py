import pytest
import torch

from mmseg_cbsa.models import CBTHead


def _head(rep_grid=3, **kw):
    cfg = dict(
        in_channels=32,
        num_layers=2,
        num_heads=2,
        head_dims=8,
        attn_cfg=dict(type='CBSA', rep_grid=rep_grid),
        num_classes=5)
    cfg.update(kw)
    head = CBTHead(**cfg)
    head.init_weights()
    return head


@pytest.mark.parametrize('hw', [(6, 6), (5, 9)])
def test_shapes_and_gradients(hw):
    head = _head()
    feat = torch.randn(2, 32, *hw, requires_grad=True)
    logits = head([feat])
    assert logits.shape == (2, 5, *hw)
    # the standard layout mmseg's resize to the image size is fast on, not channels-last
    assert logits.is_contiguous()
    logits.square().sum().backward()
    assert feat.grad.abs().sum() > 0
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_structure_is_stacked_cbsa_without_ffn():
    head = _head(num_layers=3, num_heads=3, head_dims=100, rep_grid=10)
    assert len(head.layers) == 3
    for layer in head.layers:
        assert type(layer.attn).__name__ == 'CBSA'
        assert layer.attn.num_heads * layer.attn.head_dims == 300
        assert layer.attn.rep_grid == (10, 10)
        assert {n for n, _ in layer.named_children()} == {'norm', 'attn'}
    assert head.cls_emb.shape == (1, 5, 32)
    assert not hasattr(head, 'conv_seg')


def test_masks_are_layernormed_cosine_similarities():
    head = _head()
    feat = torch.randn(1, 32, 4, 4)
    tokens = torch.cat((feat.flatten(2).transpose(1, 2), head.cls_emb), 1)
    tokens = head.refine(tokens, (4, 4))
    p = torch.nn.functional.normalize(tokens[:, :16], dim=-1)
    c = torch.nn.functional.normalize(tokens[:, 16:], dim=-1)
    cos = p @ c.transpose(1, 2)
    expected = torch.nn.functional.layer_norm(
        cos, (5, ), head.mask_norm.weight, head.mask_norm.bias, eps=1e-5)
    torch.testing.assert_close(head([feat]), expected.transpose(1, 2).reshape(1, 5, 4, 4))


def test_patch_permutation_equivariance_with_a_global_grid():
    # with a 1x1 grid the representative is the mean of all patches, so
    # permuting patches permutes the logits
    head = _head(rep_grid=1)
    feat = torch.randn(1, 32, 4, 4)
    perm = torch.randperm(16)
    permuted = feat.flatten(2)[..., perm].reshape(1, 32, 4, 4)
    torch.testing.assert_close(
        head([permuted]).flatten(2), head([feat]).flatten(2)[..., perm], rtol=1e-4, atol=1e-5)


def test_loss_through_mmseg_segmentor(cbsa_scope):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from mmseg_cbsa.registry import MODELS
    model = MODELS.build(
        dict(
            type='EncoderDecoder',
            data_preprocessor=dict(
                type='SegDataPreProcessor', mean=[127.5] * 3, std=[127.5] * 3, size=(48, 64)),
            backbone=dict(type='ViT', arch=(32, 2, 2), img_size=64, patch_size=8),
            decode_head=dict(
                type='CBTHead',
                in_channels=32,
                num_layers=1,
                num_heads=2,
                head_dims=8,
                attn_cfg=dict(type='CBSA', rep_grid=3),
                num_classes=4,
                loss_decode=dict(type='CrossEntropyLoss')),
            test_cfg=dict(mode='whole')))
    model.init_weights()
    sample = SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 4, (1, 48, 64))))
    sample.set_metainfo(dict(img_shape=(48, 64), ori_shape=(48, 64), pad_shape=(48, 64)))
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 255, (3, 48, 64)).float()], data_samples=[sample]),
        training=True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['decode.loss_ce'])
    losses['decode.loss_ce'].backward()
    assert model.backbone.patch_embed.proj.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('train', [False, True])
def test_activation_memory_is_linear_in_tokens(train):
    """Regression check on memory (not time): the live tensors of a forward
    (and of a training step, saved tensors included) grow linearly with the
    tokens and no (N x N) tensor is ever made."""
    from mmseg_cbsa.apps.benchmark import TensorMemoryTracker
    head = _head(num_classes=5).train(train)
    peaks = []
    for side in (16, 32):
        n = side * side + 5
        feat = torch.randn(1, 32, side, side)
        with torch.set_grad_enabled(train), TensorMemoryTracker() as tracker:
            out = head([feat])
            if train:
                out.sum().backward()
        assert tracker.largest < n * n * 4, (side, tracker.largest)
        peaks.append(tracker.peak)
    assert 3.5 < peaks[1] / peaks[0] < 4.3, peaks


def test_segmenter_head_memory_is_quadratic_for_contrast():
    """The same tracker sees the quadratic attention of mmseg's Segmenter head,
    so the check above could fail."""
    from mmseg.models.decode_heads import SegmenterMaskTransformerHead

    from mmseg_cbsa.apps.benchmark import TensorMemoryTracker
    head = SegmenterMaskTransformerHead(
        in_channels=32, channels=32, num_classes=5, num_layers=1, num_heads=2,
        embed_dims=32).eval()
    peaks = []
    for side in (16, 32):
        with torch.no_grad(), TensorMemoryTracker() as tracker:
            head([torch.randn(1, 32, side, side)])
        peaks.append(tracker.peak)
    assert tracker.largest >= (32 * 32)**2 * 4
    assert peaks[1] / peaks[0] > 8, peaks
