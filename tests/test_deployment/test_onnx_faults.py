"""Exports that are not what was asked for are not written, and graphs that are
not the config's model are not run.

Before: a graph exported with 10 classes was evaluated against the 6-class
config (``mIoU: 0.0000``, exit 0) and drawn with a legend that left classes
out; ``--opset 99`` wrote an invalid graph and ``--opset 7`` / ``17`` a graph
of opset 18, exit 0; an existing ``OUT.onnx.data`` was replaced without
``--overwrite``; a failed ``--verify`` left the graph on disk; ``--shape 0 0``
stopped with a raw torch error.
"""
import os

import onnxruntime  # noqa: F401  (a test requirement: missing fails)
import onnxscript  # noqa: F401  (a test requirement: missing fails)
import pytest

from mmseg_cbsa.deployment import (OnnxExportError, OnnxMismatchError, OnnxSegmentor, export_onnx,
                                   onnx)
from mmseg_cbsa.utils.outputs import OutputExistsError
from tests.cli import run_python

CONFIG = 'tests/data/configs/tiny_cbt.py'  # 6 classes
SHAPE = (32, 32)


@pytest.fixture(scope='module')
def ten_classes(tmp_path_factory):
    """tiny_cbt exported with ``num_classes=10`` (random weights)."""
    out = tmp_path_factory.mktemp('onnx_faults') / 'ten.onnx'
    export_onnx(CONFIG, str(out), shape=SHAPE, cfg_options={'model.decode_head.num_classes': 10})
    return out


def _listing(folder):
    return sorted(os.listdir(folder))


def test_a_graph_of_another_class_count_is_refused(ten_classes):
    with pytest.raises(
            OnnxMismatchError,
            match=f'{ten_classes}: the graph has 10 classes .*the config '
            f'{CONFIG} 6'):
        OnnxSegmentor(str(ten_classes), CONFIG)


def test_something_else_named_onnx_is_refused(tmp_path):
    bad = tmp_path / 'model.onnx'
    bad.write_bytes(b'not a graph')
    with pytest.raises(OnnxMismatchError, match=f'{bad}: onnxruntime cannot load it'):
        OnnxSegmentor(str(bad), CONFIG)


@pytest.mark.slow
def test_tools_exit_1_on_a_graph_of_another_class_count(ten_classes, repo_root, tmp_path):
    """test_onnx.py reports no metric; image_demo.py draws no picture."""
    data = ['--cfg-options'] + [
        f'{k}.dataset.data_root={tmp_path / "data"}'
        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]
    res = run_python(
        repo_root,
        'tools/deployment/test_onnx.py',
        CONFIG,
        ten_classes,
        '--work-dir',
        tmp_path / 'work',
        *data,
        check=False)
    assert res.returncode == 1, (res.stdout + res.stderr)[-3000:]
    assert 'the graph has 10 classes' in res.stderr and 'mIoU:' not in res.stdout + res.stderr
    import cv2
    import numpy as np
    (tmp_path / 'in').mkdir()
    cv2.imwrite(str(tmp_path / 'in' / 'photo.png'), np.zeros((32, 32, 3), np.uint8))
    res = run_python(
        repo_root,
        'demo/image_demo.py',
        CONFIG,
        ten_classes,
        tmp_path / 'in',
        '--out',
        tmp_path / 'out',
        check=False)
    assert res.returncode == 1 and 'the graph has 10 classes' in res.stderr
    assert not (tmp_path / 'out').exists() or _listing(tmp_path / 'out') == []


@pytest.mark.parametrize('opset, message', [
    (99, 'writes opsets 7 to'),
    (17, '--opset 17 asked for, but torch.onnx wrote opset 18'),
])
def test_an_opset_that_is_not_written_is_refused(opset, message, tmp_path):
    out = tmp_path / 'x.onnx'
    with pytest.raises(OnnxExportError, match=message):
        export_onnx(CONFIG, str(out), shape=SHAPE, opset_version=opset)
    assert _listing(tmp_path) == []  # nothing, not even the scratch folder


def test_the_external_data_file_is_not_replaced_without_overwrite(tmp_path):
    out = tmp_path / 'x.onnx'
    (tmp_path / 'x.onnx.data').write_bytes(b'weights of another export')
    with pytest.raises(OutputExistsError, match='x.onnx.data exists; pass --overwrite'):
        export_onnx(CONFIG, str(out), shape=SHAPE)
    assert _listing(tmp_path) == ['x.onnx.data']
    assert (tmp_path / 'x.onnx.data').read_bytes() == b'weights of another export'
    export_onnx(CONFIG, str(out), shape=SHAPE, overwrite=True)
    assert _listing(tmp_path) == ['x.onnx', 'x.onnx.data']
    OnnxSegmentor(str(out), CONFIG)  # the graph reads its own weights


def test_a_failed_verify_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx, 'verify_tolerance', lambda *_: -1.0)  # every comparison fails
    with pytest.raises(OnnxExportError, match='onnxruntime does not match PyTorch'):
        export_onnx(CONFIG, str(tmp_path / 'x.onnx'), shape=SHAPE, verify=True)
    assert _listing(tmp_path) == []


def test_a_bad_shape_is_refused_by_name(tmp_path):
    for shape in ((0, 0), (-5, 32)):
        with pytest.raises(ValueError, match=f'--shape {shape[0]} {shape[1]}: expected'):
            export_onnx(CONFIG, str(tmp_path / 'x.onnx'), shape=shape)
    assert _listing(tmp_path) == []


def test_the_tolerance_grows_with_the_resize_not_elsewhere():
    assert onnx.verify_tolerance((32, 32), 4.3) == onnx.VERIFY_ATOL
    # the 3750 x 37 export: 1.2e-4 measured, within
    assert 1.2e-4 < onnx.verify_tolerance((1, 3, 3750, 37), 4.3) < 5e-3
