"""Scope-independent construction of the family's layers."""
from mmseg.registry import MODELS
from torch import nn


def build_layer(cfg: dict, **defaults) -> nn.Module:
    """Build an attention/FFN layer registered in mmseg's ``MODELS``.

    Looked up in mmseg's registry itself rather than through the default
    scope, so the same backbones build inside mmpretrain (scope
    'mmpretrain') as inside mmseg. ``defaults`` fill keys the config lacks.
    """
    cfg = {**defaults, **cfg}
    layer_type = cfg.pop('type')
    cls = MODELS.get(layer_type) if isinstance(layer_type, str) else layer_type
    if cls is None:
        raise KeyError(f"layer type '{layer_type}' is not registered in mmseg's MODELS "
                       "(is mmseg_cbsa imported?)")
    return cls(**cfg)
