"""ONNX export of the project's segmentors and inference with onnxruntime.

* :class:`SegmentorLogits`: the exported function, a segmentor's whole-image
  forward ``img (N, 3, H, W) -> seg_logits (N, C, H, W)``;
* :func:`export_onnx`: a config (and checkpoint) to an ``.onnx`` file, with
  runtime batch and image size when ``dynamic``, optionally verified;
* :func:`verify_onnx`: onnxruntime against PyTorch on given input sizes;
* :class:`OnnxSegmentor`: an exported file used like the segmentor: mmseg's
  data preprocessor, whole or sliding-window inference and its
  postprocessing (crop, resize to the original size, argmax), with the graph
  in place of the PyTorch forward.

What the graph takes and returns: ``img`` is the *preprocessed* batch, i.e.
what the segmentor's ``data_preprocessor`` hands the model (BGR->RGB,
normalised, padded as the config says); ``seg_logits`` are the decode head's
logits bilinearly resized to the input size (``align_corners`` of the head),
exactly ``EncoderDecoder.encode_decode`` on that batch. Sliding windows are
not in the graph: :class:`OnnxSegmentor` runs the graph once per window.
"""
import os
import os.path as osp
import shutil
import tempfile
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from torch import Tensor, nn

from ..apis import build_model, image_pipeline
from ..registry import MODELS, build_in_scope
from ..utils.outputs import PARTIAL_PREFIX, check_new_file
from .precision import ORT_PRECISIONS, float16_graph

#: the exported graph's input and output names
INPUT_NAME = 'img'
OUTPUT_NAME = 'seg_logits'
#: what --verify accepts for the network: max abs logit difference in float32
#: (measured 1e-6 to 8e-6 on the tiny models, 32 px to 1024 x 1024)
VERIFY_ATOL = 1e-4
#: the external-data file torch.onnx writes beside ``OUT.onnx`` for large graphs
DATA_SUFFIX = '.data'


class OnnxExportError(RuntimeError):
    """An export that did not produce the graph asked for (opset, validity,
    verification); nothing was written under the output name."""


class OnnxMismatchError(ValueError):
    """An exported graph that is not the model its config describes (input
    channels, class count, input / output names)."""


def config_io(cfg: Config) -> Tuple[int, int]:
    """(input channels, output channels) of the segmentor a config builds: the
    backbone's ``in_channels`` (3 when unset) and the last decode head's
    ``out_channels`` or ``num_classes``."""
    head = cfg.model.decode_head
    head = head[-1] if isinstance(head, (list, tuple)) else head
    channels = (cfg.model.get('backbone') or {}).get('in_channels', 3)
    return int(channels), int(head.get('out_channels') or head.num_classes)


def check_graph(session, onnx_file: str, cfg: Config, config_name: str = 'the config') -> None:
    """Refuse a graph whose inputs / outputs are not those :func:`export_onnx`
    writes for ``cfg``: ``img`` (N, C_in, H, W) and ``seg_logits``
    (N, num_classes, H, W), with the config's channel and class counts.

    Raises:
        OnnxMismatchError: naming the file, the dimension, the config's value
            and the graph's.
    """
    inputs, outputs = session.get_inputs(), session.get_outputs()
    names = ([i.name for i in inputs], [o.name for o in outputs])
    if names != ([INPUT_NAME], [OUTPUT_NAME]):
        raise OnnxMismatchError(
            f'{onnx_file}: takes {names[0]} and returns {names[1]}; a graph exported by '
            f'tools/deployment/pytorch2onnx.py takes [{INPUT_NAME!r}] and returns '
            f'[{OUTPUT_NAME!r}]')
    in_channels, classes = config_io(cfg)
    for what, shape, expected in (('input channels', inputs[0].shape, in_channels),
                                  ('classes', outputs[0].shape, classes)):
        found = shape[1] if len(shape) == 4 else None
        if found != expected:
            raise OnnxMismatchError(
                f'{onnx_file}: the graph has {found} {what} ({"x".join(map(str, shape))}), '
                f'{config_name} {expected}; it was exported from another config or with other '
                '--cfg-options. Export it again from this config, or give the config it was '
                'exported from.')


class SegmentorLogits(nn.Module):
    """What is exported: ``encode_decode`` of an mmseg ``EncoderDecoder`` for
    whole images, ``img`` (N, 3, H, W) preprocessed -> (N, C, H, W) logits
    at the input size."""

    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__()
        if not (hasattr(segmentor, 'extract_feat') and hasattr(segmentor, 'decode_head')):
            raise TypeError(f'ONNX export takes mmseg segmentors with a decode head '
                            f'(EncoderDecoder), got {type(segmentor).__name__}')
        self.segmentor = segmentor

    def forward(self, img: Tensor) -> Tensor:
        # mmseg's own whole-image path; a torch.Size img_shape makes the head
        # resize to the (runtime) input size, as in its slide inference
        return self.segmentor.encode_decode(img, [dict(img_shape=img.shape[2:])])


