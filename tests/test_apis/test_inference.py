"""SegInferencer: mmseg's inferencer in our scope, quiet about backends it
cannot use."""
import warnings

from mmseg_cbsa.apis import SegInferencer


def test_no_vis_backend_warning(repo_root, monkeypatch):
    # tiny_cbt's runtime names a LocalVisBackend (a training run's scalars),
    # which needs a save_dir no inferencer has: mmengine warned once per backend
    monkeypatch.chdir(repo_root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        inferencer = SegInferencer('tests/data/configs/tiny_cbt.py', device='cpu')
    assert not [w for w in caught if 'Failed to add' in str(w.message)]
    assert not inferencer.visualizer._vis_backends
