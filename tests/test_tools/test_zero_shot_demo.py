"""demo/zero_shot_demo.py: the zero-shot masks of the paper's appendix C for
the user's own images, from the [CLS] probe (configs/zero_shot) with a
converted classifier's checkpoint, or from a classifier's config; the masks
are those the zero-shot metric scores, computed here from the probe's own
output. Random weights, tiny images made by the tests."""
import os

import numpy as np
import pytest
import torch

from mmseg_cbsa.evaluation import mass_share_mask
from mmseg_cbsa.visualization import GRID_HEADER_H, GRID_LABEL_W, GRID_PAD, GRID_TITLE_H, fit_size
from tests.demo_runs import random_checkpoint, read_rgb, run_demo, write_image

CLASSIFIER = 'tests/data/configs/tiny_cbt_classifier.py'
# the [CLS] probe on tiny_cbt_classifier's 1-block, 2-head CBT (8 px patches):
# a 32x48 image is resized to 43x64, a 6x8 patch grid
PROBE = 'tests/data/configs/tiny_cbt_zero_shot.py'
PICTURES = ['zero_shot_combined.png', 'zero_shot_masks.png']


@pytest.fixture(scope='module')
def assets(tmp_path_factory, repo_root):
    """A converted-classifier checkpoint (backbone.*, head.fc.*) and two 32x48 images."""
    tmp = tmp_path_factory.mktemp('zero_shot_demo')
    return dict(
        ckpt=random_checkpoint(repo_root, CLASSIFIER, tmp / 'tiny_cbt_classifier.pth'),
        images=[write_image(tmp / 'images' / f'img{i}.png', seed=i) for i in range(2)])


def _probe_output(config, checkpoint, image_path):
    """The probe's own [CLS] maps ({block: (K, h, w)}) and the network input
    for an image: what tools/zero_shot_voc.py scores."""
    from mmseg_cbsa.apps.demos import attention_model, record_attention
    from mmseg_cbsa.utils.images import read_image
    model = attention_model(config, checkpoint)
    rec, sample = record_attention(model, read_image(image_path), cbsa=False)
    return sample.cls_attn, rec.input_images()[0], rec.patch_size


def _mask_picture(image, mask, long_side, patch_size):
    from mmseg_cbsa.apps.demos import mask_picture
    return mask_picture(image, mask, long_side, patch_size)


def test_masks_per_block_and_head_and_the_combined_mask(assets, repo_root, tmp_path, monkeypatch,
                                                        capsys):
    # float32: compared below with the probe's own float32 maps
    run = run_demo(repo_root, monkeypatch, capsys, 'zero_shot_demo.py', PROBE, assets['ckpt'],
                   assets['images'][0], '--out', tmp_path, '--precision', 'float32')
    assert run.code == 0, run.err[-3000:]
    assert run.written() == [
        str(tmp_path / 'zero_shot_masks.png'),
        str(tmp_path / 'zero_shot_combined.png')
    ]
    maps, image, patch = _probe_output(PROBE, assets['ckpt'], assets['images'][0])
    assert image.shape[:2] == (43, 64) and sorted(maps) == [0] and maps[0].shape == (2, 6, 8)
    # the config's share (0.6), the metric's rule, on the probe's own maps
    heads = mass_share_mask(maps[0].float(), 0.6)
    mean = mass_share_mask(maps[0].float().mean(0, keepdim=True), 0.6)[0]
    assert 0 < mean.sum() < mean.numel()  # a mask, not all or nothing

    combined = read_rgb(tmp_path / 'zero_shot_combined.png')
    top = 2 * GRID_TITLE_H + GRID_PAD
    assert combined.shape[0] == top + 43 + GRID_PAD
    np.testing.assert_array_equal(combined[top:top + 43, GRID_PAD:GRID_PAD + 64],
                                  _mask_picture(image, mean, 64, patch))
    # kept patches are brighter than the others
    grey = combined[top:top + 43, GRID_PAD:GRID_PAD + 64].mean(-1)
    kept = mean.repeat_interleave(8, 0).repeat_interleave(8, 1)[:43, :64].numpy()
    assert grey[kept].mean() > grey[~kept].mean() + 50

    grid = read_rgb(tmp_path / 'zero_shot_masks.png')
    tile_h, tile_w = fit_size((43, 64), 96)
    top = 2 * GRID_TITLE_H + GRID_HEADER_H + GRID_PAD
    assert grid.shape[0] == top + tile_h + GRID_PAD  # one block
    assert grid.shape[1] >= GRID_LABEL_W + 3 * (tile_w + GRID_PAD) + GRID_PAD  # 2 heads + mean
    for column, mask in enumerate([heads[0], heads[1], mean]):
        left = GRID_LABEL_W + GRID_PAD + column * (tile_w + GRID_PAD)
        np.testing.assert_array_equal(grid[top:top + tile_h, left:left + tile_w],
                                      _mask_picture(image, mask, 96, patch))


