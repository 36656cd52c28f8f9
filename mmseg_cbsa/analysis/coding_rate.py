r"""Coding rates of token sets: the paper's compactness measurements (section 6 of
the spec, Figs. 4 and 5).

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
* :func:`subspace_bases`: the ``U_k`` of any layer of the attention family;
* :class:`CodingRateRecorder`: forward pre-hooks that measure, during an
  ordinary forward pass, the compression term of the tokens every attention
  layer receives; :func:`summarize_layers` averages the records over images;
* :func:`synthetic_subspace_mixture` and :func:`linear_compression_step`: the
  synthetic experiment of Fig. 4 (the linear variant iterated per class).
"""
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models.attentions import ATTENTION_CLASSES, attention_type

__all__ = ['coding_rate', 'head_coding_rates', 'compression_term', 'normalized_compression_term',
           'subspace_bases', 'SUBSPACE_BASES', 'LayerCodingRate',
           'CodingRateRecorder', 'summarize_layers', 'synthetic_subspace_mixture',
           'linear_compression_step', 'class_coding_rates', 'compress_per_class',
           'principal_share']


def _check_eps(eps: float) -> None:
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
    _check_eps(eps)
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
    chol = torch.linalg.cholesky(eye + (d / (n * eps ** 2)) * gram)
    return chol.diagonal(dim1=-2, dim2=-1).log().sum(-1).to(out_dtype)


