"""Table 3 fine-tuning configs: the authors' recipe (finetune.py), models that
build at the new class count, an encoder loaded from a 1000-class converted
checkpoint with the head left fresh, and a couple of training iterations on
tiny CIFAR-format (pickle batches) and image-folder (Pets, Flowers) copies."""
import copy
import functools
import glob
import os
import pickle

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(REPO, 'configs', 'finetune', '*.py')))
#: Table 3's columns: config prefix -> (backbone type, embed dims)
MODELS = {
    'cbt-t': ('CBT', 192),
    'cbt-s': ('CBT', 384),
    'cbt-b': ('CBT', 768),
    'cbt-l': ('CBT', 1024),
    'crate-b': ('CRATE', 768),
    'crate-l': ('CRATE', 1024),
    'vit-s': ('ViT', 384)
}
#: Table 3's rows: config suffix -> (mmpretrain dataset, classes, train split, test split)
DATASETS = {
    'cifar10': ('CIFAR10', 10, 'train', 'test'),
    'cifar100': ('CIFAR100', 100, 'train', 'test'),
    'flowers102': ('Flowers102', 102, 'train', 'test'),
    'oxford-pets': ('OxfordIIITPet', 37, 'trainval', 'test')
}


def _config(model: str, dataset: str) -> str:
    return os.path.join(REPO, 'configs', 'finetune', f'{model}_in1k-pre_1xb50-400e_{dataset}.py')


@functools.lru_cache(maxsize=None)
def _parsed(path: str) -> Config:
    """The config, parsed once; callers copy to change it."""
    return Config.fromfile(path)


def _ids(path):
    return os.path.basename(path)[:-3]


def test_one_config_per_model_and_dataset():
    assert CONFIGS == sorted(_config(m, d) for m in MODELS for d in DATASETS)


@pytest.mark.parametrize('path', CONFIGS, ids=_ids)
def test_recipe(path):
    cfg = _parsed(path)
    name = _ids(path)
    dataset, classes, train_split, test_split = DATASETS[name.rsplit('_', 1)[1]]
    assert cfg.optim_wrapper.optimizer == dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    assert 'paramwise_cfg' not in cfg.optim_wrapper  # decay on every parameter
    (cosine, ) = cfg.param_scheduler
    # their CosineAnnealingLR stepped with step(epoch - 1): two epochs behind
    assert (cosine.type, cosine.T_max, cosine.offset, cosine.by_epoch) == ('WarmupCosineLR', 400, 2,
                                                                           True)
    assert cfg.train_cfg.max_epochs == 400 and cfg.train_dataloader.batch_size == 50
    train, test = cfg.train_dataloader.dataset, cfg.test_dataloader.dataset
    assert (train.type, train.split) == (dataset, train_split)
    assert (test.type, test.split) == (dataset, test_split)
    steps = {t['type']: t for t in train.pipeline}
    assert steps['RandomResizedCrop'].scale == 224
    assert steps['RandAugment'].num_policies == 2
    assert steps['RandAugment'].magnitude_level / steps['RandAugment'].total_level == 14 / 30
    assert len(steps['RandAugment'].policies) == 14  # torchvision's operations
    assert [t['type'] for t in test.pipeline][-2:] == ['Resize', 'PackInputs']
    assert test.pipeline[-2].scale == (224, 224)
    assert cfg.model.head.num_classes == cfg.data_preprocessor.num_classes == classes
    assert cfg.model.head.loss.type == 'CrossEntropyLoss'
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and init.checkpoint.startswith('checkpoints/')
    # the classifier checkpoints hold backbone.* and head.fc.*: only the encoder is read
    assert init.get('prefix') == (None if name.startswith('vit-s') else 'backbone.')


@pytest.mark.parametrize('model', MODELS)
def test_builds_at_the_new_class_count(model, cbsa_scope):
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    kind, dims = MODELS[model]
    for dataset, (_, classes, _, _) in DATASETS.items():
        cfg = copy.deepcopy(_parsed(_config(model, dataset)))
        cfg.model.backbone.pop('init_cfg')
        if dataset == 'cifar10':
            with DefaultScope.overwrite_default_scope('mmpretrain'):
                net = PRETRAIN_MODELS.build(cfg.model).eval()
            assert type(net.backbone).__name__ == kind and net.backbone.embed_dims == dims
            assert net.head.fc.weight.shape == (classes, dims)
            if dims <= 384:  # the cheap ones run
                with torch.no_grad():
                    assert net(torch.randn(1, 3, 224, 224), mode='tensor').shape == (1, classes)
        assert cfg.model.head.num_classes == classes and cfg.model.head.in_channels == dims


# --- loading a converted ImageNet checkpoint --------------------------------------------------


def _tiny(cfg: Config) -> Config:
    """The config's classifier with a 1-layer, 16-wide encoder on 32x32 images."""
    backbone = cfg.model.backbone
    backbone.update(arch=(16, 1, 2), img_size=32, patch_size=8)
    if backbone.type == 'CBT':
        backbone.attn_cfg = dict(type='CBSA', rep_grid=2)  # on the 4x4 patch grid
    cfg.model.head.in_channels = 16
    return cfg


