"""Scope-independent construction of the family's layers, and the one rule by
which backbones and heads take an ``attn_cfg``."""
from typing import Optional

from torch import nn

from ...registry import MODELS


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


#: options of CBSA (and its subclasses) that backbones and heads once took
#: beside ``attn_cfg``; they belong to the attention layer, in ``attn_cfg``
ATTENTION_OPTIONS = ('rep_grid', 'detach_init', 'rep_init')


def refuse_attention_options(host: str, kwargs: dict, attn_type: str = 'CBSA') -> None:
    """Raise a TypeError naming ``attn_cfg`` for attention options given to a
    backbone or head (``host``, its class name) among its ``kwargs``.

    The options of the attention layer are spelled in one place, the host's
    ``attn_cfg``; a config still written the old way fails here, saying where
    the option moved, instead of being silently accepted or failing deeper
    with an ``unexpected keyword argument``.
    """
    moved = [key for key in ATTENTION_OPTIONS if key in kwargs]
    if moved:
        values = ', '.join(f'{key}={kwargs[key]!r}' for key in moved)
        raise TypeError(f'{host} takes no {", ".join(moved)}: the attention layer\'s options '
                        f'moved into attn_cfg, e.g. {host}(attn_cfg=dict(type={attn_type!r}, '
                        f'{values}))')


def attention_cfg(attn_cfg: Optional[dict], default: dict, overlay: bool = False, **host) -> dict:
    """The attention config a backbone or head builds its layers from.

    ``attn_cfg`` (any member of the family) replaces the host's ``default``
    as a whole, unless ``overlay`` and it is of the default's type: then it
    is laid over the default, which keeps the options it does not set (the
    host's own defaults for its default layer: ``CBTHead``'s CBSA keeps its
    10x10 grid with ``attn_cfg=dict(type='CBSA', rep_init='learned')``).
    ``host`` (e.g. ``num_heads``, ``head_dims``: arguments of the host that
    every member accepts) fills the keys the config leaves out.
    ``embed_dims`` is always the host's token width, set when the layer is
    built.
    """
    if attn_cfg is None:
        cfg = dict(default)
    elif overlay and attn_cfg.get('type') == default.get('type'):
        cfg = {**default, **attn_cfg}
    else:
        cfg = dict(attn_cfg)
    if 'type' not in cfg:
        raise KeyError(f'attn_cfg needs a registered attention type, got {cfg}')
    for key, value in host.items():
        if value is not None:
            cfg.setdefault(key, value)
    return cfg
