"""Shared pieces of the attention family: head split/merge and pooled initial guesses."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(B, N, K*p) -> (B, K, N, p)."""
    b, n, c = x.shape
    return x.view(b, n, num_heads, c // num_heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, K, N, p) -> (B, N, K*p)."""
    b, k, n, p = x.shape
    return x.transpose(1, 2).reshape(b, n, k * p)


def pool_patch_tokens(w: Tensor, hw_shape: Sequence[int], patch_start: int,
                      grid: Tuple[int, int]) -> Tensor:
    """Average-pool the patch tokens of ``w`` on their 2-D grid.

    Args:
        w: (B, N, C) projected tokens; the patches are
            ``w[:, patch_start:patch_start + H*W]`` in row-major order and every
            other token (class embeddings, [CLS]) is left out of the pooling.
        hw_shape: (H, W), the patch grid.
        patch_start: index of the first patch token.
        grid: (rh, rw), the representative grid; m = rh * rw.

    Returns:
        (B, m, C) pooled tokens, row-major over the (rh, rw) grid:
        ``F.adaptive_avg_pool2d`` of the (B, C, H, W) map (overlapping bins when
        rh does not divide H). Each image's token-major patches already are a
        channels-last map, which PyTorch pools in one pass without the
        transpose to (C, H, W).
    """
    h, w_ = hw_shape
    rh, rw = grid
    if rh > h or rw > w_:
        raise ValueError(
            f'representative grid {rh}x{rw} is larger than the patch grid {h}x{w_}: '
            f'use at most {h}x{w_} representatives or a larger input')
    b, n, c = w.shape
    if patch_start < 0 or patch_start + h * w_ > n:
        raise ValueError(
            f'{n} tokens cannot hold a {h}x{w_} patch grid starting at token {patch_start}')
    # per image: with extra tokens the batch stride breaks channels-last
    # contiguity of the whole batch, and the strided kernel is slow
    maps = w[:, patch_start:patch_start + h * w_].unflatten(1, (h, w_)).permute(0, 3, 1, 2)
    pooled = torch.cat([F.adaptive_avg_pool2d(m[None], grid) for m in maps])
    return pooled.flatten(2).transpose(1, 2)


class AllPairsSimilarity:
    """Mixin for softmax attention over all tokens (MHSA, MSSA, DEPICT)."""

    num_heads: int

    def num_similarities(self, num_queries: int, num_tokens: int) -> int:
        """N_q * N dot products per head: every query against every token."""
        return self.num_heads * num_queries * num_tokens
