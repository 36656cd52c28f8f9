"""A hook that stops training with KeyboardInterrupt, as a user would."""
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
