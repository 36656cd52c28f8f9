"""Prediction overlays with a class legend, for the demos."""
from typing import Sequence

import cv2
import numpy as np


def overlay_with_legend(image: np.ndarray, label: np.ndarray, classes: Sequence[str],
                        palette: Sequence[Sequence[int]], opacity: float = 0.5) -> np.ndarray:
    """Paint ``label`` over ``image`` and append a legend of the classes present.

    Args:
        image: (H, W, 3) uint8 RGB.
        label: (H, W) integer class map (values outside ``classes`` are left unpainted).
        classes, palette: class names and their RGB colours.
        opacity: weight of the colour over the image.

    Returns:
        (H + legend height, max(W, legend width), 3) uint8 RGB.
    """
    palette = np.asarray(palette, dtype=np.uint8)
    h, w = label.shape
    valid = (label >= 0) & (label < len(classes))
    color = np.zeros_like(image)
    color[valid] = palette[label[valid]]
    out = image.copy()
    out[valid] = (image[valid] * (1 - opacity) + color[valid] * opacity).astype(np.uint8)

    present = [int(c) for c in np.unique(label[valid])]
    row_h, font = 18, cv2.FONT_HERSHEY_SIMPLEX
    widths = [cv2.getTextSize(classes[c], font, 0.45, 1)[0][0] + 30 for c in present]
    legend_w = max([w] + widths)
    legend = np.full((row_h * len(present) + 6, legend_w, 3), 255, np.uint8)
    for i, c in enumerate(present):
        y = 3 + i * row_h
        cv2.rectangle(legend, (4, y + 2), (18, y + row_h - 4), tuple(int(v) for v in palette[c]), -1)
        cv2.putText(legend, classes[c], (24, y + row_h - 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    canvas = np.full((h + legend.shape[0], legend_w, 3), 255, np.uint8)
    canvas[:h, :w] = out
    canvas[h:] = legend
    return canvas
