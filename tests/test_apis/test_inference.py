"""SegInferencer: mmseg's inferencer in our scope, quiet about backends it
cannot use."""
import warnings

from mmseg_cbsa.apis import SegInferencer, init_model

CONFIG = 'tests/data/configs/tiny_cbt.py'


def test_no_vis_backend_warning(repo_root, monkeypatch):
    # tiny_cbt's runtime names a LocalVisBackend (a training run's scalars),
    # which needs a save_dir no inferencer has: mmengine warned once per backend
    monkeypatch.chdir(repo_root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        inferencer = SegInferencer('tests/data/configs/tiny_cbt.py', device='cpu')
    assert not [w for w in caught if 'Failed to add' in str(w.message)]
    assert not inferencer.visualizer._vis_backends


MINI_ADE_CLASSES = ['background', 'disc', 'box', 'triangle', 'ring', 'cross']


def _checkpoints(tmp_path):
    """The tiny model's weights without meta (as the converters and a bare
    state dict give) and with a training run's dataset_meta."""
    import torch

    from mmseg_cbsa.apis import build_model
    state = build_model(CONFIG, seed=1).model.state_dict()
    bare, named = tmp_path / 'bare.pth', tmp_path / 'named.pth'
    torch.save({'state_dict': state}, bare)
    meta = dict(dataset_meta=dict(classes=list('abcdef'), palette=[[i, i, i] for i in range(6)]))
    torch.save({'state_dict': state, 'meta': meta}, named)
    return bare, named


def test_class_names_from_the_config_where_the_checkpoint_has_none(repo_root, monkeypatch,
                                                                   tmp_path):
    # mmseg's inferencer named such a model's classes with Cityscapes' 19, whatever
    # its class count (150 for a converted ADE20K checkpoint: names and colours missing)
    monkeypatch.chdir(repo_root)
    bare, named = _checkpoints(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        models = {
            'bare': SegInferencer(CONFIG, str(bare), device='cpu').model,
            'random': SegInferencer(CONFIG, device='cpu').model,
            'init_model': init_model(CONFIG, str(bare), device='cpu'),
            'named': SegInferencer(CONFIG, str(named), device='cpu').model,
        }
    assert not [w for w in caught if 'cityscapes' in str(w.message).lower()]
    for name in ('bare', 'random', 'init_model'):
        assert list(models[name].dataset_meta['classes']) == MINI_ADE_CLASSES, name
        assert len(models[name].dataset_meta['palette']) == 6, name
    # a checkpoint that names its classes keeps them, as in mmseg
    assert list(models['named'].dataset_meta['classes']) == list('abcdef')
