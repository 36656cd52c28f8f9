"""The demos' pictures: colour bars, numbered representative figures and the
input | prediction | ground truth layout (mmseg_cbsa/visualization)."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmseg_cbsa.visualization.attention as attention
from mmseg_cbsa.models.attentions.representatives import representative_cells
from mmseg_cbsa.visualization import (COLOUR_BAR_W, GRID_HEADER_H, GRID_LABEL_W, GRID_PAD,
                                      GRID_TITLE_H, append_colour_bar, cbsa_extraction_figure,
                                      cls_attention_grid, colour_bar, extraction_tile, fit_size,
                                      heatmap, input_prediction_truth, standalone_visualizer)


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
    drawn = []
    real = attention._put_text

    def record(canvas, text, *args, **kwargs):
        drawn.append((text, canvas.shape[:2]))
        real(canvas, text, *args, **kwargs)

    monkeypatch.setattr(attention, '_put_text', record)
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
