"""A Runner whose log folder belongs to one run.

mmengine names a run's log folder and file after the second it started
(``WORK_DIR/<YYYYmmdd_HHMMSS>/<YYYYmmdd_HHMMSS>.log``) and opens the log in
append mode, so two runs that start in the same second in one work dir (a
training run and ``tools/test.py`` on its work dir, or a run restarted at
once) write into one log and interleave it. :class:`UniqueLogRunner` claims
the folder with an exclusive ``mkdir`` on rank 0 (``<timestamp>_1``,
``<timestamp>_2``, ... when it is taken) and shares the name with the other
ranks; the log file, dumped config and visualizer data follow the name.
"""
import itertools
import os
import os.path as osp
from typing import Dict

from mmengine.dist import get_rank
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..utils.config import from_rank0


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
    (:func:`claim_log_dir`)."""

    def setup_env(self, env_cfg: Dict) -> None:
        super().setup_env(env_cfg)
        # runs before __init__ derives the log dir, log file and experiment
        # name from the timestamp
        self._timestamp = claim_log_dir(self._work_dir, self._timestamp)
