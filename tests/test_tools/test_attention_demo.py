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
from tests.demo_runs import random_checkpoint, run_demo

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


def _cbsa_figure_height(heads, rh, small_h=SMALL_H):
    row = rh * (small_h + 1) + 1  # tiles with 1 px gaps
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
    """One line, exit status 1 (was: a ValueError traceback)."""
    run = run_demo(repo_root, monkeypatch, capsys, 'attention_demo.py',
                   CONFIGS['tiny_cbt_backbone'], assets['ckpts']['tiny_cbt_backbone'],
                   assets['images'][0], '--out', tmp_path / 'out', '--layers', '0', '2')
    assert run.code == 1 and 'Traceback' not in run.err
    assert 'error: --layers [2]: CBT has 2 blocks (0..1, or negative)' in run.err
    assert not (tmp_path / 'out').exists()


# Models that are no segmentor: an mmpretrain ImageClassifier and the [CLS]
# probe (tiny versions of configs/classification/cbt-s_... and
# configs/zero_shot/cbt-s_..., both a 1-block CBT on 32x32 inputs).
OTHER_CONFIGS = {
    name: f'tests/data/configs/{name}.py'
    for name in ('tiny_cbt_classifier', 'tiny_cbt_zero_shot')
}
NO_DECODE_HEAD = ("note: {} has no decode head: drawing the encoder's [CLS] attention and "
                  'CBSA maps, no decode-head maps')


@pytest.fixture(scope='module')
def other_ckpts(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp('attention_demo_other')
    return {
        name: random_checkpoint(repo_root, cfg, tmp / f'{name}.pth')
        for name, cfg in OTHER_CONFIGS.items()
    }


@pytest.mark.parametrize(
    'config,checkpoint,model_type,input_hw',
    [
        # the 32x48 image resized and centre-cropped to 32x32
        ('tiny_cbt_classifier', 'tiny_cbt_classifier', 'ImageClassifier', (32, 32)),
        # resized to 43x64 (keep ratio, scale 64)
        ('tiny_cbt_zero_shot', 'tiny_cbt_zero_shot', 'CLSAttentionProbe', (43, 64)),
        # a converted classifier checkpoint (backbone.*, head.fc.*) for the probe
        ('tiny_cbt_zero_shot', 'tiny_cbt_classifier', 'CLSAttentionProbe', (43, 64))
    ])
def test_demo_classifier_and_cls_probe_draw_the_encoder_maps(assets, other_ckpts, repo_root,
                                                             tmp_path, monkeypatch, capsys, config,
                                                             checkpoint, model_type, input_hw):
    """No segmentor: the [CLS] grid and the encoder's CBSA figure, one line
    for the decode-head maps that do not apply (was: TypeError for the
    probe's ``pretrained``, no LoadImageFromNDArray in mmpretrain's scope)."""
    out = _run_demo(repo_root, monkeypatch, capsys, OTHER_CONFIGS[config], other_ckpts[checkpoint],
                    assets['images'][0], '--out', tmp_path)
    assert NO_DECODE_HEAD.format(model_type) in out.splitlines()
    assert sorted(p.name
                  for p in tmp_path.iterdir()) == ['cbsa_backbone_layer0.png', 'cls_attention.png']
    # one block: one row of [CLS] maps; the maps are drawn on the network input
    picture = _read(tmp_path / 'cls_attention.png')
    tile_h = fit_size(input_hw, 96)[0]
    assert picture.shape[0] == CLS_TITLE_H + GRID_HEADER_H + tile_h + 2 * GRID_PAD
    assert _read(tmp_path / 'cbsa_backbone_layer0.png').shape[0] == _cbsa_figure_height(
        heads=2, rh=2, small_h=fit_size(input_hw, 64)[0])


def test_classifier_input_is_its_normalised_rgb_centre_crop(assets, other_ckpts, repo_root):
    """The classifier sees the config's test pipeline and its preprocessor
    (given beside the model in mmpretrain configs), and the drawn input
    undoes both: the RGB image's centre 32x32."""
    from mmseg_cbsa.apps.demos import attention_model, read_image, record_attention
    config = os.path.join(repo_root, OTHER_CONFIGS['tiny_cbt_classifier'])
    model = attention_model(config, other_ckpts['tiny_cbt_classifier'])
    assert model.data_preprocessor._enable_normalize and model.data_preprocessor.to_rgb
    image = read_image(str(assets['images'][0]))
    rec, sample = record_attention(model, image)
    assert sample.pred_label.shape == (1, )
    np.testing.assert_array_equal(rec.input_images()[0], image[:, 8:40])
    assert sorted(rec.cls_maps) == [0] and rec.cls_maps[0].shape == (1, 2, 4, 4)


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'configs/classification/cbt-s_8xb32-lion-150e_in1k.py',
    'configs/zero_shot/cbt-s_in1k_voc12-zero-shot.py'
])
def test_demo_shipped_cbt_s_classifier_and_probe(repo_root, tmp_path, monkeypatch, capsys, config):
    """The shipped CBT-S configs with random weights (converted-classifier
    layout for the probe) on one 64x64 image; before: TypeError
    (``pretrained``) for the probe, a crash for the classifier."""
    classifier = 'configs/classification/cbt-s_8xb32-lion-150e_in1k.py'
    ckpt = random_checkpoint(repo_root, classifier, tmp_path / 'cbt-s.pth')
    image = tmp_path / 'images' / 'img.png'
    image.parent.mkdir()
    cv2.imwrite(str(image), np.random.RandomState(0).randint(0, 256, (64, 64, 3), np.uint8))
    out = _run_demo(repo_root, monkeypatch, capsys, config, ckpt, image, '--out', tmp_path / 'out',
                    '--layers', '0', '-1')
    assert 'has no decode head' in out
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == [
        'cbsa_backbone_layer0.png', 'cbsa_backbone_layer11.png', 'cls_attention.png'
    ]


