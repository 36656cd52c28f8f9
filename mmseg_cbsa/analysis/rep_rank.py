r"""The rank of CBSA's extraction matrix (paper Appendix A).

Per layer and head, the extraction step's ``A = softmax_N(Q_0 W^T / sqrt(p))``
is an m x N matrix, so ``rank(A) <= min(m, N)``. Appendix A reports (the
paper's claims): with pooled initial representatives the rank always
attains that maximum; with learned ones it stays far lower, i.e. far fewer
representatives are used than there are.

Measured numerically, from the singular values
:math:`\sigma_1 \ge \dots \ge \sigma_r` of A (in float64):

* **rank**: :math:`\#\{i : \sigma_i > \tau\,\sigma_1\}` at an explicit relative
  tolerance τ (by default ``max(m, N) * eps`` of A's dtype, the rule of
  ``torch.linalg.matrix_rank``, since A is computed in that precision; the
  value used is reported);
* **effective rank** (Roy & Vetterli, 2007): :math:`\exp H(\sigma / \sum_i \sigma_i)`,
  the exponential of the entropy of the normalised spectrum, a continuous
  count of the directions in use;
* **stable rank**: :math:`\sum_i \sigma_i^2 / \sigma_1^2 = \|A\|_F^2 / \|A\|_2^2`,
  which is insensitive to tiny singular values.

``A`` is read through the layers' attention hooks, so it is the very matrix
of the forward pass. The tool is ``tools/analysis_tools/rep_rank.py``.
"""
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor

from ..models.attentions import CBSA
from ..models.attentions.cbsa import ExtractionMaps
from ..visualization.plots import plot_rep_rank
from .extraction_hooks import ExtractionListener, LayerRecord
from .model_coding_rate import forward_images, prepare_model
from .report import markdown_table, write_json

__all__ = [
    'singular_values', 'default_rtol', 'numerical_rank', 'effective_rank', 'stable_rank',
    'LayerRank', 'ExtractionRankRecorder', 'summarize_ranks', 'measure_rep_rank'
]

#: the files :func:`measure_rep_rank` writes into its ``out_dir``
OUTPUTS = ('rep_rank.json', 'rep_rank.png')


def singular_values(a: Tensor) -> Tensor:
    """(..., m, N) -> (..., min(m, N)) singular values in float64, descending."""
    if a.ndim < 2 or a.shape[-1] == 0 or a.shape[-2] == 0:
        raise ValueError(f'expected matrices of shape (..., m, N), got {tuple(a.shape)}')
    if not torch.isfinite(a).all():
        raise ValueError('the matrix contains NaN or infinite values')
    return torch.linalg.svdvals(a.detach().to(torch.float64))


def default_rtol(shape: Sequence[int], dtype: torch.dtype) -> float:
    """``max(m, N) * eps(dtype)``: the relative tolerance under which a
    singular value of an (m, N) matrix computed in ``dtype`` is rounding."""
    return max(shape[-2], shape[-1]) * torch.finfo(dtype).eps


def numerical_rank(s: Tensor, rtol: float) -> Tensor:
    """Singular values above ``rtol * s_max``: (..., r) descending -> (...) long."""
    if not (math.isfinite(rtol) and 0 < rtol < 1):
        raise ValueError(f'the relative tolerance must be in (0, 1), got {rtol!r}')
    return (s > rtol * s[..., :1]).sum(-1)


def effective_rank(s: Tensor) -> Tensor:
    """``exp(-sum p_i log p_i)``, ``p = s / sum(s)`` (0 log 0 = 0): (..., r) -> (...)."""
    p = s / s.sum(-1, keepdim=True)
    return torch.exp(-torch.special.xlogy(p, p).sum(-1))


def stable_rank(s: Tensor) -> Tensor:
    """``sum s_i^2 / s_max^2``: (..., r) descending -> (...)."""
    return (s**2).sum(-1) / s[..., 0]**2


@dataclass
class LayerRank(LayerRecord):
    """The ranks of ``A`` in one call of one layer.

    Attributes:
        name, type: the module's name in the model and its class name.
        rep_init: ``'pool'`` or ``'learned'``.
        num_representatives: m of this call.
        num_tokens: N.
        rtol: the relative tolerance of ``rank``.
        rank: (B, K) numerical ranks.
        effective: (B, K) effective ranks.
        stable: (B, K) stable ranks.
    """

    rep_init: str
    num_representatives: int
    num_tokens: int
    rtol: float
    rank: Tensor
    effective: Tensor
    stable: Tensor


class ExtractionRankRecorder(ExtractionListener):
    """Measure the rank of every CBSA layer's ``A`` during forwards::

        with ExtractionRankRecorder(model) as rec, torch.no_grad():
            model(inputs, data_samples, mode='tensor')
        rec.records          # [LayerRank, ...] in call order

    Args:
        model: any module holding CBSA-family layers.
        rtol: relative tolerance of the numerical rank; None: per call,
            :func:`default_rtol` of ``A``'s shape and dtype.
    """

    def __init__(self, model, rtol: Optional[float] = None) -> None:
        super().__init__(model)
        if rtol is not None:
            numerical_rank(torch.ones(1), rtol)  # validates rtol
        self.rtol = rtol
        self.records: List[LayerRank] = []

    def record(self, name: str, layer: CBSA, maps: ExtractionMaps) -> None:
        a = maps.extraction
        rtol = self.rtol if self.rtol is not None else default_rtol(a.shape, a.dtype)
        s = singular_values(a)
        self.records.append(
            LayerRank(
                name=name,
                type=type(layer).__name__,
                rep_init=maps.rep_init,
                num_representatives=a.shape[-2],
                num_tokens=a.shape[-1],
                rtol=rtol,
                rank=numerical_rank(s, rtol).cpu(),
                effective=effective_rank(s).cpu(),
                stable=stable_rank(s).cpu()))


