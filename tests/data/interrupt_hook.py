"""Hooks that stop training: KeyboardInterrupt, as a user would; SIGKILL while
saving, as a power cut would."""
import os
import signal

from mmengine.hooks import Hook

from mmseg_cbsa.registry import HOOKS


@HOOKS.register_module()
class InterruptAfterIter(Hook):
    priority = 'LOWEST'  # after the checkpoint hook has run

    def __init__(self, iters: int) -> None:
        self.iters = iters

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 >= self.iters:
            raise KeyboardInterrupt(f'interrupted after iteration {runner.iter + 1}')


@HOOKS.register_module()
class KillWhileSaving(Hook):
    """SIGKILL (no clean-up, as a power cut or the OOM killer) while the
    checkpoint of iteration ``iters`` is being saved: after the checkpoint
    hook has decided which older file to remove, before the new one is
    written."""

    def __init__(self, iters: int) -> None:
        self.iters = iters

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['iter'] >= self.iters:
            os.kill(os.getpid(), signal.SIGKILL)
