"""Pre-norm residual layers shared by every backbone and decode head."""
from typing import Sequence

from mmcv.cnn.bricks.drop import DropPath
from torch import Tensor, nn

from .builder import build_layer


class ResidualAttention(nn.Module):
    """``x + attn(LN(x))``: one pre-norm attention step without FFN (decoders).

    Args:
        embed_dims: token width d.
        attn_cfg: config of any layer of the attention family.
        norm_eps: LayerNorm epsilon.
    """

    def __init__(self, embed_dims: int, attn_cfg: dict, norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = build_layer(attn_cfg, embed_dims=embed_dims)

    def forward(self, x: Tensor, hw_shape: Sequence[int], patch_start: int = 0) -> Tensor:
        """(B, N, d) -> (B, N, d)."""
        # The update is a fresh tensor: adding the residual into it saves an
        # (N, d) buffer per layer (autograd refuses if its maker needed it).
        return self.attn(self.norm(x), hw_shape, patch_start).add_(x)


class ResidualCrossAttention(nn.Module):
    """``q + attn(LN(x), query=q)``: queries (class embeddings) read the tokens.

    The queries are not normalised, the tokens are (as in DEPICT-CA).
    """

    def __init__(self, embed_dims: int, attn_cfg: dict, norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = build_layer(attn_cfg, embed_dims=embed_dims)

    def forward(self, x: Tensor, query: Tensor) -> Tensor:
        """tokens (B, N, d), queries (B, M, d) -> updated queries (B, M, d)."""
        return query + self.attn(self.norm(x), query=query)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block, timm's layout (``norm1 attn norm2 mlp``).

    ``h = x + attn(norm1(x))``, then ``h + mlp(norm2(h))`` (``residual_ffn``,
    ViT) or ``mlp(norm2(h))`` (white-box blocks whose FFN, e.g. ISTA, is itself
    an update step).
    """

    def __init__(self,
                 embed_dims: int,
                 attn_cfg: dict,
                 ffn_cfg: dict,
                 residual_ffn: bool = True,
                 drop_path: float = 0.,
                 norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = build_layer(attn_cfg, embed_dims=embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.mlp = build_layer(ffn_cfg, embed_dims=embed_dims)
        self.residual_ffn = residual_ffn
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor, hw_shape: Sequence[int], patch_start: int = 1) -> Tensor:
        """(B, N, d) -> (B, N, d)."""
        x = x + self.drop_path(self.attn(self.norm1(x), hw_shape, patch_start))
        y = self.mlp(self.norm2(x))
        return x + self.drop_path(y) if self.residual_ffn else y
