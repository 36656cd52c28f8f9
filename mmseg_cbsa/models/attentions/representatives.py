"""Representatives: the few tokens CBSA contracts instead of all N.

The initial representatives ``Q_0`` are the patch tokens average-pooled to
an (rh x rw) grid (paper eq. 8); extraction then refines them by one step of
cross-attention over all tokens (:meth:`CBSA.extract`).

A patch grid smaller than the representative grid on a side (an elongated
or tiny input, e.g. 2x16 patches for an 8x8 grid) is pooled to
:func:`effective_rep_grid`: at most one representative per patch row and
column, ``(min(rh, h), min(rw, w))``. Every input therefore has
representatives, and on grids at least (rh, rw) nothing changes.

The pooling is computed in one form for training, inference and export:
:func:`separable_avg_pool`, two averaging-matrix products with the bins of
``adaptive_avg_pool2d`` (which itself cannot be exported to a grid that does
not divide a runtime input size). It equals ``adaptive_avg_pool2d`` to float
rounding (tests/test_deployment/test_export_forms.py) and costs about the
same here (one pass over the (N x C) projections either way).
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor


def effective_rep_grid(hw_shape: Sequence[int], rep_grid: Sequence[int]) -> Tuple[int, int]:
    """The representative grid used on an (h, w) patch grid: ``(min(rh, h), min(rw, w))``.

    The configured (rh, rw) grid wherever the patch grid is at least that
    large (every input of normal size); on a smaller side, one representative
    per patch row (column), so that m = min(rh, h) * min(rw, w) and each
    starting cell still holds at least one patch.
    """
    (h, w), (rh, rw) = hw_shape, rep_grid
    if isinstance(h, torch.SymInt) or isinstance(w, torch.SymInt):
        # traced with a symbolic input size: keep the size symbolic
        return torch.sym_min(int(rh), h), torch.sym_min(int(rw), w)
    return min(int(rh), int(h)), min(int(rw), int(w))


def pooling_matrix(size, out, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """(out, size) averaging matrix of 1-D adaptive average pooling.

    Row i averages positions ``[floor(i * size / out), ceil((i + 1) * size / out))``,
    the bins of ``adaptive_avg_pool1d`` (overlapping when out does not divide
    size). Built from ``arange`` and comparisons, so ``size`` and ``out``
    may be runtime (symbolic) sizes.
    """
    i = torch.arange(out, device=device)[:, None]
    j = torch.arange(size, device=device)[None]
    start = torch.div(i * size, out, rounding_mode='floor')
    end = torch.div((i + 1) * size + out - 1, out, rounding_mode='floor')
    cells = ((j >= start) & (j < end)).to(dtype)
    return cells / cells.sum(1, keepdim=True)


def separable_avg_pool(maps: Tensor, grid) -> Tensor:
    """Adaptive average pooling of channels-last maps as two matrix products.

    ``maps`` (B, H, W, C) -> (B, rh, rw, C) with ``Q_0 = P_h X P_w^T`` per
    channel, ``P`` from :func:`pooling_matrix`: the same bins and weights as
    ``F.adaptive_avg_pool2d`` (equal to float rounding), expressed in ops
    that ONNX supports for any runtime (H, W).
    """
    rh, rw = grid
    ph = pooling_matrix(maps.shape[1], rh, maps.dtype, maps.device)
    pw = pooling_matrix(maps.shape[2], rw, maps.dtype, maps.device)
    rows = torch.matmul(ph, maps.flatten(2)).unflatten(2, (maps.shape[2], -1))  # (B, rh, W, C)
    return torch.matmul(pw, rows)  # (B, rh, rw, C)


def pool_patch_tokens(w: Tensor, hw_shape: Sequence[int], patch_start: int,
                      grid: Tuple[int, int]) -> Tensor:
    """Average-pool the patch tokens of ``w`` on their 2-D grid.

    Args:
        w: (B, N, C) projected tokens; the patches are
            ``w[:, patch_start:patch_start + H*W]`` in row-major order and every
            other token (class embeddings, [CLS]) is left out of the pooling.
        hw_shape: (H, W), the patch grid.
        patch_start: index of the first patch token.
        grid: (rh, rw), the representative grid; m = rh * rw. It must fit the
            patch grid: callers pass :func:`effective_rep_grid` (as
            :class:`CBSA` does) to adapt a larger one.

    Returns:
        (B, m, C) pooled tokens, row-major over the (rh, rw) grid: the
        ``F.adaptive_avg_pool2d`` of the (B, C, H, W) map (overlapping bins
        when rh does not divide H), computed as :func:`separable_avg_pool` on
        the token-major patches, which already are a channels-last map.
    """
    h, w_ = hw_shape
    rh, rw = grid
    if isinstance(h, int) and isinstance(w_, int):
        # eager sizes; a traced symbolic grid was checked when it was made
        if rh > h or rw > w_:
            raise ValueError(
                f'representative grid {rh}x{rw} is larger than the patch grid {h}x{w_}: '
                f'use at most {h}x{w_} representatives (effective_rep_grid adapts a grid) '
                'or a larger input')
        if patch_start < 0 or patch_start + h * w_ > w.shape[1]:
            raise ValueError(f'{w.shape[1]} tokens cannot hold a {h}x{w_} patch grid '
                             f'starting at token {patch_start}')
    maps = w[:, patch_start:patch_start + h * w_].unflatten(1, (h, w_))
    return separable_avg_pool(maps, grid).flatten(1, 2)


def representative_cells(hw_shape: Sequence[int], rep_grid: Sequence[int]) -> Tensor:
    """The patch cells each representative's initial guess averages.

    Representative ``j = i * rw + l`` starts as the mean of the patches in row
    bin i and column bin l. The bins are read off :func:`pool_patch_tokens`
    itself (applied to one-hot tokens, one axis at a time), so they match it
    exactly, overlaps included when rh (rw) does not divide h (w).

    ``rep_grid`` is the grid the pooling used, i.e. the
    :func:`effective_rep_grid` of the layer's configured grid (what
    :class:`~mmseg_cbsa.analysis.attention_maps.CBSAExtraction` records).

    Returns:
        (m, 4) long tensor of ``(y0, x0, y1, x1)`` in patch units, end-exclusive,
        row-major over the (rh, rw) grid.
    """
    (h, w), (rh, rw) = hw_shape, rep_grid

    def bins(size: int, out: int) -> Tensor:
        # token t of a (size x 1) grid is the one-hot e_t, so pooled row i
        # holds the weights bin i gives to each position
        weights = pool_patch_tokens(torch.eye(size)[None], (size, 1), 0, (out, 1))[0] > 0
        idx = torch.arange(size)
        first = torch.where(weights, idx, size).amin(1)
        last = torch.where(weights, idx, -1).amax(1)
        return torch.stack((first, last + 1), 1)

    r = bins(h, rh)[:, None].expand(rh, rw, 2)
    c = bins(w, rw)[None].expand(rh, rw, 2)
    return torch.stack((r[..., 0], c[..., 0], r[..., 1], c[..., 1]), -1).reshape(rh * rw, 4)