def summarize_ranks(records: Sequence[LayerRank]) -> List[dict]:
    """One entry per layer (module name), in the order the layers first ran.

    Calls (one per image) are pooled: per head the mean, min and max of the
    rank, the mean of ``rank / m`` (m of each call), of the effective and
    stable ranks; ``rank`` lists every value, image-major ((calls x B) x K).
    """
    groups: Dict[str, List[LayerRank]] = {}
    for rec in records:
        groups.setdefault(rec.name, []).append(rec)
    out = []
    for index, (name, recs) in enumerate(groups.items()):
        rank = torch.cat([r.rank for r in recs]).double()
        m = torch.cat(
            [torch.full((r.rank.shape[0], 1), float(r.num_representatives)) for r in recs])
        n = torch.cat([torch.full((r.rank.shape[0], 1), float(r.num_tokens)) for r in recs])
        eff = torch.cat([r.effective for r in recs])
        stable = torch.cat([r.stable for r in recs])
        out.append(
            dict(
                index=index,
                name=name,
                part=recs[0].part,
                type=recs[0].type,
                rep_init=recs[0].rep_init,
                num_heads=rank.shape[-1],
                num_representatives=sorted({r.num_representatives
                                            for r in recs}),
                num_tokens=sorted({r.num_tokens
                                   for r in recs}),
                max_rank=sorted({min(r.num_representatives, r.num_tokens)
                                 for r in recs}),
                rtol=sorted({r.rtol
                             for r in recs}),
                samples=rank.shape[0],
                rank_mean=rank.mean(0).tolist(),
                rank_min=rank.amin(0).long().tolist(),
                rank_max=rank.amax(0).long().tolist(),
                rank_over_m=(rank / m).mean(0).tolist(),
                rank_over_max=(rank / torch.minimum(m, n)).mean(0).tolist(),
                effective_rank=eff.mean(0).tolist(),
                stable_rank=stable.mean(0).tolist(),
                rank=rank.long().tolist()))
    return out


def format_rank_table(layers: Sequence[dict]) -> str:
    """Markdown table: one row per layer, per-head values joined by ' / '."""

    def heads(values, fmt='{:.1f}'):
        return ' / '.join(fmt.format(v) for v in values)

    rows = [[
        layer['index'], layer['part'], layer['name'], layer['type'], layer['rep_init'],
        '/'.join(map(str, layer['num_representatives'])), '/'.join(map(str, layer['num_tokens'])),
        heads(layer['rank_mean']),
        heads(layer['rank_over_m'], '{:.2f}'),
        heads(layer['effective_rank']),
        heads(layer['stable_rank'], '{:.2f}'), '/'.join(f'{t:.1e}' for t in layer['rtol'])
    ] for layer in layers]
    return markdown_table([
        '#', 'part', 'layer', 'type', 'rep_init', 'm', 'N', 'rank (per head)', 'rank / m',
        'effective rank', 'stable rank', 'rtol'
    ], rows)


def measure_rep_rank(config: str,
                     images: Sequence[str],
                     out_dir: str,
                     checkpoint: Optional[str] = None,
                     rtol: Optional[float] = None,
                     max_images: Optional[int] = None,
                     device: str = 'cpu',
                     seed: int = 0,
                     cfg_options: Optional[dict] = None) -> dict:
    """The rank of ``A`` in every CBSA layer of a config's model on image files.

    Images go through the config's test pipeline and one ``mode='tensor'``
    forward each, as in :func:`~mmseg_cbsa.analysis.model_coding_rate.measure_coding_rate`.

    Args:
        config, images, checkpoint, max_images, device, seed, cfg_options:
            as for ``measure_coding_rate``.
        out_dir: created if needed; receives :data:`OUTPUTS`: the returned
            dict as JSON, and the plot of rank / m per layer and head.
        rtol: relative tolerance of the rank (None: :func:`default_rtol`).

    Returns:
        ``config``, ``checkpoint``, ``weights``, ``random_init``,
        ``ignored_checkpoint_keys``, ``rtol`` (as asked), ``images`` and
        ``layers`` (:func:`summarize_ranks`). Also prints the table.
    """
    cfg, images, (model, source, ignored) = prepare_model(config, images, checkpoint, max_images,
                                                          device, seed, cfg_options)
    with ExtractionRankRecorder(model, rtol) as rec:
        forward_images(model, cfg, images)
    layers = summarize_ranks(rec.records)

    os.makedirs(out_dir, exist_ok=True)
    json_path, png_path = (osp.join(out_dir, f) for f in OUTPUTS)
    result = dict(
        config=config,
        checkpoint=checkpoint,
        weights=source,
        random_init=checkpoint is None,
        ignored_checkpoint_keys=ignored,
        rtol=rtol,
        images=images,
        layers=layers)
    write_json(json_path, result)
    name = osp.splitext(osp.basename(config))[0]
    plot_rep_rank(png_path, layers, f'{name}, {source}, {len(images)} images')
    print(f'rank of the extraction matrix A (m x N) per CBSA layer and head, '
          f'mean over {len(images)} images:')
    print(format_rank_table(layers))
    print(f'wrote {json_path} and {png_path}')
    return result
