"""Attention pictures: [CLS] attention grids and CBSA extraction maps, each
with a colour bar saying what its colours mean."""
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

#: white gap between tiles, height of the column-label strip, width of the
#: row-label strip and height of one title line of :func:`label_grid` (px)
GRID_PAD = 2
GRID_HEADER_H = 16
GRID_LABEL_W = 56
GRID_TITLE_H = 18
_BAR_W = 12
_BAR_LABELS = ('max', 'max/2', '0')
_BAR_TEXT_X = 6 + _BAR_W
_BAR_SCALE = 0.3
_FONT = cv2.FONT_HERSHEY_SIMPLEX
#: most tiles :func:`cbsa_extraction_figure` draws, all heads together: two
#: heads of 8x8 representatives are drawn whole
MAX_TILES = 128


def _text_width(text: str, scale: float = 0.4) -> int:
    return cv2.getTextSize(text, _FONT, scale, 1)[0][0]


def colour_bar_width(labels: Sequence[str] = _BAR_LABELS) -> int:
    """Width (px) of a :func:`colour_bar` with these labels: the bar, a gap,
    the widest label and a 3 px margin, so that no label is cut at the edge."""
    return _BAR_TEXT_X + max(_text_width(text, _BAR_SCALE) for text in labels) + 3


#: width of the strip :func:`append_colour_bar` adds with the default labels (px)
COLOUR_BAR_W = colour_bar_width()


