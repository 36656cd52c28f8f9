"""Parameter schedulers built and stepped the way mmengine's runner does it
(``Runner.build_param_scheduler``, ``ParamSchedulerHook``), shared by the
one-step and the full-schedule comparisons."""
import copy
from typing import List

from mmengine.config import Config


def build_param_schedulers(cfg: Config, optim_wrapper, epoch_length: int) -> List:
    """``cfg.param_scheduler`` on ``optim_wrapper``, in the config's default scope."""
    from mmengine.registry import PARAM_SCHEDULERS, DefaultScope
    schedulers = []
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        for s in copy.deepcopy(cfg.param_scheduler):
            default_args = dict(optimizer=optim_wrapper)
            if s.get('convert_to_iter_based'):  # as Runner.build_param_scheduler
                default_args['epoch_length'] = epoch_length
            schedulers.append(PARAM_SCHEDULERS.build(s, default_args=default_args))
    return schedulers


def step_after_iteration(schedulers: List, epoch_ends: bool) -> None:
    """ParamSchedulerHook: iteration schedulers after every iteration
    (``after_train_iter``), epoch schedulers after the epoch's last one
    (``after_train_epoch``)."""
    for s in schedulers:
        if not s.by_epoch or epoch_ends:
            s.step()
