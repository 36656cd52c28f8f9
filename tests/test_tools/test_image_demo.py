"""demo/image_demo.py end to end: input | prediction [| ground truth] pictures
with a legend, one progress bar over all inputs, and exported ONNX graphs
run by onnxruntime giving the PyTorch pictures."""
import os
import re
import runpy
import shutil
import sys

import cv2
import numpy as np
import pytest

from mmseg_cbsa.visualization import GRID_HEADER_H, GRID_PAD
from tests.demo_runs import run_demo

LEGEND_ROW_H = 18  # mmseg_cbsa.visualization.overlay's legend rows


def _run_demo(repo_root, monkeypatch, capsys, *argv):
    """demo/image_demo.py in this process: (stdout, stderr)."""
    monkeypatch.chdir(repo_root)
    monkeypatch.setattr(sys, 'argv', ['image_demo.py', *map(str, argv)])
    runpy.run_path(os.path.join(repo_root, 'demo', 'image_demo.py'), run_name='__main__')
    return capsys.readouterr()


def _written(stdout):
    return [line for line in stdout.splitlines() if line.endswith('.png')]


def _read_rgb(path):
    img = cv2.imread(str(path))
    assert img is not None, f'{path} does not decode'
    return img[..., ::-1]


def _panel(picture, index, hw):
    """Panel ``index`` of a picture laid out by label_grid with a heading row."""
    h, w = hw
    top, left = GRID_HEADER_H + GRID_PAD, GRID_PAD + index * (w + GRID_PAD)
    return picture[top:top + h, left:left + w]


@pytest.fixture(scope='module')
def validation(tiny_cbt_trained, tmp_path_factory):
    """The tiny model's two 32x32 validation images and their label maps
    (ADE20K layout: 0 = unlabelled, class c stored as c + 1)."""
    data = tiny_cbt_trained['data']
    images = sorted((data / 'images' / 'validation').iterdir())
    labels = data / 'annotations' / 'validation'
    assert len(images) == 2 and all((labels / (p.stem + '.png')).is_file() for p in images)
    return dict(images=images, folder=data / 'images' / 'validation', labels=labels)


def test_input_and_prediction_side_by_side_under_one_progress_bar(tiny_cbt_trained, validation,
                                                                  repo_root, tmp_path, monkeypatch,
                                                                  capsys):
    from mmseg_cbsa.datasets.mini_ade import PALETTE
    out, err = _run_demo(repo_root, monkeypatch, capsys, tiny_cbt_trained['config'],
                         tiny_cbt_trained['checkpoint'], validation['folder'], '--out', tmp_path,
                         '--opacity', 1)
    written = [tmp_path / (p.stem + '.png') for p in validation['images']]
    assert _written(out) == [str(p) for p in written]
    # one bar, updated in place (carriage returns) from 0/2 to 2/2
    bars = [line for line in err.split('\n') if '/2, ' in line]
    assert len(bars) == 1, err
    updates = [u.split(']')[1].split(',')[0].strip() for u in bars[0].split('\r')]
    assert updates == ['0/2', '1/2', '2/2']
    for image_path, picture_path in zip(validation['images'], written):
        image, picture = _read_rgb(image_path), _read_rgb(picture_path)
        h, w = image.shape[:2]
        # two panels under a heading row, legend rows below
        grid_h, grid_w = GRID_HEADER_H + h + 2 * GRID_PAD, 2 * w + 3 * GRID_PAD
        legend_rows = (picture.shape[0] - grid_h - 6) / LEGEND_ROW_H
        assert legend_rows == int(legend_rows) and legend_rows >= 1
        assert picture.shape[1] >= grid_w
        np.testing.assert_array_equal(_panel(picture, 0, (h, w)), image)
        # opacity 1: the prediction panel holds only class colours
        colours = {tuple(c) for c in _panel(picture, 1, (h, w)).reshape(-1, 3)}
        assert colours <= {tuple(c) for c in PALETTE}
        assert len(colours) == legend_rows  # the legend lists what is painted


