"""configs/vit_adaptation/ (paper Fig. 9): every leaf builds the attention its
name says, the ImageNet leaves follow the authors' recipe, and a converted
timm checkpoint trains for a step through the ImageNet and the downstream
recipes (shrunk to tiny sizes)."""
import glob
import os
import re

import cv2
import numpy as np
import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from mmseg_cbsa.converters.vit_adaptation import convert_vit_to_cbsa
from mmseg_cbsa.utils.checkpoint import save_checkpoint_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(REPO, 'configs', 'vit_adaptation', '*.py')))
IMAGENET = [p for p in CONFIGS if re.search(r'_in1k(-384px)?\.py$', p)]
WIDTHS = {'t': 192, 's': 384, 'b': 768}
#: the attention of each adaptation in the file name
ATTENTION = {
    'cbsa': ('QKVCBSA', True),
    'cbsa-nocontract': ('QKVCBSA', False),
    'linear': ('QKVLinearAttention', None),
    'mhsa': ('MHSA', None)
}
CLASSES = {'in1k': 1000, 'cifar10': 10, 'cifar100': 100, 'flowers102': 102, 'oxford-pets': 37}


def _name(path):
    return os.path.basename(path)[:-3]


def _build(cfg):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model)


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_leaf_builds_the_attention_it_names(path, cbsa_scope):
    size, variant, dataset, px = re.match(r'vit-([tsb])16-([a-z-]+?)_.*_([a-z0-9-]+?)(-384px)?$',
                                          _name(path)).groups()
    cfg = Config.fromfile(path)
    cfg.model.backbone.pop('init_cfg', None)
    model = _build(cfg)
    kind, contraction = ATTENTION[variant]
    layers = [block.attn for block in model.backbone.blocks]
    assert {type(a).__name__ for a in layers} == {kind}
    if contraction is not None:
        assert all(a.contraction == contraction and a.rep_grid == (8, 8) for a in layers)
    assert model.backbone.embed_dims == model.head.fc.in_features == WIDTHS[size]
    assert model.head.num_classes == CLASSES[dataset]
    assert model.backbone.pos_grid == ((24, 24) if px else (14, 14))


@pytest.mark.parametrize('path', IMAGENET, ids=_name)
def test_imagenet_leaves_follow_the_authors_recipe(path):
    cfg = Config.fromfile(path)
    assert cfg.optim_wrapper.optimizer == dict(
        type='AdamW', lr=5e-5, betas=(0.9, 0.999), weight_decay=0.01)
    assert 'paramwise_cfg' not in cfg.optim_wrapper
    assert cfg.train_dataloader.batch_size * 8 == 512 and cfg.train_cfg.max_epochs == 50
    assert [(s.type, s.warmup, s.T_max)
            for s in cfg.param_scheduler] == [('WarmupCosineLR', 10, 50)]
    assert cfg.model.head.loss.label_smooth_val == 0.1
    size, px = _name(path)[4], '-384' if path.endswith('-384px.py') else ''
    assert cfg.load_from == f'checkpoints/vit-{size}16{px}_in21k-ft-in1k_adapted.pth'


