"""Kernel linear attention on a pretrained ViT's projections (paper Fig. 9's baseline)."""
from typing import Optional, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

from ...registry import MODELS
from .base import AttentionMaps, merge_heads
from .mhsa import MHSA


@MODELS.register_module()
class QKVLinearAttention(MHSA):
    r"""Linear attention with a ReLU feature map, in MHSA's parameters.

    The black-box linear attention the authors adapt ImageNet-21k ViTs into
    for comparison with CBSA (paper Fig. 9; the ReLU-kernel attention kept in
    their ``CBSA_finetune_vit/attention.py``, after FLatten Transformer
    without its focusing function and depth-wise convolution). It is *not*
    the family's :class:`LinearAttention` (the coding-rate shrinkage along
    principal directions, section 3.3). Per head, with ``q, k, v`` (N, p)
    from ``qkv`` and ``φ(x) = relu(x) + δ``:

    .. math::
        \Delta_i = \frac{\phi(q_i)\, \tfrac{1}{N}\sum_j \phi(k_j)^\top v_j}
                        {\phi(q_i)\, \tfrac{1}{N}\sum_j \phi(k_j)^\top + \epsilon}

    i.e. ``(φ(q) (φ(k)^T v / N)) / (φ(q) mean(φ(k))^T + ε)``, O(N p^2) per
    head; the output is ``proj(concat_k Δ_k)``. Parameters are exactly
    MHSA's, so a pretrained ViT block loads unchanged.

    Args:
        embed_dims: token width d.
        num_heads: number of heads K; head width p = d / K.
        head_dims: p, if not d / K.
        qkv_bias: bias on the fused q, k, v projection.
        kernel_eps: δ added after the ReLU (keeps every feature positive).
        norm_eps: ε in the normaliser.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 head_dims: Optional[int] = None,
                 qkv_bias: bool = True,
                 kernel_eps: float = 1e-6,
                 norm_eps: float = 1e-6) -> None:
        super().__init__(embed_dims, num_heads, head_dims, qkv_bias=qkv_bias)
        self.kernel_eps = kernel_eps
        self.norm_eps = norm_eps

    def num_similarities(self, num_queries: int, num_tokens: int) -> int:
        """N*p per head: each query against the p columns of the (p x p)
        key-value summary; no token pairs are compared."""
        return self.num_heads * num_queries * self.head_dims

    def attend(self, x: Tensor, hw_shape: Optional[Sequence[int]], patch_start: int,
               need_maps: bool) -> Tuple[Tensor, Optional[AttentionMaps]]:
        """Its attention map is the implied token-to-token operator
        ``φ(q) φ(k)^T / N`` scaled row-wise by the normaliser (B, K, N, N)."""
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        q, k = F.relu(q) + self.kernel_eps, F.relu(k) + self.kernel_eps
        summary = (k.transpose(-1, -2) @ v) / n  # (B, K, p, p)
        norm = (q @ k.mean(-2, keepdim=True).transpose(-1, -2) + self.norm_eps).reciprocal()
        out = (q @ summary) * norm
        maps = None
        if need_maps:
            maps = AttentionMaps(lambda: (q @ k.transpose(-1, -2)) * (norm / n), hw_shape,
                                 patch_start)
        return self.proj(merge_heads(out)), maps

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'head_dims={self.head_dims}, kernel_eps={self.kernel_eps}, '
                f'norm_eps={self.norm_eps}')
