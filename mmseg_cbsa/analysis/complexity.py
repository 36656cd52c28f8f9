"""FLOP counting with mmengine's analyzer, completed for fused attention,
and the complexity report of ``tools/analysis_tools/get_flops.py``.

mmengine counts one multiply-add as one FLOP and has no handle for
``aten::scaled_dot_product_attention`` or ``aten::baddbmm``, and its matmul
handle ignores the batch of a broadcast second operand, so fused attention
and some GEMMs would count as free or too cheap; the handles here fix that.
"""
import os.path as osp
from math import prod
from typing import Any, List, Optional, Sequence, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from torch import nn

from ..apis import build_model
from ..models.attentions import BaseAttention
from ..registry import MODELS
from .report import markdown_table


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
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit, 'aten::baddbmm',
                           baddbmm_flop_jit, 'aten::matmul', matmul_flop_jit)
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
        total += batch * module.num_similarities(tokens if query is None else query.shape[1],
                                                 tokens)

    handles = [
        m.register_forward_hook(hook, with_kwargs=True) for m in model.modules()
        if isinstance(m, BaseAttention)
    ]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total


class HeadCall(nn.Module):
    """A decode head as a module of its feature maps: ``HeadCall(head)(*feats)``
    is ``head(list(feats))``, so that FLOP counters and timers, which call
    modules on positional tensors, can run a head alone."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, *feats: torch.Tensor) -> Any:
        """(B, C, h, w) feature maps, one per head input -> the head's output."""
        return self.head(list(feats))


def _params(m: nn.Module) -> float:
    """Millions of parameters."""
    return sum(p.numel() for p in m.parameters()) / 1e6


def _similarities(model: nn.Module, *inputs: Any) -> float:
    """Millions of similarities, or NaN when no layer of the family ran
    (e.g. mmseg's own heads), printed as n/a."""
    if not any(hasattr(m, 'num_similarities') for m in model.modules()):
        return float('nan')
    return count_similarities(model, *inputs) / 1e6


def config_complexity(path: str, shape: Tuple[int, int] = (512, 512)) -> List:
    """One row of the report for a segmentor config, at input ``shape`` (H, W):
    name, encoder and decoder types, their parameters (M), GFLOPs, and the
    decoder's similarities (M). The decoder runs on the encoder's features
    of one random image."""
    model = build_model(path, seed=None, init_weights=False).model
    img = torch.randn(1, 3, *shape)
    with torch.no_grad():
        feats = model.backbone(img)
    head = HeadCall(model.decode_head).eval()
    return [
        osp.splitext(osp.basename(path))[0],
        type(model.backbone).__name__,
        type(model.decode_head).__name__,
        _params(model.backbone),
        _params(model.decode_head),
        count_flops(model.backbone, img) / 1e9,
        count_flops(head, *feats) / 1e9,
        _similarities(head, *feats)
    ]


def backbone_complexity(spec: str, shape: Tuple[int, int] = (224, 224)) -> List:
    """One row of the report for a registered encoder ``TYPE:ARCH`` (e.g.
    ``CBT:t``; ARCH defaults to ``s``) built for ``shape`` (H, W)."""
    name, _, arch = spec.partition(':')
    model = MODELS.get(name)(arch=arch or 's', img_size=shape).eval()
    img = torch.randn(1, 3, *shape)
    return [
        spec, name, '-',
        _params(model), 0.0,
        count_flops(model, img) / 1e9, 0.0,
        _similarities(model, img)
    ]


COMPLEXITY_HEADER = [
    'model', 'encoder', 'decoder', 'enc params (M)', 'dec params (M)', 'enc GFLOPs', 'dec GFLOPs',
    'similarities (M)'
]


def report_complexity(configs: Sequence[str] = (),
                      backbones: Sequence[str] = (),
                      shape: Optional[Tuple[int, int]] = None) -> List[List]:
    """Print the complexity table of configs and encoders (``get_flops.py``).

    Args:
        configs: segmentor config files (input 512x512 unless ``shape``).
        backbones: registered encoders as ``TYPE:ARCH`` (224x224 unless ``shape``).
        shape: input (H, W) for all rows.

    Returns:
        the rows, values unrounded (similarities NaN where no attention layer
        of the family runs).
    """
    rows = [config_complexity(c, tuple(shape or (512, 512))) for c in configs]
    rows += [backbone_complexity(b, tuple(shape or (224, 224))) for b in backbones]
    cells = [
        r[:3] +
        ['n/a' if v != v else f'{v:.2f}' if i < 2 else f'{v:.3f}' for i, v in enumerate(r[3:])]
        for r in rows
    ]
    print(markdown_table(COMPLEXITY_HEADER, cells, align=True))
    return rows
