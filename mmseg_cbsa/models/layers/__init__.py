from .blocks import AttentionLayer, EncoderBlock
from .mlp import Mlp
from .patch_embed import PatchEmbed

__all__ = ['AttentionLayer', 'EncoderBlock', 'Mlp', 'PatchEmbed']
