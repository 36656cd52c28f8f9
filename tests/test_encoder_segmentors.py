"""ADE20K segmentors with a white-box encoder (CBT-S, CRATE+CBT-S) and the CBT
decoder, initialised from the authors' converted ImageNet classifiers."""
import os

import pytest
import torch
from mmengine.config import Config
from mmseg.models.backbones.vit import VisionTransformer as MMSegViT

from mmseg_cbsa.converters import convert_classifier
from tests.test_converters.test_authors_fidelity import classifier

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {
    'configs/cbt/cbt_cbt-s16_8xb1-160k_ade20k-512x512.py': ['CBSA'] * 12,
    'configs/cbt/cbt_crate-cbt-s16_8xb1-160k_ade20k-512x512.py': ['MSSA'] * 6 + ['CBSA'] * 6,
}


@pytest.fixture(params=sorted(CASES), ids=os.path.basename)
def converted(request, tmp_path):
    """(config, converted checkpoint, its state dict) for each encoder."""
    torch.manual_seed(0)
    state, _ = convert_classifier(classifier(CASES[request.param], d=384, heads=6))
    path = tmp_path / 'converted.pth'
    torch.save({'state_dict': state}, path)
    return request.param, str(path), state


def _build(config, checkpoint, cbsa_scope):
    from mmseg_cbsa.registry import MODELS
    cfg = Config.fromfile(os.path.join(REPO, config))
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    model = MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model


def test_recipe(converted):
    cfg = Config.fromfile(os.path.join(REPO, converted[0]))
    backbone = cfg.model.backbone
    assert backbone.type in ('CBT', 'CRATECBT') and backbone.arch == 's'
    assert backbone.legacy_cls_pooling and backbone.norm_eval and backbone.img_size == 512
    assert backbone.init_cfg == dict(
        type='Pretrained', prefix='backbone.', checkpoint=backbone.init_cfg.checkpoint)
    assert backbone.init_cfg.checkpoint.endswith('-s_in1k.pth')
    # ImageNet normalisation, as the classifiers were trained
    assert cfg.model.data_preprocessor.mean == [123.675, 116.28, 103.53]
    assert cfg.model.data_preprocessor.std == [58.395, 57.12, 57.375]
    assert cfg.model.decode_head.type == 'CBTHead' and cfg.model.decode_head.in_channels == 384


def test_encoder_loads_the_classifier(converted, cbsa_scope):
    config, path, state = converted
    _, model = _build(config, path, cbsa_scope)
    ours = model.backbone.state_dict()
    loaded = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    assert set(ours) == set(loaded)
    for key, value in loaded.items():
        if key == 'pos_embed':
            # laid out for 224 px (14 x 14), resampled once to the 512 crop (32 x 32)
            assert value.shape[1] == 1 + 14 * 14 and ours[key].shape[1] == 1 + 32 * 32
            expected = MMSegViT.resize_pos_embed(value, (32, 32), (14, 14), 'bicubic')
            torch.testing.assert_close(ours[key], expected, rtol=0, atol=0)
        else:
            assert torch.equal(ours[key], value), key


@pytest.mark.slow
def test_stem_batchnorm_keeps_imagenet_statistics(converted, cbsa_scope):
    config, path, state = converted
    _, model = _build(config, path, cbsa_scope)
    model.train()
    bns = [
        m for m in model.backbone.patch_embed.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    assert len(bns) == 4 and not any(m.training for m in bns)
    assert model.backbone.blocks[0].training
    before = [m.running_mean.clone() for m in bns]
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    sample = SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 150, (1, 64, 64))))
    sample.set_metainfo(dict(img_shape=(64, 64), pad_shape=(64, 64)))
    losses = model.loss(torch.randn(1, 3, 64, 64), [sample])
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, bns))
    assert bns[0].weight.grad is not None


def test_whole_image_inference_at_any_size(converted, cbsa_scope):
    config, path, _ = converted
    cfg, model = _build(config, path, cbsa_scope)
    model.test_cfg.mode = 'whole'
    model.eval()
    with torch.no_grad():
        logits = model.inference(
            torch.randn(1, 3, 96, 160), [
                dict(
                    img_shape=(96, 160),
                    ori_shape=(96, 160),
                    pad_shape=(96, 160),
                    padding_size=[0, 0, 0, 0])
            ])
    assert logits.shape == (1, 150, 96, 160) and torch.isfinite(logits).all()
