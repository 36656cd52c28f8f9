"""The learning rate of every iteration of a full run, computed with mmengine's
own schedulers built from our config and stepped as its runner steps them
(``ParamSchedulerHook``: iteration schedulers after every iteration, epoch
schedulers after every epoch), equals the authors' schedule (their formula
and stepping, ``authors_loops.py``) to 1e-3 of the peak rate.

Every leaf of an experiment carries the same optimiser and schedule as the
one simulated (checked), so one simulation per experiment covers them all.
"""
import glob
import os
from typing import List

import numpy as np
import pytest
import torch
from mmengine.config import Config

from tests.test_recipes import authors_loops as authors
from tests.test_recipes.mmengine_loop import build_param_schedulers, step_after_iteration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _leaves(pattern: str) -> List[str]:
    return sorted(glob.glob(os.path.join(REPO, 'configs', pattern)))


def simulate(cfg: Config, epoch_length: int, iterations: int) -> np.ndarray:
    """The learning rate each of ``iterations`` iterations trains with."""
    from mmengine.optim import OptimWrapper
    param = torch.nn.Parameter(torch.zeros(1))
    optim_wrapper = OptimWrapper(torch.optim.SGD([param], lr=cfg.optim_wrapper.optimizer.lr))
    schedulers = build_param_schedulers(cfg, optim_wrapper, epoch_length)
    lrs = np.empty(iterations)
    for i in range(iterations):
        lrs[i] = optim_wrapper.param_groups[0]['lr']
        optim_wrapper.step()  # keeps torch's "scheduler before optimizer" check quiet
        step_after_iteration(schedulers, (i + 1) % epoch_length == 0)
    return lrs


def _same_recipe(leaves: List[str]) -> Config:
    cfgs = [Config.fromfile(p) for p in leaves]
    for p, cfg in zip(leaves, cfgs):
        for key in ('optim_wrapper', 'param_scheduler', 'train_cfg'):
            assert cfg[key] == cfgs[0][key], (p, key)
    return cfgs[0]


#: experiment -> the leaves, the authors' base lr and iteration count (epochs x ceil(N / batch))
SEGMENTATION = {
    'ade20k': ('*/*_ade20k-512x512.py', 1e-3, 64 * 2527),
    'pascal-context-59': ('*/*_pascal-context-59-480x480.py', 1e-3, 256 * 313),
    'cityscapes': ('*/*_cityscapes-768x768.py', 1e-2, 216 * 372),
}


@pytest.mark.slow
@pytest.mark.parametrize('experiment', sorted(SEGMENTATION))
def test_segmentation_schedule_is_the_authors(experiment):
    pattern, base, iter_max = SEGMENTATION[experiment]
    cfg = _same_recipe(
        _leaves(pattern) +
        ([os.path.join(REPO, 'configs', 'cbt_decoder_ade20k.py')] if experiment == 'ade20k' else [])
    )
    assert cfg.train_cfg.max_iters == iter_max
    ours = simulate(cfg, epoch_length=iter_max, iterations=iter_max)
    theirs = np.array([authors.segmenter_poly_lr(t, base, iter_max) for t in range(iter_max)])
    assert np.abs(ours - theirs).max() <= 1e-3 * base


#: experiment -> the leaves, epochs, the authors' lr of epoch e
CLASSIFICATION = {
    'imagenet':
    ('classification/*_in1k.py', 150, lambda e: authors.warmup_cosine_lr(e, 2e-4, 20, 150)),
    'finetune': ('finetune/*.py', 400, authors.finetune_cosine_lr),
    'vit-adaptation': ('vit_adaptation/*_in21k-pre_8xb64-adamw-50e_in1k*.py', 50,
                       lambda e: authors.warmup_cosine_lr(e, 5e-5, 10, 50)),
}


@pytest.mark.parametrize('experiment', sorted(CLASSIFICATION))
def test_classification_schedule_is_the_authors(experiment):
    pattern, epochs, lr_of_epoch = CLASSIFICATION[experiment]
    cfg = _same_recipe(_leaves(pattern))
    assert cfg.train_cfg.max_epochs == epochs
    epoch_length = 7  # any: their rate is constant within an epoch, ours must be too
    ours = simulate(cfg, epoch_length, epochs * epoch_length)
    theirs = np.repeat([lr_of_epoch(e) for e in range(epochs)], epoch_length)
    peak = max(theirs)
    assert np.abs(ours - theirs).max() <= 1e-3 * peak


def test_the_simulation_sees_a_wrong_schedule():
    """The comparison can fail: mmengine's chained warm-up and cosine (the
    ImageNet config before it took the authors' schedule) is 33% off."""
    cfg = Config(
        dict(
            default_scope='mmseg_cbsa',
            optim_wrapper=dict(optimizer=dict(lr=2e-4)),
            param_scheduler=[
                dict(
                    type='LinearLR',
                    start_factor=0.05,
                    by_epoch=True,
                    begin=0,
                    end=20,
                    convert_to_iter_based=True),
                dict(type='CosineAnnealingLR', T_max=130, by_epoch=True, begin=20, end=150)
            ]))
    ours = simulate(cfg, 7, 150 * 7)
    theirs = np.repeat([authors.warmup_cosine_lr(e, 2e-4, 20, 150) for e in range(150)], 7)
    assert np.abs(ours - theirs).max() / 2e-4 > 0.05