def test_share_and_layers(assets, repo_root, tmp_path, monkeypatch, capsys):
    """--share sets the mass kept; --layers the rows (here of the 2-block probe
    of tests/data/configs/zero_shot_tiny.py, 16 px patches: 32x48 -> 43x64, 3x4)."""
    config = 'tests/data/configs/zero_shot_tiny.py'
    ckpt = random_checkpoint(repo_root, config, tmp_path / 'zero_shot_tiny.pth')
    image = assets['images'][1]
    for layers in (['0', '-1'], ['-1']):
        out = tmp_path / str(len(layers))
        run = run_demo(repo_root, monkeypatch, capsys, 'zero_shot_demo.py', config, ckpt, image,
                       '--out', out, '--share', '0.3', '--layers', *layers)
        assert run.code == 0, run.err[-3000:]
        rows = (read_rgb(out / 'zero_shot_masks.png').shape[0] - 2 * GRID_TITLE_H - GRID_HEADER_H -
                GRID_PAD) / (
                    fit_size((43, 64), 96)[0] + GRID_PAD)
        assert rows == len(layers)
    maps, input_image, patch = _probe_output(config, ckpt, image)
    mean = mass_share_mask(maps[1].float().mean(0, keepdim=True), 0.3)[0]
    assert mean.sum() < mass_share_mask(maps[1].float().mean(0, keepdim=True), 0.6)[0].sum()
    top = 2 * GRID_TITLE_H + GRID_PAD
    np.testing.assert_array_equal(
        read_rgb(out / 'zero_shot_combined.png')[top:top + 43, GRID_PAD:GRID_PAD + 64],
        _mask_picture(input_image, mean, 64, patch))


def test_classifier_config_draws_on_its_input(assets, repo_root, tmp_path, monkeypatch, capsys):
    """A classifier's config: its test pipeline (the 32x32 centre crop)."""
    run = run_demo(repo_root, monkeypatch, capsys, 'zero_shot_demo.py', CLASSIFIER, assets['ckpt'],
                   assets['images'][0], '--out', tmp_path)
    assert run.code == 0, run.err[-3000:]
    combined = read_rgb(tmp_path / 'zero_shot_combined.png')
    assert combined.shape[0] == 2 * GRID_TITLE_H + 32 + 2 * GRID_PAD


def test_several_images_one_folder_each_and_a_bad_image_skipped(assets, repo_root, tmp_path,
                                                                monkeypatch, capsys):
    folder = tmp_path / 'images'
    for i, path in enumerate(assets['images']):
        write_image(folder / f'good{i}.png', seed=i)
    (folder / 'bad.png').write_bytes(b'')
    run = run_demo(repo_root, monkeypatch, capsys, 'zero_shot_demo.py', PROBE, assets['ckpt'],
                   folder, '--out', tmp_path / 'out')
    assert run.code == 1
    assert f'error: {folder / "bad.png"}: empty file (0 bytes), not an image (skipped)' in run.err
    assert '1 of 3 images failed and were skipped' in run.err
    assert sorted(os.listdir(tmp_path / 'out')) == ['good0', 'good1']
    for stem in ('good0', 'good1'):
        assert sorted(os.listdir(tmp_path / 'out' / stem)) == PICTURES
    bars = [line for line in run.err.split('\n') if '/3, ' in line]
    assert len(bars) == 1, run.err


