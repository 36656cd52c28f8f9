"""mmengine's CheckpointHook with no moment at which no complete checkpoint
exists.

mmengine's hook removes the oldest checkpoint (``max_keep_ckpts``) and the
previous ``best_*.pth`` *before* it writes the new one, and writes in place.
A run killed while saving (or a full disk) then has lost the old file and
holds a truncated new one, which ``--resume`` picks. Here the writes are
atomic (:meth:`CheckedRunner.save_checkpoint
<mmseg_cbsa.engine.CheckedRunner.save_checkpoint>`: a temporary name,
``fsync``, ``rename``) and the removals wait until the new file is complete.
"""
import glob
import os
import os.path as osp
from typing import Any, List, Optional, Tuple

from mmengine.hooks import CheckpointHook

from ...registry import HOOKS
from ...utils.outputs import PARTIAL_GLOB


class DeferredRemovals:
    """A file backend whose ``remove`` / ``rmtree`` are queued until
    :meth:`flush`; everything else is the wrapped backend's."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.pending: List[Tuple[str, str]] = []

    def remove(self, path: str) -> None:
        self.pending.append(('remove', path))

    def rmtree(self, path: str) -> None:
        self.pending.append(('rmtree', path))

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        for op, path in pending:
            getattr(self._backend, op)(path)

    def discard(self) -> None:
        self.pending = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`mmengine.hooks.CheckpointHook` that removes outdated
    checkpoints (``max_keep_ckpts``, the previous best) only once the new one
    is complete. Same arguments.

    With :class:`~mmseg_cbsa.engine.CheckedRunner` (the project's configs)
    each file is written atomically, so at every moment ``out_dir`` holds the
    complete checkpoints of the last ``max_keep_ckpts`` saves, or of one more.
    Leftover partial files of a run killed while saving are removed when
    training starts again.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self.file_backend = DeferredRemovals(self.file_backend)
        if runner.rank == 0 and self._local_out_dir():
            for path in glob.glob(osp.join(glob.escape(self.out_dir), PARTIAL_GLOB)):
                os.remove(path)
                runner.logger.info(f'removed {path}, a checkpoint whose save was interrupted')

    def _local_out_dir(self) -> Optional[str]:
        return self.out_dir if '://' not in str(self.out_dir) else None

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        self._then_remove(super()._save_checkpoint_with_step, runner, step, meta)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        self._then_remove(super()._save_best_checkpoint, runner, metrics)

    def _then_remove(self, save, *args) -> None:
        """Run ``save``; carry out the removals it asked for only if it
        completed (a failed save keeps every older file)."""
        try:
            save(*args)
        except BaseException:
            self.file_backend.discard()
            raise
        self.file_backend.flush()
