"""One training loop each (segmentation decoders, ImageNet classifiers,
fine-tuning, ViT adaptation): our config trained for a few iterations the way
mmengine's runner trains it (the model's ``train_step`` with the optimizer
wrapper and parameter schedulers built from the config, iteration schedulers
stepped after every iteration and epoch schedulers after every epoch) gives
the same losses and the same weights, to float32 precision, as the authors'
loop written out in ``authors_loops.py`` on a copy of the same model.

The model is the config's own at a tiny size; its forward pass is the
authors' (tests/test_converters prove it), so what is compared is the loop:
the loss and how it is averaged, the optimiser over its parameter groups,
the learning rate at each iteration. The labels include ignored pixels.
"""
import copy
import os
from typing import Callable, Dict, List, Sequence

import numpy as np
import pytest
import torch
from mmengine.config import Config

from tests.test_datasets.test_segmentation_recipes import TINY_HEADS
from tests.test_finetune.test_finetune_configs import _tiny
from tests.test_recipes import authors_loops as authors
from tests.test_recipes.mmengine_loop import build_param_schedulers, step_after_iteration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 32
#: (B, 3, H, W) uint8 images in the channel order the config's pipeline loads
BATCH = 2
#: iterations and the epoch each runs in: two in the first epoch, one in the second
EPOCHS = [0, 0, 1]

#: leaf -> decoder, the authors' base lr and iteration count (docs/recipes.md)
SEGMENTATION = {
    'cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py': ('cbt', 1e-3, 64 * 2527),
    'depict/depict-sa_vit-s16_8xb1-160k_ade20k-512x512.py': ('depict-sa', 1e-3, 64 * 2527),
    'depict/depict-ca_vit-s16_8xb1-160k_ade20k-512x512.py': ('depict-ca', 1e-3, 64 * 2527),
    'segmenter/segmenter_vit-s16_8xb1-160k_ade20k-512x512.py': ('segmenter', 1e-3, 64 * 2527),
    'cbt/cbt_vit-s16_8xb2-80k_pascal-context-59-480x480.py': ('cbt', 1e-3, 256 * 313),
    'cbt/cbt_vit-s16_8xb1-80k_cityscapes-768x768.py': ('cbt', 1e-2, 216 * 372),
}


def _images(rng: np.random.Generator) -> torch.Tensor:
    return torch.from_numpy(rng.integers(0, 256, (BATCH, 3, SIZE, SIZE), dtype=np.uint8))


