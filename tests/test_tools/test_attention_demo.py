"""demo/attention_demo.py end to end: [CLS] grids and CBSA representative
figures from configs, with colour bars, under one progress bar."""
import os
import runpy
import subprocess
import sys

import cv2
import numpy as np
import pytest

import mmseg_cbsa  # noqa: F401  (registers modules)
from mmseg_cbsa.apps.demos import CLS_TITLE
from mmseg_cbsa.visualization import (COLOUR_BAR_W, GRID_HEADER_H, GRID_LABEL_W, GRID_PAD,
                                      GRID_TITLE_H, colour_bar, fit_size)

CONFIGS = {
    name: f'tests/data/configs/{name}.py'
    for name in ('tiny_cbt', 'tiny_cbt_backbone', 'tiny_cbt_nocls')
}
# A 32x48 image; the configs' test pipeline resizes it to 85x128 (keep ratio,
# scale 128), a 11x16 grid of 8-pixel patches. (64, 96) and SMALL_H are that
# input fitted to the default --tile 96 and --map-size 64.
IMG_HW, INPUT_HW, TILE_HW = (32, 48), (85, 128), (64, 96)
SMALL_H = fit_size(INPUT_HW, 64)[0]
CLS_TITLE_H = GRID_TITLE_H * len(CLS_TITLE.split('\n'))
CBSA_TITLE_H = 3 * GRID_TITLE_H  # layer, what a tile shows, what the box is


@pytest.fixture(scope='module')
def assets(tmp_path_factory, repo_root):
    """Random-weight checkpoints of the tiny configs and two 32x48 images."""
    from mmseg.apis import init_model

    from mmseg_cbsa.utils import save_checkpoint_file
    tmp = tmp_path_factory.mktemp('attention_demo')
    ckpts = {}
    for name, cfg in CONFIGS.items():
        model = init_model(os.path.join(repo_root, cfg), None, device='cpu')
        ckpts[name] = str(tmp / f'{name}.pth')
        save_checkpoint_file(model.state_dict(), ckpts[name], meta={})
    rng = np.random.RandomState(0)
    images = []
    for i in range(2):
        images.append(tmp / 'images' / f'img{i}.png')
        images[-1].parent.mkdir(exist_ok=True)
        cv2.imwrite(str(images[-1]), rng.randint(0, 256, (*IMG_HW, 3), dtype=np.uint8))
    return dict(ckpts=ckpts, images=images)


def _run_demo(repo_root, monkeypatch, capsys, *argv, with_err=False):
    """demo/attention_demo.py in this process (the imports are paid once):
    its stdout (and stderr)."""
    monkeypatch.chdir(repo_root)
    monkeypatch.syspath_prepend(os.path.join(repo_root, 'demo'))
    monkeypatch.setattr(sys, 'argv', ['attention_demo.py', *map(str, argv)])
    runpy.run_path(os.path.join(repo_root, 'demo', 'attention_demo.py'), run_name='__main__')
    out, err = capsys.readouterr()
    return (out, err) if with_err else out


def progress_bars(stderr: str, total: int):
    """The lines of ``stderr`` that show mmengine's progress bar over ``total``
    tasks (updates within one line are separated by carriage returns)."""
    return [line for line in stderr.split('\n') if f'/{total}, ' in line]


def _cls_grid_shape(layers, heads):
    """(height, width) of the grid under the title, colour bar excluded."""
    return (GRID_HEADER_H + layers * (TILE_HW[0] + GRID_PAD) + GRID_PAD,
            GRID_LABEL_W + heads * (TILE_HW[1] + GRID_PAD) + GRID_PAD)


def _check_cls_grid(picture, layers, heads):
    """Title, grid, and the colour bar right of the grid (below the header)."""
    grid_h, grid_w = _cls_grid_shape(layers, heads)
    assert picture.shape[0] == CLS_TITLE_H + grid_h
    assert picture.shape[1] >= grid_w + COLOUR_BAR_W
    bar = picture[CLS_TITLE_H + GRID_HEADER_H:, grid_w:grid_w + COLOUR_BAR_W, ::-1]
    np.testing.assert_array_equal(bar, colour_bar(grid_h - GRID_HEADER_H))


