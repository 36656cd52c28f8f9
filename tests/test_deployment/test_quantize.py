"""int8 graphs (tools/deployment/quantize_onnx.py): a float32 export quantised
dynamically or statically (calibrated through the config's test pipeline) is
a graph the deployment tools run, with the float graph's outputs, and its
accuracy cost is reported as the bf16 one is; inputs that are not a float32
graph of the config, and existing outputs, are refused with nothing written."""
import os

import numpy as np
import onnx
import onnxruntime  # noqa: F401  (a test requirement: missing fails)
import onnxscript  # noqa: F401  (a test requirement: missing fails)
import pytest
from mmengine.config import Config

from mmseg_cbsa.deployment import (OnnxMismatchError, OnnxQuantizeError, OnnxSegmentor,
                                   evaluate_onnx, export_onnx, onnx_agreement, quantize_onnx)
from mmseg_cbsa.deployment.quantize import calibration_images, graph_inputs
from mmseg_cbsa.utils.outputs import OutputExistsError
from tests.cli import data_root_options, run_python

CONFIG = 'tests/data/configs/tiny_cbt.py'  # 6 classes, 32 x 32 images, whole mode
TOOL = 'tools/deployment/quantize_onnx.py'
#: node types each mode leaves in the graph (onnxruntime's quantiser)
INT8_NODES = dict(dynamic={'DynamicQuantizeLinear', 'MatMulInteger'}, static={'QuantizeLinear'})


def _options(data) -> dict:
    return dict(opt.split('=', 1) for opt in data_root_options(data))


@pytest.fixture(scope='module')
def float_graph(tmp_path_factory):
    """tiny_cbt (random weights) exported with runtime sizes, its config
    pointed at a generated miniature ADE20K (2 test images)."""
    tmp = tmp_path_factory.mktemp('quantize')
    out = tmp / 'float.onnx'
    export_onnx(CONFIG, str(out), dynamic=True)
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(_options(tmp / 'data'))
    return dict(file=str(out), cfg=cfg, data=tmp / 'data', images=calibration_images(cfg))


@pytest.fixture(scope='module', params=['dynamic', 'static'])
def int8(request, float_graph, tmp_path_factory):
    out = tmp_path_factory.mktemp('int8') / f'{request.param}.onnx'
    res = quantize_onnx(float_graph['file'], str(out), float_graph['cfg'], request.param)
    return res