def _put_text(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.4) -> None:
    cv2.putText(canvas, text, (x, y), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


def fit_size(hw: Sequence[int], long_side: int) -> Tuple[int, int]:
    """(H, W) scaled so that its longer side is ``long_side`` px."""
    h, w = hw
    s = long_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def upsample_map(amap: np.ndarray,
                 image_hw: Sequence[int],
                 patch_size: Optional[int] = None,
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
    big = cv2.resize(amap, (big_w, big_h), interpolation=interpolation)
    return big[:image_hw[0], :image_hw[1]]


def heatmap(amap: np.ndarray,
            image: Optional[np.ndarray] = None,
            alpha: float = 0.6,
            colormap: int = cv2.COLORMAP_INFERNO) -> np.ndarray:
    """Colour a non-negative map, scaled to its own maximum, over an image.

    Args:
        amap: (H, W) map, already at the image's size.
        image: (H, W, 3) uint8 RGB, or None for the colours alone.
        alpha: weight of the colours over the image.

    Returns:
        (H, W, 3) uint8 RGB: ``(1 - alpha) image + alpha colormap(amap / max amap)``.
    """
    amap = np.asarray(amap, dtype=np.float32)
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
               pad: int = GRID_PAD,
               fit_col_labels: bool = False) -> np.ndarray:
    """Lay RGB tiles out on a white grid with row / column labels.

    Column c is as wide as its widest tile (or, with ``fit_col_labels``, as
    its label if that is wider; otherwise the label is cut at the column's
    edge), row r as high as its highest; a tile sits at the top left of its
    cell. The canvas is
    ``GRID_TITLE_H (title lines) + (col_labels? GRID_HEADER_H) + sum(rows) + pad (R + 1)``
    high and ``(row_labels? GRID_LABEL_W) + sum(cols) + pad (C + 1)`` wide
    (wider if the title needs it).

    Args:
        tiles: R rows of C (h, w, 3) uint8 images.
        row_labels, col_labels: R and C strings, or None for no strip.
        title: text above everything, one strip per line (``\\n``), or None.

    Returns:
        (H, W, 3) uint8 RGB canvas.
    """
    n_rows, n_cols = len(tiles), len(tiles[0])
    if any(len(row) != n_cols for row in tiles):
        raise ValueError(f'every row needs {n_cols} tiles, got {[len(r) for r in tiles]}')
    row_h = [max(t.shape[0] for t in row) for row in tiles]
    col_w = [max(tiles[r][c].shape[1] for r in range(n_rows)) for c in range(n_cols)]
    if fit_col_labels and col_labels is not None:
        col_w = [max(w, _text_width(label) + 4) for w, label in zip(col_w, col_labels)]
    left = GRID_LABEL_W if row_labels is not None else 0
    lines = title.split('\n') if title else []
    top = GRID_TITLE_H * len(lines) + (GRID_HEADER_H if col_labels is not None else 0)
    height = top + sum(row_h) + pad * (n_rows + 1)
    width = left + sum(col_w) + pad * (n_cols + 1)
    for line in lines:
        width = max(width, _text_width(line) + 8)
    canvas = np.full((height, width, 3), 255, np.uint8)
    for i, line in enumerate(lines):
        _put_text(canvas, line, 4, GRID_TITLE_H * (i + 1) - 5)
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


def colour_bar(height: int,
               colormap: int = cv2.COLORMAP_INFERNO,
               labels: Sequence[str] = _BAR_LABELS) -> np.ndarray:
    """A vertical key of :func:`heatmap`'s colours: ``colormap`` from 1 (top)
    to 0 (bottom), with ``labels`` spread evenly from top to bottom (the
    middle ones dropped when the bar is too short for them).

    Returns:
        (height, colour_bar_width(labels), 3) uint8 RGB (``COLOUR_BAR_W``
        wide with the default labels), white around the bar.
    """
    strip = np.full((height, colour_bar_width(labels), 3), 255, np.uint8)
    if height < 3:
        return strip
    ramp = np.linspace(1, 0, height - 2, dtype=np.float32)[:, None].repeat(_BAR_W, 1)
    strip[1:-1, 2:2 + _BAR_W] = heatmap(ramp, colormap=colormap)
    cv2.rectangle(strip, (1, 0), (3 + _BAR_W, height - 1), (0, 0, 0), 1)
    if height < 12 * len(labels):
        labels = [labels[0], labels[-1]]
    for i, text in enumerate(labels):
        y = 9 + round(i * (height - 12) / max(1, len(labels) - 1))
        _put_text(strip, text, _BAR_TEXT_X, y, _BAR_SCALE)
    return strip


def append_colour_bar(canvas: np.ndarray, top: int = 0, **bar_kwargs) -> np.ndarray:
    """``canvas`` with a :func:`colour_bar` on its right, from row ``top``
    (below titles and headers) to the bottom.

    Returns:
        (H, W + the bar's width, 3) uint8 RGB (``COLOUR_BAR_W`` with the
        default labels).
    """
    h = canvas.shape[0]
    bar = colour_bar(h - top, **bar_kwargs)
    out = np.full((h, canvas.shape[1] + bar.shape[1], 3), 255, np.uint8)
    out[:, :canvas.shape[1]] = canvas
    out[top:, canvas.shape[1]:] = bar
    return out


def attention_overlay(image: np.ndarray,
                      amap: np.ndarray,
                      long_side: int,
                      patch_size: Optional[int] = None,
                      alpha: float = 0.6,
                      interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """One patch-grid map over the image, scaled to its own maximum
    (:func:`heatmap`), at ``long_side`` px.

    Args:
        image: (H, W, 3) uint8 RGB network input.
        amap: (h, w) map on the patch grid.
        patch_size: pixels per patch (exact placement, see :func:`upsample_map`).

    Returns:
        (fit_size(H, W, long_side), 3) uint8 RGB.
    """
    size = fit_size(image.shape[:2], long_side)
    over = heatmap(upsample_map(amap, image.shape[:2], patch_size, interpolation), image, alpha)
    return cv2.resize(over, size[::-1], interpolation=cv2.INTER_AREA)


def cls_attention_grid(image: np.ndarray,
                       maps: Dict[int, np.ndarray],
                       tile: int = 96,
                       patch_size: Optional[int] = None,
                       alpha: float = 0.6,
                       colour_bar: bool = False,
                       title: Optional[str] = None) -> np.ndarray:
    """[CLS] attention of every layer and head, over the image.

    Args:
        image: (H, W, 3) uint8 RGB, the network input.
        maps: {layer: (K, h, w)} [CLS]-to-patch attention (one image).
        tile: long side of each tile in px.
        patch_size: pixels per patch (exact placement, see :func:`upsample_map`).
        colour_bar: append the colours' key (:func:`append_colour_bar`,
            ``COLOUR_BAR_W`` px wider).
        title: text above the grid, ``GRID_TITLE_H`` px per line (see
            :func:`label_grid`).

    Returns:
        :func:`label_grid` canvas, rows = layers (sorted), columns = heads;
        each map is scaled to its own maximum.
    """
    rows = [[attention_overlay(image, m, tile, patch_size, alpha) for m in maps[layer]]
            for layer in sorted(maps)]
    n_heads = max(len(r) for r in rows)
    canvas = label_grid(rows, [f'layer {i}' for i in sorted(maps)],
                        [f'head {k}' for k in range(n_heads)])
    if colour_bar:
        canvas = append_colour_bar(canvas, GRID_HEADER_H)
    return label_grid([[canvas]], title=title, pad=0) if title else canvas


def extraction_tile(image: np.ndarray,
                    amap: np.ndarray,
                    cell: Optional[Sequence[int]],
                    long_side: int,
                    patch_size: Optional[int] = None,
                    number: Optional[int] = None) -> np.ndarray:
    """One representative's extraction map over the (grey) image.

    The map (a row of ``A`` on the (h, w) patch grid) is coloured by
    :func:`heatmap` to its own maximum over a grey copy of the image, the
    patch cell the representative is pooled from (its starting point) is
    outlined in white (learned representatives have none: ``cell=None``),
    and ``number`` is written in the top left corner.

    Args:
        image: (H, W, 3) uint8 RGB network input.
        amap: (h, w) extraction map.
        cell: (y0, x0, y1, x1) starting cell in patch units, end-exclusive,
            or None (no outline).
        long_side: long side of the tile, px.
        patch_size: pixels per patch; None stretches the grid over the image.

    Returns:
        (fit_size(H, W, long_side), 3) uint8 RGB.
    """
    img_h, img_w = image.shape[:2]
    h, w = amap.shape
    grey = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, -1)
    tile = attention_overlay(
        grey, amap, long_side, patch_size, alpha=0.75, interpolation=cv2.INTER_NEAREST)
    sy, sx = (patch_size, patch_size) if patch_size else (img_h / h, img_w / w)
    fy, fx = tile.shape[0] / img_h, tile.shape[1] / img_w
    if cell is not None:
        y0, x0, y1, x1 = (int(v) for v in cell)
        cv2.rectangle(tile, (int(x0 * sx * fx), int(y0 * sy * fy)),
                      (max(0,
                           int(x1 * sx * fx) - 1), max(0,
                                                       int(y1 * sy * fy) - 1)), (255, 255, 255), 1)
    if number is not None:
        text = str(number)
        (tw, th), _ = cv2.getTextSize(text, _FONT, 0.35, 1)
        cv2.rectangle(tile, (0, 0), (tw + 3, th + 4), (255, 255, 255), -1)
        _put_text(tile, text, 1, th + 2, 0.35)
    return tile


def distinct_representatives(maps: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` of one head's extraction maps that differ most from the
    head's mean map: those that extract something of their own, where the
    others extract about the same (often the background).

    Each map is normalised to sum 1 over the patches (its mass on other
    tokens left out) and scored by its total variation distance to the
    mean of the normalised maps, ``0.5 sum |p_j - mean_i p_i|``; ties go
    to the lower index.

    Args:
        maps: (m, h, w) extraction maps of one head.
        k: how many to pick (all when ``k >= m``).

    Returns:
        (min(k, m),) representative indices, ascending.
    """
    flat = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1)
    mass = flat.sum(1, keepdims=True)
    p = flat / np.where(mass > 0, mass, 1)
    score = 0.5 * np.abs(p - p.mean(0)).sum(1)
    return np.sort(np.argsort(-score, kind='stable')[:k])


def cbsa_extraction_figure(image: np.ndarray,
                           maps: np.ndarray,
                           cells: Optional[np.ndarray],
                           rep_grid: Sequence[int],
                           patch_size: Optional[int] = None,
                           map_size: int = 64,
                           title: Optional[str] = None,
                           max_tiles: int = MAX_TILES) -> np.ndarray:
    """What each representative of one CBSA layer extracts, over the image.

    One row per head; in it, the layer's m = rh x rw representatives as a
    rh x rw grid of numbered tiles (0 .. m-1, row-major, the order of the
    rows of ``A``). Tile j is :func:`extraction_tile`: row j of
    ``A = softmax_N(Q0 W^T / sqrt p)`` on the patch grid over the image,
    scaled to its own maximum, with the cell representative j is pooled
    from outlined in white (none for learned representatives). A colour bar
    on the right is the key.

    When the K heads hold more than ``max_tiles`` representatives in all
    (three heads of 10x10 would be 300 tiles), each head shows only its
    ``k = max_tiles // K`` :func:`distinct_representatives`, still numbered
    j, in index order on a ``ceil(sqrt k)``-column grid, and a last title
    line says so (``k of m representatives per head``).

    Args:
        image: (H, W, 3) uint8 RGB network input.
        maps: (K, m, h, w) extraction maps of one image.
        cells: (m, 4) starting cells (y0, x0, y1, x1) in patch units; None
            for learned representatives (no outlines).
        rep_grid: (rh, rw).
        patch_size: pixels per patch; None stretches the grid over the image.
        map_size: long side of each tile, px.
        title: text above the figure, ``GRID_TITLE_H`` px per line (see
            :func:`label_grid`).
        max_tiles: most tiles drawn, all heads together (at least one per head).

    Returns:
        (H', W', 3) uint8 RGB: the title, below it :func:`label_grid` of K
        rows, each ``rh (s + 1) + 1`` px high for tiles of height s (1 px
        gaps) when every representative is drawn, and the colour bar
        (``COLOUR_BAR_W`` px) on its right.
    """
    n_heads, m, h, w = maps.shape
    rh, rw = rep_grid
    if rh * rw != m:
        raise ValueError(f'{m} maps do not fill a {rh}x{rw} representative grid')
    if cells is not None and len(cells) != m:
        raise ValueError(f'{len(cells)} starting cells for {m} representatives')
    per_head = max(1, max_tiles // n_heads)
    cols = rw if m <= per_head else int(np.ceil(np.sqrt(per_head)))
    rows = []
    for k in range(n_heads):
        shown = range(m) if m <= per_head else distinct_representatives(maps[k], per_head)
        tiles = [
            extraction_tile(
                image,
                maps[k, j],
                None if cells is None else cells[j],
                map_size,
                patch_size,
                number=int(j)) for j in shown
        ]
        # blank cells complete the last row of a shortened grid
        tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % cols)
        rows.append([label_grid([tiles[i:i + cols] for i in range(0, len(tiles), cols)], pad=1)])
    canvas = append_colour_bar(label_grid(rows, [f'head {k}' for k in range(n_heads)]))
    if m > per_head:
        note = (f'{per_head} of {m} representatives per head: those whose maps '
                "differ most from the head's mean")
        title = f'{title}\n{note}' if title else note
    return label_grid([[canvas]], title=title, pad=0) if title else canvas
