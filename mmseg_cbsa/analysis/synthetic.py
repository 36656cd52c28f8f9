r"""The synthetic experiment of Fig. 4: the linear member of the family as a
gradient step on the coding rate of each component of a subspace mixture.

Points from K anisotropic Gaussians (:func:`synthetic_subspace_mixture`) are
compressed per component by :func:`linear_compression_step`; each component
collapses onto its principal line, and ``sum_k R(Z_k)``
(:func:`class_coding_rates`) decreases at every step.
:func:`run_synthetic_compression` is the whole experiment of
``tools/analysis_tools/synthetic_compression.py``.
"""
import os
import os.path as osp
from typing import Sequence, Tuple

import torch
from torch import Tensor

from ..models.attentions.linear import coding_rate_shrinkage
from ..visualization.plots import plot_synthetic_compression
from .coding_rate import check_eps, coding_rate
from .report import write_json


def synthetic_subspace_mixture(num_points: int = 600,
                               num_subspaces: int = 3,
                               stds: Sequence[float] = (1.0, 0.6, 0.1),
                               seed: int = 0) -> Tuple[Tensor, Tensor, Tensor]:
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
    rotations, _ = torch.linalg.qr(
        torch.randn(num_subspaces, d, d, generator=gen, dtype=torch.float64))
    counts = [
        num_points // num_subspaces + (k < num_points % num_subspaces) for k in range(num_subspaces)
    ]
    points, labels = [], []
    for k, n in enumerate(counts):
        g = torch.randn(n, d, generator=gen, dtype=torch.float64)
        points.append((g * stds) @ rotations[k].T)
        labels.append(torch.full((n, ), k, dtype=torch.long))
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
    check_eps(eps)
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


def compress_per_class(z: Tensor, labels: Tensor, eps: float = 0.5, step: float = 0.5) -> Tensor:
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


#: the files :func:`run_synthetic_compression` writes into its ``out_dir``
OUTPUTS = ('synthetic_compression.json', 'synthetic_compression.png')


def run_synthetic_compression(out_dir: str,
                              num_points: int = 600,
                              num_subspaces: int = 3,
                              iters: int = 30,
                              eps: float = 0.5,
                              step: float = 0.1,
                              stds: Sequence[float] = (1.0, 0.4, 0.1),
                              seed: int = 0) -> dict:
    """Iterate :func:`compress_per_class` on a :func:`synthetic_subspace_mixture`.

    Args:
        out_dir: created if needed; receives :data:`OUTPUTS`:
            ``synthetic_compression.json`` (the returned dict) and
            ``synthetic_compression.png`` (3-D scatter before / after, ``Rc``
            per iteration).
        num_points, num_subspaces, stds, seed: the data (3 stds: 3-D points).
        iters: iterations of the operator.
        eps, step: precision ε and step τ of :func:`linear_compression_step`.

    Returns:
        ``settings``; ``update`` (the rule in words); per iteration 0..iters
        ``Rc``, ``R_per_class`` (K values) and ``R_all`` (R of all points);
        ``principal_share`` per class ``before`` and ``after``;
        ``initial_axes`` (K, d) principal directions of the components.
        Also prints ``Rc`` per iteration.
    """
    z, labels, rotations = synthetic_subspace_mixture(num_points, num_subspaces, stds, seed)
    start = z
    per_class, total = [class_coding_rates(z, labels, eps)], [coding_rate(z, eps)]
    for _ in range(iters):
        z = compress_per_class(z, labels, eps, step)
        per_class.append(class_coding_rates(z, labels, eps))
        total.append(coding_rate(z, eps))
    rc = [float(r.sum()) for r in per_class]

    share = {
        when: [principal_share(pts[labels == k]) for k in range(num_subspaces)]
        for when, pts in (('before', start), ('after', z))
    }
    result = dict(
        settings=dict(
            num_points=num_points,
            num_subspaces=num_subspaces,
            iters=iters,
            eps=eps,
            step=step,
            stds=list(stds),
            seed=seed),
        update='per class k: Z_k <- Z_k - step * Z_k (I + c Z_k^T Z_k)^-1, c = d/(N_k eps^2)',
        Rc=rc,
        R_per_class=[r.tolist() for r in per_class],
        R_all=[float(r) for r in total],
        principal_share=share,
        initial_axes=rotations[:, :, 0].tolist())

    os.makedirs(out_dir, exist_ok=True)
    json_path, png_path = (osp.join(out_dir, f) for f in OUTPUTS)
    write_json(json_path, result)
    plot_synthetic_compression(
        png_path, start, z, labels, rc,
        f'linear variant per component: K={num_subspaces}, N={num_points}, '
        f'eps={eps:g}, step={step:g}, seed={seed}')

    print('iteration | Rc = sum_k R(Z_k) | R(Z)')
    for i, (a, b) in enumerate(zip(rc, result['R_all'])):
        print(f'{i:9d} | {a:17.4f} | {b:.4f}')
    print('share of the second moment on the principal direction per component: '
          f"before {[round(s, 3) for s in share['before']]}, "
          f"after {[round(s, 3) for s in share['after']]}")
    print(f'wrote {json_path} and {png_path}')
    return result
