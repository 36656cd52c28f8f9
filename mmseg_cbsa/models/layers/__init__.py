from .blocks import EncoderBlock, ResidualAttention, ResidualCrossAttention
from .builder import attention_cfg, build_layer, refuse_attention_options
from .ista import ISTA
from .mlp import Mlp
from .patch_embed import ConvPatchEmbed, LinearPatchEmbed, PatchEmbed

__all__ = [
    'ConvPatchEmbed', 'EncoderBlock', 'ISTA', 'LinearPatchEmbed', 'Mlp', 'PatchEmbed',
    'ResidualAttention', 'ResidualCrossAttention', 'attention_cfg', 'build_layer',
    'refuse_attention_options'
]
