"""The attention family. Every member derives from :class:`BaseAttention`
(the contract: call signature, similarity count, subspace bases, projection
weights, attention maps) and is registered in mmseg's ``MODELS``, so heads
and backbones take the type from their ``attn_cfg``."""
from .agent import AgentAttention
from .base import AttentionMaps, BaseAttention
from .cbsa import CBSA
from .dmsa import DMSA
from .linear import LinearAttention
from .mhsa import MHSA
from .mita import MiTA
from .mssa import MSSA, TiedMSSA
from .qkv_cbsa import QKVCBSA
from .qkv_linear import QKVLinearAttention
from .tssa import TSSA

#: the registered type names of the family's members
ATTENTION_TYPES = tuple(
    cls.__name__ for cls in (MHSA, MSSA, TiedMSSA, CBSA, TSSA, AgentAttention, LinearAttention,
                             DMSA, QKVCBSA, QKVLinearAttention, MiTA))

__all__ = [
    'AgentAttention', 'AttentionMaps', 'BaseAttention', 'CBSA', 'DMSA', 'LinearAttention', 'MHSA',
    'MiTA', 'MSSA', 'QKVCBSA', 'QKVLinearAttention', 'TiedMSSA', 'TSSA', 'ATTENTION_TYPES'
]
