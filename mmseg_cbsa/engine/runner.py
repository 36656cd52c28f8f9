"""The project's Runner: a log folder of its own, checked checkpoint loads, atomic saves.

* mmengine names a run's log folder and file after the second it started
  (``WORK_DIR/<YYYYmmdd_HHMMSS>/<YYYYmmdd_HHMMSS>.log``) and opens the log in
  append mode, so two runs that start in the same second in one work dir (a
  training run and ``tools/test.py`` on its work dir, or a run restarted at
  once) write into one log and interleave it. :class:`UniqueLogRunner`
  claims the folder with an exclusive ``mkdir`` on rank 0
  (``<timestamp>_1``, ``<timestamp>_2``, ... when it is taken) and shares
  the name with the other ranks.
* mmengine logs the environment, the whole config and the hook order (about
  350 lines before the first iteration of the quickstart) on the console as
  well as in the log file. :class:`UniqueLogRunner` keeps them, and the
  notices of :data:`~mmseg_cbsa.utils.console.KNOWN_LOG_WARNINGS`, in the log
  file only and prints one line saying where they are
  (:class:`~mmseg_cbsa.utils.console.FileOnlyRecords`).
* mmengine's ``Runner.load_checkpoint`` (``load_from``, ``--resume``, the
  checkpoint ``tools/test.py`` evaluates) reads with a bare ``torch.load``
  and fits non-strictly, only logging what is missing or mis-shaped.
  :class:`CheckedRunner` reads weights-only and refuses a checkpoint that does
  not fit, before copying anything (:func:`~mmseg_cbsa.utils.checkpoint_fit.load_checkpoint`).
* mmengine writes a checkpoint in place and removes outdated ones (``max_keep_ckpts``, the
  previous best) before the new one is written, so a kill or a full disk while saving can
  leave no complete checkpoint. :class:`CheckedRunner` writes atomically and runs the
  checkpoint hook as :class:`~mmseg_cbsa.engine.hooks.AtomicCheckpointHook`.

The project's configs name ``runner_type = 'mmseg_cbsa.engine.CheckedRunner'``
(``configs/_base_/default_runtime.py``), so mmseg's own ``tools/train.py``
builds it too. A deliberate partial ``load_from`` (fine-tuning from a model of
another class count) is declared in the config::

    load_from_fit = dict(keep_init=['decode_head.conv_seg.'])  # or allow_missing / allow_unexpected
"""
import itertools
import logging
import os
import os.path as osp
from collections.abc import Mapping
from typing import Any, Callable, Dict, Optional, Union

from mmengine.config import Config, ConfigDict
from mmengine.dist import get_rank
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from ..registry import RUNNERS
from ..utils.checkpoint_fit import load_checkpoint_to_model, partial_loading
from ..utils.checkpoint_sources import read_checkpoint
from ..utils.config import from_rank0
from ..utils.console import FileOnlyRecords, console_handlers
from ..utils.outputs import atomic_path
from .hooks import AtomicCheckpointHook


def claim_log_dir(work_dir: str, timestamp: str) -> str:
    """A name, ``timestamp`` or ``timestamp_N``, of a folder in ``work_dir``
    that this call created (on rank 0; the other ranks receive the name)."""
    name = None
    if get_rank() == 0:
        os.makedirs(work_dir, exist_ok=True)
        for i in itertools.count():
            candidate = timestamp if i == 0 else f'{timestamp}_{i}'
            try:
                os.mkdir(osp.join(work_dir, candidate))
            except FileExistsError:
                continue
            name = candidate
            break
    return from_rank0(name)


