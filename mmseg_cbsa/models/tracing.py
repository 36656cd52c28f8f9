"""Whether the forward pass is being traced for export (ONNX).

The layers compute exactly the same function either way (bit-identical in
eager mode, tests/test_deployment/test_export_forms.py); two of them take an
export form while tracing, written from runtime sizes, where the eager form
skips work that is an exact identity (see docs/deployment.md#onnx-export):

* ``TokenBackbone.resized_pos_embed``: always resized (an identity at the
  layout grid) instead of the ``hw_shape == pos_grid`` shortcut;
* the patch embeddings always pad (by zero pixels where nothing is needed).

CBSA has one form for training, inference and export: its pooling of the
initial representatives is
:func:`~mmseg_cbsa.models.attentions.representatives.separable_avg_pool`
and it always folds ``to_out`` into the broadcast (:meth:`CBSA.broadcast`).
"""
import torch


def is_exporting() -> bool:
    """True while ``torch.onnx.export`` (TorchScript or dynamo) or
    ``torch.export`` traces the model."""
    return bool(torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting())
