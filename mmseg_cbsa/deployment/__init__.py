"""Deployment: ONNX export, onnxruntime inference and evaluation, int8 quantisation
(docs/deployment.md)."""
from .evaluation import OnnxSegmentorModel, evaluate_onnx, onnx_test_config
from .onnx import (ExportResult, OnnxExportError, OnnxMismatchError, OnnxSegmentor, SegmentorLogits,
                   VerifyResult, check_graph, default_shape, export_onnx, export_summary,
                   verify_onnx, verify_shapes)
from .precision import (ORT_PRECISIONS, OnnxPrecisionError, announce_onnx_precision, float16_graph,
                        onnx_precision)
from .quantize import (QUANT_MODES, OnnxQuantizeError, QuantizeResult, measure_onnx_agreement,
                       onnx_agreement, quantize_onnx)

__all__ = [
    'ExportResult', 'ORT_PRECISIONS', 'OnnxExportError', 'OnnxMismatchError', 'OnnxPrecisionError',
    'OnnxQuantizeError', 'OnnxSegmentor', 'OnnxSegmentorModel', 'QUANT_MODES', 'QuantizeResult',
    'announce_onnx_precision', 'SegmentorLogits', 'VerifyResult', 'check_graph', 'default_shape',
    'evaluate_onnx', 'export_onnx', 'export_summary', 'float16_graph', 'onnx_precision',
    'measure_onnx_agreement', 'onnx_agreement', 'onnx_test_config', 'quantize_onnx', 'verify_onnx',
    'verify_shapes'
]