@RUNNERS.register_module()
class UniqueLogRunner(Runner):
    """mmengine's Runner, with a log folder no other run shares
    (:func:`claim_log_dir`) and a console without mmengine's preamble: the
    environment, config and hook order are in the log file, and the console
    shows one line naming it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for handler in self.logger.handlers:  # rank 0's (every rank's with log_level DEBUG)
            if isinstance(handler, logging.FileHandler):
                self.logger.info(f'Environment, config and hook order: {handler.baseFilename}')
                break

    def setup_env(self, env_cfg: Dict) -> None:
        super().setup_env(env_cfg)
        # runs before __init__ derives the log dir, log file and experiment
        # name from the timestamp
        self._timestamp = claim_log_dir(self._work_dir, self._timestamp)

    def build_logger(self,
                     log_level: Union[int, str] = 'INFO',
                     log_file: Optional[str] = None,
                     **kwargs: Any) -> logging.Logger:
        """mmengine's logger, whose console handler leaves the preamble and
        the known notices to the log file (built before __init__ logs them)."""
        logger = super().build_logger(log_level, log_file, **kwargs)
        for handler in console_handlers(logger):
            if not any(isinstance(f, FileOnlyRecords) for f in handler.filters):
                handler.addFilter(FileOnlyRecords())
        return logger


@RUNNERS.register_module()
class CheckedRunner(UniqueLogRunner):
    """:class:`UniqueLogRunner` whose checkpoint loads are weights-only and
    fit-checked, and whose checkpoint saves are atomic.

    Args:
        load_from_fit: the opt-out of the fit check for ``load_from`` (and
            ``--resume``): ``dict(allow_missing=..., allow_unexpected=...,
            keep_init=...)`` as in
            :func:`~mmseg_cbsa.utils.checkpoint_fit.partial_loading`.
            Default: the checkpoint must fit exactly.
        **kwargs: mmengine's ``Runner`` arguments.
    """

    def __init__(self, *args: Any, load_from_fit: Optional[dict] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.load_from_fit = dict(load_from_fit or {})

    @classmethod
    def from_cfg(cls, cfg: Union[Config, ConfigDict, dict]) -> 'CheckedRunner':
        runner = super().from_cfg(cfg)  # mmengine's picks the keys it knows
        runner.load_from_fit = dict(cfg.get('load_from_fit') or {})
        return runner

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:
        """mmengine's ``Runner.load_checkpoint``, reading weights-only and
        refusing (before copying) a checkpoint that does not fit the model
        unless :attr:`load_from_fit` allows it. ``strict=False`` is not an
        opt-out; ``strict=True`` also ignores :attr:`load_from_fit`."""
        checkpoint = read_checkpoint(filename, map_location)
        # as in mmengine: hooks (e.g. EMAHook) see and may adapt it before the model loads it
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        with partial_loading(**({} if strict else self.load_from_fit)):
            load_checkpoint_to_model(model, checkpoint, str(filename), strict, revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def register_default_hooks(self, hooks: Optional[Dict[str, Any]] = None) -> None:
        """mmengine's default hooks, with mmengine's ``CheckpointHook`` (the
        configs' and mmengine's default) run as :class:`AtomicCheckpointHook`:
        outdated checkpoints are removed only once the new one is complete.
        A hook of another type, or an instance, is kept as given."""
        hooks = dict(hooks or {})
        ckpt = hooks.get('checkpoint', dict(type='CheckpointHook', interval=1))
        if isinstance(ckpt,
                      Mapping) and ckpt.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook',
                                                        CheckpointHook):
            hooks['checkpoint'] = dict(ckpt, type=AtomicCheckpointHook)
        super().register_default_hooks(hooks)

    def save_checkpoint(self,
                        out_dir: str,
                        filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None,
                        by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """mmengine's ``Runner.save_checkpoint``, writing a local file
        atomically (:func:`~mmseg_cbsa.utils.outputs.atomic_path`): a run
        killed while saving, or a full disk, leaves no truncated
        ``out_dir/filename`` and the file it would replace intact. Remote
        back ends (``out_dir`` with ``://``, ``backend_args``) are mmengine's."""
        args = (file_client_args, save_optimizer, save_param_scheduler, meta, by_epoch,
                backend_args)
        if file_client_args is not None or backend_args is not None or '://' in str(out_dir):
            return super().save_checkpoint(out_dir, filename, *args)
        with atomic_path(osp.join(out_dir, filename)) as tmp:
            super().save_checkpoint(osp.dirname(tmp), osp.basename(tmp), *args)


def build_runner(cfg: Config) -> Runner:
    """The runner the project's tools run ``cfg`` with: the type the config
    names (``runner_type``; the project's configs name
    :class:`CheckedRunner`), else :class:`CheckedRunner`, so that a config
    from elsewhere also gets checked checkpoint loads through our tools."""
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
        return MMENGINE_RUNNERS.build(cfg)
    return CheckedRunner.from_cfg(cfg)


__all__ = ['CheckedRunner', 'UniqueLogRunner', 'build_runner', 'claim_log_dir']
