"""Pascal Context 59 and Cityscapes configs of the four decoders: the authors'
Segmenter recipe (segm/config.yml), equal terms for the decoders, a forward
pass, and a short training + IoUMetric validation on data laid out like the
real datasets (made here, in tmp dirs)."""
import copy
import functools
import glob
import math
import os

import cv2
import numpy as np
import pytest
from mmengine.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DECODERS = {'cbt': 'cbt', 'depict-sa': 'depict', 'depict-ca': 'depict', 'segmenter': 'segmenter'}
SIZES = {'t': 192, 's': 384, 'b': 768, 'l': 1024}
#: per dataset: leaf-name suffix and the recipe of segm/config.yml
RECIPES = {
    'pascal-context-59':
    dict(
        suffix='8xb2-80k_pascal-context-59-480x480',
        dataset='PascalContextDataset59',
        num_classes=59,
        scale=(4160, 520),
        crop=(480, 480),
        stride=(448, 448),
        batch=16,
        lr=1e-3,
        epochs=256,
        train_images=4998),
    'cityscapes':
    dict(
        suffix='8xb1-80k_cityscapes-768x768',
        dataset='CityscapesDataset',
        num_classes=19,
        scale=(2048, 1024),
        crop=(768, 768),
        stride=(736, 736),
        batch=8,
        lr=1e-2,
        epochs=216,
        train_images=2975),
}


def _leaf(decoder: str, size: str, dataset: str) -> str:
    return os.path.join(REPO, 'configs', DECODERS[decoder],
                        f'{decoder}_vit-{size}16_{RECIPES[dataset]["suffix"]}.py')


LEAVES = [(d, s, ds) for ds in RECIPES for d in DECODERS for s in SIZES]


def test_every_leaf_exists():
    made = {
        os.path.relpath(p, REPO)
        for ds in RECIPES
        for p in glob.glob(os.path.join(REPO, 'configs', '*', f'*_{RECIPES[ds]["suffix"]}.py'))
    }
    assert made == {os.path.relpath(_leaf(*leaf), REPO) for leaf in LEAVES}


@functools.lru_cache(maxsize=None)
def _parsed(path: str) -> Config:
    """The leaf, parsed once (its mmseg:: bases make parsing slow); callers copy to change it."""
    return Config.fromfile(path)


def _step(pipeline, kind):
    steps = [t for t in pipeline if t['type'] == kind]
    assert len(steps) == 1, (kind, pipeline)
    return steps[0]


@pytest.mark.parametrize('decoder,size,dataset', LEAVES, ids=lambda v: str(v))
def test_recipe(decoder, size, dataset):
    r = RECIPES[dataset]
    cfg = _parsed(_leaf(decoder, size, dataset))
    train, val = cfg.train_dataloader, cfg.val_dataloader
    assert train.dataset.type == val.dataset.type == r['dataset']
    assert train.batch_size * 8 == r['batch']  # 8 GPUs
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=r['lr'], momentum=0.9, nesterov=True, weight_decay=0.0)
    # the authors' epochs in iterations: their loader keeps the last partial batch
    iters = r['epochs'] * -(-r['train_images'] // r['batch'])
    (poly, ) = cfg.param_scheduler
    assert (poly.type, poly.power, poly.eta_min, poly.end) == ('PolyLR', 0.9, 1e-5, iters)
    assert cfg.train_cfg.max_iters == iters
    assert cfg.model.decode_head.loss_decode.avg_non_ignore
    assert _step(train.dataset.pipeline, 'RandomResize').scale == r['scale']
    assert _step(train.dataset.pipeline, 'RandomResize').ratio_range == (0.5, 2.0)
    assert _step(train.dataset.pipeline, 'RandomCrop').crop_size == r['crop']
    assert _step(val.dataset.pipeline, 'Resize').scale == r['scale']
    for pipeline in (train.dataset.pipeline, val.dataset.pipeline):
        assert _step(pipeline, 'LoadCheckedAnnotations').num_classes == r['num_classes']
    model = cfg.model
    assert model.test_cfg == dict(mode='slide', crop_size=r['crop'], stride=r['stride'])
    assert model.data_preprocessor.size == model.backbone.img_size == r['crop']
    assert model.decode_head.num_classes == r['num_classes']
    assert model.backbone.arch == size and model.decode_head.in_channels == SIZES[size]
    assert model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint=f'checkpoints/vit-{size}16_384_timm.pth')


@pytest.mark.parametrize('dataset', RECIPES)
@pytest.mark.parametrize('size', SIZES)
def test_decoders_share_everything_but_the_head(dataset, size):
    cfgs = []
    for decoder in DECODERS:
        cfg = copy.deepcopy(_parsed(_leaf(decoder, size, dataset))).to_dict()
        cfg.pop('filename', None)
        cfg['model'].pop('decode_head')
        cfgs.append(cfg)
    assert all(c == cfgs[0] for c in cfgs[1:])


@pytest.mark.parametrize('dataset', RECIPES)
@pytest.mark.parametrize('decoder', DECODERS)
def test_forward_at_a_small_size(decoder, dataset, cbsa_scope):
    import torch
    from mmengine.registry import DefaultScope

    from mmseg_cbsa.registry import MODELS
    cfg = copy.deepcopy(_parsed(_leaf(decoder, 't', dataset)))
    cfg.model.backbone.pop('init_cfg')
    with DefaultScope.overwrite_default_scope('mmseg_cbsa'):
        model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 64, 96), mode='tensor')
    assert logits.shape[:2] == (1, RECIPES[dataset]['num_classes'])
    assert torch.isfinite(logits).all()


# --- a short training run on data laid out like the real datasets ----------------------------


