"""Multi-head self-attention as in ViT, in timm's parameter layout."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor, nn

from .base import AllPairsSimilarity, merge_heads


@MODELS.register_module()
class MHSA(AllPairsSimilarity, nn.Module):
    r"""Standard multi-head self-attention (Dosovitskiy et al., 2021).

    ``[q, k, v] = x W_qkv + b``; per head ``softmax(q k^T / sqrt(p)) v``; heads
    merged and mapped by ``proj``. Parameter names follow timm
    (``qkv``, ``proj``) so timm / augreg checkpoints load unchanged.

    Args:
        embed_dims: token width d.
        num_heads: number of heads K; head width p = d / K.
        qkv_bias: bias on the fused q, k, v projection.
    """

    def __init__(self, embed_dims: int, num_heads: int,
                 head_dims: Optional[int] = None, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dims = head_dims or embed_dims // num_heads
        inner = self.num_heads * self.head_dims
        self.scale = self.head_dims ** -0.5
        self.qkv = nn.Linear(embed_dims, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, embed_dims)

    def forward(self,
                x: Tensor,
                hw_shape: Optional[Sequence[int]] = None,
                patch_start: int = 0,
                return_attn: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """(B, N, d) -> (B, N, d); with ``return_attn`` also (B, K, N, N)."""
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        if return_attn:
            attn = torch.softmax((q * self.scale) @ k.transpose(-1, -2), dim=-1)
            return self.proj(merge_heads(attn @ v)), attn
        return self.proj(merge_heads(F.scaled_dot_product_attention(q, k, v, scale=self.scale)))
