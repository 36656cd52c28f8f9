"""Attention pictures: [CLS] attention grids and CBSA extraction maps."""
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

#: white gap between tiles, height of the column-label strip, width of the
#: row-label strip and height of the title strip of :func:`label_grid` (px)
GRID_PAD = 2
GRID_HEADER_H = 16
GRID_LABEL_W = 56
GRID_TITLE_H = 18
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _put_text(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.4) -> None:
    cv2.putText(canvas, text, (x, y), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


def fit_size(hw: Sequence[int], long_side: int) -> Tuple[int, int]:
    """(H, W) scaled so that its longer side is ``long_side`` px."""
    h, w = hw
    s = long_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def upsample_map(amap: np.ndarray, image_hw: Sequence[int], patch_size: Optional[int] = None,
                 interpolation: int = cv2.INTER_NEAREST) -> np.ndarray:
    """(h, w) patch map -> (H, W) pixel map.

    With ``patch_size`` the map is enlarged to ``(h*ps, w*ps)`` and cropped to
    the image, which is exact for patch embeddings that pad the image at the
    bottom/right; otherwise it is stretched over the image.
    """
    amap = np.ascontiguousarray(amap, dtype=np.float32)
    h, w = amap.shape
    big_h, big_w = image_hw
    if patch_size:
        big_h, big_w = h * patch_size, w * patch_size
    return cv2.resize(amap, (big_w, big_h), interpolation=interpolation)[:image_hw[0],
                                                                       :image_hw[1]]


def heatmap(amap: np.ndarray, image: Optional[np.ndarray] = None, alpha: float = 0.6,
            colormap: int = cv2.COLORMAP_INFERNO) -> np.ndarray:
    """Colour a non-negative map, scaled to its own maximum, over an image.

    Args:
        amap: (H, W) map, already at the image's size.
        image: (H, W, 3) uint8 RGB, or None for the colours alone.
        alpha: weight of the colours over the image.

    Returns:
        (H, W, 3) uint8 RGB: ``(1 - alpha) image + alpha colormap(amap / max amap)``.
    """
    peak = float(amap.max())
    norm = np.clip(amap / peak if peak > 0 else amap, 0, 1)
    colour = cv2.applyColorMap((norm * 255).astype(np.uint8), colormap)[..., ::-1]
    if image is None:
        return np.ascontiguousarray(colour)
    return (image * (1 - alpha) + colour * alpha).astype(np.uint8)


def label_grid(tiles: Sequence[Sequence[np.ndarray]],
               row_labels: Optional[Sequence[str]] = None,
               col_labels: Optional[Sequence[str]] = None,
               title: Optional[str] = None,
               pad: int = GRID_PAD) -> np.ndarray:
    """Lay RGB tiles out on a white grid with row / column labels.

    Column c is as wide as its widest tile, row r as high as its highest; a
    tile sits at the top left of its cell. The canvas is
    ``(title? GRID_TITLE_H) + (col_labels? GRID_HEADER_H) + sum(rows) + pad (R + 1)``
    high and ``(row_labels? GRID_LABEL_W) + sum(cols) + pad (C + 1)`` wide
    (wider if the title needs it).

    Args:
        tiles: R rows of C (h, w, 3) uint8 images.
        row_labels, col_labels: R and C strings, or None for no strip.
        title: one line above everything, or None.

    Returns:
        (H, W, 3) uint8 RGB canvas.
    """
    n_rows, n_cols = len(tiles), len(tiles[0])
    if any(len(row) != n_cols for row in tiles):
        raise ValueError(f'every row needs {n_cols} tiles, got {[len(r) for r in tiles]}')
    row_h = [max(t.shape[0] for t in row) for row in tiles]
    col_w = [max(tiles[r][c].shape[1] for r in range(n_rows)) for c in range(n_cols)]
    left = GRID_LABEL_W if row_labels is not None else 0
    top = (GRID_TITLE_H if title else 0) + (GRID_HEADER_H if col_labels is not None else 0)
    height = top + sum(row_h) + pad * (n_rows + 1)
    width = left + sum(col_w) + pad * (n_cols + 1)
    if title:
        width = max(width, cv2.getTextSize(title, _FONT, 0.4, 1)[0][0] + 8)
    canvas = np.full((height, width, 3), 255, np.uint8)
    if title:
        _put_text(canvas, title, 4, GRID_TITLE_H - 5)
    ys = top + pad + np.concatenate(([0], np.cumsum(np.add(row_h, pad))))
    xs = left + pad + np.concatenate(([0], np.cumsum(np.add(col_w, pad))))
    for c in range(n_cols):
        if col_labels is not None:
            # clipped to the column, so that labels of narrow columns do not overlap
            strip = canvas[top - GRID_HEADER_H:top, xs[c]:xs[c] + col_w[c]].copy()
            _put_text(strip, col_labels[c], 2, GRID_HEADER_H - 4)
            canvas[top - GRID_HEADER_H:top, xs[c]:xs[c] + col_w[c]] = strip
        for r in range(n_rows):
            tile = tiles[r][c]
            canvas[ys[r]:ys[r] + tile.shape[0], xs[c]:xs[c] + tile.shape[1]] = tile
    if row_labels is not None:
        for r in range(n_rows):
            _put_text(canvas, row_labels[r], 4, int(ys[r]) + min(row_h[r], 30) // 2 + 4)
    return canvas


def cls_attention_grid(image: np.ndarray, maps: Dict[int, np.ndarray], tile: int = 96,
                       patch_size: Optional[int] = None, alpha: float = 0.6) -> np.ndarray:
    """[CLS] attention of every layer and head, over the image.

    Args:
        image: (H, W, 3) uint8 RGB, the network input.
        maps: {layer: (K, h, w)} [CLS]-to-patch attention (one image).
        tile: long side of each tile in px.
        patch_size: pixels per patch (exact placement, see :func:`upsample_map`).

    Returns:
        :func:`label_grid` canvas, rows = layers (sorted), columns = heads;
        each map is scaled to its own maximum.
    """
    size = fit_size(image.shape[:2], tile)
    rows = []
    for layer in sorted(maps):
        rows.append([cv2.resize(heatmap(upsample_map(m, image.shape[:2], patch_size,
                                                     cv2.INTER_LINEAR), image, alpha),
                                size[::-1], interpolation=cv2.INTER_AREA)
                     for m in maps[layer]])
    n_heads = max(len(r) for r in rows)
    return label_grid(rows, [f'layer {i}' for i in sorted(maps)],
                      [f'head {k}' for k in range(n_heads)])


def _rep_colours(m: int) -> np.ndarray:
    """m distinct saturated RGB colours (hues spread over the circle)."""
    hsv = np.stack([np.arange(m) * 180 // max(m, 1), np.full(m, 255), np.full(m, 255)], -1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0]


def cbsa_extraction_figure(image: np.ndarray, maps: np.ndarray, cells: np.ndarray,
                           centroids: np.ndarray, rep_grid: Sequence[int],
                           patch_size: Optional[int] = None, map_size: int = 32,
                           title: Optional[str] = None) -> np.ndarray:
    """Where the representatives of one CBSA layer start and what they extract.

    One row per head with two panels:

    * the image with the (rh x rw) pooling cells each representative starts
      from (thin white grid, a hollow circle at each cell centre) and a line
      to the A-weighted centroid of its extraction map (filled dot), one
      colour per representative;
    * the extraction maps, rows of ``A = softmax_N(Q_0 W^T / sqrt p)`` on the
      patch grid, arranged as the (rh x rw) grid of representatives, each
      scaled to its own maximum, with its starting cell outlined in white and
      a frame in the representative's colour.

    Args:
        image: (H, W, 3) uint8 RGB network input.
        maps: (K, m, h, w) extraction maps of one image.
        cells: (m, 4) starting cells (y0, x0, y1, x1) in patch units.
        centroids: (K, m, 2) (y, x) in patch units.
        rep_grid: (rh, rw).
        patch_size: pixels per patch; None stretches the grid over the image.
        map_size: long side of each small map in px.

    Returns:
        :func:`label_grid` canvas: K rows, each ``rh (s + 3) + 1`` px high for
        small maps of height s (a 1 px frame around each, 1 px gaps).
    """
    n_heads, m, h, w = maps.shape
    rh, rw = rep_grid
    if rh * rw != m:
        raise ValueError(f'{m} maps do not fill a {rh}x{rw} representative grid')
    img_h, img_w = image.shape[:2]
    # pixels per patch on the input image
    sy, sx = (patch_size, patch_size) if patch_size else (img_h / h, img_w / w)
    small = fit_size(image.shape[:2], map_size)
    fy, fx = small[0] / img_h, small[1] / img_w
    colours = _rep_colours(m)
    grey = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, -1)
    rows = []
    for k in range(n_heads):
        tiles = []
        for j in range(m):
            tile = cv2.resize(heatmap(upsample_map(maps[k, j], (img_h, img_w), patch_size),
                                      grey, alpha=0.75),
                              small[::-1], interpolation=cv2.INTER_AREA)
            y0, x0, y1, x1 = cells[j]
            cv2.rectangle(tile, (int(x0 * sx * fx), int(y0 * sy * fy)),
                          (int(x1 * sx * fx) - 1, int(y1 * sy * fy) - 1), (255, 255, 255), 1)
            framed = np.empty((small[0] + 2, small[1] + 2, 3), np.uint8)
            framed[:] = colours[j]
            framed[1:-1, 1:-1] = tile
            tiles.append(framed)
        mosaic = label_grid([tiles[i * rw:(i + 1) * rw] for i in range(rh)], pad=1)
        rows.append([_representatives_panel(image, cells, centroids[k], colours, (sy, sx),
                                            mosaic.shape[0]), mosaic])
    return label_grid(rows, [f'head {k}' for k in range(n_heads)],
                      ['start -> centroid', f'rows of A ({rh}x{rw})'], title=title)


def _representatives_panel(image: np.ndarray, cells: np.ndarray, centroids: np.ndarray,
                           colours: np.ndarray, patch_px: Tuple[float, float],
                           height: int) -> np.ndarray:
    """The image at ``height`` px with start cells and centroids drawn on it."""
    img_h, img_w = image.shape[:2]
    f = height / img_h
    panel = cv2.resize(image, (max(1, round(img_w * f)), height), interpolation=cv2.INTER_AREA)
    panel = (panel * 0.7 + 255 * 0.3).astype(np.uint8)   # lighter, so the marks stand out
    sy, sx = patch_px[0] * f, patch_px[1] * f
    for y0, x0, y1, x1 in cells:
        cv2.rectangle(panel, (int(x0 * sx), int(y0 * sy)), (int(x1 * sx) - 1, int(y1 * sy) - 1),
                      (255, 255, 255), 1)
    for j, (y0, x0, y1, x1) in enumerate(cells):
        colour = tuple(int(v) for v in colours[j])
        start = (int((x0 + x1) / 2 * sx), int((y0 + y1) / 2 * sy))
        end = (int(centroids[j][1] * sx), int(centroids[j][0] * sy))
        cv2.line(panel, start, end, colour, 1, cv2.LINE_AA)
        cv2.circle(panel, start, 3, colour, 1, cv2.LINE_AA)
        cv2.circle(panel, end, 2, colour, -1, cv2.LINE_AA)
    return panel