def _build(cfg: Config):
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return PRETRAIN_MODELS.build(cfg.model)


def _imagenet_checkpoint(cfg: Config, path: str, encoder_only: bool = False) -> dict:
    """A converted 1000-class ImageNet classifier of ``cfg``'s architecture,
    saved as the converters save (``{'state_dict', 'meta'}``)."""
    from mmseg_cbsa.utils.checkpoint import save_checkpoint_file
    source = copy.deepcopy(cfg)
    source.model.backbone.pop('init_cfg')
    source.model.head.num_classes = 1000
    torch.manual_seed(1)
    net = _build(source)
    for p in net.parameters():  # distinct from any fresh initialisation
        p.data.normal_()
    state = net.state_dict()
    if encoder_only:
        state = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    save_checkpoint_file(state, path)
    return state


@pytest.mark.parametrize('model', ['cbt-s', 'crate-b', 'vit-s'])
def test_the_encoder_loads_and_the_head_starts_fresh(model, tmp_path, cbsa_scope):
    cfg = _tiny(copy.deepcopy(_parsed(_config(model, 'cifar10'))))
    ckpt = str(tmp_path / 'in1k.pth')
    vit = model == 'vit-s'  # timm_vit2mmseg.py keeps the encoder only
    state = _imagenet_checkpoint(cfg, ckpt, encoder_only=vit)
    cfg.model.backbone.init_cfg.checkpoint = ckpt
    net = _build(cfg)
    net.init_weights()
    encoder = net.backbone.state_dict()
    expected = state if vit else {
        k[len('backbone.'):]: v
        for k, v in state.items() if k.startswith('backbone.')
    }
    assert encoder.keys() == expected.keys()
    # finetune.py drops the authors' mlp_head.* (final LayerNorm and head): the
    # final norm starts afresh; timm's ViT has no mlp_head, its norm loads
    fresh = set() if vit else {'norm.weight', 'norm.bias'}
    for key, value in encoder.items():
        assert torch.equal(value, expected[key]) != (key in fresh), key
    if not vit:
        assert torch.equal(net.backbone.norm.weight, torch.ones(16))
        assert torch.equal(net.backbone.norm.bias, torch.zeros(16))
    head = net.head.fc
    assert head.weight.shape == (10, 16) and head.bias.shape == (10, )
    if not vit:
        # the checkpoint's head is exactly what was left out
        left_out = set(state) - {f'backbone.{k}' for k in encoder}
        assert left_out == {'head.fc.weight', 'head.fc.bias'}
        assert not torch.equal(head.weight, state['head.fc.weight'][:10])
    # PyTorch's nn.Linear initialisation, as their fresh nn.Linear head:
    # U(-1/sqrt(16), 1/sqrt(16)) weights and biases (std 0.144)
    for t in (head.weight, head.bias):
        assert t.abs().max() <= 0.25 and t.std() > 0.05


def test_an_encoder_that_does_not_fit_is_refused(tmp_path, cbsa_scope):
    from mmseg_cbsa.utils.checkpoint import save_checkpoint_file
    from mmseg_cbsa.utils.checkpoint_fit import CheckpointMismatchError
    cfg = _tiny(copy.deepcopy(_parsed(_config('cbt-s', 'cifar10'))))
    ckpt = str(tmp_path / 'in1k.pth')
    state = _imagenet_checkpoint(cfg, ckpt)
    missing = next(k for k in state if k.startswith('backbone.blocks.0.'))
    save_checkpoint_file({k: v for k, v in state.items() if k != missing}, ckpt, overwrite=True)
    cfg.model.backbone.init_cfg.checkpoint = ckpt
    with pytest.raises(CheckpointMismatchError, match=missing[len('backbone.'):]):
        _build(cfg).init_weights()


# --- a couple of training iterations on tiny copies of the datasets ---------------------------


def make_cifar(root, rng, dataset='CIFAR10', train=5, test=2):
    """The python pickle batches of CIFAR-10 (5 training batches) / CIFAR-100
    (one) under ``root``: ``train`` images spread over them, ``test`` in the test batch."""
    from mmpretrain.datasets import CIFAR10, CIFAR100
    cls = {'CIFAR10': CIFAR10, 'CIFAR100': CIFAR100}[dataset]
    folder = os.path.join(root, cls.base_folder)
    os.makedirs(folder)
    key = 'labels' if dataset == 'CIFAR10' else 'fine_labels'
    classes = len(cls.METAINFO['classes'])
    per_batch = train // len(cls.train_list)
    for name, n in [(f, per_batch) for f, _ in cls.train_list] + [(cls.test_list[0][0], test)]:
        batch = {
            'data': rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
            key: rng.integers(0, classes, n).tolist()
        }
        with open(os.path.join(folder, name), 'wb') as f:
            pickle.dump(batch, f)
    return str(root)


