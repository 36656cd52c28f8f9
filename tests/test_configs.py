"""Every config loads and builds; the ADE20K configs follow Segmenter's recipe;
base configs live under configs/_base_/ and the baselines do not inherit CBT's."""
import ast
import functools
import glob
import os
import re

import pytest
from mmengine.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_DIR = os.path.join(REPO, 'configs', '_base_')
CONFIGS = sorted(
    p for p in glob.glob(os.path.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if not p.startswith(BASE_DIR + os.sep))
ADE = [p for p in CONFIGS if 'ade20k-512x512' in p or p.endswith('cbt_decoder_ade20k.py')]
ZERO_SHOT = [p for p in CONFIGS if 'zero_shot' in p]
CLASSIFIERS = [p for p in CONFIGS if 'classification' in p]
# Table 3 fine-tuning: built and checked by tests/test_finetune/
FINETUNE = [p for p in CONFIGS if f'{os.sep}finetune{os.sep}' in p]
# Fig. 9 ViT-to-CBSA classifiers: built and checked by tests/test_vit_adaptation/
VIT_ADAPTATION = [p for p in CONFIGS if f'{os.sep}vit_adaptation{os.sep}' in p]
# MiTA-DeiT: built and checked by tests/test_examples/test_mita_configs.py
MITA_CLASSIFIERS = [p for p in CONFIGS if f'{os.sep}mita{os.sep}' in p and p.endswith('_in1k.py')]
SEGMENTORS = [
    p for p in CONFIGS
    if p not in ZERO_SHOT + CLASSIFIERS + FINETUNE + VIT_ADAPTATION + MITA_CLASSIFIERS
]

# the baselines: every DEPICT and Segmenter config, the quickstart's Segmenter included
BASELINES = [p for p in CONFIGS if re.match(r'(depict|segmenter)', os.path.basename(p))]


def _big_models_slow(paths):
    """ViT-B / ViT-L models take seconds each to build: the full suite only."""
    return [
        pytest.param(p, marks=pytest.mark.slow) if re.search(r'vit-[bl]16', p) else p for p in paths
    ]


def _strip_pretrained(model_cfg):
    model_cfg.backbone.pop('init_cfg', None)
    return model_cfg


@pytest.mark.parametrize(
    'path', _big_models_slow(SEGMENTORS), ids=lambda p: os.path.relpath(p, REPO))
def test_config_builds(path, cbsa_scope):
    from mmseg_cbsa.registry import MODELS
    cfg = Config.fromfile(path)
    model = MODELS.build(_strip_pretrained(cfg.model))
    head = model.decode_head
    if type(model.backbone).__module__.startswith('mmseg_cbsa'):
        assert head.in_channels == model.backbone.embed_dims
    else:  # mmseg's CNN / Swin encoders (configs/examples): the stage the head reads
        import torch
        with torch.no_grad():
            feats = model.eval().extract_feat(torch.randn(1, 3, 64, 64))
        assert head.in_channels == feats[head.in_index].shape[1]
    assert head.num_classes == len(
        cfg.train_dataloader.dataset.get('metainfo', {}).get('classes', [None] * head.num_classes))


@pytest.mark.parametrize('path', ADE, ids=lambda p: os.path.relpath(p, REPO))
def test_ade20k_recipe(path):
    cfg = Config.fromfile(path)
    assert cfg.train_dataloader.batch_size * 8 == 8  # 8 GPUs x 1 image
    # the authors' recipe (docs/recipes.md): timm's 'sgd' is Nesterov; 64 epochs of
    # ceil(20210 / 8) iterations; the published numbers' windows at stride crop - 32
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=1e-3, momentum=0.9, nesterov=True, weight_decay=0.0)
    assert cfg.param_scheduler[0].type == 'PolyLR' and cfg.param_scheduler[0].power == 0.9
    assert cfg.train_cfg.max_iters == 64 * 2527
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(512, 512), stride=(480, 480))
    assert cfg.model.decode_head.loss_decode.avg_non_ignore
    assert cfg.crop_size == (512, 512)
    assert cfg.model.decode_head.num_classes == 150
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    # ViT encoders from timm's ImageNet-21k weights; white-box encoders from
    # the authors' ImageNet-1K classifiers (configs/cbt/cbt_{cbt,crate-cbt}-s16_*);
    # mmseg's ResNet-50-V1c and Swin-T from mmseg's own (configs/examples)
    assert re.match(
        r'checkpoints/(vit|cbt|crate-cbt)-|open-mmlab://resnet50_v1c$|'
        r'https://download\.openmmlab\.com/mmsegmentation/v0\.5/pretrain/swin/',
        cfg.model.backbone.init_cfg.checkpoint)


