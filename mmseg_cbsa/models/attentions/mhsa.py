"""Multi-head self-attention as in ViT, in timm's parameter layout."""
from typing import Optional, Sequence, Tuple

from torch import Tensor, nn

from ...registry import MODELS
from .base import (AllPairsSimilarity, AttentionMaps, BaseAttention, merge_heads, softmax_attention,
                   stacked_bases)


@MODELS.register_module()
class MHSA(AllPairsSimilarity, BaseAttention):
    r"""Standard multi-head self-attention (Dosovitskiy et al., 2021).

    ``[q, k, v] = x W_qkv + b``; per head ``softmax(q k^T / sqrt(p)) v``; heads
    merged and mapped by ``proj``. Parameter names follow timm
    (``qkv``: the three input maps stacked; ``proj``: the *output* map) so
    timm / augreg checkpoints load unchanged.

    Args:
        embed_dims: token width d.
        num_heads: number of heads K; head width p = d / K.
        head_dims: p, if not d / K.
        qkv_bias: bias on the fused q, k, v projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 head_dims: Optional[int] = None,
                 qkv_bias: bool = True) -> None:
        super().__init__(embed_dims, num_heads, head_dims)
        inner = self.num_heads * self.head_dims
        self.scale = self.head_dims**-0.5
        self.qkv = nn.Linear(embed_dims, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, embed_dims)

    def attend(self, x: Tensor, hw_shape: Optional[Sequence[int]], patch_start: int,
               need_maps: bool) -> Tuple[Tensor, Optional[AttentionMaps]]:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        out, attn = softmax_attention(q, k, v, self.scale, need_maps)
        maps = AttentionMaps(attn, hw_shape, patch_start) if need_maps else None
        return self.proj(merge_heads(out)), maps

    def subspace_bases(self) -> Tensor:
        """MHSA has no subspace model: q, k and v are separate maps with a
        bias. Each head's *value* projection (the third block of ``qkv``) is
        taken as its basis: the map whose outputs the attention mixes, in the
        role of MSSA's shared q = k = v. The bias is left out, since a coding
        rate measures the spread of the tokens around the origin of the
        subspace, not a fixed offset."""
        inner = self.num_heads * self.head_dims
        return stacked_bases(self.qkv.weight[2 * inner:3 * inner], self.num_heads)
