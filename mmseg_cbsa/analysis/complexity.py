"""FLOP counting with mmengine's analyzer, completed for fused attention.

mmengine counts one multiply-add as one FLOP and has no handle for
``aten::scaled_dot_product_attention`` or ``aten::baddbmm``, and its matmul
handle ignores the batch of a broadcast second operand, so fused attention
and some GEMMs would count as free or too cheap; the handles here fix that.
"""
from math import prod
from typing import Any, List, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from torch import nn


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """Multiply-adds of softmax(q k^T) v: q (..., L, E), k (..., S, E), v (..., S, Ev)."""
    q, k, v = (get_shape(t) for t in inputs[:3])
    *batch, length, e = q
    s, ev = k[-2], v[-1]
    return prod(batch) * length * s * (e + ev)


def baddbmm_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """Multiply-adds of input + b1 @ b2 with b1 (B, n, k), b2 (B, k, m)."""
    b, n, k = get_shape(inputs[1])
    return b * n * k * get_shape(inputs[2])[-1]


def matmul_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """Multiply-adds of a (broadcasting) matmul: batch * n * k * m.

    mmengine's handle takes the batch from the first operand only, so
    ``(n, k) @ (B, k, m)`` counts as if B were 1.
    """
    a, b = get_shape(inputs[0]), get_shape(inputs[1])
    if len(a) == 1 or len(b) == 1:
        return prod(a) * (b[-1] if len(b) > 1 else 1) if len(a) > 1 else prod(b)
    out = get_shape(outputs[0])
    return prod(out) * a[-1]


def flop_analyzer(model: nn.Module, inputs: Tuple[Any, ...]) -> FlopAnalyzer:
    """An mmengine :class:`FlopAnalyzer` that also counts fused attention."""
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit,
                           'aten::baddbmm', baddbmm_flop_jit,
                           'aten::matmul', matmul_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer


def count_flops(model: nn.Module, *inputs: Any) -> int:
    """Total multiply-adds of ``model(*inputs)``."""
    return flop_analyzer(model, inputs).total()


def count_similarities(model: nn.Module, *inputs: Any) -> int:
    """Pairwise similarities (dot products inside attention) of one forward.

    Sums ``layer.num_similarities(num_queries, num_tokens)`` over every
    attention layer that ran; cross-attention passes its queries as the
    ``query`` keyword. Divide by the batch size for a per-image count.
    """
    total = 0

    def hook(module, args, kwargs, output):
        nonlocal total
        tokens = args[0].shape[1]
        query = kwargs.get('query')
        batch = args[0].shape[0]
        total += batch * module.num_similarities(
            tokens if query is None else query.shape[1], tokens)

    handles = [m.register_forward_hook(hook, with_kwargs=True) for m in model.modules()
               if hasattr(m, 'num_similarities')]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total
