"""The one overlay renderer (mmseg_cbsa/visualization/overlay.py)."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

import mmseg_cbsa.visualization.attention as attention
from mmseg_cbsa.visualization import GRID_HEADER_H, GRID_PAD, GRID_TITLE_H
from mmseg_cbsa.visualization.overlay import (_overlap, annotated_overlay, append_legend,
                                              draw_segment_names, draw_segmentation,
                                              overlay_with_legend, place_segment_names,
                                              present_classes)
from tests.drawn_texts import record_texts

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


def _disjoint(boxes):
    return all(not _overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_segment_names_never_overlap_even_on_crowded_maps():
    """Six thin stripes: each name's natural place (its stripe's middle) is
    5 px from the next, closer than a line of text is high."""
    classes = [f'class {c}' for c in range(6)]
    label = np.repeat(np.arange(6), 5)[:, None].repeat(96, 1)  # (30, 96)
    placed = place_segment_names(label, classes)
    boxes = [box for _, box in placed]
    assert _disjoint(boxes) and len(placed) >= 2
    assert all(0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 30 for x0, y0, x1, y1 in boxes)
    # the biggest segment is named first, around a point farthest from its
    # edge (here 30 px: x = 30, y = 30..33)
    big = np.zeros((64, 96), np.int64)
    big[:, 60:] = 1
    (first, (x0, y0, x1, y1)), *_ = place_segment_names(big, ['left', 'right'])
    assert first == 0 and abs((x0 + x1) / 2 - 30) <= 1 and 29 <= (y0 + y1) / 2 <= 34


def test_names_that_do_not_fit_are_left_out():
    assert place_segment_names(np.zeros((8, 8), np.int64), ['a long name']) == []
    assert place_segment_names(np.full((8, 8), 255, np.int64), ['a']) == []


def test_segment_names_are_drawn_in_their_boxes():
    label = np.zeros((40, 80), np.int64)
    label[:, 40:] = 2
    panel = np.full((40, 80, 3), 90, np.uint8)
    out = draw_segment_names(panel, label, CLASSES, PALETTE)
    changed = np.argwhere((out != panel).any(-1))
    boxes = [box for _, box in place_segment_names(label, CLASSES)]
    assert len(boxes) == 2 and len(changed)
    assert all(any(x0 <= x < x1 and y0 <= y < y1 for x0, y0, x1, y1 in boxes) for y, x in changed)


def test_annotated_overlay_has_a_title_headings_and_names(visualizer, monkeypatch):
    texts = record_texts(monkeypatch)
    image = np.full((24, 30, 3), 128, np.uint8)
    gt = np.zeros((24, 30), np.int64)
    canvas = annotated_overlay(
        visualizer, image, _sample(gt=gt, pred=gt + 1), title='img.png, test', opacity=1.0)
    drawn = [text for text, _ in texts]
    assert drawn == ['img.png, test', 'input', 'prediction', 'ground truth']
    # narrow image: each column is as wide as its heading, so no heading is cut
    widths = [max(30, attention._text_width(h) + 4) for h in drawn[1:]]
    assert canvas.shape[:2] == (GRID_TITLE_H + GRID_HEADER_H + 24 + 2 * GRID_PAD,
                                max(
                                    sum(widths) + 4 * GRID_PAD,
                                    attention._text_width(drawn[0]) + 8))
    top, left = GRID_TITLE_H + GRID_HEADER_H + GRID_PAD, GRID_PAD
    np.testing.assert_array_equal(canvas[top:top + 24, left:left + 30], image)
    left += widths[0] + GRID_PAD
    pred = canvas[top:top + 24, left:left + 30]
    # opacity 1: the class colour outside the name's box, a name inside it
    assert tuple(pred[0, 0]) == tuple(PALETTE[1]) and (pred.min(-1) < 60).any()
