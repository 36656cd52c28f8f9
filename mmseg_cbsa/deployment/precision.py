"""The precision an exported graph runs in under onnxruntime's CPU provider.

The tools' vocabulary (:data:`~mmseg_cbsa.utils.precision.PRECISION_CHOICES`)
means here:

* ``'float32'``: the graph as exported (an int8 graph from
  ``tools/deployment/quantize_onnx.py`` keeps its int8 operators);
* ``'fp16'``: the graph's float32 weights and operators converted to float16
  when the session is made (onnxruntime's own converter), its input and
  output kept float32, so the rest of the pipeline is unchanged;
* ``'bf16'``: refused: onnxruntime's CPU provider has no bfloat16 kernels
  for the graph's products and no converter to them;
* ``'auto'``: ``'float32'``. On the CPU provider float16 is never faster
  (it has float16 kernels for few operators and casts around the rest) and
  ``bf16`` does not run; the faster CPU path for a graph is int8
  quantization, a different file made once (``quantize_onnx.py``).
"""
import logging
import sys
from typing import TYPE_CHECKING, Optional, Tuple

from ..utils.precision import precision_name

if TYPE_CHECKING:
    from ..utils.hardware import HardwareReport

#: what an onnxruntime CPU session can run a float32 graph in
ORT_PRECISIONS = ('float32', 'fp16')


class OnnxPrecisionError(ValueError):
    """A precision onnxruntime's CPU provider cannot run a graph in."""


def onnx_precision(requested: str, report: Optional['HardwareReport'] = None) -> Tuple[str, str]:
    """The precision to run a graph in, and why (one line).

    Args:
        requested: ``'auto'``, ``'float32'``, ``'fp16'`` or ``'bf16'`` (and
            their aliases).
        report: the machine's hardware report, for what fp16 costs on this
            CPU (default: this machine's, measured once per process).

    Raises:
        OnnxPrecisionError: ``'bf16'``.
    """
    name = precision_name(requested)
    if name == 'bf16':
        raise OnnxPrecisionError(
            "--precision bf16: onnxruntime's CPU provider has no bfloat16 kernels for the "
            'graph to run in; use float32 (the graph as exported), fp16, or an int8 graph '
            '(tools/deployment/quantize_onnx.py)')
    if name == 'auto':
        return 'float32', ("float32 (auto): onnxruntime's CPU provider runs float16 through "
                           'casts and bfloat16 not at all; for a faster CPU path quantize the '
                           'graph to int8 (tools/deployment/quantize_onnx.py)')
    if name == 'float32':
        return name, 'float32: the graph as exported'
    if report is None:
        from ..utils.hardware import hardware_report
        report = hardware_report('cpu')
    why = ('fp16: the graph converted to float16 (float32 input and output); '
           "onnxruntime's CPU provider casts around the operators it has no float16 "
           'kernel for')
    if not report.native('fp16'):
        why += f' ({report.missing("fp16")} here): expect it slower than float32'
    return name, why


def announce_onnx_precision(requested: str) -> str:
    """:func:`onnx_precision` once, for a tool or demo, with its reason said
    in one line on stderr (``precision: float32 (auto): ...``), as
    :func:`~mmseg_cbsa.utils.precision.announce_precision` says it for a
    PyTorch model."""
    precision, why = onnx_precision(requested)
    print(f'precision: {why}', file=sys.stderr)
    return precision


def float16_graph(onnx_file: str) -> bytes:
    """``onnx_file`` with its float32 weights and operators in float16 and
    its input and output kept float32 (onnxruntime's converter), serialized
    for ``onnxruntime.InferenceSession``."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(onnx_file)
    # the converter warns about every float32 constant outside float16's range
    # (clipped to it, as float16 arithmetic would)
    logger = logging.getLogger('onnxruntime.transformers.float16')
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return convert_float_to_float16(model, keep_io_types=True).SerializeToString()
    finally:
        logger.setLevel(level)


__all__ = [
    'ORT_PRECISIONS', 'OnnxPrecisionError', 'announce_onnx_precision', 'float16_graph',
    'onnx_precision'
]
