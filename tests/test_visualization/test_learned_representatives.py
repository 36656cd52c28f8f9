"""Learned representatives (``rep_init='learned'``) are pooled from no patch
cell: the recorder says so, and the pictures draw no cell outline for them."""
import cv2
import numpy as np
import pytest
import torch

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.analysis.attention_maps import AttentionRecorder
from mmseg_cbsa.apps.demos import draw_attention_maps, extraction_title
from mmseg_cbsa.models.attentions import CBSA
from mmseg_cbsa.visualization import cbsa_extraction_figure, extraction_tile

WHITE = (255, 255, 255)


def _image_and_map():
    rng = np.random.RandomState(0)
    return (rng.randint(0, 200, (32, 48, 3)).astype(np.uint8), rng.rand(4, 6).astype(np.float32))


@pytest.mark.parametrize('rep_init, cells', [('pool', True), ('learned', False)])
def test_recorder_gives_cells_only_for_pooled_representatives(rep_init, cells):
    layer = CBSA(16, num_heads=2, rep_grid=2, rep_init=rep_init).eval()
    with torch.no_grad(), AttentionRecorder(layer) as rec:
        layer(torch.randn(1, 4 * 6, 16), (4, 6), 0)
    (ext, ) = rec.extractions
    assert ext.rep_init == rep_init
    assert (ext.cells() is not None) == cells
    if cells:
        assert ext.cells().shape == (4, 4)


def test_tile_without_a_cell_has_no_outline():
    image, amap = _image_and_map()
    outlined = extraction_tile(image, amap, (1, 2, 3, 4), 96, 8)
    plain = extraction_tile(image, amap, None, 96, 8)
    assert outlined.shape == plain.shape
    differ = (outlined != plain).any(-1)
    # exactly the outline differs: patches y 1..2, x 2..3 of 8 px at scale 2
    ys, xs = np.nonzero(differ)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (16, 47, 32, 63)
    assert (outlined[differ] == WHITE).all()
    assert not differ[20:44, 36:60].any()  # the inside is left alone


def test_figure_without_cells_draws_each_tile_plain():
    image, amap = _image_and_map()
    maps = np.stack([np.stack([amap] * 4)] * 2)  # (K=2, m=4, h, w)
    cells = np.array([[0, 0, 2, 3], [0, 3, 2, 6], [2, 0, 4, 3], [2, 3, 4, 6]])
    plain = cbsa_extraction_figure(image, maps, None, (2, 2), 8)
    outlined = cbsa_extraction_figure(image, maps, cells, (2, 2), 8)
    assert plain.shape == outlined.shape
    tile = extraction_tile(image, amap, None, 64, 8, number=3)
    found = cv2.matchTemplate(plain, tile, cv2.TM_SQDIFF).min()
    assert found == 0  # tile 3 as drawn without a cell
    assert cv2.matchTemplate(outlined, tile, cv2.TM_SQDIFF).min() > 0


@pytest.fixture(scope='module')
def learned_model(tmp_path_factory, repo_root):
    """tiny_cbt with learned representatives in its CBT head, random weights."""
    from mmseg.apis import init_model

    from mmseg_cbsa.utils import save_checkpoint_file
    tmp = tmp_path_factory.mktemp('learned')
    config = tmp / 'learned.py'
    config.write_text(f"_base_ = ['{repo_root}/tests/data/configs/tiny_cbt.py']\n"
                      "model = dict(decode_head=dict(attn_cfg=dict(rep_init='learned')))\n")
    model = init_model(str(config), None, device='cpu')
    assert model.decode_head.layers[0].attn.representatives.shape == (2, 4, 8)
    ckpt = tmp / 'learned.pth'
    save_checkpoint_file(model.state_dict(), str(ckpt), meta={})
    return str(config), str(ckpt)


def test_attention_demo_on_a_learned_head(learned_model, tmp_path):
    img = tmp_path / 'img.png'
    cv2.imwrite(str(img), np.random.RandomState(1).randint(0, 256, (32, 48, 3), np.uint8))
    written = draw_attention_maps(*learned_model, [str(img)], str(tmp_path / 'out'))
    assert [p.rsplit('/', 1)[-1]
            for p in written] == ['cls_attention.png', 'cbsa_decode_head_layer0.png']


def test_web_demo_draws_a_learned_representative_without_a_cell(learned_model):
    from mmseg_cbsa.apps.web_demo import PICTURE_SIZE, WebDemo
    demo = WebDemo(*learned_model)
    analysis = demo.analyse(np.random.RandomState(2).randint(0, 256, (24, 40, 3), np.uint8))
    (ext, ) = analysis.extractions
    assert ext.rep_init == 'learned' and ext.cells() is None
    assert 'learned representatives (no starting patches)' in extraction_title(ext)
    picture = demo.representative_picture(analysis, 0, 1, 2)
    amap = ext.maps[0, 1, 2].numpy()
    tile = extraction_tile(
        analysis.network_input, amap, None, PICTURE_SIZE, demo.patch_size, number=2)
    assert cv2.matchTemplate(picture, tile, cv2.TM_SQDIFF).min() == 0
    pooled_cell = (0, 0, 1, 1)  # what an outline would have drawn on the first patch
    outlined = extraction_tile(
        analysis.network_input, amap, pooled_cell, PICTURE_SIZE, demo.patch_size, number=2)
    assert cv2.matchTemplate(picture, outlined, cv2.TM_SQDIFF).min() > 0