def test_ground_truth_panel_from_gt_dir(tiny_cbt_trained, validation, repo_root, tmp_path,
                                        monkeypatch, capsys):
    """The label maps are loaded as the config loads them (reduce_zero_label:
    stored 0 is unlabelled and left unpainted, stored c + 1 is class c)."""
    from mmseg_cbsa.datasets.mini_ade import PALETTE
    _run_demo(repo_root, monkeypatch, capsys, tiny_cbt_trained['config'],
              tiny_cbt_trained['checkpoint'], *validation['images'], '--out', tmp_path, '--gt-dir',
              validation['labels'], '--opacity', 1)
    for image_path in validation['images']:
        image = _read_rgb(image_path)
        stored = cv2.imread(
            str(validation['labels'] / (image_path.stem + '.png')), cv2.IMREAD_UNCHANGED)
        picture = _read_rgb(tmp_path / (image_path.stem + '.png'))
        h, w = image.shape[:2]
        assert picture.shape[1] >= 3 * w + 4 * GRID_PAD
        truth = _panel(picture, 2, (h, w))
        expected = np.where((stored > 0)[..., None],
                            np.asarray(PALETTE, np.uint8)[np.maximum(stored, 1) - 1], image)
        np.testing.assert_array_equal(truth, expected)


def test_missing_ground_truth_is_refused_before_anything_runs(tiny_cbt_trained, validation,
                                                              repo_root, tmp_path, monkeypatch,
                                                              capsys):
    labels = tmp_path / 'labels'
    labels.mkdir()
    first = validation['images'][0]
    shutil.copy(validation['labels'] / (first.stem + '.png'), labels)
    missing = labels / (validation['images'][1].stem + '.png')
    run = run_demo(repo_root, monkeypatch, capsys, 'image_demo.py', tiny_cbt_trained['config'],
                   tiny_cbt_trained['checkpoint'], validation['folder'], '--out', tmp_path / 'out',
                   '--gt-dir', labels)
    assert run.code == 1 and 'Traceback' not in run.err
    assert re.search(f'error: no ground truth for 1 of 2 images.*{missing}', run.err)
    assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_onnx_graph_gives_the_pytorch_pictures(tiny_cbt_trained, validation, repo_root, tmp_path,
                                               monkeypatch, capsys):
    import onnxruntime  # noqa: F401  (a test requirement: missing fails)
    import onnxscript  # noqa: F401  (a test requirement: missing fails)

    from mmseg_cbsa.deployment import export_onnx
    onnx_file = tmp_path / 'tiny_cbt.onnx'
    export_onnx(
        tiny_cbt_trained['config'],
        str(onnx_file),
        str(tiny_cbt_trained['checkpoint']),
        dynamic=True)
    pictures = {}
    for name, weights in (('torch', tiny_cbt_trained['checkpoint']), ('onnx', onnx_file)):
        out, _ = _run_demo(repo_root, monkeypatch, capsys, tiny_cbt_trained['config'], weights,
                           validation['folder'], '--out', tmp_path / name, '--gt-dir',
                           validation['labels'], '--precision', 'float32')  # the graph's
        pictures[name] = [_read_rgb(p) for p in _written(out)]
    assert len(pictures['onnx']) == 2
    for torch_picture, onnx_picture in zip(pictures['torch'], pictures['onnx']):
        np.testing.assert_array_equal(onnx_picture, torch_picture)
    run = run_demo(repo_root, monkeypatch, capsys, 'image_demo.py', tiny_cbt_trained['config'],
                   onnx_file, validation['folder'], '--out', tmp_path / 'bf16', '--bf16')
    assert run.code == 1 and 'no bfloat16 kernels' in run.err


def test_console_holds_no_third_party_warnings(tiny_cbt_trained, validation, repo_root, tmp_path):
    # the demo as a user runs it: before, mmengine's pkg_resources notice (x4), mmseg's
    # build_loss and avg_non_ignore notices came before the demo's own lines
    from tests.cli import run_python
    res = run_python(repo_root, 'demo/image_demo.py', tiny_cbt_trained['config'],
                     tiny_cbt_trained['checkpoint'], validation['folder'], '--out',
                     tmp_path / 'out')
    assert not re.search(r'\w*Warning: ', res.stdout + res.stderr), res.stderr[-3000:]
    assert 'precision:' in res.stderr and len(os.listdir(tmp_path / 'out')) == 2