def default_shape(cfg: Config) -> Tuple[int, int]:
    """Example input (H, W): the sliding window of slide-mode configs, else the
    data preprocessor's ``size``, else 512 x 512."""
    test_cfg = cfg.model.get('test_cfg') or {}
    if test_cfg.get('mode') == 'slide':
        return tuple(test_cfg['crop_size'])
    size = (cfg.model.get('data_preprocessor') or {}).get('size')
    return tuple(size) if size else (512, 512)


def verify_shapes(shape: Sequence[int], dynamic: bool) -> List[Tuple[int, int]]:
    """Input sizes :func:`export_onnx` verifies: the export size and, for a
    dynamic graph, a larger non-square one and an odd one (partial patches,
    a patch grid the representative grid does not divide)."""
    h, w = shape
    sizes = [(h, w)]
    if dynamic:
        sizes += [(h * 3 // 4, w * 5 // 4), (h // 2 + 1, w + 3)]
    return sizes


def verify_tolerance(shape: Sequence[int], logit_range: float) -> float:
    """The largest logit difference :func:`verify_onnx` accepts for an input
    of ``shape`` (..., H, W) whose PyTorch logits span ``logit_range``:
    ``max(VERIFY_ATOL, 2 eps L R)``, with eps float32's machine epsilon, L
    the input's long side and R the range.

    Why the second term: the logits are resized to the input size by a
    factor that is not an integer when a side is not a multiple of the patch
    size. PyTorch derives each source coordinate from the sizes, onnxruntime
    from the scale factor stored in float32, so pixel x reads a point up to
    ~eps x pixels apart, and a logit moves by at most R between neighbouring
    source pixels: a difference up to ~eps L R on each axis, that grows with
    the image. Measured: 1.3e-4 at 3750 x 37 (R 4.3; bound 3.8e-3), 4e-6 at
    sizes the patch size divides.
    """
    eps = float(torch.finfo(torch.float32).eps)
    return max(VERIFY_ATOL, 2 * eps * max(shape[-2:]) * logit_range)


class VerifyResult(NamedTuple):
    """One :func:`verify_onnx` comparison.

    ``argmax_agreement`` is the fraction of pixels with the same class;
    ``near_ties`` counts the disagreeing pixels whose two best PyTorch logits
    are within twice ``max_abs_diff`` of each other, i.e. where rounding at
    the measured difference can flip the class (random models have a few
    such pixels in a million). ``ok``: the difference is at most
    ``tolerance`` (:func:`verify_tolerance`) and every disagreement is such
    a tie.
    """
    shape: Tuple[int, ...]
    max_abs_diff: float
    argmax_agreement: float
    near_ties: int = 0
    disagreements: int = 0
    tolerance: float = VERIFY_ATOL

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance and self.disagreements == self.near_ties

    def __str__(self) -> str:
        ties = (f' ({self.disagreements} pixel(s) differ, {self.near_ties} of them at near-ties)'
                if self.disagreements else '')
        return (f'input {"x".join(map(str, self.shape))}: max |onnx - torch| logit '
                f'{self.max_abs_diff:.3g} (tolerance {self.tolerance:.3g}), argmax agreement '
                f'{self.argmax_agreement:.6f}{ties} [{"ok" if self.ok else "MISMATCH"}]')


#: onnxruntime graph optimisation levels by name (``ort_session``)
ORT_OPTIMIZATIONS = ('disable', 'basic', 'extended', 'all')


def ort_session(onnx_file: str,
                optimization: str = 'all',
                threads: Optional[int] = None,
                precision: str = 'float32'):
    """An onnxruntime CPU ``InferenceSession`` for ``onnx_file``.

    Args:
        optimization: onnxruntime's graph optimisation level, one of
            :data:`ORT_OPTIMIZATIONS` ('all', onnxruntime's default, adds its
            fusions - LayerNorm, GELU, MatMul + Add, attention - and layout
            changes to the constant folding and redundant-node removal of
            'basic').
        threads: intra-op threads (onnxruntime's default if None).
        precision: one of :data:`~mmseg_cbsa.deployment.precision.ORT_PRECISIONS`
            ('fp16': the graph converted to float16 first,
            :func:`~mmseg_cbsa.deployment.precision.float16_graph`).
    """
    import onnxruntime as ort
    if optimization not in ORT_OPTIMIZATIONS:
        raise ValueError(f"optimization must be one of {ORT_OPTIMIZATIONS}, got '{optimization}'")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel,
        dict(
            disable='ORT_DISABLE_ALL',
            basic='ORT_ENABLE_BASIC',
            extended='ORT_ENABLE_EXTENDED',
            all='ORT_ENABLE_ALL')[optimization])
    if precision not in ORT_PRECISIONS:
        raise ValueError(f"precision must be one of {ORT_PRECISIONS}, got '{precision}'")
    if threads:
        opts.intra_op_num_threads = threads
    if precision == 'fp16':
        # one warning per Resize it cannot constant-fold in float16: not the user's to act on
        opts.log_severity_level = 3
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX file not found: {onnx_file}')
    try:
        graph = float16_graph(onnx_file) if precision == 'fp16' else onnx_file
        return ort.InferenceSession(graph, opts, providers=['CPUExecutionProvider'])
    except Exception as e:  # onnxruntime's own exception types (InvalidProtobuf, Fail, ...)
        raise OnnxMismatchError(f'{onnx_file}: onnxruntime cannot load it as an ONNX graph '
                                f'({type(e).__name__}: {e})') from e


def export_module(module: nn.Module,
                  inputs: Sequence[Tensor],
                  out: str,
                  dynamic_dims: Optional[Sequence[int]] = None) -> str:
    """Export ``module(*inputs)`` to ``out`` with torch.onnx's dynamo exporter.

    Inputs are named ``input0``, ``input1``, ...; the outputs ``output0``, ...
    ``dynamic_dims`` marks these dimensions of every input as runtime sizes.
    """
    names = [f'input{i}' for i in range(len(inputs))]
    kwargs = {}
    if dynamic_dims:
        dim = torch.export.Dim.DYNAMIC
        kwargs['dynamic_shapes'] = {n: {d: dim for d in dynamic_dims} for n in names}
    with torch.no_grad():
        torch.onnx.export(
            module.eval(),
            tuple(inputs),
            out,
            dynamo=True,
            input_names=names,
            verbose=False,
            **kwargs)
    return out


def verify_onnx(model: nn.Module,
                onnx_file: str,
                shapes: Sequence[Sequence[int]],
                seed: int = 0) -> List[VerifyResult]:
    """Run the graph in onnxruntime and ``model`` (a segmentor or
    :class:`SegmentorLogits`) in PyTorch on standard-normal inputs (what a
    normalised image looks like) of each (H, W) or (N, 3, H, W) in ``shapes``."""
    net = model if isinstance(model, SegmentorLogits) else SegmentorLogits(model)
    net = net.eval()
    session = ort_session(onnx_file)
    gen = torch.Generator().manual_seed(seed)
    results = []
    for shape in shapes:
        shape = tuple(shape) if len(shape) == 4 else (1, 3, *shape)
        img = torch.randn(shape, generator=gen)
        with torch.no_grad():
            ref = net(img)
        out = torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: img.numpy()})[0])
        if out.shape != ref.shape:
            raise RuntimeError(f'onnxruntime returned {tuple(out.shape)} for input {shape}, '
                               f'PyTorch {tuple(ref.shape)}')
        diff = (out - ref).abs().max().item()
        same = out.argmax(1) == ref.argmax(1)
        top2 = ref.topk(2, dim=1).values if ref.shape[1] > 1 else None
        ties = 0
        if top2 is not None:
            tie = (top2[:, 0] - top2[:, 1]) <= 2 * diff
            ties = int((~same & tie).sum())
        tolerance = verify_tolerance(shape, (ref.max() - ref.min()).item())
        results.append(
            VerifyResult(shape, diff,
                         same.double().mean().item(), ties, int((~same).sum()), tolerance))
    return results


