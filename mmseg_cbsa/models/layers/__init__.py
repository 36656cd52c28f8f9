from .blocks import AttentionLayer, CrossAttentionLayer, EncoderBlock
from .mlp import Mlp
from .ista import ISTA
from .patch_embed import ConvPatchEmbed, LinearPatchEmbed, PatchEmbed

__all__ = ['AttentionLayer', 'CrossAttentionLayer', 'EncoderBlock', 'ConvPatchEmbed', 'ISTA',
           'LinearPatchEmbed', 'Mlp', 'PatchEmbed']
