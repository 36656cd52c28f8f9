"""Running the project's scripts from tests, as a user would from the repository root."""
import os
import socket
import subprocess
import sys
from typing import Dict, List, Optional

#: what torchrun sets for its workers (a teardown hook tells them apart by LOCAL_RANK)
LAUNCHER_VARIABLES = ('LOCAL_RANK', 'RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'GROUP_RANK',
                      'MASTER_ADDR', 'MASTER_PORT', 'TORCHELASTIC_RUN_ID')


def free_port() -> str:
    """A TCP port free on this machine now, for a launcher's ``--master_port``
    (two launches at once need different ones)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def launcher_env(aborting_teardown: Optional[str] = None) -> Dict[str, str]:
    """The environment as a shell gives it to a launcher: no launcher variables
    inherited from the test process (a tool run in it may have exported them).

    Args:
        aborting_teardown: a folder for a ``sitecustomize`` that makes every
            torchrun worker abort at interpreter teardown (``atexit``),
            standing in for a gloo thread that touches Python at exit
            ('terminate called without an active exception', signal 6);
            put on ``PYTHONPATH``.
    """
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    if aborting_teardown is not None:
        os.makedirs(aborting_teardown, exist_ok=True)
        with open(os.path.join(aborting_teardown, 'sitecustomize.py'), 'w') as f:
            f.write('import atexit, os\n'
                    "if 'LOCAL_RANK' in os.environ:  # torchrun's workers, not the launcher\n"
                    '    atexit.register(os.abort)\n')
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (str(aborting_teardown), env.get('PYTHONPATH')) if p)
    return env


def data_root_options(root) -> List[str]:
    """``--cfg-options`` pointing every dataloader at ``root``."""
    return [
        f'{k}.dataset.data_root={root}'
        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


def run_python(repo_root: str,
               *args,
               env: Optional[Dict[str, str]] = None,
               check: bool = True) -> subprocess.CompletedProcess:
    """``python ARGS`` in the repository root (``env`` added to the current
    environment); with ``check``, fails with the output's tail."""
    res = subprocess.run([sys.executable, *map(str, args)],
                         cwd=repo_root,
                         capture_output=True,
                         text=True,
                         env={
                             **os.environ,
                             **(env or {})
                         })
    if check and res.returncode != 0:
        raise AssertionError(f'{args} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}')
    return res
