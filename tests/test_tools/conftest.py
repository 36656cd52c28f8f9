"""Fixtures shared by the tool tests: a tiny trained segmentor checkpoint."""
import pytest

from tests.cli import data_root_options, run_python

TINY_CBT = 'tests/data/configs/tiny_cbt.py'


@pytest.fixture(scope='session')
def tiny_cbt_trained(tmp_path_factory, repo_root) -> dict:
    """tiny_cbt trained for 4 iterations through tools/train.py on a generated
    miniature ADE20K (2 validation images of 32x32). Read-only for the tests:
    ``config``, ``checkpoint`` (iter_4.pth), ``data`` (the dataset root),
    ``options`` (the ``--cfg-options`` that point a run at that data)."""
    tmp = tmp_path_factory.mktemp('tiny_cbt_trained')
    data, work = tmp / 'data', tmp / 'work'
    options = data_root_options(data)
    run_python(repo_root, 'tools/train.py', TINY_CBT, '--work-dir', work, '--cfg-options', *options)
    return dict(config=TINY_CBT, checkpoint=work / 'iter_4.pth', data=data, options=options)