def _normalised(images: torch.Tensor, bgr: bool, mean: Sequence[float],
                std: Sequence[float]) -> torch.Tensor:
    """The authors' input: RGB, ``(x - mean) / std``."""
    rgb = images.flip(1) if bgr else images
    return (rgb.float() - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def _our_loop(cfg: Config, model: torch.nn.Module, batches: List[dict]) -> List[float]:
    """What mmengine's runner does for ``batches`` (one per entry of EPOCHS)."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        optim_wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    schedulers = build_param_schedulers(cfg, optim_wrapper, epoch_length=EPOCHS.count(0))
    losses = []
    for i, (epoch, batch) in enumerate(zip(EPOCHS, batches)):
        torch.manual_seed(100 + i)  # drop path and dropout draw the same masks on both sides
        log_vars = model.train_step(batch, optim_wrapper)
        losses.append(float(log_vars['loss'].detach()))
        step_after_iteration(schedulers, i + 1 == len(EPOCHS) or EPOCHS[i + 1] != epoch)
    return losses


def _their_loop(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                lr_at: Callable[[int, int], float], forward_loss: Callable[[dict], torch.Tensor],
                batches: List[dict]) -> List[float]:
    losses = []
    for i, (epoch, batch) in enumerate(zip(EPOCHS, batches)):
        authors.set_lr(optimizer, lr_at(i, epoch))
        torch.manual_seed(100 + i)
        loss = forward_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return losses


def _assert_same_training(ours: torch.nn.Module, theirs: torch.nn.Module, initial: Dict,
                          our_losses: List[float], their_losses: List[float]) -> None:
    np.testing.assert_allclose(our_losses, their_losses, rtol=2e-6)
    moved = 0.0
    for name, p in ours.named_parameters():
        q = dict(theirs.named_parameters())[name]
        torch.testing.assert_close(p, q, rtol=1e-5, atol=2e-7, msg=name)
        moved = max(moved, float((p - initial[name]).abs().max()))
    # the updates are far larger than the tolerance: a different loop would show
    assert moved > 1e-5


def _build(cfg: Config) -> torch.nn.Module:
    from mmengine.registry import MODELS, DefaultScope
    if cfg.get('data_preprocessor'):  # as mmengine's Runner hands it to the model
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train()


# --- segmentation decoders ----------------------------------------------------------------------
def _tiny_segmentor(leaf: str, decoder: str) -> Config:
    cfg = Config.fromfile(os.path.join(REPO, 'configs', leaf))
    cfg.model.data_preprocessor.size = (SIZE, SIZE)
    cfg.model.backbone.update(arch=(16, 1, 2), img_size=SIZE, patch_size=8)
    cfg.model.backbone.pop('init_cfg', None)
    cfg.model.decode_head.update(in_channels=16, **TINY_HEADS[decoder])
    return cfg


def _segmentation_batches(rng, num_classes: int) -> List[dict]:
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    batches = []
    for _ in EPOCHS:
        labels = torch.from_numpy(rng.integers(0, num_classes, (BATCH, SIZE, SIZE)))
        labels[torch.from_numpy(rng.random((BATCH, SIZE, SIZE)) < 0.1)] = authors.IGNORE
        samples = []
        for label in labels:
            s = SegDataSample(gt_sem_seg=PixelData(data=label[None]))
            s.set_metainfo(dict(img_shape=(SIZE, SIZE), pad_shape=(SIZE, SIZE)))
            samples.append(s)
        batches.append(dict(inputs=list(_images(rng)), data_samples=samples, labels=labels))
    return batches


@pytest.mark.parametrize('leaf', sorted(SEGMENTATION))
def test_segmentation_decoder_training_is_the_authors(leaf):
    decoder, base_lr, iter_max = SEGMENTATION[leaf]
    cfg = _tiny_segmentor(leaf, decoder)
    ours = _build(cfg)
    theirs = copy.deepcopy(ours)
    initial = {k: v.detach().clone() for k, v in ours.named_parameters()}
    batches = _segmentation_batches(np.random.default_rng(0), cfg.model.decode_head.num_classes)
    our_losses = _our_loop(cfg, ours, [{
        k: b[k]
        for k in ('inputs', 'data_samples')
    } for b in batches])

    def forward_loss(batch):
        x = _normalised(torch.stack(batch['inputs']), True, [127.5] * 3, [127.5] * 3)
        return authors.segmenter_loss(theirs.decode_head(theirs.extract_feat(x)), batch['labels'])

    # timm 0.4.12's create_optimizer(opt='sgd', weight_decay=0): one group, Nesterov
    optimizer = torch.optim.SGD(
        theirs.parameters(), lr=base_lr, momentum=0.9, nesterov=True, weight_decay=0.0)
    their_losses = _their_loop(theirs, optimizer,
                               lambda i, e: authors.segmenter_poly_lr(i, base_lr, iter_max),
                               forward_loss, batches)
    _assert_same_training(ours, theirs, initial, our_losses, their_losses)


# --- classifiers ----------------------------------------------------------------------------------
def _tiny_classifier(leaf: str) -> Config:
    cfg = _tiny(Config.fromfile(os.path.join(REPO, 'configs', leaf)))  # 16 wide, 32x32
    backbone = cfg.model.backbone
    if backbone.get('attn_cfg', {}).get('type') == 'QKVCBSA':
        backbone.attn_cfg.rep_grid = 2  # on the 4x4 patch grid
    backbone.pop('init_cfg', None)
    cfg.model.head.num_classes = 10
    return cfg


def _classification_batches(rng) -> List[dict]:
    from mmpretrain.structures import DataSample
    batches = []
    for _ in EPOCHS:
        labels = torch.from_numpy(rng.integers(0, 10, BATCH))
        samples = [DataSample().set_gt_label(int(k)) for k in labels]
        batches.append(dict(inputs=list(_images(rng)), data_samples=samples, labels=labels))
    return batches


IMAGENET_MEAN, IMAGENET_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
#: leaf -> the authors' optimiser over ``model.parameters()``, loss, lr(iteration, epoch)
CLASSIFIERS = {
    'classification/cbt-s_8xb32-lion-150e_in1k.py':
    ('imagenet', lambda params: __import__('lion_pytorch').Lion(params, lr=2e-4, weight_decay=0.05),
     authors.label_smoothing_loss, lambda i, e: authors.warmup_cosine_lr(e, 2e-4, 20, 150)),
    'classification/tost-s_8xb32-lion-150e_in1k.py':
    ('imagenet', lambda params: __import__('lion_pytorch').Lion(params, lr=2e-4, weight_decay=0.05),
     authors.label_smoothing_loss, lambda i, e: authors.warmup_cosine_lr(e, 2e-4, 20, 150)),
    'finetune/cbt-s_in1k-pre_1xb50-400e_cifar10.py':
    ('finetune', lambda params: torch.optim.AdamW(
        params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
     torch.nn.functional.cross_entropy, lambda i, e: authors.finetune_cosine_lr(e)),
    'vit_adaptation/vit-s16-cbsa_in21k-pre_8xb64-adamw-50e_in1k.py':
    ('vit adaptation',
     lambda params: torch.optim.AdamW(params, lr=5e-5, betas=(0.9, 0.999), weight_decay=0.01),
     authors.label_smoothing_loss, lambda i, e: authors.warmup_cosine_lr(e, 5e-5, 10, 50)),
}


@pytest.mark.parametrize('leaf', sorted(CLASSIFIERS))
def test_classifier_training_is_the_authors(leaf):
    _, make_optimizer, loss_fn, lr_at = CLASSIFIERS[leaf]
    cfg = _tiny_classifier(leaf)
    ours = _build(cfg)
    theirs = copy.deepcopy(ours)
    initial = {k: v.detach().clone() for k, v in ours.named_parameters()}
    batches = _classification_batches(np.random.default_rng(1))
    bgr = cfg.model.data_preprocessor.get('to_rgb', False)
    our_losses = _our_loop(cfg, ours, [{
        k: b[k]
        for k in ('inputs', 'data_samples')
    } for b in batches])

    def forward_loss(batch):
        x = _normalised(torch.stack(batch['inputs']), bgr, IMAGENET_MEAN, IMAGENET_STD)
        return loss_fn(theirs(x, mode='tensor'), batch['labels'])

    their_losses = _their_loop(theirs, make_optimizer(theirs.parameters()), lr_at, forward_loss,
                               batches)
    _assert_same_training(ours, theirs, initial, our_losses, their_losses)
