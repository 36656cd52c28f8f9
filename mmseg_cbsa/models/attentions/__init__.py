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

from typing import Optional

from torch import nn

#: the family's classes by registered type name
ATTENTION_CLASSES = {cls.__name__: cls for cls in (MHSA, MSSA, TiedMSSA, CBSA, TSSA,
                                                   AgentAttention, LinearAttention, DMSA)}
#: the registered type names of the family
ATTENTION_TYPES = tuple(ATTENTION_CLASSES)


def attention_type(module: nn.Module) -> Optional[str]:
    """The type name of the family class ``module`` is, or the nearest one it
    derives from (a user subclass of CBSA counts as CBSA); None for any other
    module."""
    for cls in type(module).__mro__:
        if ATTENTION_CLASSES.get(cls.__name__) is cls:
            return cls.__name__
    return None


__all__ = ['AgentAttention', 'CBSA', 'DMSA', 'LinearAttention', 'MHSA', 'MSSA', 'TiedMSSA',
           'TSSA', 'ATTENTION_CLASSES', 'ATTENTION_TYPES', 'attention_type']
