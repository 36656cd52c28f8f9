"""Multi-head Subspace Self-Attention (CRATE, Yu et al. 2023) and DEPICT's tied form."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ...registry import MODELS
from .base import (AllPairsSimilarity, AttentionMaps, BaseAttention, merge_heads, softmax_attention,
                   split_heads, stacked_bases)


@MODELS.register_module()
class MSSA(AllPairsSimilarity, BaseAttention):
    r"""CRATE's MSSA: the softmax member of the CBSA family.

    ``W = x U^T`` with one bias-free projection ``qkv`` (one map: q = k = v =
    W); per head ``softmax(W W^T / sqrt(p)) W``; heads merged and mapped back
    by ``to_out`` (K*p -> d, with bias). Equals CBSA with the tokens
    themselves as representatives and identity coefficients. O(N^2 p) per head.
    """

    def __init__(self, embed_dims: int, num_heads: int, head_dims: Optional[int] = None) -> None:
        super().__init__(embed_dims, num_heads, head_dims)
        self.scale = self.head_dims**-0.5
        self.qkv = nn.Linear(embed_dims, num_heads * self.head_dims, bias=False)
        self.to_out = nn.Linear(num_heads * self.head_dims, embed_dims)

    def attend(self, x: Tensor, hw_shape: Optional[Sequence[int]], patch_start: int,
               need_maps: bool) -> Tuple[Tensor, Optional[AttentionMaps]]:
        w = split_heads(self.qkv(x), self.num_heads)
        out, attn = softmax_attention(w, w, w, self.scale, need_maps)
        maps = AttentionMaps(attn, hw_shape, patch_start) if need_maps else None
        return self.to_out(merge_heads(out)), maps

    def subspace_bases(self) -> Tensor:
        """The rows of head k of ``qkv``, transposed."""
        return stacked_bases(self.qkv.weight, self.num_heads)


@MODELS.register_module()
class TiedMSSA(AllPairsSimilarity, BaseAttention):
    r"""DEPICT's MSSA (Wen & Li, NeurIPS 2024): one matrix projects and maps back.

    With ``U`` = ``proj`` (K*p x d, initialised N(0, 1/d)) and a learnable
    scalar step ``s``:

    .. math:: \Delta x = s \cdot \mathrm{concat}_k\big(
              \mathrm{softmax}(Q_k W_k^\top/\sqrt p)\, W_k\big)\, U,
              \quad W = x U^\top

    with ``Q = W`` (self-attention) or ``Q = query U^T`` (cross-attention:
    class embeddings querying the patch tokens, ``layer(x, query=q)``).
    """

    def __init__(self, embed_dims: int, num_heads: int, head_dims: Optional[int] = None) -> None:
        super().__init__(embed_dims, num_heads, head_dims)
        self.scale = self.head_dims**-0.5
        self.proj = nn.Parameter(embed_dims**-0.5 *
                                 torch.randn(num_heads * self.head_dims, embed_dims))
        self.step_size = nn.Parameter(torch.randn(1))

    def attend(self,
               x: Tensor,
               hw_shape: Optional[Sequence[int]],
               patch_start: int,
               need_maps: bool,
               query: Optional[Tensor] = None) -> Tuple[Tensor, Optional[AttentionMaps]]:
        """(B, N, d) [, query (B, M, d)] -> (B, M or N, d)."""
        w = split_heads(x @ self.proj.t(), self.num_heads)
        q = w if query is None else split_heads(query @ self.proj.t(), self.num_heads)
        out, attn = softmax_attention(q, w, w, self.scale, need_maps)
        maps = AttentionMaps(attn, hw_shape, patch_start) if need_maps else None
        return self.step_size * (merge_heads(out) @ self.proj), maps

    def subspace_bases(self) -> Tensor:
        """The rows of head k of the tied ``proj``, transposed."""
        return stacked_bases(self.proj, self.num_heads)

    def projection_weights(self) -> Dict[str, nn.Parameter]:
        """The tied projection, a bare parameter rather than an ``nn.Linear``."""
        return OrderedDict(proj=self.proj)
