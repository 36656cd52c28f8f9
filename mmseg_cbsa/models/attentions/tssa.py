"""Token Statistics Self-Attention (ToST, Wu et al. ICLR 2025)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import MODELS
from .base import AttentionMaps, BaseAttention, merge_heads, split_heads, stacked_bases


def token_statistics_update(w: Tensor, membership: Tensor) -> Tensor:
    r"""The TSSA update for projected tokens and their memberships.

    With ``w`` (B, K, N, p) and membership ``Pi`` (B, K, N), per head k:

    .. math::
        D_k = \frac{\sum_n \Pi_{kn} w_{kn}^{\odot 2}}{\sum_n \Pi_{kn} + 10^{-8}}, \qquad
        \Delta w_{kn} = -\,\Pi_{kn}\; w_{kn} \oslash (1 + D_k)

    i.e. each channel of a subspace is shrunk by its membership-weighted
    second moment: fixed, input-agnostic representatives (the channels).
    O(N p) per head.
    """
    weights = membership / (membership.sum(-1, keepdim=True) + 1e-8)
    second_moment = (weights.unsqueeze(-2) @ w.square())  # (B, K, 1, p)
    return -(w * membership.unsqueeze(-1)) / (1 + second_moment)


@MODELS.register_module()
class TSSA(BaseAttention):
    r"""ToST's attention, the channel member of the CBSA family.

    ``W = x U^T`` (bias-free ``qkv``); membership
    ``Pi = softmax_heads(tau_k * ||w_kn / ||w_k||_N ||^2)``: each token is
    softly assigned to the heads by the energy of its column-normalised
    projection, with a learnable temperature per head (``temp``); then
    :func:`token_statistics_update`; merged and mapped by ``to_out``.
    Linear in N.

    Its attention map (:class:`AttentionMaps`) is the authors' one, the
    head-softmax of ``W W^T`` (B, K, N, N).
    """

    def __init__(self, embed_dims: int, num_heads: int, head_dims: Optional[int] = None) -> None:
        super().__init__(embed_dims, num_heads, head_dims)
        inner = num_heads * self.head_dims
        self.qkv = nn.Linear(embed_dims, inner, bias=False)
        self.temp = nn.Parameter(torch.ones(num_heads, 1))
        self.to_out = nn.Linear(inner, embed_dims)

    def num_similarities(self, num_queries: int, num_tokens: int) -> int:
        """N*p per head: each token against each fixed channel direction."""
        return self.num_heads * num_tokens * self.head_dims

    def membership(self, w: Tensor) -> Tensor:
        """(B, K, N, p) -> (B, K, N), softmax over the heads."""
        energy = F.normalize(w, dim=-2).square().sum(-1)
        return torch.softmax(energy * self.temp, dim=1)

    def attend(self, x: Tensor, hw_shape: Optional[Sequence[int]], patch_start: int,
               need_maps: bool) -> Tuple[Tensor, Optional[AttentionMaps]]:
        w = split_heads(self.qkv(x), self.num_heads)
        out = self.to_out(merge_heads(token_statistics_update(w, self.membership(w))))
        maps = None
        if need_maps:
            maps = AttentionMaps(lambda: torch.softmax(w @ w.transpose(-1, -2), dim=1), hw_shape,
                                 patch_start)
        return out, maps

    def subspace_bases(self) -> Tensor:
        """The rows of head k of the bias-free ``qkv`` (one map), transposed."""
        return stacked_bases(self.qkv.weight, self.num_heads)
