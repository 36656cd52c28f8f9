"""A test loop that runs the model under ``torch.autocast`` (bfloat16 or
float16) on CPU or CUDA.

mmengine's ``TestLoop(fp16=True)`` autocasts to float16 on CUDA only; this
loop takes the precision by name (:mod:`mmseg_cbsa.utils.precision`) and the
device type from where the model is. Predictions are cast back to float32
before the evaluator and the hooks see them. ``tools/test.py --bf16`` sets
``test_cfg = dict(type='AutocastTestLoop', precision='bf16')``.
"""
from typing import Sequence

import torch
from mmengine.runner.loops import TestLoop, _update_losses

from ..registry import LOOPS
from ..utils.precision import autocast, outputs_to_float32, precision_dtype


@LOOPS.register_module()
class AutocastTestLoop(TestLoop):
    """``TestLoop`` with every ``test_step`` under autocast to ``precision``
    ('bf16', 'fp16' or 'float32' for none)."""

    def __init__(self,
                 runner,
                 dataloader,
                 evaluator,
                 precision: str = 'bf16',
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16=False)
        precision_dtype(precision)  # unknown names fail at build time
        self.precision = 'fp16' if fp16 else precision

    @torch.no_grad()
    def run_iter(self, idx, data_batch: Sequence[dict]) -> None:
        self.runner.call_hook('before_test_iter', batch_idx=idx, data_batch=data_batch)
        with autocast(self.runner.model, self.precision):
            outputs = self.runner.model.test_step(data_batch)
        outputs, self.test_loss = _update_losses(outputs, self.test_loss)
        outputs_to_float32(outputs)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(
            'after_test_iter', batch_idx=idx, data_batch=data_batch, outputs=outputs)
