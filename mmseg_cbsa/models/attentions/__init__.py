"""The attention family. Every layer is registered in mmseg's ``MODELS`` and
shares one call signature, ``layer(x, hw_shape, patch_start=0,
return_attn=False)``, so heads and backbones take the type from config."""
from .cbsa import CBSA
from .mhsa import MHSA

__all__ = ['CBSA', 'MHSA']
