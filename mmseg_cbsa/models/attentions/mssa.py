"""Multi-head Subspace Self-Attention (CRATE, Yu et al. 2023) and DEPICT's tied form."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor, nn

from .base import AllPairsSimilarity, merge_heads, split_heads


def subspace_self_attention(w: Tensor, scale: float, return_attn: bool = False,
                            query: Optional[Tensor] = None):
    """softmax(Q W^T * scale) W per head, with Q = W unless a query is given.

    Args:
        w: (B, K, N, p) tokens projected onto the K subspaces.
        query: (B, K, M, p) optional queries (cross-attention).

    Returns:
        (B, K, M, p) and, if ``return_attn``, the (B, K, M, N) attention.
    """
    q = w if query is None else query
    if return_attn:
        attn = torch.softmax((q * scale) @ w.transpose(-1, -2), dim=-1)
        return attn @ w, attn
    return F.scaled_dot_product_attention(q, w, w, scale=scale)


@MODELS.register_module()
class MSSA(AllPairsSimilarity, nn.Module):
    r"""CRATE's MSSA: the softmax member of the CBSA family.

    ``W = x U^T`` with one bias-free projection (q = k = v = W); per head
    ``softmax(W W^T / sqrt(p)) W``; heads merged and mapped back by ``to_out``
    (K*p -> d, with bias). Equals CBSA with the tokens themselves as
    representatives and identity coefficients. O(N^2 p) per head.
    """

    def __init__(self, embed_dims: int, num_heads: int,
                 head_dims: Optional[int] = None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dims = head_dims or embed_dims // num_heads
        self.scale = self.head_dims ** -0.5
        self.qkv = nn.Linear(embed_dims, num_heads * self.head_dims, bias=False)
        self.to_out = nn.Linear(num_heads * self.head_dims, embed_dims)

    def forward(self, x: Tensor, hw_shape: Optional[Sequence[int]] = None,
                patch_start: int = 0,
                return_attn: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """(B, N, d) -> (B, N, d); with ``return_attn`` also (B, K, N, N)."""
        w = split_heads(self.qkv(x), self.num_heads)
        out = subspace_self_attention(w, self.scale, return_attn)
        if return_attn:
            return self.to_out(merge_heads(out[0])), out[1]
        return self.to_out(merge_heads(out))


@MODELS.register_module()
class TiedMSSA(AllPairsSimilarity, nn.Module):
    r"""DEPICT's MSSA (Wen & Li, NeurIPS 2024): one matrix projects and maps back.

    With ``U`` = ``proj`` (K*p x d, initialised N(0, 1/d)) and a learnable
    scalar step ``s``:

    .. math:: \Delta x = s \cdot \mathrm{concat}_k\big(\mathrm{softmax}(Q_k W_k^\top/\sqrt p)\, W_k\big)\, U,
              \quad W = x U^\top

    with ``Q = W`` (self-attention) or ``Q = query U^T`` (cross-attention:
    class embeddings querying the patch tokens).
    """

    def __init__(self, embed_dims: int, num_heads: int, head_dims: Optional[int] = None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dims = head_dims or embed_dims // num_heads
        self.scale = self.head_dims ** -0.5
        self.proj = nn.Parameter(embed_dims ** -0.5 *
                                 torch.randn(num_heads * self.head_dims, embed_dims))
        self.step_size = nn.Parameter(torch.randn(1))

    def forward(self, x: Tensor, hw_shape: Optional[Sequence[int]] = None,
                patch_start: int = 0, return_attn: bool = False,
                query: Optional[Tensor] = None) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """(B, N, d) [, query (B, M, d)] -> (B, M or N, d) [, attention]."""
        w = split_heads(x @ self.proj.t(), self.num_heads)
        q = None if query is None else split_heads(query @ self.proj.t(), self.num_heads)
        out = subspace_self_attention(w, self.scale, return_attn, q)
        attn = None
        if return_attn:
            out, attn = out
        out = self.step_size * (merge_heads(out) @ self.proj)
        return (out, attn) if return_attn else out
