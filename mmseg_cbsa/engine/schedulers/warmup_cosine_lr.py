"""The learning-rate schedule of the authors' classification scripts.

Their ``main.py`` (ImageNet, the ViT adaptation) wraps the optimiser in
torch's ``LambdaLR`` with the factor ``min((e + 1) / warmup, (1 + cos(pi e /
T)) / 2)`` and steps it once per epoch; their ``finetune.py`` steps torch's
``CosineAnnealingLR`` with ``step(epoch - 1)``, i.e. two epochs behind the
epoch it trains. Neither is a chain of mmengine's schedulers: the minimum of a
linear warm-up and a cosine that starts at epoch 0 (not after the warm-up)
has no chained form, hence this closed-form scheduler.
"""
import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler

from ...registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class WarmupCosineParamScheduler(_ParamScheduler):
    r"""Closed-form warm-up and cosine decay, step ``t`` counted from ``begin``:

    .. math::
        v_t = v_0 \cdot \min\Big(\frac{t + 1}{W},\;
              \frac{1 + \cos(\pi (t - s) / T)}{2}\Big)

    with :math:`v_0` the group's initial value, :math:`W` = ``warmup``
    (``0``: no warm-up term), :math:`T` = ``T_max`` and :math:`s` =
    ``offset``. The value is set, not multiplied, so it does not chain with
    another scheduler over the same steps.

    Args:
        optimizer: the wrapped optimizer (or optimizer wrapper).
        param_name: the parameter group key to schedule.
        T_max: the cosine's half period, in steps.
        warmup: the linear warm-up's length ``W``, in steps (0: none).
        offset: how many steps the cosine lags the step count (2 for a loop
            that calls ``scheduler.step(epoch - 1)`` after epoch ``epoch``).
        begin, end, last_step, by_epoch, verbose: as mmengine's schedulers.
    """

    def __init__(self,
                 optimizer,
                 param_name: str,
                 T_max: int,
                 warmup: int = 0,
                 offset: int = 0,
                 begin: int = 0,
                 end: int = 1000000000,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if T_max <= 0 or warmup < 0:
            raise ValueError(f'T_max must be positive and warmup non-negative, got T_max={T_max}, '
                             f'warmup={warmup}')
        self.T_max, self.warmup, self.offset = T_max, warmup, offset
        super().__init__(
            optimizer,
            param_name=param_name,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    def factor(self, step: int) -> float:
        """The factor of the initial value at ``step`` (counted from ``begin``)."""
        cosine = (1 + math.cos(math.pi * (step - self.offset) / self.T_max)) / 2
        return min((step + 1) / self.warmup, cosine) if self.warmup else cosine

    def _get_value(self) -> list:
        return [base * self.factor(self.last_step) for base in self.base_values]


@PARAM_SCHEDULERS.register_module()
class WarmupCosineLR(LRSchedulerMixin, WarmupCosineParamScheduler):
    """:class:`WarmupCosineParamScheduler` of the learning rate."""
