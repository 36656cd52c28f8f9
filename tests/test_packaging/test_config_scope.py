"""The installed package carries its configs and model index (``mmseg_cbsa/.mim``):
a user's config in a folder outside the checkout inherits ``mmseg_cbsa::...``,
and ``MMSegInferencer`` finds our models by name with ``scope='mmseg_cbsa'``.
Every check runs in a fresh interpreter whose working directory is a temporary
folder, as a user's would be."""
import json
import os
import subprocess
import sys
import textwrap

import pytest


def _tiny_user_config(repo_root: str) -> str:
    """tests/data/configs/tiny_cbt.py (the quickstart recipe shrunk to a 1-layer
    model on 32x32 generated images) inheriting the quickstart by its package
    path instead of its path in the checkout."""
    with open(os.path.join(repo_root, 'tests', 'data', 'configs', 'tiny_cbt.py')) as f:
        text = f.read()
    local = "'../../../configs/quickstart/"
    assert local in text
    return text.replace(local, "'mmseg_cbsa::quickstart/")


def _python(cwd, *args) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, f'{args} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}'
    return res


@pytest.mark.slow
def test_package_carries_configs_and_model_index(tmp_path):
    script = textwrap.dedent("""
        import json, os, mmseg_cbsa
        from mmengine.config.utils import MODULE2PACKAGE
        from mmengine.config.config import get_installed_path
        mim = os.path.join(get_installed_path('mmseg_cbsa'), '.mim')
        print(json.dumps(dict(
            package=MODULE2PACKAGE.get('mmseg_cbsa'),
            index=os.path.isfile(os.path.join(mim, 'model-index.yml')),
            config=os.path.isfile(os.path.join(
                mim, 'configs', 'cbt', 'cbt_vit-s16_8xb1-160k_ade20k-512x512.py')))))
    """)
    res = _python(tmp_path, '-c', script)
    assert json.loads(res.stdout.splitlines()[-1]) == dict(
        package='mmseg_cbsa', index=True, config=True)


@pytest.mark.slow
def test_user_config_inherits_the_ade20k_recipe(tmp_path):
    (tmp_path / 'my_cbt.py').write_text(
        "_base_ = ['mmseg_cbsa::cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py']\n"
        "model = dict(decode_head=dict(num_layers=2))\n")
    script = textwrap.dedent("""
        import json, mmseg_cbsa
        from mmengine.config import Config
        from mmengine.registry import MODELS, init_default_scope
        cfg = Config.fromfile('my_cbt.py')
        init_default_scope(cfg.default_scope)
        cfg.model.backbone.pop('init_cfg')      # no timm weights here
        model = MODELS.build(cfg.model)          # the model dict carries _scope_='mmseg_cbsa'
        print(json.dumps(dict(scope=cfg.model._scope_, head=type(model.decode_head).__name__,
                              layers=len(model.decode_head.layers),
                              iters=cfg.train_cfg.max_iters, crop=list(cfg.crop_size))))
    """)
    res = _python(tmp_path, '-c', script)
    assert json.loads(res.stdout.splitlines()[-1]) == dict(
        scope='mmseg_cbsa', head='CBTHead', layers=2, iters=64 * 2527, crop=[512, 512])


@pytest.mark.slow
def test_user_config_trains_and_tests_outside_the_checkout(repo_root, tmp_path):
    """Datasets, transforms, hooks, loops, optimizer and metric of the inherited
    base are all built under the ``mmseg_cbsa`` scope."""
    (tmp_path / 'my_tiny.py').write_text(_tiny_user_config(repo_root))
    _python(tmp_path, os.path.join(repo_root, 'tools', 'train.py'), 'my_tiny.py', '--work-dir',
            'work')
    assert (tmp_path / 'data' / 'mini_ade20k' / 'mini_ade20k.json').is_file()
    res = _python(tmp_path, os.path.join(repo_root, 'tools', 'test.py'), 'my_tiny.py',
                  'work/iter_2.pth', '--work-dir', 'test')
    assert 'mIoU' in res.stdout + res.stderr
    assert len(list((tmp_path / 'test' / 'overlays').glob('*.png'))) == 1


@pytest.mark.parametrize(
    'name',
    ['cbt_vit-t8_1xb8-1k_mini-ade20k-128x128', 'segmenter_vit-t8_1xb8-1k_mini-ade20k-128x128'])
@pytest.mark.slow
def test_inferencer_finds_a_model_by_name(name, tmp_path):
    """``MMSegInferencer(model=<metafile name>, weights=..., scope='mmseg_cbsa')``
    with a checkpoint the test makes from the named config."""
    script = textwrap.dedent(f"""
        import json, os, numpy as np, torch, mmseg_cbsa
        from mmengine.config import Config
        from mmengine.registry import MODELS, init_default_scope
        from mmseg.apis import MMSegInferencer
        cfg = Config.fromfile(
            os.path.dirname(mmseg_cbsa.__file__) + '/.mim/configs/quickstart/{name}.py')
        init_default_scope('mmseg_cbsa')
        torch.manual_seed(0)
        state = MODELS.build(cfg.model).state_dict()
        classes = ['background', 'disc', 'box', 'triangle', 'ring', 'cross']
        torch.save(dict(state_dict=state, meta=dict(dataset_meta=dict(
            classes=classes, palette=[[40 * i, 0, 0] for i in range(6)]))), 'tiny.pth')
        inferencer = MMSegInferencer(model='{name}', weights='tiny.pth', scope='mmseg_cbsa',
                                     device='cpu')
        loaded = inferencer.model.state_dict()
        image = np.random.default_rng(0).integers(0, 255, (48, 40, 3), dtype=np.uint8)
        pred = inferencer(image)['predictions']
        print(json.dumps(dict(
            same=all(torch.equal(loaded[k], v) for k, v in state.items()),
            shape=list(pred.shape), classes=list(inferencer.model.dataset_meta['classes']),
            in_range=bool(0 <= pred.min() and pred.max() < 6))))
    """)
    res = _python(tmp_path, '-c', script)
    out = json.loads(res.stdout.splitlines()[-1])
    assert out == dict(
        same=True,
        shape=[48, 40],
        in_range=True,
        classes=['background', 'disc', 'box', 'triangle', 'ring', 'cross'])


@pytest.mark.slow
def test_inferencer_in_cbsa_scope_does_not_know_our_names(tmp_path):
    """Why the scope must be given: mmseg's own index lacks our models."""
    script = ("import mmseg_cbsa\nfrom mmseg.apis import MMSegInferencer\n"
              "MMSegInferencer(model='cbt_vit-s16_8xb1-160k_ade20k-512x512', device='cpu')\n")
    res = subprocess.run([sys.executable, '-c', script],
                         cwd=tmp_path,
                         capture_output=True,
                         text=True)
    assert res.returncode != 0
    assert 'Cannot find model: cbt_vit-s16_8xb1-160k_ade20k-512x512 in mmseg' in res.stderr
