"""Fixtures of the web demo's tests: random-weight models (no training)."""
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


@pytest.fixture(scope='session')
def random_classifier(tmp_path_factory, repo_root):
    """``make(config) -> (config path, checkpoint)``: random weights of an
    mmpretrain classifier config (relative to the repository), saved once per
    config as a whole-model state dict, the layout of a converted authors'
    checkpoint (``backbone.*``, ``head.fc.*``)."""
    from mmseg_cbsa.apis import build_model
    from mmseg_cbsa.utils import save_checkpoint_file
    tmp = tmp_path_factory.mktemp('web_demo_classifiers')
    made = {}

    def make(config):
        if config not in made:
            path = f'{repo_root}/{config}'
            ckpt = str(tmp / f'{len(made)}.pth')
            save_checkpoint_file(build_model(path).model.state_dict(), ckpt, meta={})
            made[config] = (path, ckpt)
        return made[config]

    return make
