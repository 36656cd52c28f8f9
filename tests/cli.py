"""Running the project's scripts from tests, as a user would from the repository root."""
import os
import subprocess
import sys
from typing import Dict, List, Optional


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
