import os

import pytest
import torch

# Keep the suite deterministic and within the machine's two cores.
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO


@pytest.fixture(scope='session')
def mmseg_scope():
    import mmseg_cbsa  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
