"""DMSA, built from its 2026 abstract only (see the class docstring)."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

from .tssa import token_statistics_update


@MODELS.register_module()
class DMSA(nn.Module):
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

    Output: ``to_out(sum_k Δw_k)`` (D -> d).
    """

    def __init__(self, embed_dims: int, num_heads: int, head_dims: Optional[int] = None,
                 full_dims: Optional[int] = None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.full_dims = full_dims or embed_dims
        self.membership = nn.Linear(embed_dims, num_heads)
        self.qkv = nn.Linear(embed_dims, self.full_dims, bias=False)
        self.gates = nn.Parameter(torch.randn(num_heads, self.full_dims) * 0.5 - 2.0)
        self.to_out = nn.Linear(self.full_dims, embed_dims)

    def num_similarities(self, num_queries: int, num_tokens: int) -> int:
        """N*D per head: each token against each gated channel of the full space."""
        return self.num_heads * num_tokens * self.full_dims

    def forward(self, x: Tensor, hw_shape: Optional[Sequence[int]] = None,
                patch_start: int = 0,
                return_attn: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """(B, N, d) -> (B, N, d); with ``return_attn`` also the membership
        similarity ``Pi_k^T Pi_k`` per head (B, K, N, N)."""
        pi = torch.softmax(self.membership(x), dim=-1).transpose(1, 2)      # (B, K, N)
        w = self.qkv(x).unsqueeze(1) * torch.sigmoid(self.gates)[None, :, None]  # (B, K, N, D)
        out = self.to_out(token_statistics_update(w, pi).sum(1))
        if return_attn:
            return out, pi.unsqueeze(-1) * pi.unsqueeze(-2)
        return out