class ExportResult(NamedTuple):
    """What :func:`export_onnx` did."""
    path: str
    shape: Tuple[int, int]
    dynamic: bool
    source: str
    verified: List[VerifyResult]


def check_exported(staged: str, out: str, opset_version: Optional[int] = None) -> None:
    """Refuse an export that is not a valid graph, or whose opset is not the
    one asked for (torch.onnx logs a failed conversion to another opset and
    writes its default instead).

    Raises:
        OnnxExportError: naming ``out``, the opset asked for and written.
    """
    import onnx
    try:
        onnx.checker.check_model(staged)
    except Exception as e:  # the checker's error types vary by version
        raise OnnxExportError(f'{out}: the exported graph is not valid ONNX, nothing written '
                              f'({type(e).__name__}: {e})') from e
    graph = onnx.load(staged, load_external_data=False)
    declared = {o.domain: o.version for o in graph.opset_import}.get('')
    if opset_version is not None and declared != opset_version:
        raise OnnxExportError(
            f'{out}: --opset {opset_version} asked for, but torch.onnx wrote opset {declared} '
            '(converting this model to that opset failed; see the exporter\'s log above); '
            'nothing written. Leave out --opset, or choose one it converts to.')


def export_onnx(config: Union[str, Config],
                out: str,
                checkpoint: Optional[str] = None,
                dynamic: bool = False,
                shape: Optional[Sequence[int]] = None,
                verify: bool = False,
                overwrite: bool = False,
                cfg_options: Optional[dict] = None,
                opset_version: Optional[int] = None) -> ExportResult:
    """Export a config's segmentor to ONNX (torch.onnx's dynamo exporter).

    Args:
        config: an mmseg segmentation config (path or Config).
        out: the ``.onnx`` file to write.
        checkpoint: weights; None exports a random initialisation.
        dynamic: batch, height and width as runtime sizes (any size the
            PyTorch model accepts); else fixed to 1 x 3 x ``shape``.
        shape: the example input (H, W), default :func:`default_shape`.
        verify: compare onnxruntime with PyTorch (:func:`verify_onnx`) on
            :func:`verify_shapes`.
        overwrite: replace an existing ``out`` and its ``out.data`` (refused
            otherwise).
        cfg_options: overrides merged into the config.
        opset_version: the ONNX opset (torch.onnx's default if None).

    The graph is exported into a scratch folder beside ``out``, checked
    (:func:`check_exported`) and verified there, and moved into place only
    then: a failed export or verification leaves nothing under ``out``.

    Raises:
        OutputExistsError: ``out`` or ``out.data`` exists and not ``overwrite``.
        OnnxExportError: an unsupported or unconverted opset, an invalid
            graph, or a failed verification.
    """
    import onnx
    check_new_file(out, overwrite, what='output')
    check_new_file(out + DATA_SUFFIX, overwrite, what="output's external-data file")
    out_dir = osp.dirname(osp.abspath(out))
    if not osp.isdir(out_dir):
        raise FileNotFoundError(f'output folder {out_dir} does not exist')
    newest = onnx.defs.onnx_opset_version()
    if opset_version is not None and not 7 <= opset_version <= newest:
        raise OnnxExportError(
            f'{out}: --opset {opset_version}: onnx {onnx.__version__} writes opsets 7 '
            f'to {newest}; torch.onnx exports 18 natively')
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    shape = tuple(int(s) for s in (shape or default_shape(cfg)))
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f'--shape {" ".join(map(str, shape))}: expected a height and a width '
                         'of at least 1 pixel')
    model, source, _ = build_model(cfg, checkpoint)
    net = SegmentorLogits(model).eval()
    kwargs = {}
    if dynamic:
        dim = torch.export.Dim.DYNAMIC
        kwargs['dynamic_shapes'] = {INPUT_NAME: {0: dim, 2: dim, 3: dim}}
        # an example batch of 1 would be specialised to 1: trace with 2
        example = torch.randn(2, 3, *shape)
    else:
        example = torch.randn(1, 3, *shape)
    if opset_version is not None:
        kwargs['opset_version'] = opset_version
    # the graph names its external-data file by the graph's own name, so it is
    # exported under its final name into a scratch folder beside ``out`` and
    # moved into place (data first) only once checked and verified
    scratch = tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=out_dir)
    try:
        staged = osp.join(scratch, osp.basename(out))
        with torch.no_grad():
            torch.onnx.export(
                net, (example, ),
                staged,
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                verbose=False,
                **kwargs)
        check_exported(staged, out, opset_version)
        verified = verify_onnx(net, staged, verify_shapes(shape, dynamic)) if verify else []
        failed = [r for r in verified if not r.ok]
        if failed:
            raise OnnxExportError(f'{out}: onnxruntime does not match PyTorch, nothing written:\n' +
                                  '\n'.join(f'verify {r}' for r in verified))
        for name in sorted(os.listdir(scratch), key=lambda n: n == osp.basename(out)):
            os.replace(osp.join(scratch, name), osp.join(out_dir, name))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return ExportResult(out, shape, dynamic, source, verified)


