"""OverlayHook paints with its runner's visualizer even when other
visualizers were created in the same process (several runners, an inferencer)."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmseg.visualization import SegLocalVisualizer

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.engine import build_runner


@pytest.mark.slow
def test_overlays_use_the_runners_visualizer(tiny_cbt_trained, repo_root, tmp_path):
    t = tiny_cbt_trained
    cfg = Config.fromfile(osp.join(repo_root, t['config']))
    cfg.merge_from_dict(dict(o.split('=', 1) for o in t['options']))
    cfg.work_dir = str(tmp_path / 'run')
    cfg.load_from = str(t['checkpoint'])
    # a visualizer of the runner's name exists already (an earlier runner in this
    # process) and a newer one without a palette is the "current instance"
    SegLocalVisualizer.get_instance(cfg.visualizer.get('name', 'visualizer'))
    stray = SegLocalVisualizer.get_instance(f'stray-{tmp_path.name}')
    stray.dataset_meta = dict(classes=('a', 'b'))
    runner = build_runner(cfg)
    hook = next(h for h in runner.hooks if type(h).__name__ == 'OverlayHook')
    metrics = runner.test()
    assert hook._visualizer is runner.visualizer
    assert 'mIoU' in metrics
    written = list((tmp_path / 'run' / hook.out_dir).glob('*.png'))
    assert written, 'no overlay written'
