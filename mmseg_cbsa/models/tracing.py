"""Whether the forward pass is being traced for export (ONNX).

The layers compute exactly the same function either way; a few of them take
an export form while tracing, written from runtime sizes in ops ONNX
supports, where the eager form uses a shortcut or an op the exporters cannot
express for every input size (see docs/deployment.md#onnx-export):

* :func:`~mmseg_cbsa.models.attentions.representatives.pool_patch_tokens`:
  separable averaging matrices instead of ``adaptive_avg_pool2d``;
* ``TokenBackbone.resized_pos_embed``: always resized (an identity at the
  layout grid) instead of the ``hw_shape == pos_grid`` shortcut;
* the patch embeddings always pad (by zero pixels where nothing is needed);
* ``CBSA`` always folds ``to_out`` (:meth:`CBSA.broadcast_out`).
"""
import torch


def is_exporting() -> bool:
    """True while ``torch.onnx.export`` (TorchScript or dynamo) or
    ``torch.export`` traces the model."""
    return bool(torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting())
