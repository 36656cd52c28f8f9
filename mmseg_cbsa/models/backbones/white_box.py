"""White-box encoders: attention from the CBSA family + ISTA blocks."""
from typing import List, Sequence, Union

from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmseg.registry import MODELS
from torch import nn

from ..layers import ConvPatchEmbed, EncoderBlock, LinearPatchEmbed
from .base import TokenBackbone


class WhiteBoxViT(TokenBackbone):
    r"""CRATE-style encoder: ``h = z + Attn(LN(z))``, ``z = ISTA(LN(h))``.

    No residual around ISTA (it is already an update step). [CLS] first, a
    learnable position embedding of N + 1, final LayerNorm (the authors'
    ``mlp_head[0]``).

    Args:
        arch: 't', 's', 'b', 'l' or (embed_dims, num_layers, num_heads).
        attn_cfgs: one attention config per layer (``num_heads`` and
            ``embed_dims`` are filled in), or a single config for all.
        stem: 'conv' (the CBT classifiers' convolutional stem) or 'linear'
            (CRATE's LN-Linear-LN on flattened patches).
        stem_norm_cfg: normalisation of the conv stem (the authors use
            SyncBN when training on several GPUs).
        norm_eps: LayerNorm epsilon (PyTorch's default, as the authors').
        **kwargs: :class:`TokenBackbone` options.
    """

    def __init__(self,
                 arch: Union[str, Sequence[int]],
                 attn_cfgs: Union[dict, List[dict]],
                 img_size: Union[int, Sequence[int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 stem: str = 'conv',
                 stem_norm_cfg: dict = dict(type='BN'),
                 norm_eps: float = 1e-5,
                 interpolate_mode: str = 'bicubic',
                 **kwargs) -> None:
        super().__init__(arch, img_size, patch_size, norm_eps, interpolate_mode, **kwargs)
        d = self.embed_dims
        if stem == 'conv':
            self.patch_embed = ConvPatchEmbed(in_channels, d, patch_size, stem_norm_cfg)
        elif stem == 'linear':
            self.patch_embed = LinearPatchEmbed(in_channels, d, patch_size)
        else:
            raise ValueError(f"stem must be 'conv' or 'linear', got '{stem}'")
        if isinstance(attn_cfgs, dict):
            attn_cfgs = [attn_cfgs] * self.num_layers
        if len(attn_cfgs) != self.num_layers:
            raise ValueError(f'{len(attn_cfgs)} attention configs for {self.num_layers} layers')
        self.blocks = nn.ModuleList(
            EncoderBlock(d, dict(dict(num_heads=self.num_heads), **cfg), dict(type='ISTA'),
                         residual_ffn=False, norm_eps=norm_eps)
            for cfg in attn_cfgs)


def _register(cls):
    """Register in mmseg's and mmpretrain's model registries."""
    PRETRAIN_MODELS.register_module(module=cls)
    return MODELS.register_module(module=cls)


@_register
class CRATE(WhiteBoxViT):
    """CRATE (Yu et al. 2023): MSSA + ISTA, linear patch embedding by default."""

    def __init__(self, arch='s', stem: str = 'linear', **kwargs) -> None:
        super().__init__(arch, dict(type='MSSA'), stem=stem, **kwargs)


@_register
class CBT(WhiteBoxViT):
    """Contract-and-Broadcast Transformer: CBSA (8x8 representatives) + ISTA,
    convolutional stem."""

    def __init__(self, arch='s', rep_grid: Union[int, Sequence[int]] = 8,
                 detach_init: bool = False, **kwargs) -> None:
        super().__init__(arch, dict(type='CBSA', rep_grid=rep_grid, detach_init=detach_init),
                         **kwargs)


@_register
class ToST(WhiteBoxViT):
    """Token Statistics Transformer (Wu et al. 2025): TSSA + ISTA, conv stem."""

    def __init__(self, arch='s', **kwargs) -> None:
        super().__init__(arch, dict(type='TSSA'), **kwargs)


@_register
class CRATECBT(WhiteBoxViT):
    """The hybrid CRATE+CBT: MSSA in the first half of the layers, CBSA in the
    second half; conv stem."""

    def __init__(self, arch='s', rep_grid: Union[int, Sequence[int]] = 8,
                 **kwargs) -> None:
        from .base import arch_settings
        depth = arch_settings(arch)[1]
        cfgs = [dict(type='MSSA')] * (depth // 2) + \
            [dict(type='CBSA', rep_grid=rep_grid)] * (depth - depth // 2)
        super().__init__(arch, cfgs, **kwargs)
