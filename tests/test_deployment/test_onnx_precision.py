"""The precision an exported graph runs in (mmseg_cbsa/deployment/precision.py,
``--precision`` of tools/deployment/test_onnx.py)."""
import numpy as np
import onnx
import pytest
import torch

from mmseg_cbsa.apis.loading import build_model
from mmseg_cbsa.deployment import (OnnxPrecisionError, OnnxSegmentor, export_onnx, float16_graph,
                                   onnx_precision)
from mmseg_cbsa.deployment.onnx import ort_session
from mmseg_cbsa.utils.hardware import HardwareReport
from tests.cli import run_python

CONFIG = 'tests/data/configs/tiny_cbt.py'
TOOL = 'tools/deployment/test_onnx.py'
XEON = HardwareReport('Xeon', 'AVX512', dict(avx512f=True, avx512_vnni=True), 2)
SAPPHIRE_RAPIDS = HardwareReport('SPR', 'AVX512', dict(avx512f=True, avx512_fp16=True), 2)


@pytest.fixture(scope='module')
def graph(tmp_path_factory):
    model = build_model(CONFIG, seed=1).model
    folder = tmp_path_factory.mktemp('onnx_precision')
    ckpt = folder / 'tiny.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = folder / 'tiny.onnx'
    export_onnx(CONFIG, str(out), str(ckpt), dynamic=True)
    return str(out)


def test_auto_is_the_graph_as_exported_and_names_the_int8_path():
    precision, why = onnx_precision('auto', XEON)
    assert precision == 'float32' and 'quantize_onnx.py' in why
    assert onnx_precision('fp32', XEON)[0] == 'float32'


def test_bf16_is_refused_with_the_alternatives():
    with pytest.raises(OnnxPrecisionError, match='no bfloat16 kernels.*quantize_onnx.py'):
        onnx_precision('bf16', XEON)


def test_fp16_says_what_it_costs_where_the_cpu_lacks_it():
    precision, why = onnx_precision('fp16', XEON)
    assert precision == 'fp16' and 'no avx512_fp16/amx_fp16' in why and 'slower' in why
    assert 'slower' not in onnx_precision('fp16', SAPPHIRE_RAPIDS)[1]


def test_float16_graph_keeps_float32_io_and_agrees(graph):
    converted = onnx.load_from_string(float16_graph(graph))
    weights = [i for i in converted.graph.initializer if len(i.dims) == 2]
    assert weights and all(i.data_type == onnx.TensorProto.FLOAT16 for i in weights)
    x = np.random.default_rng(0).random((2, 3, 40, 56), dtype=np.float32)
    ref, half = (ort_session(graph, precision=p) for p in ('float32', 'fp16'))
    name = ref.get_inputs()[0].name
    a, b = ref.run(None, {name: x})[0], half.run(None, {name: x})[0]
    assert b.dtype == np.float32 and b.shape == a.shape
    assert not np.array_equal(a, b)  # it did run in float16
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.99
    with pytest.raises(ValueError, match="precision must be one of"):
        ort_session(graph, precision='bf16')


def test_segmentor_runs_the_precision_it_is_given(graph, cbsa_scope):
    img = np.random.default_rng(1).integers(0, 255, (48, 40, 3), dtype=np.uint8)
    preds = [OnnxSegmentor(graph, CONFIG, p)(img).pred_sem_seg.data for p in ('float32', 'fp16')]
    assert preds[0].shape == (1, 48, 40)
    assert (preds[0] == preds[1]).float().mean() >= 0.99


@pytest.mark.slow
def test_tool_precision_option(tiny_cbt_trained, graph, repo_root, tmp_path):
    config, options = tiny_cbt_trained['config'], tiny_cbt_trained['options']
    res = run_python(repo_root, TOOL, config, graph, '--precision', 'bf16', check=False)
    assert res.returncode == 1 and 'no bfloat16 kernels' in res.stderr
    assert not (tmp_path / 'bf16').exists()
    res = run_python(repo_root, TOOL, config, graph, '--precision', 'fp16', '--work-dir',
                     tmp_path / 'fp16', '--cfg-options', *options)
    assert 'precision: fp16' in res.stderr and 'mIoU' in res.stdout + res.stderr
    res = run_python(repo_root, TOOL, config, graph, '--work-dir', tmp_path / 'default',
                     '--cfg-options', *options)
    assert 'precision: float32: the graph as exported' in res.stderr
