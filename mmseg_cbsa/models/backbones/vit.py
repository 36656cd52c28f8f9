"""Vision Transformer backbone in timm's parameter layout."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmseg.models.backbones.vit import VisionTransformer as MMSegViT
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..layers import EncoderBlock, PatchEmbed

#: (embed_dims, num_layers, num_heads) of the standard sizes.
ARCH_SETTINGS: Dict[str, Tuple[int, int, int]] = {
    't': (192, 12, 3),
    's': (384, 12, 6),
    'b': (768, 12, 12),
    'l': (1024, 24, 16),
}


def arch_settings(arch: Union[str, Sequence[int]]) -> Tuple[int, int, int]:
    """(embed_dims, num_layers, num_heads) for ``'t'|'s'|'b'|'l'`` or a triple."""
    if isinstance(arch, str):
        key = arch.lower()[:1]
        if arch.lower() not in ('t', 's', 'b', 'l', 'tiny', 'small', 'base', 'large'):
            raise ValueError(f"unknown arch '{arch}': expected one of tiny/small/base/large "
                             '(or t/s/b/l), or (embed_dims, num_layers, num_heads)')
        return ARCH_SETTINGS[key]
    embed_dims, num_layers, num_heads = arch
    return int(embed_dims), int(num_layers), int(num_heads)


@MODELS.register_module()
class ViT(BaseModule):
    """ViT encoder (pre-norm MHSA + MLP blocks) returning patch-token maps.

    The parameter names are timm's (``patch_embed.proj``, ``cls_token``,
    ``pos_embed``, ``blocks.i.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``,
    ``norm``), so a timm ``vit_*`` state dict loads after dropping its
    classifier (see ``tools/model_converters/timm_vit2mmseg.py``).

    Args:
        arch: 't', 's', 'b', 'l' or (embed_dims, num_layers, num_heads).
        img_size: size the position embedding is laid out for; other input
            sizes interpolate it (``interpolate_mode``).
        patch_size: patch size of the linear patch embedding.
        mlp_ratio: hidden width of the MLP relative to the token width.
        qkv_bias: bias on the fused qkv projection.
        attn_cfg: attention layer of every block (default ``MHSA``); any
            member of the attention family can be swapped in.
        drop_path_rate: stochastic depth, linearly increasing over blocks.
        norm_eps: LayerNorm epsilon: 1e-6 as in timm, 1e-5 as in Segmenter.
        interpolate_mode: position-embedding resize, 'bicubic' (timm) or
            'bilinear' (Segmenter); also used when loading a checkpoint whose
            position embedding has another grid.
        out_indices: blocks whose output is returned (negative counts from
            the end).
        final_norm: apply the final LayerNorm ``norm`` to the last block's
            output.

    Shapes:
        input (B, 3, H, W) -> tuple of (B, d, ceil(H/ps), ceil(W/ps)), one per
        ``out_indices``, [CLS] token removed.
    """

    num_prefix_tokens = 1

    def __init__(self,
                 arch: Union[str, Sequence[int]] = 's',
                 img_size: Union[int, Sequence[int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 attn_cfg: Optional[dict] = None,
                 drop_path_rate: float = 0.,
                 norm_eps: float = 1e-6,
                 interpolate_mode: str = 'bicubic',
                 out_indices: Union[int, Sequence[int]] = -1,
                 final_norm: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims, self.num_layers, self.num_heads = arch_settings(arch)
        img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.patch_size = patch_size
        self.pos_grid = (img_size[0] // patch_size, img_size[1] // patch_size)
        self.interpolate_mode = interpolate_mode
        self.final_norm = final_norm
        out_indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        self.out_indices = sorted(i % self.num_layers for i in out_indices)

        d = self.embed_dims
        self.patch_embed = PatchEmbed(in_channels, d, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, self.num_prefix_tokens + self.pos_grid[0] * self.pos_grid[1], d))
        attn_cfg = dict(attn_cfg or dict(type='MHSA', qkv_bias=qkv_bias))
        attn_cfg.setdefault('num_heads', self.num_heads)
        dpr = torch.linspace(0, drop_path_rate, self.num_layers).tolist()
        self.blocks = nn.ModuleList(
            EncoderBlock(d, attn_cfg, dict(type='Mlp', ratio=mlp_ratio), residual_ffn=True,
                         drop_path=dpr[i], norm_eps=norm_eps)
            for i in range(self.num_layers))
        self.norm = nn.LayerNorm(d, eps=norm_eps)

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            return super().init_weights()
        # timm's initialisation for training from scratch
        trunc_normal_(self.pos_embed, std=.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def resized_pos_embed(self, hw_shape: Sequence[int]) -> Tensor:
        """Position embedding for a (h, w) patch grid: (1, 1 + h*w, d)."""
        if tuple(hw_shape) == self.pos_grid:
            return self.pos_embed
        return MMSegViT.resize_pos_embed(self.pos_embed, tuple(hw_shape), self.pos_grid,
                                         self.interpolate_mode)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints store the position embedding at their training size
        # (e.g. 384 for timm, 512 for Segmenter): resample it on load.
        key = prefix + 'pos_embed'
        pos = state_dict.get(key)
        if pos is not None and pos.shape != self.pos_embed.shape and pos.ndim == 3 \
                and pos.shape[-1] == self.pos_embed.shape[-1]:
            side = math.isqrt(pos.shape[1] - self.num_prefix_tokens)
            if side * side + self.num_prefix_tokens == pos.shape[1]:
                state_dict[key] = MMSegViT.resize_pos_embed(pos, self.pos_grid, (side, side),
                                                            self.interpolate_mode)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def embed(self, img: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """(B, C, H, W) -> tokens (B, 1 + h*w, d) with [CLS] first, and (h, w)."""
        x, hw_shape = self.patch_embed(img)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1) + self.resized_pos_embed(hw_shape)
        return x, hw_shape

    def to_map(self, x: Tensor, hw_shape: Sequence[int]) -> Tensor:
        """(B, 1 + h*w, d) tokens -> (B, d, h, w) patch map."""
        b, _, d = x.shape
        return x[:, self.num_prefix_tokens:].transpose(1, 2).reshape(b, d, *hw_shape)

    def forward(self, img: Tensor) -> Tuple[Tensor, ...]:
        x, hw_shape = self.embed(img)
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x, hw_shape, self.num_prefix_tokens)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.norm(x)
            if i in self.out_indices:
                outs.append(self.to_map(x, hw_shape))
        return tuple(outs)
