"""A terminal progress bar over the validation / test loop."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from ...registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Shows mmengine's :class:`ProgressBar` (done/total, rate, elapsed, ETA)
    while the test or validation loop runs, on the main process only."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._bar: Optional[ProgressBar] = None

    def _start(self, runner: Runner, loader) -> None:
        if runner.rank == 0:
            self._bar = ProgressBar(len(loader))

    def _step(self, runner: Runner) -> None:
        if self._bar is not None:
            self._bar.update()

    def before_test(self, runner: Runner) -> None:
        self._start(runner, runner.test_dataloader)

    def before_val(self, runner: Runner) -> None:
        self._start(runner, runner.val_dataloader)

    def after_test_iter(self,
                        runner: Runner,
                        batch_idx: int,
                        data_batch=None,
                        outputs=None) -> None:
        self._step(runner)

    def after_val_iter(self, runner: Runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._step(runner)
