"""Attention pictures (mmseg_cbsa/visualization/attention.py)."""
import numpy as np
import pytest

from mmseg_cbsa.visualization import (GRID_HEADER_H, GRID_LABEL_W, GRID_PAD, GRID_TITLE_H,
                                      cls_attention_grid, fit_size, heatmap, label_grid,
                                      upsample_map)


def test_upsample_with_patch_size_is_exact_and_cropped():
    amap = np.arange(6, dtype=np.float32).reshape(2, 3)
    big = upsample_map(amap, (7, 10), patch_size=4)
    assert big.shape == (7, 10)
    assert big[0, 0] == 0 and big[5, 9] == 5 and big[3, 4] == 1


def test_heatmap_scales_to_its_own_maximum():
    amap = np.array([[0.0, 2.0]])
    colours = heatmap(amap)
    assert colours.shape == (1, 2, 3) and colours.dtype == np.uint8
    np.testing.assert_array_equal(heatmap(amap * 10), colours)
    over = heatmap(amap, np.zeros((1, 2, 3), np.uint8), alpha=0.5)
    np.testing.assert_array_equal(over, (colours * 0.5).astype(np.uint8))


def test_label_grid_layout():
    tiles = [[np.zeros((10, 20, 3), np.uint8)] * 3] * 2
    canvas = label_grid(tiles, ['r0', 'r1'], ['a', 'b', 'c'], title='t')
    assert canvas.shape == (GRID_TITLE_H + GRID_HEADER_H + 2 * 10 + 3 * GRID_PAD,
                            GRID_LABEL_W + 3 * 20 + 4 * GRID_PAD, 3)
    with pytest.raises(ValueError, match='every row needs 3 tiles'):
        label_grid([[tiles[0][0]] * 3, [tiles[0][0]]])


def test_cls_grid_has_a_row_per_layer_and_a_column_per_head():
    image = np.zeros((32, 64, 3), np.uint8)
    maps = {0: np.random.rand(2, 4, 8), 5: np.random.rand(2, 4, 8)}
    canvas = cls_attention_grid(image, maps, tile=64, patch_size=8)
    th, tw = fit_size((32, 64), 64)
    assert canvas.shape[:2] == (GRID_HEADER_H + 2 * th + 3 * GRID_PAD,
                                GRID_LABEL_W + 2 * tw + 3 * GRID_PAD)
