"""Evaluating an exported model (tools/deployment/test_onnx.py): the ONNX graph
through the config's test dataloader and evaluator reports the metrics
tools/test.py reports for the checkpoint it was exported from."""
import re

import onnxruntime  # noqa: F401  (a test requirement: missing fails)
import onnxscript  # noqa: F401  (a test requirement: missing fails)
import pytest
from mmengine.config import Config

from mmseg_cbsa.deployment import OnnxSegmentorModel, export_onnx
from tests.cli import run_python

TOOL = 'tools/deployment/test_onnx.py'
NUMBER = r'(\d+\.\d+|nan)'


def _metrics(output: str):
    """(mIoU, {class: IoU}) from a test run's log: the summary line and
    IoUMetric's per-class table."""
    miou = re.findall(r'mIoU: ' + NUMBER, output)
    assert miou, output[-3000:]
    table = output.split('per class results:')[-1]
    rows = re.findall(
        r'^\|\s*([^|]+?)\s*\|\s*' + NUMBER + r'\s*\|\s*' + NUMBER + r'\s*\|\s*$', table, flags=re.M)
    assert rows, output[-3000:]
    return float(miou[-1]), {name: float(iou) for name, iou, _ in rows}


@pytest.fixture(scope='module')
def exported(tiny_cbt_trained, tmp_path_factory):
    """The trained tiny checkpoint exported with dynamic sizes."""
    onnx_file = tmp_path_factory.mktemp('onnx_eval') / 'tiny_cbt.onnx'
    export_onnx(
        tiny_cbt_trained['config'],
        str(onnx_file),
        str(tiny_cbt_trained['checkpoint']),
        dynamic=True)
    return onnx_file


@pytest.mark.slow
def test_onnx_metrics_equal_the_test_tool(tiny_cbt_trained, exported, repo_root, tmp_path):
    config, options = tiny_cbt_trained['config'], tiny_cbt_trained['options']
    torch_run = run_python(repo_root, 'tools/test.py', config, tiny_cbt_trained['checkpoint'],
                           '--work-dir', tmp_path / 'torch', '--cfg-options', *options)
    onnx_run = run_python(repo_root, TOOL, config, exported, '--work-dir', tmp_path / 'onnx',
                          '--cfg-options', *options)
    torch_miou, torch_ious = _metrics(torch_run.stdout + torch_run.stderr)
    onnx_miou, onnx_ious = _metrics(onnx_run.stdout + onnx_run.stderr)
    # the same data went through the graph, and nothing loaded a checkpoint
    assert 'Load checkpoint' not in onnx_run.stdout + onnx_run.stderr
    assert onnx_miou == pytest.approx(torch_miou, abs=0.01)
    classes = Config.fromfile(config).model.decode_head.num_classes
    assert onnx_ious.keys() == torch_ious.keys() and len(onnx_ious) == classes
    for name, iou in torch_ious.items():
        assert onnx_ious[name] == pytest.approx(iou, abs=0.01, nan_ok=True), name


@pytest.mark.slow
def test_missing_onnx_file_is_an_error(tiny_cbt_trained, repo_root, tmp_path):
    res = run_python(
        repo_root,
        TOOL,
        tiny_cbt_trained['config'],
        tmp_path / 'absent.onnx',
        '--work-dir',
        tmp_path,
        check=False)
    assert res.returncode != 0 and 'ONNX file not found' in res.stderr


def test_the_graph_model_only_predicts(exported, tiny_cbt_trained, cbsa_scope):
    cfg = Config.fromfile(tiny_cbt_trained['config'])
    model = OnnxSegmentorModel(str(exported), cfg.model)
    with pytest.raises(RuntimeError, match='only predicts'):
        model(None, None, mode='loss')
