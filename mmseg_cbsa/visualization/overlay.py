"""Segmentation overlays: the one renderer behind ``demo/image_demo.py``,
the web demo and :class:`~mmseg_cbsa.engine.hooks.OverlayHook`.

:func:`draw_segmentation` paints label maps with mmseg's
``SegLocalVisualizer`` (its colours, opacity and in-segment class names),
ground truth and prediction side by side as ``add_datasample`` lays them
out, and can append a legend of the classes present. It returns the
picture instead of sending it to the visualizer's storage backends, so that
callers choose the file (``add_datasample`` without ``out_file`` would also
write it into the run's ``vis_data``). :func:`input_prediction_truth` lays
the input beside them, with a heading over each panel;
:func:`annotated_overlay` also writes each class name inside its segment
(placed so that no two overlap) and a title.
"""
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .attention import label_grid

if TYPE_CHECKING:  # mmseg is imported where it is used: this module stays light
    from mmseg.structures import SegDataSample
    from mmseg.visualization import SegLocalVisualizer

_LEGEND_ROW_H = 18
_NAME_SCALE = 0.4
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def present_classes(label: np.ndarray, num_classes: int) -> List[int]:
    """The class ids in a label map, sorted; ids outside ``[0, num_classes)``
    (e.g. 255, ignore) are not classes."""
    ids = np.unique(np.asarray(label))
    return [int(c) for c in ids if 0 <= c < num_classes]


