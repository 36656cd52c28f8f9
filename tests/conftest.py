import os

import pytest
import torch

from tests.cli import data_root_options, run_python

# Keep the suite deterministic and within the machine's two cores.
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_collection_modifyitems(items):
    # a test that needs the session's trained model pays for its training run
    for item in items:
        if 'tiny_cbt_trained' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _default_scope():
    """Each test starts in the project's default scope, whatever an earlier
    test left in force (a tool run in-process sets its config's scope with
    mmengine's init_default_scope, for the rest of the process), and leaves
    the scopes as it found them."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmseg_cbsa'):
        yield


@pytest.fixture(autouse=True)
def _launcher_env():
    """Undo what a tool run in-process exports for launchers
    (``parse_runner_args`` sets LOCAL_RANK, as mmseg's train.py does): a
    later test's subprocess would inherit it and look like a torchrun worker."""
    before = os.environ.get('LOCAL_RANK')
    yield
    if before is None:
        os.environ.pop('LOCAL_RANK', None)
    else:
        os.environ['LOCAL_RANK'] = before


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO


@pytest.fixture
def cbsa_scope():
    """The ``mmseg_cbsa`` default scope for one test, whatever an earlier test
    left in force (mmpretrain's, after a classifier test), and the previous
    scopes restored after it."""
    from mmengine.registry import DefaultScope

    import mmseg_cbsa  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmseg_cbsa'):
        yield


@pytest.fixture(scope='session')
def tiny_cbt_trained(tmp_path_factory, repo_root) -> dict:
    """tests/data/configs/tiny_cbt.py trained for 4 iterations through
    tools/train.py on a generated miniature ADE20K (2 validation images of
    32x32), once per session. Read-only for the tests: ``config``,
    ``checkpoint`` (iter_4.pth), ``data`` (the dataset root), ``options``
    (the ``--cfg-options`` that point a run at that data), ``published``
    (the checkpoint through tools/misc/publish_model.py: weights and meta,
    what torch's weights-only ``torch.load`` and so mmseg's own APIs read)."""
    tmp = tmp_path_factory.mktemp('tiny_cbt_trained')
    data, work = tmp / 'data', tmp / 'work'
    options = data_root_options(data)
    config = 'tests/data/configs/tiny_cbt.py'
    run_python(repo_root, 'tools/train.py', config, '--work-dir', work, '--cfg-options', *options)
    res = run_python(repo_root, 'tools/misc/publish_model.py', work / 'iter_4.pth',
                     tmp / 'published' / 'tiny_cbt.pth')
    published = res.stdout.strip().splitlines()[-1]
    return dict(
        config=config,
        checkpoint=work / 'iter_4.pth',
        data=data,
        options=options,
        published=published)