@pytest.mark.parametrize('size', 'tsb')
def test_the_384_leaves_evaluate_as_the_authors_script(size, tmp_path, cbsa_scope):
    """The 384 leaves' evaluation pipeline gives the authors' input:
    torchvision's Resize(438) and CenterCrop(384) on the PIL image
    (CBSA_finetune_vit/main.py:310-311), pixel for pixel. (OpenCV's resize,
    mmpretrain's default backend, is 2 grey levels off on this image.)"""
    from mmpretrain.registry import TRANSFORMS
    from PIL import Image
    from torchvision import transforms
    cfg = Config.fromfile(
        os.path.join(REPO, 'configs', 'vit_adaptation',
                     f'vit-{size}16-cbsa-nocontract_in21k-pre_8xb64-adamw-50e_in1k-384px.py'))
    rgb = np.random.default_rng(0).integers(0, 256, (500, 620, 3), dtype=np.uint8)
    rgb = cv2.GaussianBlur(rgb, (0, 0), 3)  # a photo's smoothness, not per-pixel noise
    path = str(tmp_path / 'photo.png')
    cv2.imwrite(path, rgb[..., ::-1])
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = [TRANSFORMS.build(t) for t in cfg.test_dataloader.dataset.pipeline[:-1]]
    results = dict(img_path=path)
    for t in pipeline:
        results = t(results)
    ours = results['img'][..., ::-1].astype(int)  # BGR -> RGB
    theirs = np.asarray(
        transforms.Compose([transforms.Resize(438),
                            transforms.CenterCrop(384)])(Image.open(path).convert('RGB')))
    assert ours.shape == theirs.shape == (384, 384, 3)
    assert np.array_equal(ours, theirs)
    crop = next(t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomResizedCrop')
    assert crop.scale == 384 == cfg.model.backbone.img_size


# --- a step on tiny data from a converted timm checkpoint ---------------------------------------


def _timm_checkpoint(path, classes):
    torch.manual_seed(0)
    vit = timm.create_model(
        'vit_tiny_patch16_224',
        pretrained=False,
        img_size=32,
        patch_size=8,
        depth=2,
        num_classes=classes)
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    state, _ = convert_vit_to_cbsa(vit.state_dict(), 'timm', rep_grid=2)
    save_checkpoint_file(state, path)
    return state


def _tiny(cfg, root, work, classes):
    """The leaf shrunk to a 2-block ViT-T-wide encoder on a folder of 32x32 images."""
    cfg.model.backbone.update(arch=(192, 2, 3), img_size=32, patch_size=8)
    cfg.model.backbone.attn_cfg.rep_grid = 2
    cfg.model.head.update(in_channels=192, num_classes=classes)
    cfg.model.head.topk = (1, )
    cfg.model.data_preprocessor = dict(num_classes=classes)
    pipeline = [dict(type='LoadImageFromFile')] + [
        t for t in cfg.train_dataloader.dataset.pipeline if t['type'] != 'LoadImageFromFile'
    ]
    for t in pipeline:
        if t['type'] == 'RandomResizedCrop':
            t['scale'] = 32
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset = dict(
        type='CustomDataset', data_root=str(root), pipeline=pipeline)
    for part in ('val', 'test'):
        cfg[f'{part}_dataloader'] = cfg[f'{part}_evaluator'] = cfg[f'{part}_cfg'] = None
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work)
    return cfg


def _images(root, classes):
    rng = np.random.default_rng(0)
    for c in range(classes):
        os.makedirs(root / f'class{c}')
        for i in range(2):
            cv2.imwrite(
                str(root / f'class{c}' / f'{i}.png'),
                rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))


@pytest.mark.parametrize('leaf, head_loaded', [
    ('vit-b16-cbsa_in21k-pre_8xb64-adamw-50e_in1k.py', True),
    ('vit-b16-cbsa_in1k-pre_1xb50-400e_oxford-pets.py', False),
])
@pytest.mark.slow
def test_a_step_from_a_converted_timm_checkpoint(leaf, head_loaded, tmp_path, cbsa_scope):
    from mmengine.registry import DefaultScope

    from mmseg_cbsa.engine import build_runner
    ckpt = str(tmp_path / 'adapted.pth')
    # ImageNet keeps the converted head (same classes); downstream starts a new one
    state = _timm_checkpoint(ckpt, classes=2 if head_loaded else 5)
    _images(tmp_path / 'data', 2)
    cfg = _tiny(
        Config.fromfile(os.path.join(REPO, 'configs', 'vit_adaptation', leaf)),
        tmp_path / 'data',
        tmp_path / 'work',
        classes=2)
    if head_loaded:
        cfg.load_from = ckpt
    else:
        cfg.model.backbone.init_cfg.checkpoint = ckpt
    # the runner sets the config's default scope; it ends with the test
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        runner = build_runner(cfg)
        # what train() does first, here to look at the weights it starts from
        runner.model.init_weights()
        runner.load_or_resume()
        before = {k: v.clone() for k, v in runner.model.state_dict().items()}
        runner.train()
    expected = state if head_loaded else {
        k: v
        for k, v in state.items() if k.startswith('backbone.')
    }
    assert set(expected) <= set(before)
    assert set(before) - set(expected) == (
        set() if head_loaded else {'head.fc.weight', 'head.fc.bias'})
    assert all(torch.equal(before[k], v) for k, v in expected.items())
    assert {type(b.attn).__name__ for b in runner.model.backbone.blocks} == {'QKVCBSA'}
    assert runner.iter == 1
    assert np.isfinite(runner.message_hub.get_scalar('train/loss').current())
    after = runner.model.state_dict()
    # the pretrained projections are trained through the adapted attention
    assert not torch.equal(after['backbone.blocks.0.attn.qkv.weight'],
                           before['backbone.blocks.0.attn.qkv.weight'])