def test_entry_point_is_cbt_s():
    cfg = Config.fromfile(os.path.join(REPO, 'configs', 'cbt_decoder_ade20k.py'))
    assert cfg.model.backbone.arch == 's' and cfg.model.decode_head.type == 'CBTHead'
    assert cfg.model.decode_head.num_heads * cfg.model.decode_head.head_dims == 300


@pytest.mark.parametrize('path', ZERO_SHOT, ids=lambda p: os.path.relpath(p, REPO))
def test_zero_shot_config_builds(path, cbsa_scope):
    import torch

    from mmseg_cbsa.registry import MODELS
    cfg = Config.fromfile(path)
    assert cfg.test_evaluator == dict(type='ZeroShotCLSMetric', patch_size=16, share=0.6)
    assert cfg.test_dataloader.dataset.type == 'PascalVOCDataset'
    model = MODELS.build(_strip_pretrained(cfg.model)).eval()
    maps = model(torch.randn(1, 3, 224, 224), mode='tensor')
    assert sorted(maps) == list(range(12))
    assert maps[0].shape == (1, model.backbone.num_heads, 14, 14)


def test_the_five_zero_shot_models_are_configured():
    kinds = sorted(Config.fromfile(p).model.backbone.type for p in ZERO_SHOT)
    assert kinds == ['CBT', 'CRATE', 'CRATECBT', 'ToST', 'ViT']


@pytest.mark.parametrize('path', CLASSIFIERS, ids=lambda p: os.path.relpath(p, REPO))
def test_classification_config_follows_the_paper(path, cbsa_scope):
    from mmengine.registry import OPTIMIZERS, DefaultScope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.train_dataloader.batch_size * 8 == 256
    assert cfg.optim_wrapper.optimizer == dict(type='Lion', lr=2e-4, weight_decay=0.05)
    assert OPTIMIZERS.get('Lion') is not None  # registered through lion-pytorch
    assert cfg.train_cfg.max_epochs == 150
    assert cfg.model.head.loss.label_smooth_val == 0.1
    assert [(s.type, s.warmup, s.T_max)
            for s in cfg.param_scheduler] == [('WarmupCosineLR', 20, 150)]
    assert 'paramwise_cfg' not in cfg.optim_wrapper  # decay on every parameter
    if path.endswith('cbt-t_8xb32-lion-150e_in1k.py'):
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = MODELS.build(cfg.model)
        total = sum(p.numel() for p in model.parameters())
        assert abs(total / 1e6 - 1.8) / 1.8 < 0.02  # Table 3: CBT-T 1.8M


@pytest.mark.parametrize('path', CLASSIFIERS, ids=lambda p: os.path.relpath(p, REPO))
def test_classification_config_builds(path, cbsa_scope):
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(path)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    assert model.head.fc.in_features == model.backbone.embed_dims
    assert model.head.num_classes == 1000


def test_every_config_is_built_by_a_test():
    assert sorted(SEGMENTORS + ZERO_SHOT + CLASSIFIERS + FINETUNE + VIT_ADAPTATION +
                  MITA_CLASSIFIERS) == CONFIGS
    assert len(CLASSIFIERS) == 12 and len(ZERO_SHOT) == 5 and len(FINETUNE) == 28
    # ADE20K, Pascal Context, Cityscapes: 3 baselines x 4 sizes each, + the quickstart's
    # and Segmenter-L at 640
    assert len(BASELINES) == 13 + 24 + 1


def test_base_configs_only_under_base_dir():
    stray = [
        os.path.relpath(p, REPO)
        for p in glob.glob(os.path.join(REPO, 'configs', '**', '_base*'), recursive=True)
        if not (p == BASE_DIR or p.startswith(BASE_DIR + os.sep))
    ]
    assert not stray, f'base configs outside configs/_base_/: {stray}'


def _bases(path):
    """The local files of ``path``'s ``_base_`` chain (``scope::`` bases are external)."""
    chain, todo = [], [path]
    while todo:
        current = todo.pop()
        for node in ast.parse(open(current).read()).body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
                bases = ast.literal_eval(node.value)
                for base in [bases] if isinstance(bases, str) else bases:
                    if '::' not in base:
                        base = os.path.normpath(os.path.join(os.path.dirname(current), base))
                        assert os.path.isfile(base), base
                        chain.append(base)
                        todo.append(base)
    return chain


