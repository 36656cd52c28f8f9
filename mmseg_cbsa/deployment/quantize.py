"""int8 graphs for CPUs without native bfloat16, and what they cost in accuracy.

* :func:`quantize_onnx` (``tools/deployment/quantize_onnx.py``): a graph
  exported by :func:`~mmseg_cbsa.deployment.export_onnx` to an int8 one with
  onnxruntime's quantiser, ``dynamic`` (int8 weights, activations quantised
  at run time) or ``static`` (QDQ: int8 weights and activations, the
  activations' ranges calibrated on images of the config's test set, fed to
  the graph as :class:`~mmseg_cbsa.deployment.OnnxSegmentor` feeds it);
* :func:`onnx_agreement`: argmax agreement of two graphs (the int8 one
  against the float32 one) on image files, the report
  :func:`mmseg_cbsa.analysis.precision.argmax_agreement` gives for autocast.

What is quantised: the layers with weights, i.e. the ``MatMul`` / ``Gemm``
nodes of the linear layers (and, static, the patch embedding's ``Conv``).
The products of two activations (attention scores, their product with the
values) stay float32: quantising them too made CBT-S at 512x512 slower (718
against 579 ms of CPU time, static; onnxruntime then also fuses the softmax
between them into a ``QLinearSoftmax``, 3.4x slower than float32's), and
their rounding falls on the attention weights themselves.
"""
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, NamedTuple, Optional, Sequence, Union

import numpy as np
from mmengine.config import Config

from ..apis.evaluation_outputs import evaluated_image_paths
from ..utils import collect_images
from ..utils.images import read_image
from ..utils.outputs import PARTIAL_PREFIX, check_new_file
from .onnx import INPUT_NAME, OUTPUT_NAME, OnnxSegmentor, check_graph, default_shape, ort_session

#: what :func:`quantize_onnx` does (``--mode``)
QUANT_MODES = ('dynamic', 'static')
#: the node types whose weights each mode quantises; onnxruntime's dynamic
#: ``ConvInteger`` was slower than the float32 ``Conv`` of the patch embedding
QUANTIZED_OPS = dict(dynamic=('MatMul', 'Gemm'), static=('MatMul', 'Gemm', 'Conv'))
#: node types that only a quantised graph has
_QUANTIZED_NODES = ('QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'MatMulInteger',
                    'ConvInteger', 'QLinearMatMul', 'QLinearConv', 'QGemm', 'DynamicQuantizeMatMul')
#: images calibrated on by default (static)
CALIBRATION_IMAGES = 8


class OnnxQuantizeError(ValueError):
    """An input that cannot be quantised (not an ONNX graph, already
    quantised, nothing to quantise) or a quantisation that failed; nothing
    was written under the output name."""


class QuantizeResult(NamedTuple):
    """What :func:`quantize_onnx` did: the int8 graph ``path``, ``mode``,
    the float32 graph it came from (``source``), the weights stored in int8
    (``nodes``: matrices and kernels), the images calibrated on and the graph
    inputs they gave (static; each sliding window counts), the sizes in
    bytes (float32 with its external data)."""
    path: str
    mode: str
    source: str
    nodes: int
    calibration_images: List[str]
    calibration_inputs: int
    float_bytes: int
    int8_bytes: int


def weight_nodes(model, op_types: Sequence[str]) -> List[str]:
    """Names of the nodes of ``op_types`` in an ``onnx.ModelProto`` that have
    an initializer (a weight) among their inputs."""
    weights = {t.name for t in model.graph.initializer}
    return [
        n.name for n in model.graph.node
        if n.op_type in op_types and any(i in weights for i in n.input)
    ]


