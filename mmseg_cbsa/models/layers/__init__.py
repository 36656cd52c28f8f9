from .blocks import EncoderBlock, ResidualAttention, ResidualCrossAttention
from .mlp import Mlp
from .ista import ISTA
from .patch_embed import ConvPatchEmbed, LinearPatchEmbed, PatchEmbed
from .builder import attention_cfg, build_layer

__all__ = ['ConvPatchEmbed', 'EncoderBlock', 'ISTA', 'LinearPatchEmbed', 'Mlp', 'PatchEmbed',
           'ResidualAttention', 'ResidualCrossAttention', 'attention_cfg', 'build_layer']
