"""Deployment: ONNX export, onnxruntime inference and evaluation (docs/deployment.md)."""
from .evaluation import OnnxSegmentorModel, evaluate_onnx, onnx_test_config
from .onnx import (ExportResult, OnnxExportError, OnnxMismatchError, OnnxSegmentor, SegmentorLogits,
                   VerifyResult, check_graph, default_shape, export_onnx, export_summary,
                   verify_onnx, verify_shapes)

__all__ = [
    'ExportResult', 'OnnxExportError', 'OnnxMismatchError', 'OnnxSegmentor', 'OnnxSegmentorModel',
    'SegmentorLogits', 'VerifyResult', 'check_graph', 'default_shape', 'evaluate_onnx',
    'export_onnx', 'export_summary', 'onnx_test_config', 'verify_onnx', 'verify_shapes'
]
