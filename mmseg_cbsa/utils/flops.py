"""FLOP counting with mmengine's analyzer, completed for fused attention.

mmengine counts one multiply-add as one FLOP and has no handle for
``aten::scaled_dot_product_attention``, so attention computed with the fused
kernel would silently count as free; :func:`sdpa_flop_jit` fills that in.
"""
from math import prod
from typing import Any, List, Tuple

from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from torch import nn


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """Multiply-adds of softmax(q k^T) v: q (..., L, E), k (..., S, E), v (..., S, Ev)."""
    q, k, v = (get_shape(t) for t in inputs[:3])
    *batch, length, e = q
    s, ev = k[-2], v[-1]
    return prod(batch) * length * s * (e + ev)


def flop_analyzer(model: nn.Module, inputs: Tuple[Any, ...]) -> FlopAnalyzer:
    """An mmengine :class:`FlopAnalyzer` that also counts fused attention."""
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer


def count_flops(model: nn.Module, *inputs: Any) -> int:
    """Total multiply-adds of ``model(*inputs)``."""
    return flop_analyzer(model, inputs).total()