def _image_and_labels(rng, shape, labels):
    """A random image and a label map of blocks drawn from ``labels``."""
    h, w = shape
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    blocks = rng.choice(labels, size=(h // 8, w // 8)).astype(np.uint8)
    return img, np.kron(blocks, np.ones((8, 8), np.uint8))


def make_pascal_context(root, rng, shape=(48, 64), counts=(('train', 4), ('val', 2))):
    """VOCdevkit/VOC2010 as mmseg's converter leaves it: JPEGImages,
    SegmentationClassContext (0 background, 1..59 the classes),
    ImageSets/SegmentationContext/{train,val}.txt."""
    voc = os.path.join(root, 'VOCdevkit', 'VOC2010')
    for sub in ('JPEGImages', 'SegmentationClassContext', 'ImageSets/SegmentationContext'):
        os.makedirs(os.path.join(voc, sub))
    for split, n in counts:
        names = [f'2008_{split}{i:02d}' for i in range(n)]
        for name in names:
            img, lab = _image_and_labels(rng, shape, np.arange(0, 60))
            cv2.imwrite(os.path.join(voc, 'JPEGImages', name + '.jpg'), img)
            cv2.imwrite(os.path.join(voc, 'SegmentationClassContext', name + '.png'), lab)
        with open(os.path.join(voc, 'ImageSets', 'SegmentationContext', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
    return voc


def make_cityscapes(root, rng, shape=(48, 96), counts=(('train', 4), ('val', 2))):
    """cityscapes as mmseg's converter leaves it: leftImg8bit/<split>/<city>/
    *_leftImg8bit.png and gtFine/<split>/<city>/*_gtFine_labelTrainIds.png
    (train ids 0..18, 255 void)."""
    for split, n in counts:
        city = 'aachen' if split == 'train' else 'lindau'
        for sub in ('leftImg8bit', 'gtFine'):
            os.makedirs(os.path.join(root, sub, split, city))
        for i in range(n):
            stem = f'{city}_{i:06d}_000019'
            img, lab = _image_and_labels(rng, shape, np.r_[np.arange(19), 255])
            cv2.imwrite(
                os.path.join(root, 'leftImg8bit', split, city, f'{stem}_leftImg8bit.png'), img)
            cv2.imwrite(
                os.path.join(root, 'gtFine', split, city, f'{stem}_gtFine_labelTrainIds.png'), lab)
    return str(root)


MAKERS = {'pascal-context-59': make_pascal_context, 'cityscapes': make_cityscapes}
#: each decoder shrunk to one tiny layer on a 16-wide encoder
TINY_HEADS = {
    'cbt': dict(num_layers=1, num_heads=2, head_dims=8, attn_cfg=dict(type='CBSA', rep_grid=2)),
    'depict-sa': dict(num_layers=1, num_heads=2, head_dims=8),
    'depict-ca':
    dict(num_layers=1, num_heads=2, head_dims=8, num_cross_layers=1, cross_head_dims=4),
    'segmenter': dict(num_layers=1, num_heads=2, channels=16, embed_dims=16),
}


def _shrink(cfg, decoder, data_root, work_dir):
    """The leaf at 64x64 crops (images rescaled to short side 64), windows 64 /
    stride 32, a tiny encoder and decoder, 2 iterations (validation left to the test)."""
    crop = (64, 64)
    for t in cfg.train_dataloader.dataset.pipeline + cfg.val_dataloader.dataset.pipeline:
        if 'scale' in t:
            t.scale = (256, 64)
        if 'crop_size' in t:
            t.crop_size = crop
    cfg.model.data_preprocessor.size = crop
    cfg.model.backbone = dict(
        type='ViT',
        arch=(16, 1, 2),
        img_size=crop,
        patch_size=8,
        norm_eps=1e-5,
        interpolate_mode='bilinear')
    cfg.model.decode_head.update(in_channels=16, **TINY_HEADS[decoder])
    cfg.model.test_cfg = dict(mode='slide', crop_size=crop, stride=(32, 32))
    loader = dict(num_workers=0, persistent_workers=False)
    cfg.train_dataloader.update(batch_size=2, **loader)
    cfg.val_dataloader.update(**loader)
    for name in ('train_dataloader', 'val_dataloader'):
        cfg[name].dataset.data_root = data_root
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=100)
    cfg.param_scheduler[0].end = 2
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 2
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'{decoder}_{os.path.basename(str(work_dir))}'
    return cfg


# one run per dataset (each decoder's training is tested on ADE20K-style data elsewhere)
@pytest.mark.parametrize('decoder,dataset', [('cbt', 'pascal-context-59'),
                                             ('segmenter', 'cityscapes')])
@pytest.mark.slow
def test_a_few_iterations_on_a_tiny_copy(decoder, dataset, tmp_path):
    from mmengine.registry import DefaultScope

    from mmseg_cbsa.engine import build_runner
    rng = np.random.default_rng(0)
    data_root = MAKERS[dataset](tmp_path / 'data', rng)
    cfg = _shrink(
        copy.deepcopy(_parsed(_leaf(decoder, 's', dataset))), decoder, data_root, tmp_path / 'work')
    # the runner's default scope ends with the test
    with DefaultScope.overwrite_default_scope('mmseg_cbsa'):
        runner = build_runner(cfg)
        assert len(runner.train_dataloader.dataset) == 4
        assert len(runner.val_dataloader.dataset) == 2
        runner.train()
        metrics = runner.val()
    assert runner.iter == 2
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss) and loss > 0
    assert set(metrics) == {'aAcc', 'mIoU', 'mAcc'}
    assert all(0 <= v <= 100 for v in metrics.values())
    classes = runner.val_dataloader.dataset.metainfo['classes']
    assert len(classes) == RECIPES[dataset]['num_classes']
