"""OverlayHook's pictures: input, prediction and ground truth under
headings and a title naming the iteration, class names that do not overlap;
painted with its runner's visualizer even when other visualizers were
created in the same process (several runners, an inferencer)."""
import os.path as osp
import types

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.engine import build_runner
from mmseg_cbsa.engine.hooks import OverlayHook
from mmseg_cbsa.visualization.overlay import _overlap, annotated_overlay, place_segment_names
from tests.drawn_texts import record_texts

CLASSES = ('background', 'disc', 'box', 'triangle', 'ring', 'cross')
PALETTE = [[120, 120, 120], [255, 0, 0], [0, 0, 255], [0, 255, 0], [255, 255, 0], [255, 0, 255]]


@pytest.fixture
def painted(tmp_path):
    """A hook with a runner stand-in (work dir, iteration, visualizer) and a
    crowded validation sample: five classes in 12 px stripes."""
    image = np.random.RandomState(0).randint(0, 256, (60, 128, 3)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'val_0.jpg'), image)
    label = torch.as_tensor(np.repeat(np.arange(5), 12)[:, None].repeat(128, 1))
    sample = SegDataSample(
        gt_sem_seg=PixelData(data=label[None]), pred_sem_seg=PixelData(data=label.flip(0)[None]))
    sample.set_metainfo(dict(img_path=str(tmp_path / 'val_0.jpg')))
    visualizer = SegLocalVisualizer.get_instance(f'overlay-hook-{tmp_path.name}')
    visualizer.dataset_meta = dict(classes=CLASSES, palette=PALETTE)
    hook = OverlayHook(num_images=1)
    runner = types.SimpleNamespace(work_dir=str(tmp_path), iter=7, visualizer=visualizer)
    hook.before_run(runner)
    return hook, runner, sample


@pytest.mark.parametrize('mode, title', [('val', 'val_0.jpg, validation at iteration 7'),
                                         ('test', 'val_0.jpg, test')])
def test_overlay_has_headings_a_title_and_separate_names(painted, monkeypatch, mode, title):
    hook, runner, sample = painted
    texts = record_texts(monkeypatch)
    getattr(hook, f'after_{mode}_iter')(runner, 0, {}, [sample])
    written = cv2.imread(osp.join(runner.work_dir, 'overlays', 'val_0.png'))[..., ::-1]
    assert [text for text, _ in texts] == [title, 'input', 'prediction', 'ground truth']
    img = cv2.imread(sample.img_path)[..., ::-1]
    np.testing.assert_array_equal(written,
                                  annotated_overlay(runner.visualizer, img, sample, title=title))
    # the class names inside each painted map: one box per class that fits,
    # none over another
    for key in ('pred_sem_seg', 'gt_sem_seg'):
        placed = place_segment_names(sample.get(key).data[0].numpy(), CLASSES)
        boxes = [box for _, box in placed]
        assert len(placed) >= 3
        assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


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