def _is_cbt_file(path):
    """A CBT config by its name (cbt/, cbt_*, cbt-*) or by a CBTHead in it."""
    parts = os.path.relpath(path, os.path.join(REPO, 'configs')).split(os.sep)
    strings = {
        n.value
        for n in ast.walk(ast.parse(open(path).read()))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    return any(re.match(r'cbt([_.-]|$)', part) for part in parts) or 'CBTHead' in strings


def test_base_chain_is_followed():
    chain = [
        os.path.relpath(p, REPO) for p in _bases(
            os.path.join(REPO, 'configs', 'cbt', 'cbt_vit-b16_8xb1-160k_ade20k-512x512.py'))
    ]
    assert 'configs/cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py' in chain
    assert 'configs/_base_/models/vit-s16.py' in chain
    assert _is_cbt_file(os.path.join(REPO, chain[0]))


@pytest.mark.parametrize('path', BASELINES, ids=lambda p: os.path.relpath(p, REPO))
def test_baselines_do_not_inherit_cbt(path):
    cbt = [os.path.relpath(p, REPO) for p in _bases(path) if _is_cbt_file(p)]
    assert not cbt, f'{os.path.relpath(path, REPO)} inherits CBT configs: {cbt}'
    assert Config.fromfile(path).model.decode_head.type != 'CBTHead'


def test_quickstart_decoders_share_everything_but_the_head():
    cbt, segmenter = (
        Config.fromfile(os.path.join(REPO, 'configs', 'quickstart', name)).to_dict()
        for name in ('cbt_vit-t8_1xb8-1k_mini-ade20k-128x128.py',
                     'segmenter_vit-t8_1xb8-1k_mini-ade20k-128x128.py'))
    for cfg in (cbt, segmenter):
        cfg.pop('filename', None)
        cfg['model'].pop('decode_head')
    assert cbt == segmenter


@functools.lru_cache(maxsize=1)
def _ours() -> frozenset:
    from mmengine.registry import Registry

    from mmseg_cbsa import registry
    return frozenset(
        name for r in vars(registry).values()
        if isinstance(r, Registry) and r.scope == registry.SCOPE for name in r._module_dict)


def _built_outside_our_scope(node, scope, path, ours):
    """(path, type, scope) of each of our types that a dict of ``node`` would be
    built in another scope: mmengine tags every dict of an ``mmseg::`` base
    with ``_scope_='mmseg'``, and a pipeline of ours inside such a dataset
    would then be looked up in mmseg's registry only."""
    if isinstance(node, dict):
        scope = node.get('_scope_', scope)
        if node.get('type') in ours and scope != 'mmseg_cbsa':
            yield path, node['type'], scope
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return
    for key, child in items:
        yield from _built_outside_our_scope(child, scope, f'{path}.{key}', ours)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_our_types_are_built_in_our_scope(path):
    cfg = Config.fromfile(path)
    found = list(_built_outside_our_scope(cfg.to_dict(), cfg.get('default_scope'), 'cfg', _ours()))
    assert not found, found


def test_crate_t_s_are_the_authors_mssa_models():
    """Their CRATE_tiny / CRATE_small (models.py) have the convolutional stem;
    CRATE-B/L stay CRATE's own (linear stem)."""
    for size, stem in (('t', 'conv'), ('s', 'conv'), ('b', 'linear'), ('l', 'linear')):
        cfg = Config.fromfile(
            os.path.join(REPO, 'configs', 'classification',
                         f'crate-{size}_8xb32-lion-150e_in1k.py'))
        assert cfg.model.backbone.get('stem', 'linear') == stem, size


def test_segmenter_l_at_640_is_segmenters_recipe():
    cfg = Config.fromfile(
        os.path.join(REPO, 'configs', 'segmenter', 'segmenter_vit-l16_8xb1-160k_ade20k-640x640.py'))
    resize, crop = cfg.train_dataloader.dataset.pipeline[2:4]
    assert (resize.scale, crop.crop_size) == ((2560, 640), (640, 640))
    assert cfg.model.backbone.img_size == cfg.model.data_preprocessor.size == (640, 640)
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(640, 640), stride=(608, 608))
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (2560, 640)
    assert cfg.model.decode_head.type == 'SegmenterHead' and cfg.model.backbone.arch == 'l'
