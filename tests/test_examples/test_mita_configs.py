"""configs/mita/: the MiTA-Segmenter leaf builds with the authors' setting
(docs/recipes.md, "MiTA-Segmenter"), segments at the input size and trains two
iterations through tools/train.py on the generated miniature ADE20K."""
import math
import os

import pytest
import torch
from mmengine.config import Config

# a module, not its functions: pytest would collect imported test functions here
from tests.test_examples import test_example_configs as examples

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEGMENTER = os.path.join(REPO, 'configs', 'mita',
                         'mita-segmenter_vit-t16_8xb1-160k_ade20k-512x512.py')


def test_recipe_is_the_authors_setting() -> None:
    """The values of the recipe card (QishuaiWen/MiTA, MiTA-Segmenter)."""
    cfg = Config.fromfile(SEGMENTER)
    backbone, head = cfg.model.backbone, cfg.model.decode_head
    # vit_tiny_patch16_384: width 192, 12 blocks, every one MiTA 7x7 / top-49
    assert (backbone.arch, backbone.patch_size, backbone.drop_path_rate) == ('t', 16, 0.1)
    assert backbone.legacy_cls_pooling is True
    assert len(backbone.attn_cfg) == 12
    assert all(a == dict(type='MiTA', pool_size=7, topk=49, router_scale='code', qkv_bias=True)
               for a in backbone.attn_cfg)
    # their mask_transformer is the CBSA decoder: 3 layers, 3 heads x 100, 10x10
    assert (head.type, head.num_layers, head.num_heads, head.head_dims) == ('CBTHead', 3, 3, 100)
    assert head.attn_cfg == dict(type='CBSA', rep_grid=10)
    # ade20k: 64 epochs of batch 8 at 512 crops, SGD 1e-3 momentum 0.9, poly 0.9 to 1e-5
    assert cfg.train_dataloader.batch_size == 1  # per GPU, 8 GPUs (8xb1)
    assert cfg.crop_size == (512, 512)
    assert cfg.train_cfg.max_iters == 64 * math.ceil(20210 / 8)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 1e-3, 0.9, 0.0)
    (poly, ) = cfg.param_scheduler
    assert (poly.type, poly.power, poly.eta_min) == ('PolyLR', 0.9, 1e-5)


def test_segmenter_builds_and_segments_at_the_input_size(cbsa_scope) -> None:
    from mmseg_cbsa.registry import MODELS
    cfg = Config.fromfile(SEGMENTER)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).eval()
    assert [type(b.attn).__name__ for b in model.backbone.blocks] == ['MiTA'] * 12
    attn = model.backbone.blocks[0].attn
    assert (attn.pool_size, attn.topk) == ((7, 7), 49)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        logits = model.encode_decode(x, [dict(img_shape=(64, 64))])
    assert logits.shape == (1, 150, 64, 64)
    assert torch.isfinite(logits).all()


@pytest.mark.slow
def test_segmenter_trains_two_iterations(tmp_path, repo_root) -> None:
    # the examples' check: 64x64 crops, batch 2, tools/train.py, finite losses
    examples.test_example_trains_two_iterations(SEGMENTER, tmp_path, repo_root)


CLASSIFIER = os.path.join(REPO, 'configs', 'mita', 'mita-deit-t_4xb256-300e_in1k.py')


def test_classifier_recipe_is_deits_with_mita() -> None:
    """The values of the recipe card (QishuaiWen/MiTA, MiTA-DeiT: main.py's
    defaults, README's 4 GPUs x 256)."""
    cfg = Config.fromfile(CLASSIFIER)
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.arch, backbone.img_size) == ('ViT', 't', 224)
    assert (backbone.drop_path_rate, backbone.legacy_cls_pooling) == (0.1, True)
    assert backbone.out_type == 'cls_token'
    assert backbone.attn_cfg == [
        dict(type='MiTA', pool_size=5, topk=25, router_scale='code', qkv_bias=True)
    ] * 12
    assert cfg.train_dataloader.batch_size * 4 == 1024
    assert cfg.train_dataloader.sampler.type == 'RepeatAugSampler'
    opt = cfg.optim_wrapper.optimizer
    # DeiT's linear scaling: 5e-4 x 1024 / 512
    assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', 5e-4 * 1024 / 512, 0.05)
    assert cfg.optim_wrapper.clip_grad is None
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end, warmup.start_factor * opt.lr) == ('LinearLR', 5,
                                                                       pytest.approx(1e-6))
    assert (cosine.type, cosine.begin, cosine.eta_min) == ('CosineAnnealingLR', 5, 1e-5)
    assert cfg.train_cfg.max_epochs == 300
    assert [a['type'] for a in cfg.model.train_cfg.augments] == ['Mixup', 'CutMix']
    assert [a['alpha'] for a in cfg.model.train_cfg.augments] == [0.8, 1.0]
    assert cfg.model.head.loss == dict(
        type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')


def test_classifier_builds_and_classifies() -> None:
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    import mmseg_cbsa  # noqa: F401  (registers the encoder and MiTA)
    cfg = Config.fromfile(CLASSIFIER)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model).eval()
    assert [type(b.attn).__name__ for b in model.backbone.blocks] == ['MiTA'] * 12
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 224, 224), mode='tensor')
    assert logits.shape == (2, 1000)
    assert torch.isfinite(logits).all()
