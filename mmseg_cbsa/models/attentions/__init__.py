"""The attention family. Every layer is registered in mmseg's ``MODELS`` and
shares one call signature, ``layer(x, hw_shape, patch_start=0,
return_attn=False)``, so heads and backbones take the type from config."""
from .agent import AgentAttention
from .cbsa import CBSA
from .dmsa import DMSA
from .linear import LinearAttention
from .mhsa import MHSA
from .mssa import MSSA, TiedMSSA
from .tssa import TSSA

#: the registered type names of the family
ATTENTION_TYPES = ('MHSA', 'MSSA', 'TiedMSSA', 'CBSA', 'TSSA', 'AgentAttention',
                   'LinearAttention', 'DMSA')

__all__ = ['AgentAttention', 'CBSA', 'DMSA', 'LinearAttention', 'MHSA', 'MSSA', 'TiedMSSA',
           'TSSA', 'ATTENTION_TYPES']
