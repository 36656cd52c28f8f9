"""The one overlay renderer (mmseg_cbsa/visualization/overlay.py)."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

from mmseg_cbsa.visualization.overlay import (append_legend, draw_segmentation, overlay_with_legend,
                                              present_classes)

CLASSES, PALETTE = ['sky', 'tree', 'road'], [[0, 0, 255], [0, 255, 0], [255, 0, 0]]


def _sample(gt=None, pred=None):
    fields = {}
    if gt is not None:
        fields['gt_sem_seg'] = PixelData(data=torch.as_tensor(gt)[None])
    if pred is not None:
        fields['pred_sem_seg'] = PixelData(data=torch.as_tensor(pred)[None])
    return SegDataSample(**fields)


@pytest.fixture(scope='module')
def visualizer():
    vis = SegLocalVisualizer(name='test_overlay', alpha=0.5)
    vis.dataset_meta = dict(classes=CLASSES, palette=PALETTE)
    return vis


def test_present_classes_ignores_ids_outside_the_classes():
    assert present_classes(np.array([[2, 0], [255, 2]]), 3) == [0, 2]


def test_gt_and_prediction_side_by_side_with_mmseg_colours(visualizer):
    image = np.zeros((4, 6, 3), np.uint8)
    gt = np.zeros((4, 6), np.int64)
    pred = np.full((4, 6), 2, np.int64)
    canvas = draw_segmentation(visualizer, image, _sample(gt, pred), with_labels=False)
    assert canvas.shape == (4, 12, 3)
    # black image, alpha 0.5: half of each class colour
    np.testing.assert_allclose(canvas[0, 0], np.array(PALETTE[0]) * 0.5, atol=1)
    np.testing.assert_allclose(canvas[0, 6], np.array(PALETTE[2]) * 0.5, atol=1)
    assert visualizer.alpha == 0.5  # per-call opacity is undone


def test_legend_lists_the_classes_present_below_the_picture(visualizer):
    image = np.full((10, 40, 3), 128, np.uint8)
    pred = np.zeros((10, 40), np.int64)
    pred[:, 20:] = 1
    canvas = draw_segmentation(
        visualizer, image, _sample(pred=pred), draw_gt=False, with_labels=False, legend=True)
    assert canvas.shape[0] == 10 + 18 * 2 + 6
    # each legend row starts with a swatch of its class colour
    assert tuple(canvas[10 + 3 + 8, 10]) == tuple(PALETTE[0])
    assert tuple(canvas[10 + 3 + 18 + 8, 10]) == tuple(PALETTE[1])


def test_missing_maps_are_an_error(visualizer):
    with pytest.raises(ValueError, match='none of the label maps'):
        draw_segmentation(
            visualizer,
            np.zeros((2, 2, 3), np.uint8),
            _sample(gt=np.zeros((2, 2), np.int64)),
            draw_gt=False)


def test_overlay_with_legend_is_the_demo_picture():
    image = np.zeros((8, 8, 3), np.uint8)
    label = np.full((8, 8), 1, np.int64)
    canvas = overlay_with_legend(image, label, CLASSES, PALETTE, opacity=1.0)
    assert canvas.shape[0] == 8 + 18 + 6 and canvas.shape[1] >= 8
    assert tuple(canvas[4, 4]) == tuple(PALETTE[1])  # opacity 1: the colour itself


def test_append_legend_widens_for_long_names():
    out = append_legend(np.zeros((5, 4, 3), np.uint8), [0], ['a very long class name'], [[1, 2, 3]])
    assert out.shape[1] > 4 and (out[:5, 4:] == 255).all()