def test_refuses_to_overwrite_an_earlier_run(assets, repo_root, tmp_path, monkeypatch, capsys):
    argv = [PROBE, assets['ckpt'], assets['images'][0], '--out', tmp_path]
    assert run_demo(repo_root, monkeypatch, capsys, 'zero_shot_demo.py', *argv).code == 0
    earlier = {n: (tmp_path / n).read_bytes() for n in PICTURES}
    (tmp_path / 'zero_shot_masks.png').write_bytes(b'the user edited this')
    run = run_demo(repo_root, monkeypatch, capsys, 'zero_shot_demo.py', *argv, '--share', '0.3')
    assert run.code == 1 and 'Traceback' not in run.err
    assert f'error: --out {tmp_path} already holds 2 of the files this run writes' in run.err
    assert (tmp_path / 'zero_shot_masks.png').read_bytes() == b'the user edited this'
    assert (tmp_path / 'zero_shot_combined.png').read_bytes() == earlier['zero_shot_combined.png']
    run = run_demo(repo_root, monkeypatch, capsys, 'zero_shot_demo.py', *argv, '--share', '0.3',
                   '--overwrite')
    assert run.code == 0
    assert (tmp_path / 'zero_shot_combined.png').read_bytes() != earlier['zero_shot_combined.png']


@pytest.mark.parametrize('extra,message', [
    (['--share', '1.5'], 'error: --share 1.5: the attention mass kept per head lies in (0, 1)'),
    (['--layers', '0', '1'], 'error: --layers [1]: CBT has 1 blocks (0..0, or negative)'),
])
def test_bad_options_exit_1_before_anything_is_written(assets, repo_root, tmp_path, monkeypatch,
                                                       capsys, extra, message):
    run = run_demo(repo_root, monkeypatch, capsys, 'zero_shot_demo.py', PROBE, assets['ckpt'],
                   assets['images'][0], '--out', tmp_path / 'out', *extra)
    assert run.code == 1 and message in run.err and 'Traceback' not in run.err
    assert not (tmp_path / 'out').exists()


def test_encoder_without_cls_token_is_refused(repo_root, tmp_path, monkeypatch, capsys):
    config = 'tests/data/configs/tiny_cbt_nocls.py'
    ckpt = random_checkpoint(repo_root, config, tmp_path / 'nocls.pth')
    run = run_demo(repo_root, monkeypatch, capsys, 'zero_shot_demo.py', config, ckpt,
                   write_image(tmp_path / 'img.png'), '--out', tmp_path / 'out')
    assert run.code == 1
    assert (f'error: {config}: MixVisionTransformer has no [CLS] token (no '
            'forward_cls_attention); zero-shot masks need an encoder with a [CLS] token') in run.err
    assert not (tmp_path / 'out').exists()


def test_zero_shot_masks_are_the_metrics_rule():
    """Per block: each head's mass-share mask, then the heads' mean's."""
    from mmseg_cbsa.apps.demos import zero_shot_masks
    maps = {3: torch.rand(2, 4, 5)}
    masks = zero_shot_masks(maps, 0.6)
    assert sorted(masks) == [3] and masks[3].shape == (3, 4, 5) and masks[3].dtype == torch.bool
    np.testing.assert_array_equal(masks[3][:2], mass_share_mask(maps[3], 0.6))
    np.testing.assert_array_equal(masks[3][2],
                                  mass_share_mask(maps[3].mean(0, keepdim=True), 0.6)[0])


@pytest.mark.slow
def test_shipped_zero_shot_config_with_a_converted_classifier(repo_root, tmp_path, monkeypatch,
                                                              capsys):
    """configs/zero_shot/cbt-s_... with a random CBT-S classifier's
    checkpoint (the layout cbt_cls2mmseg.py writes) on a 64x64 image."""
    ckpt = random_checkpoint(repo_root, 'configs/classification/cbt-s_8xb32-lion-150e_in1k.py',
                             tmp_path / 'cbt-s.pth')
    image = write_image(tmp_path / 'img.png', (64, 64))
    run = run_demo(repo_root, monkeypatch, capsys, 'zero_shot_demo.py',
                   'configs/zero_shot/cbt-s_in1k_voc12-zero-shot.py', ckpt, image, '--out',
                   tmp_path / 'out', '--layers', '0', '-1')
    assert run.code == 0, run.err[-3000:]
    assert sorted(os.listdir(tmp_path / 'out')) == PICTURES
    # resized to 480x480: a 30x30 grid of 16 px patches; 2 blocks of 6 heads + mean
    grid = read_rgb(tmp_path / 'out' / 'zero_shot_masks.png')
    assert grid.shape[0] == 2 * GRID_TITLE_H + GRID_HEADER_H + 2 * (96 + GRID_PAD) + GRID_PAD
    combined = read_rgb(tmp_path / 'out' / 'zero_shot_combined.png')
    assert combined.shape[0] == 2 * GRID_TITLE_H + 480 + 2 * GRID_PAD