def make_oxford_pets(root, rng, train=4, test=2):
    """images/*.jpg and annotations/{trainval,test}.txt ("name class species breed")."""
    for sub in ('images', 'annotations'):
        os.makedirs(os.path.join(root, sub))
    for split, n in (('trainval', train), ('test', test)):
        lines = []
        for i in range(n):
            name = f'{split}_{i}'
            cv2.imwrite(
                os.path.join(root, 'images', name + '.jpg'),
                rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
            lines.append(f'{name} {i % 37 + 1} 1 1')
        with open(os.path.join(root, 'annotations', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return str(root)


def make_flowers102(root, rng, train=4, val=1, test=2):
    """jpg/image_%05d.jpg, imagelabels.mat (1-based labels), setid.mat
    (trnid / valid / tstid)."""
    from scipy.io import savemat
    os.makedirs(os.path.join(root, 'jpg'))
    n = train + val + test
    for i in range(1, n + 1):
        cv2.imwrite(
            os.path.join(root, 'jpg', f'image_{i:05d}.jpg'),
            rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    savemat(
        os.path.join(root, 'imagelabels.mat'),
        {'labels': (np.arange(n) % 102 + 1).astype(np.uint8)[None]})
    ids = np.arange(1, n + 1)[None]
    savemat(
        os.path.join(root, 'setid.mat'), {
            'trnid': ids[:, :train],
            'valid': ids[:, train:train + val],
            'tstid': ids[:, train + val:]
        })
    return str(root)


@pytest.fixture
def cifar_without_checksums(monkeypatch):
    """mmpretrain checks the real files' md5 sums; the tiny copies cannot match."""
    from mmpretrain.datasets import CIFAR10, CIFAR100
    for cls in (CIFAR10, CIFAR100):
        monkeypatch.setattr(cls, 'train_list', [[f, None] for f, _ in cls.train_list])
        monkeypatch.setattr(cls, 'test_list', [[f, None] for f, _ in cls.test_list])


MAKERS = {
    'cifar10': lambda root, rng: make_cifar(root, rng, 'CIFAR10'),
    'cifar100': lambda root, rng: make_cifar(root, rng, 'CIFAR100'),
    'flowers102': make_flowers102,
    'oxford-pets': make_oxford_pets
}


def _small_images(cfg: Config) -> None:
    """Crops and test resize at 32 pixels instead of 224."""
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        for t in loader.dataset.pipeline:
            if t['type'] == 'RandomResizedCrop':
                t.scale = 32
            if t['type'] == 'Resize':
                t.scale = (32, 32)


@pytest.mark.parametrize('dataset', DATASETS)
def test_the_dataset_reads_its_layout(dataset, tmp_path, cifar_without_checksums, cbsa_scope):
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS as PRETRAIN_DATASETS
    cfg = copy.deepcopy(_parsed(_config('cbt-s', dataset)))
    _small_images(cfg)
    root = MAKERS[dataset](tmp_path / dataset, np.random.default_rng(0))
    classes = DATASETS[dataset][1]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for loader, n in ((cfg.train_dataloader, 5 if dataset.startswith('cifar') else 4),
                          (cfg.val_dataloader, 2)):
            ds = PRETRAIN_DATASETS.build({**loader.dataset, 'data_root': root})
            assert len(ds) == n
            # mmpretrain names the classes of all but Flowers102 (labels only)
            if dataset != 'flowers102':
                assert len(ds.metainfo['classes']) == classes
            sample = ds[0]
            assert sample['inputs'].shape == (3, 32, 32)
            assert 0 <= sample['data_samples'].gt_label.item() < classes


@pytest.mark.slow
@pytest.mark.parametrize('dataset', ['cifar10', 'oxford-pets'])
def test_a_few_iterations_on_a_tiny_copy(dataset, tmp_path, cifar_without_checksums):
    from mmengine.registry import DefaultScope

    from mmseg_cbsa.engine import build_runner
    cfg = _tiny(copy.deepcopy(_parsed(_config('cbt-s', dataset))))
    cfg.model.backbone.pop('init_cfg')
    _small_images(cfg)
    root = MAKERS[dataset](tmp_path / 'data', np.random.default_rng(0))
    loader = dict(num_workers=0, persistent_workers=False)
    cfg.train_dataloader.update(batch_size=2, **loader)
    cfg.val_dataloader.update(batch_size=2, **loader)
    for name in ('train_dataloader', 'val_dataloader'):
        cfg[name].dataset.data_root = root
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=2)  # validated below
    cfg.param_scheduler[0].update(T_max=1, end=1)
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = f'finetune_{dataset}'
    # the runner's default scope (mmpretrain) ends with the test
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        runner = build_runner(cfg)
        runner.train()
        metrics = runner.val()
    assert runner.iter == (3 if dataset == 'cifar10' else 2)  # 5 or 4 images, batch 2
    assert np.isfinite(runner.message_hub.get_scalar('train/loss').current())
    assert set(metrics) == {'accuracy/top1'} and 0 <= metrics['accuracy/top1'] <= 100