def calibration_images(cfg: Config,
                       num: int = CALIBRATION_IMAGES,
                       images: Optional[Sequence[str]] = None) -> List[str]:
    """``num`` images, evenly spaced, of ``images`` (files and / or
    folders) or else of the config's test set; all of them when there are
    fewer."""
    if num < 1:
        raise ValueError(f'the number of calibration images must be >= 1, got {num}')
    paths = collect_images(images) if images else evaluated_image_paths(cfg)
    if len(paths) <= num:
        return paths
    return [paths[i * len(paths) // num] for i in range(num)]


class _RecordingSegmentor(OnnxSegmentor):
    """:class:`OnnxSegmentor` keeping every batch it hands the graph."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.inputs: List[np.ndarray] = []

    def encode_decode(self, inputs, batch_img_metas):
        self.inputs.append(inputs.float().cpu().numpy())
        return super().encode_decode(inputs, batch_img_metas)


def graph_inputs(onnx_file: str, cfg: Config, images: Sequence[str]) -> List[np.ndarray]:
    """What the graph is fed for ``images``: each (N, 3, H, W) batch (one per
    sliding window in slide mode) after the config's test pipeline and data
    preprocessor, recorded while the float32 graph predicts them."""
    recorder = _RecordingSegmentor(onnx_file, cfg)
    for path in images:
        read_image(path)  # an empty or undecodable file is named, not a cv2 error
        recorder(path)
    return recorder.inputs


class _Feeds:
    """onnxruntime's ``CalibrationDataReader`` protocol over arrays."""

    def __init__(self, arrays: Sequence[np.ndarray]) -> None:
        self._left = iter(arrays)

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        array = next(self._left, None)
        return None if array is None else {INPUT_NAME: array}


def _load_float_graph(onnx_file: str, op_types: Sequence[str]):
    """The graph in ``onnx_file`` with its weights, checked to be a float
    graph with something to quantise."""
    import onnx
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX file not found: {onnx_file}')
    try:
        model = onnx.load(onnx_file)
    except Exception as e:  # protobuf's DecodeError, onnx's ValidationError, OSError
        raise OnnxQuantizeError(f'{onnx_file}: not an ONNX graph, or its weights (.data) are '
                                f'missing ({type(e).__name__}: {e})') from e
    done = sorted({n.op_type for n in model.graph.node if n.op_type in _QUANTIZED_NODES})
    if done:
        raise OnnxQuantizeError(f'{onnx_file}: already quantised (it has {", ".join(done)} '
                                'nodes); quantise the float32 export of pytorch2onnx.py')
    if not weight_nodes(model, op_types):
        raise OnnxQuantizeError(f'{onnx_file}: nothing to quantise: no {"/".join(op_types)} node '
                                'with weights')
    return model


def _file_bytes(onnx_file: str) -> int:
    data = onnx_file + '.data'
    return os.path.getsize(onnx_file) + (os.path.getsize(data) if osp.isfile(data) else 0)


def quantize_onnx(onnx_file: str,
                  out: str,
                  config: Union[str, Config],
                  mode: str = 'dynamic',
                  images: Optional[Sequence[str]] = None,
                  num_images: int = CALIBRATION_IMAGES,
                  per_channel: bool = False,
                  reduce_range: bool = False,
                  overwrite: bool = False,
                  cfg_options: Optional[dict] = None) -> QuantizeResult:
    """Quantise a float32 graph of ``tools/deployment/pytorch2onnx.py`` to int8.

    Args:
        onnx_file: the float32 graph (with its ``.data`` file, if any).
        out: the int8 ``.onnx`` to write (one file: the int8 weights fit).
        config: the config it was exported from: its graph inputs / outputs
            are checked (:func:`~mmseg_cbsa.deployment.onnx.check_graph`),
            and static calibration runs its test pipeline, data preprocessor
            and ``test_cfg`` (whole / slide).
        mode: 'dynamic' (``quantize_dynamic``: int8 weights, each
            activation quantised at run time with its own range) or 'static'
            (``quantize_static``, QDQ format, signed int8 activations and
            weights: the activations' ranges are fixed beforehand, the
            min / max seen on the calibration images).
        images: calibration image files / folders (static), default the
            config's test set; ``num_images`` of them, evenly spaced
            (:func:`calibration_images`).
        per_channel: one weight scale per output channel instead of per
            tensor.
        reduce_range: 7-bit weights, onnxruntime's advice for CPUs without
            VNNI (AVX2 / AVX-512 before VNNI), where its u8 x s8 products
            can saturate.
        overwrite: replace an existing ``out``.
        cfg_options: overrides merged into the config.

    The graph goes through ``onnxruntime.quantization.quant_pre_process``
    (onnx's shape inference and onnxruntime's graph optimisation, as
    onnxruntime advises before quantising) and the quantiser in a scratch
    folder beside ``out``, is checked (valid ONNX, loads in onnxruntime
    with the graph's inputs / outputs, runs once) and moved into place only
    then.

    Raises:
        OutputExistsError: ``out`` exists and not ``overwrite``.
        FileNotFoundError: no ``onnx_file``, or a calibration image.
        OnnxQuantizeError: ``onnx_file`` is not a float32 ONNX graph with
            weights to quantise, or ``out`` is ``onnx_file``.
        OnnxMismatchError: the graph is not the config's.
    """
    import onnx
    from onnx.external_data_helper import convert_model_from_external_data
    from onnxruntime import quantization as q
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if mode not in QUANT_MODES:
        raise ValueError(f"mode must be one of {QUANT_MODES}, got '{mode}'")
    if osp.realpath(out) == osp.realpath(onnx_file):
        raise OnnxQuantizeError(f'{out}: the output would replace the float32 graph it is '
                                'quantised from; choose another name')
    check_new_file(out, overwrite, what='output')
    out_dir = osp.dirname(osp.abspath(out))
    if not osp.isdir(out_dir):
        raise FileNotFoundError(f'output folder {out_dir} does not exist')
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    config_name = f'the config {config}' if isinstance(config, str) else 'the config'
    op_types = QUANTIZED_OPS[mode]
    model = _load_float_graph(onnx_file, op_types)
    check_graph(ort_session(onnx_file), onnx_file, cfg, config_name)

    used: List[str] = []
    feeds: List[np.ndarray] = []
    if mode == 'static':
        used = calibration_images(cfg, num_images, images)
        feeds = graph_inputs(onnx_file, cfg, used)
    scratch = tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=out_dir)
    try:
        # the quantiser reads one self-contained file: torch.onnx keeps the
        # weights in OUT.onnx.data, which quant_pre_process does not follow
        convert_model_from_external_data(model)
        single, prepared = osp.join(scratch, 'float.onnx'), osp.join(scratch, 'prepared.onnx')
        onnx.save(model, single)
        # onnxruntime's symbolic shape inference fails on torch.onnx's graphs
        # (a TypeError on an output it leaves without a shape, onnxruntime
        # 1.32); onnx's own shape inference gives the quantiser what it needs
        quant_pre_process(single, prepared, skip_symbolic_shape=True)
        staged = osp.join(scratch, osp.basename(out))
        common = dict(
            op_types_to_quantize=list(op_types),
            per_channel=per_channel,
            reduce_range=reduce_range,
            weight_type=q.QuantType.QInt8)
        if mode == 'dynamic':
            # its default MatMulConstBOnly leaves the products of two
            # activations alone; it turns Gemm nodes into MatMul + Add first
            q.quantize_dynamic(prepared, staged, **common)
        else:
            q.quantize_static(
                prepared,
                staged,
                _Feeds(feeds),
                quant_format=q.QuantFormat.QDQ,
                activation_type=q.QuantType.QInt8,
                calibrate_method=q.CalibrationMethod.MinMax,
                nodes_to_quantize=weight_nodes(onnx.load(prepared), op_types),
                **common)
        nodes = _check_quantized(staged, out, cfg, config_name, feeds[0] if feeds else None)
        os.replace(staged, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return QuantizeResult(out, mode, onnx_file, nodes, used, len(feeds), _file_bytes(onnx_file),
                          os.path.getsize(out))


def _check_quantized(staged: str, out: str, cfg: Config, config_name: str,
                     example: Optional[np.ndarray]) -> int:
    """Refuse a quantised graph that is not valid ONNX, has no int8 weight,
    is not the config's graph, or does not run (on ``example``, else a
    standard-normal input of the graph's size or the config's
    :func:`default_shape`). Returns the number of int8 weight matrices /
    kernels (zero points, also int8, have fewer than 2 dimensions)."""
    import onnx
    graph = onnx.load(staged)
    weights = sum(1 for t in graph.graph.initializer
                  if t.data_type == onnx.TensorProto.INT8 and len(t.dims) >= 2)
    if not weights:
        raise OnnxQuantizeError(f'{out}: onnxruntime quantised no weight, nothing written')
    try:
        onnx.checker.check_model(graph)
        session = ort_session(staged)
        check_graph(session, out, cfg, config_name)
        if example is None:
            dims = session.get_inputs()[0].shape
            h, w = (dims[2:] if all(isinstance(d, int) for d in dims[2:]) else default_shape(cfg))
            example = np.random.default_rng(0).standard_normal((1, dims[1], h, w), dtype=np.float32)
        logits = session.run([OUTPUT_NAME], {INPUT_NAME: example})[0]
    except Exception as e:  # the checker's and onnxruntime's error types vary
        raise OnnxQuantizeError(f'{out}: the quantised graph does not check or run, nothing '
                                f'written ({type(e).__name__}: {e})') from e
    if logits.shape[0] != example.shape[0] or logits.shape[2:] != example.shape[2:]:
        raise OnnxQuantizeError(f'{out}: the quantised graph returns {logits.shape} for an '
                                f'input of {example.shape}; nothing written')
    return weights


def onnx_agreement(reference: str,
                   candidate: str,
                   config: Union[str, Config],
                   images: Sequence[str],
                   precision: str = 'int8') -> Dict:
    """Share of pixels whose predicted class by the ``candidate`` graph (an
    int8 one) equals the ``reference`` graph's (the float32 export).

    Both run as :class:`~mmseg_cbsa.deployment.OnnxSegmentor` (the config's
    test pipeline, data preprocessor, ``test_cfg`` and mmseg's
    postprocessing) on each image.

    Returns:
        the report of :func:`mmseg_cbsa.analysis.precision.argmax_agreement`:
        ``dict(precision, agreement, pixels, images, per_image,
        max_abs_logit_diff)``, ``agreement`` over all pixels of all images,
        ``per_image`` in input order, ``max_abs_logit_diff`` the largest
        difference of the logits at the images' sizes.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    ref, low = OnnxSegmentor(reference, cfg), OnnxSegmentor(candidate, cfg)
    same = total = 0
    per_image: List[float] = []
    max_diff = 0.0
    for path in images:
        read_image(path)
        a, b = ref(path), low(path)
        agree = int((a.pred_sem_seg.data == b.pred_sem_seg.data).sum())
        pixels = a.pred_sem_seg.data.numel()
        same, total = same + agree, total + pixels
        per_image.append(agree / pixels)
        max_diff = max(max_diff, float((a.seg_logits.data - b.seg_logits.data).abs().max()))
    return dict(
        precision=precision,
        agreement=same / max(total, 1),
        pixels=total,
        images=len(per_image),
        per_image=per_image,
        max_abs_logit_diff=max_diff)


def agreement_summary(res: Dict, what: str) -> str:
    """The line the tools print for an :func:`onnx_agreement` report."""
    return (f"{what}: argmax agreement {100 * res['agreement']:.2f}% of {res['pixels']} pixels "
            f"in {res['images']} images (lowest image {100 * min(res['per_image'], default=1):.2f}"
            f"%), max |logit difference| {res['max_abs_logit_diff']:.4f}")


def measure_onnx_agreement(config: str,
                           reference: str,
                           candidate: str,
                           images: Optional[Sequence[str]] = None,
                           precision: str = 'int8',
                           cfg_options: Optional[dict] = None) -> Dict:
    """:func:`onnx_agreement` on image files and/or folders (default every
    image of the config's test set, with ``cfg_options`` merged into the
    config); prints one line and returns the report."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    paths = collect_images(images) if images else evaluated_image_paths(cfg)
    res = onnx_agreement(reference, candidate, cfg, paths, precision)
    print(
        agreement_summary(
            res, f'{osp.basename(candidate)} ({precision}) vs '
            f'{osp.basename(reference)}'),
        flush=True)
    return res


__all__ = [
    'CALIBRATION_IMAGES', 'OnnxQuantizeError', 'QUANT_MODES', 'QUANTIZED_OPS', 'QuantizeResult',
    'agreement_summary', 'calibration_images', 'graph_inputs', 'measure_onnx_agreement',
    'onnx_agreement', 'quantize_onnx', 'weight_nodes'
]
