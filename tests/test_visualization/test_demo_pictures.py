"""The demos' pictures: colour bars, numbered representative figures (cut
to the most distinct representatives for large grids) and the
input | prediction | ground truth layout (mmseg_cbsa/visualization)."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmseg_cbsa.visualization.attention as attention
from mmseg_cbsa.models.attentions.representatives import representative_cells
from mmseg_cbsa.visualization import (COLOUR_BAR_W, GRID_HEADER_H, GRID_LABEL_W, GRID_PAD,
                                      GRID_TITLE_H, MAX_TILES, append_colour_bar,
                                      cbsa_extraction_figure, cls_attention_grid, colour_bar,
                                      distinct_representatives, extraction_tile, fit_size, heatmap,
                                      input_prediction_truth, label_grid, standalone_visualizer)
from tests.drawn_texts import record_texts


def test_colour_bar_runs_from_the_top_colour_to_the_bottom_one():
    bar = colour_bar(100)
    assert bar.shape == (100, COLOUR_BAR_W, 3)
    column = bar[1:-1, 2 + attention._BAR_W // 2]
    ramp = heatmap(np.linspace(1, 0, 98, dtype=np.float32)[:, None])[:, 0]
    np.testing.assert_array_equal(column, ramp)
    # the labels are drawn right of the bar
    assert (bar[:, 3 + attention._BAR_W + 1:] < 128).any()


def test_append_colour_bar_keeps_the_picture_and_starts_below_top():
    canvas = np.zeros((50, 30, 3), np.uint8)
    out = append_colour_bar(canvas, top=10)
    assert out.shape == (50, 30 + COLOUR_BAR_W, 3)
    np.testing.assert_array_equal(out[:, :30], canvas)
    assert (out[:10, 30:] == 255).all()
    np.testing.assert_array_equal(out[10:, 30:], colour_bar(40))


def test_cls_grid_with_colour_bar_and_title():
    image = np.zeros((32, 64, 3), np.uint8)
    maps = {0: np.random.rand(2, 4, 8)}
    plain = cls_attention_grid(image, maps, tile=64, patch_size=8)
    framed = cls_attention_grid(image, maps, tile=64, patch_size=8, colour_bar=True, title='a\nb')
    assert framed.shape[0] == 2 * GRID_TITLE_H + plain.shape[0]
    assert framed.shape[1] >= plain.shape[1] + COLOUR_BAR_W
    np.testing.assert_array_equal(framed[2 * GRID_TITLE_H:, :plain.shape[1]], plain)


def _rep_inputs(heads=2, grid=(2, 3), hw=(6, 9), patch=4):
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (hw[0] * patch, hw[1] * patch, 3)).astype(np.uint8)
    maps = rng.rand(heads, grid[0] * grid[1], *hw)
    cells = representative_cells(hw, grid).numpy()
    return image, maps, cells


def test_representative_figure_has_m_numbered_tiles_per_head(monkeypatch):
    image, maps, cells = _rep_inputs()
    drawn = record_texts(monkeypatch)
    fig = cbsa_extraction_figure(
        image, maps, cells, (2, 3), patch_size=4, map_size=36, title='layer\nwhat')
    s_h, s_w = fit_size(image.shape[:2], 36)
    on_tiles = [text for text, shape in drawn if shape == (s_h, s_w)]
    assert on_tiles == [str(j) for j in range(6)] * 2  # 0..m-1 for each head
    texts = [text for text, _ in drawn]
    assert 'head 0' in texts and 'head 1' in texts and 'max' in texts
    row_h = 2 * (s_h + 1) + 1  # rh tiles, 1 px gaps
    assert fig.shape[0] == 2 * GRID_TITLE_H + 2 * (row_h + GRID_PAD) + GRID_PAD
    assert fig.shape[1] >= GRID_LABEL_W + 3 * (s_w + 1) + 1 + 2 * GRID_PAD + COLOUR_BAR_W
    # tile j of head 1 is representative j's map over the image
    top = 2 * GRID_TITLE_H + GRID_PAD + row_h + GRID_PAD + 1
    left = GRID_LABEL_W + GRID_PAD + 1
    j = 4  # row 1, column 1 of the grid
    y, x = top + (j // 3) * (s_h + 1), left + (j % 3) * (s_w + 1)
    np.testing.assert_array_equal(fig[y:y + s_h, x:x + s_w],
                                  extraction_tile(image, maps[1, j], cells[j], 36, 4, number=j))


def test_extraction_tile_shows_the_map_and_outlines_the_starting_cell():
    image = np.zeros((16, 16, 3), np.uint8)
    amap = np.zeros((4, 4))
    amap[3, 3] = 1  # all mass on the bottom-right patch
    tile = extraction_tile(image, amap, (0, 2, 2, 4), long_side=16, patch_size=4)
    assert tile.shape == (16, 16, 3)
    assert tile[14, 14].sum() > 300 and tile[6, 2].sum() < 10  # bright where the mass is
    # the cell (patch rows 0-1, columns 2-3) is outlined in white
    assert (tile[7, 8:16] == 255).all() and (tile[0:8, 8] == 255).all()


def test_mismatched_cells_or_grid_are_errors():
    image, maps, cells = _rep_inputs()
    with pytest.raises(ValueError, match='do not fill a 2x2 representative grid'):
        cbsa_extraction_figure(image, maps, cells, (2, 2))
    with pytest.raises(ValueError, match='5 starting cells for 6 representatives'):
        cbsa_extraction_figure(image, maps, cells[:5], (2, 3))


def _sample(pred, gt=None):
    fields = dict(pred_sem_seg=PixelData(data=torch.as_tensor(pred)[None]))
    if gt is not None:
        fields['gt_sem_seg'] = PixelData(data=torch.as_tensor(gt)[None])
    return SegDataSample(**fields)


@pytest.mark.parametrize('with_gt', [False, True])
def test_input_prediction_truth_layout(with_gt):
    vis = standalone_visualizer()
    vis.dataset_meta = dict(
        classes=['a', 'b', 'c'], palette=[[255, 0, 0], [0, 255, 0], [0, 0, 255]])
    image = np.full((20, 30, 3), 100, np.uint8)
    pred = np.zeros((20, 30), np.int64)
    gt = np.full((20, 30), 2, np.int64) if with_gt else None
    canvas = input_prediction_truth(vis, image, _sample(pred, gt), opacity=1.0)
    panels = 3 if with_gt else 2
    grid_h = GRID_HEADER_H + 20 + 2 * GRID_PAD
    legend = 18 * (2 if with_gt else 1) + 6
    assert canvas.shape[:2] == (grid_h + legend, panels * 30 + (panels + 1) * GRID_PAD)
    top = GRID_HEADER_H + GRID_PAD
    np.testing.assert_array_equal(canvas[top:top + 20, GRID_PAD:GRID_PAD + 30], image)
    assert tuple(canvas[top + 5, 2 * GRID_PAD + 30 + 5]) == (255, 0, 0)
    if with_gt:
        assert tuple(canvas[top + 5, 3 * GRID_PAD + 60 + 5]) == (0, 0, 255)
    with pytest.raises(ValueError, match='no prediction'):
        input_prediction_truth(vis, image, SegDataSample())


def _label_ink(strip, x0):
    """Dark pixels right of column ``x0`` (the labels' part of a colour bar)."""
    return int((strip[:, x0:].min(-1) < 128).sum())


@pytest.mark.parametrize('labels', [('max', 'max/2', '0'), ('1.5e-03', '7.5e-04', '0')])
def test_colour_bar_labels_are_not_cut_at_its_edge(labels):
    bar = colour_bar(120, labels=labels)
    x0 = 4 + attention._BAR_W  # right of the bar's frame
    assert (bar[:, -1] == 255).all()
    # the same labels written with room to spare leave as much ink
    roomy = np.full((120, bar.shape[1] + 60, 3), 255, np.uint8)
    for i, text in enumerate(labels):
        attention._put_text(roomy, text, 6 + attention._BAR_W, 9 + round(i * 108 / 2), 0.3)
    assert _label_ink(bar, x0) == _label_ink(roomy, x0)
    assert colour_bar(120).shape[1] == COLOUR_BAR_W


def test_column_labels_can_widen_their_columns():
    tile = np.zeros((10, 12, 3), np.uint8)
    cut = label_grid([[tile, tile]], col_labels=['prediction', 'x'])
    fitted = label_grid([[tile, tile]], col_labels=['prediction', 'x'], fit_col_labels=True)
    assert cut.shape[1] == 2 * 12 + 3 * GRID_PAD
    wide = attention._text_width('prediction') + 4
    assert fitted.shape[1] == wide + 12 + 3 * GRID_PAD
    # the heading's ink all lies in its column, none touches the next one
    header = fitted[:GRID_HEADER_H, GRID_PAD:GRID_PAD + wide]
    roomy = np.full((GRID_HEADER_H, wide + 40, 3), 255, np.uint8)
    attention._put_text(roomy, 'prediction', 2, GRID_HEADER_H - 4)
    assert _label_ink(header, 0) == _label_ink(roomy, 0)


def _planted(heads, m, hw, peaks):
    """Near-uniform maps; representative j of head k peaks on its own patch
    for j in ``peaks[k]``."""
    rng = np.random.RandomState(1)
    maps = 1 + 0.01 * rng.rand(heads, m, *hw)
    for k, reps in enumerate(peaks):
        for j in reps:
            maps[k, j].flat[(7 * j) % (hw[0] * hw[1])] += 50
    return maps


def test_distinct_representatives_are_those_unlike_the_mean():
    maps = _planted(1, 100, (20, 20), [[3, 50, 97]])[0]
    np.testing.assert_array_equal(distinct_representatives(maps, 3), [3, 50, 97])
    np.testing.assert_array_equal(distinct_representatives(maps, 200), np.arange(100))


def _drawn_numbers(monkeypatch, tile_hw, draw):
    """(numbers written on tiles of shape ``tile_hw``, every text) while ``draw()`` runs."""
    drawn = record_texts(monkeypatch)
    out = draw()
    return out, [int(t) for t, shape in drawn if shape == tile_hw], [t for t, _ in drawn]


def test_a_10x10_grid_of_three_heads_shows_a_bounded_number_of_tiles(monkeypatch):
    """300 tiles would be unreadable: at most MAX_TILES are drawn, the title
    says how many and which."""
    hw, patch, rep_grid = (20, 20), 4, (10, 10)
    image = np.random.RandomState(0).randint(0, 256, (80, 80, 3)).astype(np.uint8)
    maps = _planted(3, 100, hw, [[5, 60], [11], [99]])
    cells = representative_cells(hw, rep_grid).numpy()
    s_h, s_w = fit_size(image.shape[:2], 32)
    fig, numbers, texts = _drawn_numbers(
        monkeypatch, (s_h, s_w), lambda: cbsa_extraction_figure(
            image, maps, cells, rep_grid, patch, map_size=32, title='layer\nwhat'))
    per_head = MAX_TILES // 3
    assert len(numbers) == 3 * per_head <= MAX_TILES
    # each head's planted representatives are among those shown, in index order
    shown = [numbers[k * per_head:(k + 1) * per_head] for k in range(3)]
    assert {5, 60} <= set(shown[0]) and 11 in shown[1] and 99 in shown[2]
    assert all(s == sorted(s) for s in shown)
    assert f'{per_head} of 100 representatives per head: those whose maps differ most ' \
        "from the head's mean" in texts
    cols = int(np.ceil(np.sqrt(per_head)))
    row_h = int(np.ceil(per_head / cols)) * (s_h + 1) + 1
    assert fig.shape[0] == 3 * GRID_TITLE_H + 3 * (row_h + GRID_PAD) + GRID_PAD
    grid_w = GRID_LABEL_W + cols * (s_w + 1) + 1 + 2 * GRID_PAD + COLOUR_BAR_W
    assert fig.shape[1] == max(grid_w, max(attention._text_width(t) + 8 for t in texts[-3:]))


def test_max_tiles_picks_the_most_distinct_per_head(monkeypatch):
    hw = (20, 20)
    image = np.zeros((80, 80, 3), np.uint8)
    maps = _planted(3, 100, hw, [[0, 99], [1, 98], [2, 97]])
    s_h, s_w = fit_size(image.shape[:2], 16)
    fig, numbers, _ = _drawn_numbers(
        monkeypatch, (s_h, s_w),
        lambda: cbsa_extraction_figure(image, maps, None, (10, 10), 4, 16, max_tiles=6))
    assert numbers == [0, 99, 1, 98, 2, 97]
