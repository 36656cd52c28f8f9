"""White-box encoders: attention from the CBSA family + ISTA blocks."""
from typing import List, Optional, Sequence, Union

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS
from ..layers import (ConvPatchEmbed, EncoderBlock, LinearPatchEmbed, attention_cfg,
                      refuse_attention_options)
from .arch import arch_settings
from .base import TokenBackbone


class WhiteBoxViT(TokenBackbone):
    r"""CRATE-style encoder: ``h = z + Attn(LN(z))``, ``z = ISTA(LN(h))``.

    No residual around ISTA (it is already an update step). [CLS] first, a
    learnable position embedding of N + 1, final LayerNorm (the authors'
    ``mlp_head[0]``).

    Args:
        arch: 't', 's', 'b', 'l' or (embed_dims, num_layers, num_heads).
        attn_cfg: the attention layer of every block (any registered member
            of the family), or a list with one config per block;
            ``num_heads`` defaults to the arch's.
        stem: 'conv' (the CBT classifiers' convolutional stem) or 'linear'
            (CRATE's LN-Linear-LN on flattened patches).
        stem_norm_cfg: normalisation of the conv stem (the authors use
            SyncBN when training on several GPUs).
        norm_eval: keep the stem's BatchNorm layers in eval mode while
            training (mmseg's ``norm_eval``): a classifier's ImageNet running
            statistics are kept when it is fine-tuned with a few images per
            GPU, e.g. as a segmentation encoder; the affine parameters still
            train.
        norm_eps: LayerNorm epsilon (PyTorch's default, as the authors').
        **kwargs: :class:`TokenBackbone` options; the attention layer's
            options (``rep_grid``, ``detach_init``, ``rep_init``) are refused
            with a TypeError naming ``attn_cfg``, where they belong.
    """

    def __init__(self,
                 arch: Union[str, Sequence[int]],
                 attn_cfg: Union[dict, List[dict]],
                 img_size: Union[int, Sequence[int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 stem: str = 'conv',
                 stem_norm_cfg: dict = dict(type='BN'),
                 norm_eps: float = 1e-5,
                 interpolate_mode: str = 'bicubic',
                 norm_eval: bool = False,
                 **kwargs) -> None:
        refuse_attention_options(type(self).__name__, kwargs)
        super().__init__(arch, img_size, patch_size, norm_eps, interpolate_mode, **kwargs)
        self.norm_eval = norm_eval
        d = self.embed_dims
        if stem == 'conv':
            self.patch_embed = ConvPatchEmbed(in_channels, d, patch_size, stem_norm_cfg)
        elif stem == 'linear':
            self.patch_embed = LinearPatchEmbed(in_channels, d, patch_size)
        else:
            raise ValueError(f"stem must be 'conv' or 'linear', got '{stem}'")
        cfgs = [attn_cfg] * self.num_layers if isinstance(attn_cfg, dict) else list(attn_cfg)
        if len(cfgs) != self.num_layers:
            raise ValueError(f'{len(cfgs)} attention configs for {self.num_layers} layers')
        self.blocks = nn.ModuleList(
            EncoderBlock(
                d,
                attention_cfg(cfg, {}, num_heads=self.num_heads),
                dict(type='ISTA'),
                residual_ffn=False,
                norm_eps=norm_eps) for cfg in cfgs)

    def train(self, mode: bool = True) -> 'WhiteBoxViT':
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.patch_embed.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


@MODELS.register_module()
class CRATE(WhiteBoxViT):
    """CRATE (Yu et al. 2023): MSSA + ISTA, linear patch embedding by default.
    ``attn_cfg`` swaps MSSA for another member of the family."""

    def __init__(self,
                 arch='s',
                 stem: str = 'linear',
                 attn_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(arch, attn_cfg or dict(type='MSSA'), stem=stem, **kwargs)


@MODELS.register_module()
class CBT(WhiteBoxViT):
    """Contract-and-Broadcast Transformer: CBSA + ISTA, convolutional stem.

    ``attn_cfg`` is the attention layer, the one place for its options:
    ``dict(type='CBSA')`` by default (8x8 representatives), e.g.
    ``dict(type='CBSA', rep_grid=4, rep_init='learned')``; another member of
    the family swaps it, a list gives one config per block."""

    def __init__(self, arch='s', attn_cfg: Union[None, dict, List[dict]] = None, **kwargs) -> None:
        if not isinstance(attn_cfg, (list, tuple)):
            attn_cfg = attention_cfg(attn_cfg, dict(type='CBSA'))
        super().__init__(arch, attn_cfg, **kwargs)


@MODELS.register_module()
class ToST(WhiteBoxViT):
    """Token Statistics Transformer (Wu et al. 2025): TSSA + ISTA, conv stem.
    ``attn_cfg`` swaps TSSA for another member of the family."""

    def __init__(self, arch='s', attn_cfg: Optional[dict] = None, **kwargs) -> None:
        super().__init__(arch, attn_cfg or dict(type='TSSA'), **kwargs)


@MODELS.register_module()
class CRATECBT(WhiteBoxViT):
    """The hybrid CRATE+CBT: MSSA in the first half of the layers, CBSA in the
    second half; conv stem.

    ``attn_cfg``: a dict is the attention of the second half, the one place
    for its options: ``dict(type='CBSA')`` by default (8x8 representatives),
    e.g. ``dict(type='CBSA', rep_grid=4, rep_init='learned')``; a list, one
    config per block, replaces the whole schedule."""

    def __init__(self, arch='s', attn_cfg: Union[None, dict, List[dict]] = None, **kwargs) -> None:
        if not isinstance(attn_cfg, (list, tuple)):
            depth = arch_settings(arch)[1]
            cbsa = attention_cfg(attn_cfg, dict(type='CBSA'))
            attn_cfg = [dict(type='MSSA')] * (depth // 2) + [cbsa] * (depth - depth // 2)
        super().__init__(arch, attn_cfg, **kwargs)