def _cbsa_figure_height(heads, rh):
    row = rh * (SMALL_H + 1) + 1  # tiles with 1 px gaps
    return CBSA_TITLE_H + heads * (row + GRID_PAD) + GRID_PAD


def _read(path):
    img = cv2.imread(str(path))
    assert img is not None, f'{path} does not decode'
    return img


@pytest.mark.slow
def test_demo_command_line_vit_with_cbt_head(assets, repo_root, tmp_path):
    """ViT (MHSA, [CLS]) encoder + CBT head: one [CLS] grid, one CBSA picture."""
    res = subprocess.run([
        sys.executable, 'demo/attention_demo.py', CONFIGS['tiny_cbt'], assets['ckpts']['tiny_cbt'],
        str(assets['images'][0]), '--out',
        str(tmp_path)
    ],
                         cwd=repo_root,
                         capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    written = [line for line in res.stdout.splitlines() if line.endswith('.png')]
    assert written == [
        str(tmp_path / 'cls_attention.png'),
        str(tmp_path / 'cbsa_decode_head_layer0.png')
    ]
    cls = _read(tmp_path / 'cls_attention.png')
    _check_cls_grid(cls, layers=1, heads=2)
    # each tile is a heat map over the image, not a blank
    tile = cls[CLS_TITLE_H + GRID_HEADER_H + GRID_PAD:,
               GRID_LABEL_W + GRID_PAD:][:TILE_HW[0], :TILE_HW[1]]
    assert tile.std() > 5
    cbsa = _read(tmp_path / 'cbsa_decode_head_layer0.png')
    assert cbsa.shape[0] == _cbsa_figure_height(heads=2, rh=2)


def test_demo_cbt_backbone_layers_and_several_images(assets, repo_root, tmp_path, monkeypatch,
                                                     capsys):
    """CBT encoder: CBSA pictures for the chosen encoder blocks and the head;
    several images go to one folder each, under one progress bar."""
    out, err = _run_demo(
        repo_root,
        monkeypatch,
        capsys,
        CONFIGS['tiny_cbt_backbone'],
        assets['ckpts']['tiny_cbt_backbone'],
        assets['images'][0].parent,
        '--out',
        tmp_path,
        '--layers',
        '-1',
        with_err=True)
    bars = progress_bars(err, 2)
    assert len(bars) == 1, err
    updates = [u.split(']')[1].split(',')[0].strip() for u in bars[0].split('\r')]
    assert updates == ['0/2', '1/2', '2/2']
    for stem in ('img0', 'img1'):
        folder = tmp_path / stem
        assert sorted(p.name for p in folder.iterdir()) == [
            'cbsa_backbone_layer1.png', 'cbsa_decode_head_layer0.png', 'cls_attention.png'
        ]
        assert str(folder / 'cbsa_backbone_layer1.png') in out
        _check_cls_grid(_read(folder / 'cls_attention.png'), layers=1, heads=2)
        for name in ('cbsa_backbone_layer1.png', 'cbsa_decode_head_layer0.png'):
            assert _read(folder / name).shape[0] == _cbsa_figure_height(heads=2, rh=2)


def test_demo_without_cls_token_skips_the_cls_grid(assets, repo_root, tmp_path, monkeypatch,
                                                   capsys):
    out = _run_demo(repo_root, monkeypatch, capsys, CONFIGS['tiny_cbt_nocls'],
                    assets['ckpts']['tiny_cbt_nocls'], assets['images'][0], '--out', tmp_path)
    assert 'skipping cls_attention.png: MixVisionTransformer has no [CLS] token' in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cbsa_decode_head_layer0.png']


def test_demo_refuses_layers_the_encoder_does_not_have(assets, repo_root, tmp_path, monkeypatch,
                                                       capsys):
    with pytest.raises(ValueError, match=r'--layers \[2\]: CBT has 2 blocks'):
        _run_demo(repo_root, monkeypatch, capsys, CONFIGS['tiny_cbt_backbone'],
                  assets['ckpts']['tiny_cbt_backbone'], assets['images'][0], '--out',
                  tmp_path / 'out', '--layers', '0', '2')
    assert not (tmp_path / 'out').exists()
