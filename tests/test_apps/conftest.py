"""Fixtures of the web demo's tests: random-weight tiny models (no training)."""
import pytest


@pytest.fixture(scope='session')
def random_ckpt(tmp_path_factory, repo_root):
    """Random-weight checkpoints of a ViT + CBT head and a MiT (no [CLS]) + CBT head,
    ``{name: (config, checkpoint)}``."""
    from mmseg.apis import init_model

    from mmseg_cbsa.utils import save_checkpoint_file
    tmp = tmp_path_factory.mktemp('web_demo_models')
    out = {}
    for name in ('tiny_cbt', 'tiny_cbt_nocls'):
        config = f'{repo_root}/tests/data/configs/{name}.py'
        model = init_model(config, None, device='cpu')
        out[name] = (config, str(tmp / f'{name}.pth'))
        save_checkpoint_file(model.state_dict(), out[name][1], meta={})
    return out