def head_coding_rates(z: Tensor, bases: Tensor, eps: float = 0.5,
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


def compression_term(z: Tensor, bases: Tensor, eps: float = 0.5,
                     normalize: bool = False) -> Tensor:
    r"""``R^c(Z) = sum_k R(Z U_k)``: (..., N, d), (K, d, p) -> (...).

    See :func:`head_coding_rates` for the arguments."""
    return head_coding_rates(z, bases, eps, normalize).sum(-1)


def normalized_compression_term(z: Tensor, bases: Tensor, eps: float = 0.5) -> Tensor:
    """:func:`compression_term` of the tokens scaled to unit norm (paper
    footnote 9): invariant to the scale of each token."""
    return compression_term(z, bases, eps, normalize=True)


# --------------------------------------------------------------------------
# Subspace bases of the attention family
# --------------------------------------------------------------------------

def _stacked_rows(weight: Tensor, num_heads: int) -> Tensor:
    """(K*p, d) projection ``W = x P^T`` -> (K, d, p): ``U_k`` = rows of head k, transposed."""
    kp, d = weight.shape
    return weight.detach().reshape(num_heads, kp // num_heads, d).transpose(1, 2)


def _proj_linear(module: nn.Module) -> Tensor:
    """CBSA, AgentAttention, LinearAttention: bias-free ``proj`` (d -> K*p)."""
    return _stacked_rows(module.proj.weight, module.num_heads)


def _qkv_linear(module: nn.Module) -> Tensor:
    """MSSA, TSSA: one bias-free ``qkv`` (d -> K*p), q = k = v."""
    return _stacked_rows(module.qkv.weight, module.num_heads)


def _tied_proj(module: nn.Module) -> Tensor:
    """TiedMSSA (DEPICT): the parameter ``proj`` (K*p x d) projects and maps back."""
    return _stacked_rows(module.proj, module.num_heads)


def _gated_full_space(module: nn.Module) -> Tensor:
    """DMSA: one projection ``qkv`` (d -> D) shared by all heads, head k keeps
    the channels its gate opens: ``U_k = qkv.weight^T diag(sigmoid(G_k))``
    (d x D), exactly the ``W_k`` the layer computes."""
    full = module.qkv.weight.detach().t()                      # (d, D)
    return full[None] * torch.sigmoid(module.gates.detach())[:, None, :]


def _mhsa_values(module: nn.Module) -> Tensor:
    """MHSA (ViT) has no subspace model: q, k and v are separate maps with a
    bias. We take each head's *value* projection (the third block of ``qkv``)
    as its basis, the map whose outputs the attention mixes and that plays
    the role of MSSA's shared q = k = v; the bias is left out since a
    coding rate measures the spread of the tokens around the origin of the
    subspace, not a fixed offset."""
    inner = module.num_heads * module.head_dims
    return _stacked_rows(module.qkv.weight[2 * inner:3 * inner], module.num_heads)


#: registered attention type -> function giving its (K, d, p) bases; a
#: subclass (e.g. AgentAttention of CBSA) uses its parent's entry.
SUBSPACE_BASES: Dict[str, Callable[[nn.Module], Tensor]] = {
    'CBSA': _proj_linear,
    'LinearAttention': _proj_linear,
    'MSSA': _qkv_linear,
    'TSSA': _qkv_linear,
    'TiedMSSA': _tied_proj,
    'DMSA': _gated_full_space,
    'MHSA': _mhsa_values,
}


def _bases_function(module: nn.Module) -> Callable[[nn.Module], Tensor]:
    for cls in type(module).__mro__:
        fn = SUBSPACE_BASES.get(cls.__name__)
        if fn is not None and ATTENTION_CLASSES.get(cls.__name__) is cls:
            return fn
    raise TypeError(f'{type(module).__name__} is not a layer of the attention family with known '
                    f'subspace bases (known: {", ".join(SUBSPACE_BASES)} and their subclasses)')


def subspace_bases(module: nn.Module) -> Tensor:
    """The subspace bases ``U_k`` of an attention layer, (K, d, p), detached.

    ``W_k = Z U_k`` is what head k of the layer works on: for the white-box
    layers the rows of head k of their bias-free projection, transposed
    (``proj`` for CBSA / Agent / Linear / TiedMSSA, ``qkv`` for MSSA / TSSA);
    for DMSA the gated full-space projection; for MHSA the per-head value
    projection without its bias (see :func:`_mhsa_values`).

    Raises:
        TypeError: ``module`` is not a layer of the family.
    """
    return _bases_function(module)(module)


# --------------------------------------------------------------------------
# Measuring a model's layers during a forward pass
# --------------------------------------------------------------------------

@dataclass
class LayerCodingRate:
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

    name: str
    type: str
    num_tokens: int
    head_dims: int
    rates: Tensor
    rates_normalized: Tensor

    @property
    def part(self) -> str:
        """The top-level part of the model: 'backbone', 'decode_head', ..."""
        return self.name.split('.', 1)[0] if self.name else 'model'

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
        _check_eps(eps)
        self.model = model
        self.eps = eps
        self.records: List[LayerCodingRate] = []
        self._handles = []

    def __enter__(self) -> 'CodingRateRecorder':
        layers = [(n, m) for n, m in self.model.named_modules() if attention_type(m)]
        if not layers:
            raise ValueError(f'{type(self.model).__name__} holds no attention layer of the family '
                             f'({", ".join(ATTENTION_CLASSES)})')
        for name, module in layers:
            _bases_function(module)    # fail before the forward, not inside a hook
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
            self.records.append(LayerCodingRate(
                name=name, type=type(module).__name__, num_tokens=x.shape[-2],
                head_dims=bases.shape[-1], rates=rates.cpu(), rates_normalized=normed.cpu()))
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

        out.append(dict(
            index=index, name=name, part=recs[0].part, type=recs[0].type,
            num_heads=rates.shape[-1], head_dims=recs[0].head_dims,
            num_tokens=sorted({r.num_tokens for r in recs}), samples=rc.numel(),
            Rc_mean=float(rc.mean()), Rc_std=std(rc),
            Rc_normalized_mean=float(rcn.mean()), Rc_normalized_std=std(rcn),
            Rc_per_head=rates.mean(0).tolist(), Rc_normalized_per_head=normed.mean(0).tolist(),
            Rc=rc.tolist(), Rc_normalized=rcn.tolist()))
    return out


# --------------------------------------------------------------------------
# The synthetic experiment (Fig. 4)
# --------------------------------------------------------------------------

def synthetic_subspace_mixture(num_points: int = 600, num_subspaces: int = 3,
                               stds: Sequence[float] = (1.0, 0.6, 0.1), seed: int = 0
                               ) -> Tuple[Tensor, Tensor, Tensor]:
    """Points around the origin from K anisotropic Gaussians in R^d.

    Component k is ``g diag(stds) Q_k^T`` with ``g ~ N(0, I)`` and a random
    rotation ``Q_k`` (QR of a Gaussian matrix): a flat, noisy sample of a
    low-dimensional subspace whose principal direction ``Q_k[:, 0]`` differs
    per component. Points are split evenly over the components (the first
    ``num_points % K`` get one more).

    Args:
        num_points: total number of points.
        num_subspaces: K.
        stds: standard deviation along each principal axis, decreasing; its
            length is the ambient dimension d (3 for the paper's figure).
        seed: seed of the generator (the data are a function of the arguments).

    Returns:
        points (num_points, d) float64, labels (num_points,) long in [0, K),
        and the rotations (K, d, d).
    """
    stds = torch.as_tensor(stds, dtype=torch.float64)
    if num_subspaces < 1 or num_points < 2 * num_subspaces:
        raise ValueError(f'need at least 2 points per subspace: {num_points} points for '
                         f'{num_subspaces} subspaces')
    if stds.ndim != 1 or len(stds) < 2 or not bool((stds > 0).all()):
        raise ValueError(f'stds must hold at least two positive values, got {stds.tolist()}')
    gen = torch.Generator().manual_seed(seed)
    d = len(stds)
    rotations, _ = torch.linalg.qr(torch.randn(num_subspaces, d, d, generator=gen,
                                               dtype=torch.float64))
    counts = [num_points // num_subspaces + (k < num_points % num_subspaces)
              for k in range(num_subspaces)]
    points, labels = [], []
    for k, n in enumerate(counts):
        g = torch.randn(n, d, generator=gen, dtype=torch.float64)
        points.append((g * stds) @ rotations[k].T)
        labels.append(torch.full((n,), k, dtype=torch.long))
    return torch.cat(points), torch.cat(labels), rotations


def linear_compression_step(z: Tensor, eps: float = 0.5, step: float = 0.5) -> Tensor:
    r"""One gradient-descent step on ``R(Z)`` through the linear variant.

    The gradient of the coding rate is the linear attention update (paper
    eq. 12, :func:`~mmseg_cbsa.models.attentions.linear.coding_rate_shrinkage`):

    .. math::
        \nabla_Z R(Z) = c\, Z (I + c Z^\top Z)^{-1} = c\, Z g(Z^\top Z),
        \qquad c = \frac{d}{N\varepsilon^2}

    so descending with learning rate ``step / c`` gives

    .. math::
        Z \leftarrow Z - \tau\, Z g(Z^\top Z)
          = Z V \operatorname{diag}\Big(1 - \frac{\tau}{1 + c\lambda_i}\Big) V^\top

    with ``Z^T Z = V diag(λ) V^T`` and τ = ``step``. The eigenvectors are kept
    and each eigenvalue becomes ``λ_i (1 - τ/(1 + cλ_i))^2 < λ_i``: for
    0 < τ < 1 every factor is in (0, 1), so ``R`` strictly decreases, and
    directions of vanishing variance shrink by nearly ``1 - τ`` per step
    while those of large variance (cλ >> 1) barely move: the tokens
    collapse onto their principal direction.

    Args:
        z: (..., N, d) tokens.
        eps: precision ε (sets c).
        step: τ in (0, 1).

    Returns:
        The updated tokens, same shape.
    """
    from ..models.attentions.linear import coding_rate_shrinkage
    _check_eps(eps)
    if not 0 < step < 1:
        raise ValueError(f'step must be in (0, 1) so that every direction shrinks without '
                         f'flipping, got {step}')
    v, g, coeff = coding_rate_shrinkage(z, eps)
    return z - step * ((coeff * g.unsqueeze(-2)) @ v.transpose(-1, -2))


def class_coding_rates(z: Tensor, labels: Tensor, eps: float = 0.5) -> Tensor:
    """``R(Z_k)`` of the points of each class k (rows with label k), (K,).

    Their sum is the compression term with class memberships and identity
    bases (the ambient space), which the synthetic experiment lowers."""
    num = int(labels.max()) + 1
    return torch.stack([coding_rate(z[labels == k], eps) for k in range(num)])


def compress_per_class(z: Tensor, labels: Tensor, eps: float = 0.5, step: float = 0.5
                       ) -> Tensor:
    """:func:`linear_compression_step` applied to each class's points on its own
    (memberships known, bases = the identity: the paper's parameter-free
    setting for Fig. 4)."""
    out = z.clone()
    for k in labels.unique():
        mask = labels == k
        out[mask] = linear_compression_step(z[mask], eps, step)
    return out


def principal_share(z: Tensor) -> float:
    """Share of the second moment along the principal direction,
    ``λ_max / sum λ`` of ``Z^T Z``: 1 for points on a line through 0."""
    lam = torch.linalg.eigvalsh(z.transpose(-1, -2) @ z)
    return float(lam[-1] / lam.sum().clamp_min(torch.finfo(lam.dtype).tiny))
