"""Scope-independent construction of the family's layers, and the one rule by
which backbones and heads take an ``attn_cfg``."""
from typing import Optional

from ...registry import MODELS
from torch import nn


def build_layer(cfg: dict, **defaults) -> nn.Module:
    """Build an attention/FFN layer registered in the ``mmseg_cbsa`` scope's
    ``MODELS`` (or mmseg's, its parent).

    Looked up in that registry itself rather than through the default scope,
    so the same backbones build inside mmpretrain (scope 'mmpretrain') and
    inside a user's mmseg config (scope 'mmseg') as in our own configs.
    ``type`` may be bare (``'CBSA'``) or scoped (``'mmseg_cbsa.CBSA'``).
    ``defaults`` fill keys the config lacks.
    """
    cfg = {**defaults, **cfg}
    layer_type = cfg.pop('type')
    cls = MODELS.get(layer_type) if isinstance(layer_type, str) else layer_type
    if cls is None:
        raise KeyError(f"layer type '{layer_type}' is registered neither in mmseg_cbsa's "
                       "nor in mmseg's MODELS")
    return cls(**cfg)


def attention_cfg(attn_cfg: Optional[dict], default: dict, **host) -> dict:
    """The attention config a backbone or head builds its layers from.

    ``attn_cfg`` (any member of the family) replaces the host's ``default``
    as a whole; ``host`` (e.g. ``num_heads``, ``head_dims``: arguments of
    the host that every member accepts) fills the keys the config leaves
    out. ``embed_dims`` is always the host's token width, set when the layer
    is built.
    """
    cfg = dict(default if attn_cfg is None else attn_cfg)
    if 'type' not in cfg:
        raise KeyError(f'attn_cfg needs a registered attention type, got {cfg}')
    for key, value in host.items():
        if value is not None:
            cfg.setdefault(key, value)
    return cfg