def test_classifier_of_an_in_memory_dataset_is_fed_rgb(assets, other_ckpts, repo_root):
    """A test pipeline without a loading step (mmpretrain's CIFAR configs in
    configs/finetune/, whose dataset hands RGB arrays and whose preprocessor
    swaps nothing) gets the RGB image, and the drawn input is that image."""
    from mmseg_cbsa.apps.demos import attention_model, read_image, record_attention
    config = os.path.join(repo_root, OTHER_CONFIGS['tiny_cbt_classifier'])
    model = attention_model(config, other_ckpts['tiny_cbt_classifier'])
    model.cfg.test_dataloader.dataset.pipeline = [
        dict(type='CenterCrop', crop_size=32),
        dict(type='PackInputs')
    ]
    model.data_preprocessor.to_rgb = False
    image = read_image(str(assets['images'][0]))
    rec, _ = record_attention(model, image)
    pre = model.data_preprocessor
    red = image[:, 8:40, 0].astype(np.float32)
    np.testing.assert_allclose(
        (rec.inputs[0, 0] * pre.std[0] + pre.mean[0]).numpy(), red, atol=1e-3)
    np.testing.assert_array_equal(rec.input_images()[0], image[:, 8:40])


def test_quickstart_model_gets_one_note_on_its_synthetic_training_data(
        assets, other_ckpts, repo_root, tmp_path, monkeypatch, capsys):
    """tiny_cbt.py trains on the quickstart's MiniADE20KDataset (a fact of
    the dataset, not of the config's name): one note on stderr; a model
    trained on anything else gets none."""
    run = run_demo(repo_root, monkeypatch, capsys, 'attention_demo.py', CONFIGS['tiny_cbt'],
                   assets['ckpts']['tiny_cbt'], assets['images'][0], '--out', tmp_path / 'a')
    assert run.code == 0, run.err[-3000:]
    notes = [line for line in run.err.splitlines() if 'synthetic shapes' in line]
    assert len(notes) == 1 and notes[0].startswith(
        'note: this model was trained on MiniADE20KDataset, generated images of synthetic '
        'shapes, not photographs')
    assert 'synthetic' not in run.out
    run = run_demo(repo_root, monkeypatch, capsys, 'attention_demo.py',
                   OTHER_CONFIGS['tiny_cbt_classifier'], other_ckpts['tiny_cbt_classifier'],
                   assets['images'][0], '--out', tmp_path / 'b')
    assert run.code == 0 and 'synthetic' not in run.err + run.out