class OnnxSegmentor:
    """An exported segmentor run by onnxruntime, as mmseg runs the PyTorch one.

    ``predict`` is ``EncoderDecoder.predict`` with the graph as
    ``encode_decode``: the config's ``test_cfg`` (whole or slide; the windows
    are cut here, one graph run each) and mmseg's own postprocessing (padding
    removed, bilinear resize to the original size, argmax). ``__call__``
    adds the config's test pipeline and data preprocessor for image files or
    arrays (BGR, as mmcv reads them).

    Args:
        onnx_file: the exported graph (a fixed-size graph serves only its size).
        config: the config it was exported from.
        precision: what the graph runs in (:mod:`.precision`: 'float32', the
            graph as exported, or 'fp16').

    Raises:
        OnnxMismatchError: the graph's input channels or class count are not
            the config's (:func:`check_graph`).
    """

    def __init__(self,
                 onnx_file: str,
                 config: Union[str, Config],
                 precision: str = 'float32') -> None:
        from mmengine.registry import init_default_scope
        from mmseg.models.segmentors import EncoderDecoder
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        self.cfg = cfg
        self.session = ort_session(onnx_file, precision=precision)
        check_graph(self.session, onnx_file, cfg,
                    f'the config {config}' if isinstance(config, str) else 'the config')
        head = cfg.model.decode_head
        head = head[-1] if isinstance(head, (list, tuple)) else head
        self.align_corners = head.get('align_corners', False)
        self.out_channels = config_io(cfg)[1]
        self.decode_head = type('Head', (), dict(threshold=head.get('threshold') or 0.3))
        self.test_cfg = cfg.model.get('test_cfg') or ConfigDict(mode='whole')
        self.data_preprocessor = build_in_scope(MODELS, cfg.model.data_preprocessor)
        # mmseg's own inference code, with encode_decode below
        self._inference = EncoderDecoder.inference
        self._slide_inference = EncoderDecoder.slide_inference
        self._postprocess = EncoderDecoder.postprocess_result

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """The graph: preprocessed (N, 3, H, W) -> (N, C, H, W) logits."""
        out = self.session.run([OUTPUT_NAME], {INPUT_NAME: inputs.float().cpu().numpy()})[0]
        return torch.from_numpy(out)

    def whole_inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        return self.encode_decode(inputs, batch_img_metas)

    def slide_inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        return self._slide_inference(self, inputs, batch_img_metas)

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        return self._inference(self, inputs, batch_img_metas)

    def predict(self, inputs: Tensor, data_samples: list) -> list:
        """``EncoderDecoder.predict``: preprocessed inputs and their data
        samples -> the data samples with ``seg_logits`` and ``pred_sem_seg``."""
        metas = [s.metainfo for s in data_samples]
        return self._postprocess(self, self.inference(inputs, metas), data_samples)

    def __call__(self, imgs: Union[str, np.ndarray, Sequence[Union[str, np.ndarray]]]) -> list:
        """Image files or BGR arrays -> one ``SegDataSample`` per image
        (``pred_sem_seg``: (1, H, W) class indices at the original size)."""
        from mmcv.transforms import Compose

        single = isinstance(imgs, (str, np.ndarray))
        imgs = [imgs] if single else list(imgs)
        steps = list(image_pipeline(self.cfg).transforms)
        results = []
        for img in imgs:
            if isinstance(img, np.ndarray):
                from mmseg.datasets.transforms import LoadImageFromNDArray
                pipe = Compose([LoadImageFromNDArray()] + steps[1:])
                data = pipe(dict(img=img))
            else:
                data = Compose(steps)(dict(img_path=img))
            batch = self.data_preprocessor(
                dict(inputs=[data['inputs']], data_samples=[data['data_samples']]), False)
            results += self.predict(batch['inputs'], batch['data_samples'])
        return results[0] if single else results


def export_summary(result: ExportResult) -> str:
    """The lines the export tool prints."""
    size = 'N x 3 x H x W (runtime sizes)' if result.dynamic else \
        f'1 x 3 x {result.shape[0]} x {result.shape[1]} (fixed)'
    lines = [
        f'wrote {result.path}: {INPUT_NAME} {size} -> {OUTPUT_NAME} (N, C, H, W); '
        f'weights: {result.source}'
    ]
    lines += [f'verify {r}' for r in result.verified]
    return '\n'.join(lines)


__all__ = [
    'OnnxExportError', 'OnnxMismatchError', 'check_exported', 'check_graph', 'config_io',
    'SegmentorLogits', 'export_onnx', 'verify_tolerance', 'verify_onnx', 'OnnxSegmentor',
    'ExportResult', 'VerifyResult', 'default_shape', 'verify_shapes', 'export_summary'
]
