r"""Coding rates of token sets: the paper's compactness measurement (section 6 of
the spec, Fig. 5).

Tokens are rows: ``Z`` is (N, d). The lossy coding rate at precision ε is

.. math::
    R(Z) = \tfrac12 \log\det\big(I_d + \tfrac{d}{N\varepsilon^2} Z^\top Z\big)

and the compression term of a layer with K subspace bases ``U_k`` (d x p) is

.. math::
    R^c(Z) = \sum_{k=1}^{K} R(Z U_k), \qquad
    R(Z U_k) = \tfrac12 \log\det\big(I_p + \tfrac{p}{N\varepsilon^2} U_k^\top Z^\top Z U_k\big)

(the width in the constant is that of the projected tokens, p, not d). The
normalised variant (the paper's footnote 9) scales every token to unit norm
before projecting, so it is invariant to per-token scaling and depends only
on the angles between tokens.

Pieces:

* :func:`coding_rate`, :func:`head_coding_rates`, :func:`compression_term`:
  the formulas above, batched;
* :func:`subspace_bases`: the ``U_k`` any layer of the attention family
  states (``layer.subspace_bases()``);
* :class:`CodingRateRecorder`: forward pre-hooks that measure, during an
  ordinary forward pass, the compression term of the tokens every attention
  layer receives; :func:`summarize_layers` averages the records over images;
* :class:`SubspaceReductionRecorder` (Fig. 6): per CBSA layer and subspace,
  the coding rate one layer removes from the tokens and from the
  representatives (:class:`LayerSubspaceRates` states the quantities);
  :func:`summarize_subspaces` averages them over images.

The measurement of ``tools/analysis_tools/coding_rate.py`` (a config's model
on image files) is :mod:`mmseg_cbsa.analysis.model_coding_rate`.

The synthetic experiment of Fig. 4 is in :mod:`mmseg_cbsa.analysis.synthetic`.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models.attentions import ATTENTION_TYPES, BaseAttention
from .extraction_hooks import ExtractionListener, LayerRecord

__all__ = [
    'coding_rate', 'head_coding_rates', 'compression_term', 'normalized_compression_term',
    'subspace_bases', 'LayerCodingRate', 'CodingRateRecorder', 'summarize_layers',
    'LayerSubspaceRates', 'SubspaceReductionRecorder', 'summarize_subspaces', 'subspace_correlation'
]


def check_eps(eps: float) -> None:
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f'the coding-rate precision eps must be a finite number > 0, got {eps!r}')


def coding_rate(z: Tensor, eps: float = 0.5) -> Tensor:
    r"""Lossy coding rate of token sets.

    .. math:: R(Z) = \tfrac12 \log\det\big(I_d + \tfrac{d}{N\varepsilon^2} Z^\top Z\big)

    By Sylvester's identity ``det(I_d + c Z^T Z) = det(I_N + c Z Z^T)``; the
    smaller of the two Gram matrices is factored (Cholesky: it is symmetric
    with eigenvalues >= 1), so ``R = sum(log(diag(L)))``. Computed in float64
    whatever the input precision, since logdet of a near-singular Gram is
    where float32 loses digits.

    Args:
        z: (..., N, d) tokens as rows; the leading dims are a batch.
        eps: precision ε > 0.

    Returns:
        (...) coding rates in nats, in ``z``'s dtype (float32 for half inputs).
    """
    check_eps(eps)
    if z.ndim < 2:
        raise ValueError(f'expected tokens of shape (..., N, d), got {tuple(z.shape)}')
    n, d = z.shape[-2:]
    if n == 0 or d == 0:
        raise ValueError(f'cannot take the coding rate of an empty token set {tuple(z.shape)}')
    if not torch.isfinite(z).all():
        raise ValueError('the tokens contain NaN or infinite values')
    out_dtype = torch.promote_types(z.dtype, torch.float32)
    z = z.to(torch.float64)
    zt = z.transpose(-1, -2)
    gram = zt @ z if d <= n else z @ zt
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    chol = torch.linalg.cholesky(eye + (d / (n * eps**2)) * gram)
    return chol.diagonal(dim1=-2, dim2=-1).log().sum(-1).to(out_dtype)


def head_coding_rates(z: Tensor,
                      bases: Tensor,
                      eps: float = 0.5,
                      normalize: bool = False) -> Tensor:
    r"""``R(Z U_k)`` for every subspace: the terms of :func:`compression_term`.

    Args:
        z: (..., N, d) tokens.
        bases: (K, d, p) subspace bases ``U_k`` (columns span subspace k; they
            need not be orthonormal: learned projections are used as they are).
        eps: precision ε.
        normalize: scale every token (row of ``z``) to unit norm before
            projecting (the normalised variant).

    Returns:
        (..., K) float64 coding rates, each with the constant ``p / (N ε^2)``
        (projection and logdet in float64: the tokens of a trained layer
        can be nearly rank-deficient in a subspace).
    """
    if bases.ndim != 3 or bases.shape[1] != z.shape[-1]:
        raise ValueError(f'bases must be (K, d, p) with d = {z.shape[-1]} (the token width), '
                         f'got {tuple(bases.shape)}')
    z = z.to(torch.float64)
    if normalize:
        z = F.normalize(z, dim=-1)
    proj = torch.einsum('...nd,kdp->...knp', z, bases.to(torch.float64))
    return coding_rate(proj, eps)


def compression_term(z: Tensor, bases: Tensor, eps: float = 0.5, normalize: bool = False) -> Tensor:
    r"""``R^c(Z) = sum_k R(Z U_k)``: (..., N, d), (K, d, p) -> (...).

    See :func:`head_coding_rates` for the arguments."""
    return head_coding_rates(z, bases, eps, normalize).sum(-1)


def normalized_compression_term(z: Tensor, bases: Tensor, eps: float = 0.5) -> Tensor:
    """:func:`compression_term` of the tokens scaled to unit norm (paper
    footnote 9): invariant to the scale of each token."""
    return compression_term(z, bases, eps, normalize=True)


def subspace_bases(module: nn.Module) -> Tensor:
    """The subspace bases ``U_k`` of an attention layer, (K, d, p), detached:
    what the layer says of itself (:meth:`BaseAttention.subspace_bases`).

    Raises:
        TypeError: ``module`` is not a layer of the attention family.
    """
    if not isinstance(module, BaseAttention):
        raise TypeError(f'{type(module).__name__} is not a layer of the attention family '
                        f'(a BaseAttention: {", ".join(ATTENTION_TYPES)} or a subclass)')
    return module.subspace_bases()


# --------------------------------------------------------------------------
# Measuring a model's layers during a forward pass
# --------------------------------------------------------------------------


@dataclass
class LayerCodingRate(LayerRecord):
    """Coding rates of the tokens one attention layer received in one call.

    Attributes:
        name: the module's name in the model, e.g. ``'backbone.blocks.3.attn'``.
        type: its class name.
        num_tokens: N, all tokens the layer saw ([CLS] and class embeddings
            included, as the authors' measurement does).
        head_dims: p, the width of ``Z U_k``.
        rates: (B, K) ``R(Z U_k)`` per image and head.
        rates_normalized: (B, K) the same on unit-norm tokens.
    """

    num_tokens: int
    head_dims: int
    rates: Tensor
    rates_normalized: Tensor

    @property
    def compression(self) -> Tensor:
        """(B,) ``R^c`` per image."""
        return self.rates.sum(-1)

    @property
    def compression_normalized(self) -> Tensor:
        """(B,) normalised ``R^c`` per image."""
        return self.rates_normalized.sum(-1)


class CodingRateRecorder:
    """Measure ``R^c`` of the input of every attention layer during forwards.

    A forward pre-hook on each module that is an instance of the attention
    family (whatever model holds it: encoder blocks, decode-head layers,
    DEPICT's cross-attention) reads the tokens the layer is called with
    (its first argument: after the block's LayerNorm, which is what the
    layer's projections act on) and the layer's current bases, and stores a
    :class:`LayerCodingRate`; tokens are not kept. For cross-attention the
    measured tokens are the keys/values (the patches), not the queries.
    Outputs of the model are unchanged::

        with CodingRateRecorder(model, eps=0.5) as rec, torch.no_grad():
            model(inputs, data_samples, mode='tensor')
        rec.records          # [LayerCodingRate, ...] in call order

    Args:
        model: any module.
        eps: precision ε.

    Raises:
        ValueError: the model holds no layer of the attention family.
    """

    def __init__(self, model: nn.Module, eps: float = 0.5) -> None:
        check_eps(eps)
        self.model = model
        self.eps = eps
        self.records: List[LayerCodingRate] = []
        self._handles = []

    def __enter__(self) -> 'CodingRateRecorder':
        layers = [(n, m) for n, m in self.model.named_modules() if isinstance(m, BaseAttention)]
        if not layers:
            raise ValueError(f'{type(self.model).__name__} holds no attention layer of the family '
                             f'({", ".join(ATTENTION_TYPES)})')
        for name, module in layers:
            self._handles.append(
                module.register_forward_pre_hook(self._make_hook(name), with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _make_hook(self, name: str):

        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            x = args[0] if args else kwargs['x']
            with torch.no_grad():
                bases = subspace_bases(module)
                rates = head_coding_rates(x.detach(), bases, self.eps)
                normed = head_coding_rates(x.detach(), bases, self.eps, normalize=True)
            self.records.append(
                LayerCodingRate(
                    name=name,
                    type=type(module).__name__,
                    num_tokens=x.shape[-2],
                    head_dims=bases.shape[-1],
                    rates=rates.cpu(),
                    rates_normalized=normed.cpu()))

        return hook


def summarize_layers(records: Sequence[LayerCodingRate]) -> List[dict]:
    """One entry per layer (module name), in the order the layers first ran.

    Calls of the same layer (one per image, or several per image under
    sliding-window inference) are pooled: ``Rc_mean`` / ``Rc_std`` are the
    mean and sample std of ``R^c`` over them (std 0 for a single one), the
    same for the normalised variant; ``Rc_per_head`` are the head means;
    ``Rc`` / ``Rc_normalized`` list every value.
    """
    groups: Dict[str, List[LayerCodingRate]] = {}
    for rec in records:
        groups.setdefault(rec.name, []).append(rec)
    out = []
    for index, (name, recs) in enumerate(groups.items()):
        rates = torch.cat([r.rates for r in recs]).double()
        normed = torch.cat([r.rates_normalized for r in recs]).double()
        rc, rcn = rates.sum(-1), normed.sum(-1)

        def std(v: Tensor) -> float:
            return float(v.std()) if v.numel() > 1 else 0.0

        out.append(
            dict(
                index=index,
                name=name,
                part=recs[0].part,
                type=recs[0].type,
                num_heads=rates.shape[-1],
                head_dims=recs[0].head_dims,
                num_tokens=sorted({r.num_tokens
                                   for r in recs}),
                samples=rc.numel(),
                Rc_mean=float(rc.mean()),
                Rc_std=std(rc),
                Rc_normalized_mean=float(rcn.mean()),
                Rc_normalized_std=std(rcn),
                Rc_per_head=rates.mean(0).tolist(),
                Rc_normalized_per_head=normed.mean(0).tolist(),
                Rc=rc.tolist(),
                Rc_normalized=rcn.tolist()))
    return out


# --------------------------------------------------------------------------
# Per subspace: what one CBSA layer does to tokens and representatives (Fig. 6)
# --------------------------------------------------------------------------


@dataclass
class LayerSubspaceRates(LayerRecord):
    r"""Coding rates, in each head's subspace, before and after one CBSA call.

    With ``W_k = Z U_k`` (N x p) the tokens in subspace k, ``Q_k`` (m x p) the
    extracted representatives and ``b_k C_k`` their contraction update, the
    layer moves the representatives to ``Q_k + b_k C_k`` and, by broadcast,
    the tokens to ``W_k + A_k^T (b_k C_k)``. The reductions of Fig. 6 are

    .. math::
        \Delta R_{tokens} = R(W_k) - R(W_k + A_k^\top b_k C_k), \quad
        \Delta R_{reps} = R(Q_k) - R(Q_k + b_k C_k)

    each with its own constant ``p / (n ε^2)`` (n = N or m). Positive means
    compressed.

    Attributes:
        name, type: the module's name in the model and its class name.
        num_tokens, num_representatives: N and m of this call.
        tokens_before, tokens_after, reps_before, reps_after: (B, K) rates.
    """

    num_tokens: int
    num_representatives: int
    tokens_before: Tensor
    tokens_after: Tensor
    reps_before: Tensor
    reps_after: Tensor

    @property
    def tokens_reduction(self) -> Tensor:
        """(B, K) ``R(W_k) - R(W_k + ΔW_k)``."""
        return self.tokens_before - self.tokens_after

    @property
    def reps_reduction(self) -> Tensor:
        """(B, K) ``R(Q_k) - R(Q_k + b_k C_k)``."""
        return self.reps_before - self.reps_after


class SubspaceReductionRecorder(ExtractionListener):
    """Record :class:`LayerSubspaceRates` for every call of every CBSA layer.

    Layers that extract representatives but whose maps lack the tensors the
    measurement reads (:attr:`needs`) are named in ``unmeasured``.

    Reads the tensors the call computed (its attention maps:
    :class:`~mmseg_cbsa.models.attentions.cbsa.ExtractionMaps`), so the
    tokens, representatives and updates are exactly the forward pass's;
    outputs of the model are unchanged::

        with SubspaceReductionRecorder(model, eps=0.5) as rec, torch.no_grad():
            model(inputs, data_samples, mode='tensor')
        rec.records          # [LayerSubspaceRates, ...] in call order

    Raises:
        ValueError: on entry, the model holds no CBSA-family layer.
    """

    #: what one call must give; QKVCBSA's maps lack them (its queries, keys and
    #: values are three projections, not one subspace W = Z U_k)
    needs = ('extraction', 'projected', 'representatives', 'rep_update')

    def __init__(self, model: nn.Module, eps: float = 0.5) -> None:
        check_eps(eps)
        super().__init__(model)
        self.eps = eps
        self.records: List[LayerSubspaceRates] = []

    def record(self, name: str, layer: nn.Module, maps) -> None:
        with torch.no_grad():
            w, q = maps.projected.double(), maps.representatives.double()
            dq = maps.rep_update.double()
            dw = maps.extraction.double().transpose(-1, -2) @ dq
            rates = [coding_rate(z, self.eps).cpu() for z in (w, w + dw, q, q + dq)]
        self.records.append(
            LayerSubspaceRates(name,
                               type(layer).__name__, w.shape[-2], q.shape[-2], *rates))


def summarize_subspaces(records: Sequence[LayerSubspaceRates]) -> List[dict]:
    """One entry per CBSA layer (module name), in running order; calls pooled.

    Per head: ``tokens_reduction_mean`` / ``_std`` and ``reps_reduction_mean``
    / ``_std`` (sample std over calls x images, 0 for one), and the mean
    rates before and after.
    """
    groups: Dict[str, List[LayerSubspaceRates]] = {}
    for rec in records:
        groups.setdefault(rec.name, []).append(rec)
    out = []
    for index, (name, recs) in enumerate(groups.items()):

        def cat(attr: str) -> Tensor:
            return torch.cat([getattr(r, attr) for r in recs]).double()

        def std(v: Tensor) -> List[float]:
            return v.std(0).tolist() if v.shape[0] > 1 else [0.0] * v.shape[1]

        tok, rep = cat('tokens_reduction'), cat('reps_reduction')
        out.append(
            dict(
                index=index,
                name=name,
                part=recs[0].part,
                type=recs[0].type,
                num_heads=tok.shape[1],
                num_tokens=sorted({r.num_tokens
                                   for r in recs}),
                num_representatives=sorted({r.num_representatives
                                            for r in recs}),
                samples=tok.shape[0],
                tokens_reduction_mean=tok.mean(0).tolist(),
                tokens_reduction_std=std(tok),
                reps_reduction_mean=rep.mean(0).tolist(),
                reps_reduction_std=std(rep),
                tokens_before=cat('tokens_before').mean(0).tolist(),
                tokens_after=cat('tokens_after').mean(0).tolist(),
                reps_before=cat('reps_before').mean(0).tolist(),
                reps_after=cat('reps_after').mean(0).tolist()))
    return out


def subspace_correlation(layers: Sequence[dict]) -> Optional[float]:
    """Pearson correlation, over every (layer, head) subspace, of the mean
    token and representative reductions: how alike their trends are (the
    paper's reading of Fig. 6). None with fewer than 3 subspaces or a
    constant series."""
    tok = torch.tensor([v for x in layers for v in x['tokens_reduction_mean']], dtype=torch.float64)
    rep = torch.tensor([v for x in layers for v in x['reps_reduction_mean']], dtype=torch.float64)
    if tok.numel() < 3 or tok.std() == 0 or rep.std() == 0:
        return None
    return float(torch.corrcoef(torch.stack((tok, rep)))[0, 1])
