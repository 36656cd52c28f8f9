"""The linear member of the CBSA family: principal directions as representatives."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ...registry import MODELS
from .base import AttentionMaps, BaseAttention, merge_heads, split_heads, stacked_bases


def coding_rate_shrinkage(w: Tensor, eps: float) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Principal directions of ``w`` and their shrinkage factors.

    For ``w`` (..., N, p) with covariance ``S = W^T W = V diag(λ) V^T``:
    ``g(λ) = 1 / (1 + c λ)``, ``c = p / (N eps^2)`` (from the exact gradient of
    the coding rate, paper section 3.3).

    Returns:
        ``V`` (..., p, p), ``g`` (..., p) and the coefficients ``A = W V`` (..., N, p).
    """
    n, p = w.shape[-2:]
    c = p / (n * eps**2)
    lam, v = torch.linalg.eigh(w.transpose(-1, -2) @ w)
    return v, 1.0 / (1.0 + c * lam.clamp_min(0)), w @ v


@MODELS.register_module()
class LinearAttention(BaseAttention):
    r"""Representatives = the principal directions of each head's tokens.

    Extraction: coefficients ``A = W V`` on the eigenvectors ``V`` of
    ``W^T W``; contraction: each direction is scaled independently by
    ``g(λ) = (1 + c λ)^{-1}``; broadcast: ``ΔW = b_k A diag(g) V^T``, which
    is the closed form ``W g(W^T W) = W (I + c W^T W)^{-1}``. O(N p^2) per head.

    Args:
        eps: the coding-rate precision ε in ``c = p / (N ε^2)``.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 head_dims: Optional[int] = None,
                 eps: float = 1.0) -> None:
        super().__init__(embed_dims, num_heads, head_dims)
        self.eps = eps
        inner = num_heads * self.head_dims
        self.proj = nn.Linear(embed_dims, inner, bias=False)
        self.step = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.to_out = nn.Linear(inner, embed_dims)

    def num_similarities(self, num_queries: int, num_tokens: int) -> int:
        """N*p per head: each token's coefficient on each principal direction."""
        return self.num_heads * num_tokens * self.head_dims

    def attend(self, x: Tensor, hw_shape: Optional[Sequence[int]], patch_start: int,
               need_maps: bool) -> Tuple[Tensor, Optional[AttentionMaps]]:
        """Its attention map is the implied token-to-token operator
        ``A diag(g) A^T`` (B, K, N, N)."""
        w = split_heads(self.proj(x), self.num_heads)
        # half precision has no eigensolver: upcast those only
        wf = w if w.dtype in (torch.float32, torch.float64) else w.float()
        v, g, coeff = coding_rate_shrinkage(wf, self.eps)
        delta = ((coeff * g.unsqueeze(-2)) @ v.transpose(-1, -2)).to(w.dtype)
        out = self.to_out(merge_heads(self.step * delta))
        maps = None
        if need_maps:
            maps = AttentionMaps(
                lambda: ((coeff * g.unsqueeze(-2)) @ coeff.transpose(-1, -2)).to(w.dtype), hw_shape,
                patch_start)
        return out, maps

    def subspace_bases(self) -> Tensor:
        """The rows of head k of the bias-free ``proj``, transposed."""
        return stacked_bases(self.proj.weight, self.num_heads)
