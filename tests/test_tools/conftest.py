"""Fixtures shared by the tool tests: a tiny trained segmentor checkpoint."""
import os
import subprocess
import sys
from typing import List

import pytest

TINY_CBT = 'tests/data/configs/tiny_cbt.py'


def _data_root_options(root) -> List[str]:
    """``--cfg-options`` pointing every dataloader at ``root``."""
    return [f'{k}.dataset.data_root={root}'
            for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


def _run(repo_root: str, *args, check: bool = True) -> subprocess.CompletedProcess:
    """``python ARGS`` in the repository root; fails with the output's tail."""
    res = subprocess.run([sys.executable, *map(str, args)], cwd=repo_root, capture_output=True,
                         text=True, env=dict(os.environ))
    if check and res.returncode != 0:
        raise AssertionError(f'{args} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}')
    return res


@pytest.fixture(scope='session')
def tiny_cbt_trained(tmp_path_factory, repo_root) -> dict:
    """tiny_cbt trained for 4 iterations through tools/train.py on a generated
    miniature ADE20K (2 validation images of 32x32). Read-only for the tests:
    ``config``, ``checkpoint`` (iter_4.pth), ``data`` (the dataset root),
    ``options`` (the ``--cfg-options`` that point a run at that data)."""
    tmp = tmp_path_factory.mktemp('tiny_cbt_trained')
    data, work = tmp / 'data', tmp / 'work'
    options = _data_root_options(data)
    _run(repo_root, 'tools/train.py', TINY_CBT, '--work-dir', work, '--cfg-options', *options)
    return dict(config=TINY_CBT, checkpoint=work / 'iter_4.pth', data=data, options=options)
