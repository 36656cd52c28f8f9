"""DMSA, built from its 2026 abstract only (see the class docstring)."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ...registry import MODELS
from .base import AttentionMaps, BaseAttention
from .tssa import token_statistics_update


@MODELS.register_module()
class DMSA(BaseAttention):
    r"""Decoupled Membership-Subspace Attention, **an interpretation built from
    the abstract alone** (no paper or code was available): a TSSA variant.

    What the abstract states, and how it is realised here:

    * membership learned directly from the inputs: ``Pi = softmax_heads(x M^T)``
      with a learnable ``membership`` map (d -> K), instead of TSSA's
      projection energies;
    * sparse subspaces drawn from one full space: a single projection
      ``W = x U^T`` (d -> D) shared by all heads, and per head a learnable
      channel gate ``sigmoid(G_k)`` over the D channels (``gates``, K x D),
      pushed towards sparsity by its initialisation (bias -2: about 12% open);
    * linear time: the TSSA update per head on the gated channels,
      O(N D K).

    Output: ``to_out(sum_k Δw_k)`` (D -> d). Its attention map is the
    membership similarity ``Pi_k^T Pi_k`` per head (B, K, N, N).

    Args:
        embed_dims: token width d.
        num_heads: number of heads K.
        head_dims: accepted for the family's common signature and ignored:
            every head works on the D gated channels of the full space.
        full_dims: D (default d).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 head_dims: Optional[int] = None,
                 full_dims: Optional[int] = None) -> None:
        full_dims = full_dims or embed_dims
        super().__init__(embed_dims, num_heads, head_dims=full_dims)
        self.full_dims = full_dims
        self.membership = nn.Linear(embed_dims, num_heads)
        self.qkv = nn.Linear(embed_dims, self.full_dims, bias=False)
        self.gates = nn.Parameter(torch.randn(num_heads, self.full_dims) * 0.5 - 2.0)
        self.to_out = nn.Linear(self.full_dims, embed_dims)

    def num_similarities(self, num_queries: int, num_tokens: int) -> int:
        """N*D per head: each token against each gated channel of the full space."""
        return self.num_heads * num_tokens * self.full_dims

    def attend(self, x: Tensor, hw_shape: Optional[Sequence[int]], patch_start: int,
               need_maps: bool) -> Tuple[Tensor, Optional[AttentionMaps]]:
        pi = torch.softmax(self.membership(x), dim=-1).transpose(1, 2)  # (B, K, N)
        w = self.qkv(x).unsqueeze(1) * torch.sigmoid(self.gates)[None, :, None]  # (B, K, N, D)
        out = self.to_out(token_statistics_update(w, pi).sum(1))
        maps = None
        if need_maps:
            maps = AttentionMaps(lambda: pi.unsqueeze(-1) * pi.unsqueeze(-2), hw_shape, patch_start)
        return out, maps

    def subspace_bases(self) -> Tensor:
        """One projection ``qkv`` (d -> D) shared by all heads; head k keeps the
        channels its gate opens: ``U_k = qkv.weight^T diag(sigmoid(G_k))``
        (K, d, D), exactly the ``W_k`` the layer computes."""
        full = self.qkv.weight.detach().t()  # (d, D)
        return full[None] * torch.sigmoid(self.gates.detach())[:, None, :]