def test_the_int8_graph_is_quantised_and_runs_like_the_float_one(int8, float_graph):
    graph = onnx.load(int8.path)
    assert INT8_NODES[int8.mode] <= {n.op_type for n in graph.graph.node}
    int8_weights = [t for t in graph.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= int8.nodes > 0
    assert int8.int8_bytes < int8.float_bytes
    ref = OnnxSegmentor(float_graph['file'], float_graph['cfg'])
    low = OnnxSegmentor(int8.path, float_graph['cfg'])
    for path in float_graph['images']:
        a, b = ref(path), low(path)
        assert b.seg_logits.data.shape == a.seg_logits.data.shape == (6, 32, 32)
        assert b.pred_sem_seg.data.shape == a.pred_sem_seg.data.shape
        assert set(b.pred_sem_seg.data.unique().tolist()) <= set(range(6))
        # rounded, not another model: logits close, not equal
        diff = (a.seg_logits.data - b.seg_logits.data).abs().max().item()
        assert 0 < diff < 0.1 * a.seg_logits.data.abs().max().item()


def test_static_calibration_feeds_the_graph_what_the_segmentor_does(int8, float_graph):
    if int8.mode == 'dynamic':
        assert int8.calibration_images == [] and int8.calibration_inputs == 0
        return
    # the config's test set, through its test pipeline and data preprocessor
    assert int8.calibration_images == float_graph['images'] and len(int8.calibration_images) == 2
    assert int8.calibration_inputs == 2
    fed = graph_inputs(float_graph['file'], float_graph['cfg'], float_graph['images'])
    assert [f.shape for f in fed] == [(1, 3, 32, 32)] * 2
    # normalised (mean / std of the preprocessor), not 0..255 pixels
    assert all(abs(float(f.mean())) < 3 and f.dtype == np.float32 for f in fed)


def test_the_agreement_report_is_the_precision_report(int8, float_graph, cbsa_scope):
    from mmseg_cbsa.analysis.precision import argmax_agreement
    from mmseg_cbsa.apis import init_model
    images = float_graph['images']
    same = onnx_agreement(float_graph['file'], float_graph['file'], float_graph['cfg'], images)
    assert same['agreement'] == 1.0 and same['max_abs_logit_diff'] == 0.0
    res = onnx_agreement(float_graph['file'], int8.path, float_graph['cfg'], images)
    model = init_model(float_graph['cfg'], None, device='cpu')
    assert res.keys() == argmax_agreement(model, images[:1]).keys()
    assert res['precision'] == 'int8' and res['images'] == 2 and res['pixels'] == 2 * 32 * 32
    assert len(res['per_image']) == 2 and min(res['per_image']) <= res['agreement']
    # random weights have near-ties; still, nearly every pixel keeps its class
    assert 0.9 <= res['agreement'] <= 1.0 and res['max_abs_logit_diff'] > 0


def test_the_int8_graph_is_evaluated_like_the_float_one(int8, float_graph, tmp_path):
    options = _options(float_graph['data'])
    ref = evaluate_onnx(CONFIG, float_graph['file'], str(tmp_path / 'f'), options)
    low = evaluate_onnx(CONFIG, int8.path, str(tmp_path / 'q'), options)
    assert low.keys() == ref.keys() and 'mIoU' in low
    # a class changes on a few percent of the pixels at most (the agreement
    # test), so the pixel accuracy and the IoUs move by a few points at most
    for key in ('aAcc', 'mIoU'):
        assert low[key] == pytest.approx(ref[key], abs=2), key


def test_an_existing_output_is_replaced_only_with_overwrite(float_graph, tmp_path):
    out = tmp_path / 'int8.onnx'
    out.write_bytes(b'mine')
    with pytest.raises(OutputExistsError, match='pass --overwrite'):
        quantize_onnx(float_graph['file'], str(out), float_graph['cfg'])
    assert out.read_bytes() == b'mine'
    quantize_onnx(float_graph['file'], str(out), float_graph['cfg'], overwrite=True)
    assert onnx.load(str(out)).graph.node
    assert sorted(os.listdir(tmp_path)) == ['int8.onnx']  # no scratch left


def test_the_float_graph_is_never_the_output(float_graph):
    with pytest.raises(OnnxQuantizeError, match='would replace the float32 graph'):
        quantize_onnx(float_graph['file'], float_graph['file'], float_graph['cfg'], overwrite=True)


def test_inputs_that_are_not_a_float_graph_of_the_config_are_refused(int8, float_graph, tmp_path):
    cfg, out = float_graph['cfg'], tmp_path / 'out.onnx'
    bad = tmp_path / 'model.onnx'
    bad.write_bytes(b'not a graph')
    with pytest.raises(OnnxQuantizeError, match=f'{bad}: not an ONNX graph'):
        quantize_onnx(str(bad), str(out), cfg)
    with pytest.raises(OnnxQuantizeError, match=f'{int8.path}: already quantised'):
        quantize_onnx(int8.path, str(out), cfg)
    with pytest.raises(FileNotFoundError, match='ONNX file not found'):
        quantize_onnx(str(tmp_path / 'absent.onnx'), str(out), cfg)
    other = Config.fromfile(CONFIG)
    other.merge_from_dict({'model.decode_head.num_classes': 10})
    with pytest.raises(OnnxMismatchError, match='the graph has 6 classes'):
        quantize_onnx(float_graph['file'], str(out), other)
    with pytest.raises(ValueError, match='mode must be one of'):
        quantize_onnx(float_graph['file'], str(out), cfg, 'int4')
    assert sorted(os.listdir(tmp_path)) == ['model.onnx']


@pytest.mark.slow
def test_the_tool_writes_and_reports(float_graph, repo_root, tmp_path):
    out = tmp_path / 'static.onnx'
    options = ['--cfg-options', *data_root_options(float_graph['data'])]
    res = run_python(repo_root, TOOL, CONFIG, float_graph['file'], out, '--mode', 'static',
                     '--calib-images', 1, '--report', *options)
    assert f'wrote {out}: static int8' in res.stdout
    assert 'calibrated on 1 graph input(s) of 1 image(s)' in res.stdout
    assert 'argmax agreement' in res.stdout and 'in 2 images' in res.stdout
    again = run_python(repo_root, TOOL, CONFIG, float_graph['file'], out, *options, check=False)
    assert again.returncode == 1 and 'quantize_onnx: ' in again.stderr
    assert 'pass --overwrite' in again.stderr
