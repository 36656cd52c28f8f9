"""Vision Transformer backbone in timm's parameter layout."""
from typing import List, Optional, Sequence, Union

import torch
from torch import nn

from ...registry import MODELS
from ..layers import EncoderBlock, PatchEmbed, attention_cfg
from .base import TokenBackbone


@MODELS.register_module()
class ViT(TokenBackbone):
    """ViT encoder (pre-norm MHSA + MLP blocks) returning patch-token maps.

    The parameter names are timm's (``patch_embed.proj``, ``cls_token``,
    ``pos_embed``, ``blocks.i.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``,
    ``norm``), so a timm ``vit_*`` state dict loads after dropping its
    classifier (see ``tools/model_converters/timm_vit2mmseg.py``).

    Args:
        arch: 't', 's', 'b', 'l' or (embed_dims, num_layers, num_heads).
        img_size: size the position embedding is laid out for.
        patch_size: patch size of the linear patch embedding.
        mlp_ratio: hidden width of the MLP relative to the token width.
        qkv_bias: bias on the fused qkv projection.
        attn_cfg: attention layer of every block (default ``MHSA`` with
            ``qkv_bias``); any registered member of the family, e.g.
            ``dict(type='CBSA', rep_grid=8)``, or a list with one config per
            block (``None`` entries keep the default), e.g. MHSA blocks
            beside adapted ``QKVCBSA`` ones; ``num_heads`` defaults to the
            arch's.
        drop_path_rate: stochastic depth, linearly increasing over blocks.
        norm_eps: LayerNorm epsilon: 1e-6 as in timm, 1e-5 as in Segmenter.
        interpolate_mode: position-embedding resize, 'bicubic' (timm) or
            'bilinear' (Segmenter).
        **kwargs: :class:`TokenBackbone` options (``out_indices``,
            ``final_norm``, ``out_type``, ``init_cfg``).

    Shapes:
        input (B, 3, H, W) -> tuple of (B, d, ceil(H/ps), ceil(W/ps)), one per
        ``out_indices``, [CLS] token removed.
    """

    def __init__(self,
                 arch: Union[str, Sequence[int]] = 's',
                 img_size: Union[int, Sequence[int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 attn_cfg: Union[None, dict, List[Optional[dict]]] = None,
                 drop_path_rate: float = 0.,
                 norm_eps: float = 1e-6,
                 interpolate_mode: str = 'bicubic',
                 **kwargs) -> None:
        super().__init__(arch, img_size, patch_size, norm_eps, interpolate_mode, **kwargs)
        d = self.embed_dims
        self.patch_embed = PatchEmbed(in_channels, d, patch_size)
        cfgs = [attn_cfg] * self.num_layers \
            if attn_cfg is None or isinstance(attn_cfg, dict) else list(attn_cfg)
        if len(cfgs) != self.num_layers:
            raise ValueError(f'{len(cfgs)} attention configs for {self.num_layers} layers')
        mhsa = dict(type='MHSA', qkv_bias=qkv_bias)
        dpr = torch.linspace(0, drop_path_rate, self.num_layers).tolist()
        self.blocks = nn.ModuleList(
            EncoderBlock(
                d,
                attention_cfg(cfg, mhsa, num_heads=self.num_heads),
                dict(type='Mlp', ratio=mlp_ratio),
                residual_ffn=True,
                drop_path=dpr[i],
                norm_eps=norm_eps) for i, cfg in enumerate(cfgs))