def append_legend(canvas: np.ndarray, present: Sequence[int], classes: Sequence[str],
                  palette: Sequence[Sequence[int]]) -> np.ndarray:
    """Append below ``canvas`` one row per class id in ``present``: a swatch
    of its colour and its name.

    Args:
        canvas: (H, W, 3) uint8 RGB.
        present: class ids, in the order the rows appear.

    Returns:
        (H + 18 len(present) + 6, max(W, widest row), 3) uint8 RGB, white
        where nothing is drawn.
    """
    h, w = canvas.shape[:2]
    widths = [cv2.getTextSize(classes[c], _FONT, 0.45, 1)[0][0] + 30 for c in present]
    legend_w = max([w] + widths)
    legend = np.full((_LEGEND_ROW_H * len(present) + 6, legend_w, 3), 255, np.uint8)
    for i, c in enumerate(present):
        y = 3 + i * _LEGEND_ROW_H
        cv2.rectangle(legend, (4, y + 2), (18, y + _LEGEND_ROW_H - 4),
                      tuple(int(v) for v in palette[c]), -1)
        cv2.putText(legend, classes[c], (24, y + _LEGEND_ROW_H - 5), _FONT, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
    out = np.full((h + legend.shape[0], legend_w, 3), 255, np.uint8)
    out[:h, :w] = canvas
    out[h:] = legend
    return out


def draw_segmentation(visualizer: 'SegLocalVisualizer',
                      image: np.ndarray,
                      data_sample: 'SegDataSample',
                      draw_gt: bool = True,
                      draw_pred: bool = True,
                      with_labels: bool = True,
                      legend: bool = False,
                      opacity: Optional[float] = None) -> np.ndarray:
    """Paint a sample's label maps over its image.

    Args:
        visualizer: an mmseg ``SegLocalVisualizer``; its ``dataset_meta``
            gives the class names and colours, its ``alpha`` the opacity.
        image: (H, W, 3) uint8 RGB.
        data_sample: a ``SegDataSample`` with ``gt_sem_seg`` and/or
            ``pred_sem_seg`` ((1, H, W) label maps).
        draw_gt, draw_pred: which maps to paint (those the sample has); with
            both, ground truth left and prediction right.
        with_labels: mmseg's class names written inside the segments.
        legend: append a legend of the classes present in the painted maps
            (:func:`append_legend`).
        opacity: the colours' weight over the image for this call; None
            keeps the visualizer's ``alpha``.

    Returns:
        (H [+ legend], W x panels [or the legend's width], 3) uint8 RGB.

    Raises:
        ValueError: the sample has none of the maps asked for.
    """
    classes = visualizer.dataset_meta['classes']
    palette = visualizer.dataset_meta['palette']
    alpha = visualizer.alpha
    if opacity is not None:
        visualizer.alpha = opacity
    panels, present = [], set()
    try:
        for key, wanted in (('gt_sem_seg', draw_gt), ('pred_sem_seg', draw_pred)):
            if wanted and key in data_sample:
                sem_seg = data_sample.get(key)
                # mmseg's own painting (private, but what add_datasample calls)
                panels.append(
                    visualizer._draw_sem_seg(image, sem_seg, classes, palette, with_labels))
                present.update(present_classes(sem_seg.cpu().data.numpy(), len(classes)))
    finally:
        visualizer.alpha = alpha
    if not panels:
        raise ValueError('the data sample has none of the label maps asked for '
                         f'(gt_sem_seg: {draw_gt}, pred_sem_seg: {draw_pred})')
    canvas = np.concatenate(panels, axis=1)
    return append_legend(canvas, sorted(present), classes, palette) if legend else canvas


def input_prediction_truth(visualizer: 'SegLocalVisualizer',
                           image: np.ndarray,
                           data_sample: 'SegDataSample',
                           opacity: Optional[float] = None,
                           legend: bool = True) -> np.ndarray:
    """``input | prediction [| ground truth]``: what ``demo/image_demo.py`` writes.

    The plain image, the prediction over it and, when the sample has
    ``gt_sem_seg``, the ground truth over it (:func:`draw_segmentation`,
    without in-segment names), each under a heading, laid out by
    :func:`~mmseg_cbsa.visualization.label_grid`; below, a legend of the
    classes present in either map.

    Args:
        image: (H, W, 3) uint8 RGB.
        data_sample: with ``pred_sem_seg`` (and optionally ``gt_sem_seg``),
            (1, H, W) label maps.

    Returns:
        (GRID_HEADER_H + H + 2 GRID_PAD [+ legend], P W + (P + 1) GRID_PAD
        [or the legend's width], 3) uint8 RGB for P = 2 or 3 panels.
    """
    panels, headings, labels = _painted_panels(visualizer, image, data_sample, opacity)
    canvas = label_grid([panels], col_labels=headings)
    return _with_legend(canvas, visualizer, labels) if legend else canvas


def _painted_panels(visualizer: 'SegLocalVisualizer', image: np.ndarray,
                    data_sample: 'SegDataSample', opacity: Optional[float]):
    """The image and each map the sample has painted over it (prediction,
    then ground truth), their headings, and the (H, W) label maps painted."""
    if 'pred_sem_seg' not in data_sample:
        raise ValueError('the data sample has no prediction (pred_sem_seg)')
    panels, headings, labels = [image], ['input'], []
    for key, heading in (('pred_sem_seg', 'prediction'), ('gt_sem_seg', 'ground truth')):
        if key in data_sample:
            panels.append(
                draw_segmentation(
                    visualizer,
                    image,
                    data_sample,
                    draw_gt=key == 'gt_sem_seg',
                    draw_pred=key == 'pred_sem_seg',
                    with_labels=False,
                    opacity=opacity))
            headings.append(heading)
            labels.append(data_sample.get(key).cpu().data.numpy()[0])
    return panels, headings, labels


def _with_legend(canvas: np.ndarray, visualizer: 'SegLocalVisualizer',
                 labels: Sequence[np.ndarray]) -> np.ndarray:
    """``canvas`` with :func:`append_legend` of the classes in any of ``labels``."""
    classes = visualizer.dataset_meta['classes']
    present = set().union(*(present_classes(label, len(classes)) for label in labels))
    return append_legend(canvas, sorted(present), classes, visualizer.dataset_meta['palette'])


def place_segment_names(label: np.ndarray,
                        classes: Sequence[str]) -> List[Tuple[int, Tuple[int, int, int, int]]]:
    """Where to write the class names inside a label map, none over another.

    Each class present gets one box around its name (``_NAME_SCALE``
    Hershey text, 2 px margin), centred where possible on the point of its
    largest segment farthest from the segment's edge. Classes of larger
    segments are placed first; a box that would overlap one already placed
    moves to the nearest free spot (steps of half its width, its height);
    a name with no free spot, or larger than the map, is left out.

    Args:
        label: (H, W) integer class map; ids outside ``classes`` are not classes.

    Returns:
        [(class id, (x0, y0, x1, y1)), ...], end-exclusive boxes inside the
        map, pairwise disjoint, in the order they were placed.
    """
    h, w = label.shape
    segments = []
    for c in present_classes(label, len(classes)):
        _, comp, stats, _ = cv2.connectedComponentsWithStats(
            (label == c).astype(np.uint8), connectivity=8)
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        # zero padding: the map's border is an edge of the segment too
        inside = np.pad((comp == k).astype(np.uint8), 1)
        dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        segments.append((-int(stats[k, cv2.CC_STAT_AREA]), c, int(x), int(y)))
    placed: List[Tuple[int, Tuple[int, int, int, int]]] = []
    for _, c, x, y in sorted(segments):
        (tw, th), base = cv2.getTextSize(classes[c], _FONT, _NAME_SCALE, 1)
        bw, bh = tw + 4, th + base + 4
        if bw > w or bh > h:
            continue
        step_x = max(1, bw // 2)
        spots = {(min(max(x - bw // 2 + i * step_x, 0),
                      w - bw), min(max(y - bh // 2 + j * bh, 0), h - bh))
                 for i in range(-(w // step_x) - 1, w // step_x + 2)
                 for j in range(-(h // bh) - 1, h // bh + 2)}
        nearest_first = sorted(
            spots, key=lambda p: ((p[0] + bw // 2 - x)**2 + (p[1] + bh // 2 - y)**2, p))
        for x0, y0 in nearest_first:
            box = (x0, y0, x0 + bw, y0 + bh)
            if not any(_overlap(box, other) for _, other in placed):
                placed.append((c, box))
                break
    return placed


def _overlap(a: Sequence[int], b: Sequence[int]) -> bool:
    """Whether two end-exclusive (x0, y0, x1, y1) boxes share a pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def draw_segment_names(panel: np.ndarray, label: np.ndarray, classes: Sequence[str],
                       palette: Sequence[Sequence[int]]) -> np.ndarray:
    """``panel`` with each class name written inside its segment of
    ``label`` (:func:`place_segment_names`): black on white, framed in the
    class colour.

    Args:
        panel: (H, W, 3) uint8 RGB, the map painted over the image.
        label: (H, W) integer class map of the same size.

    Returns:
        (H, W, 3) uint8 RGB, a copy.
    """
    out = panel.copy()
    for c, (x0, y0, x1, y1) in place_segment_names(label, classes):
        base = cv2.getTextSize(classes[c], _FONT, _NAME_SCALE, 1)[1]
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 255), -1)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), tuple(int(v) for v in palette[c]), 1)
        cv2.putText(out, classes[c], (x0 + 2, y1 - 2 - base), _FONT, _NAME_SCALE, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return out


def annotated_overlay(visualizer: 'SegLocalVisualizer',
                      image: np.ndarray,
                      data_sample: 'SegDataSample',
                      title: Optional[str] = None,
                      legend: bool = False,
                      opacity: Optional[float] = None) -> np.ndarray:
    """``input | prediction [| ground truth]`` under headings and a title,
    each painted map with its class names inside the segments
    (:func:`draw_segment_names`, never one over another): the picture
    :class:`~mmseg_cbsa.engine.hooks.OverlayHook` writes.

    The size depends only on the image's, the panels and the title (not on
    the classes shown) unless ``legend`` appends one (:func:`append_legend`).
    A column is widened to its heading when the image is narrower.

    Args:
        image: (H, W, 3) uint8 RGB.
        data_sample: with ``pred_sem_seg`` (and optionally ``gt_sem_seg``),
            (1, H, W) label maps.
        title: text above the headings, ``GRID_TITLE_H`` px per line.

    Returns:
        (title + GRID_HEADER_H + H + 2 GRID_PAD [+ legend], P columns of
        max(W, heading) + (P + 1) GRID_PAD [or wider for the title or the
        legend], 3) uint8 RGB for P = 2 or 3 panels.
    """
    panels, headings, labels = _painted_panels(visualizer, image, data_sample, opacity)
    classes, palette = visualizer.dataset_meta['classes'], visualizer.dataset_meta['palette']
    panels[1:] = [
        draw_segment_names(panel, label, classes, palette)
        for panel, label in zip(panels[1:], labels)
    ]
    canvas = label_grid([panels], col_labels=headings, title=title, fit_col_labels=True)
    return _with_legend(canvas, visualizer, labels) if legend else canvas


def standalone_visualizer() -> 'SegLocalVisualizer':
    """A new visualizer for drawing only: not registered as mmengine's
    current instance, so a runner's visualizer is left alone. Callers that
    draw many pictures keep theirs (a demo run, a web demo session); each
    sets its own class names on it."""
    from mmseg.visualization import SegLocalVisualizer
    return SegLocalVisualizer(name='mmseg_cbsa_overlay')


def overlay_with_legend(image: np.ndarray,
                        label: np.ndarray,
                        classes: Sequence[str],
                        palette: Sequence[Sequence[int]],
                        opacity: float = 0.5) -> np.ndarray:
    """:func:`draw_segmentation` of one label map, with a legend and without
    in-segment names: the picture ``demo/image_demo.py`` writes.

    Args:
        image: (H, W, 3) uint8 RGB.
        label: (H, W) integer class map (values outside ``classes`` are not painted).
        classes, palette: class names and their RGB colours.
        opacity: weight of the colours over the image.

    Returns:
        (H + legend height, max(W, legend width), 3) uint8 RGB.
    """
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    label = np.asarray(label).astype(np.int64)
    # mmseg paints every id below len(classes), negative ones too
    label = np.where(label < 0, len(classes), label)
    sample = SegDataSample(pred_sem_seg=PixelData(data=torch.from_numpy(label)[None]))
    visualizer = standalone_visualizer()
    visualizer.dataset_meta = dict(classes=list(classes), palette=[list(c) for c in palette])
    return draw_segmentation(
        visualizer, image, sample, draw_gt=False, with_labels=False, legend=True, opacity=opacity)
