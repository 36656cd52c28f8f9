"""The architecture settings of the ViT family: one table for every encoder,
config and converter."""
from typing import Dict, Optional, Sequence, Tuple, Union

#: (embed_dims, num_layers, num_heads) of the standard sizes.
ARCH_SETTINGS: Dict[str, Tuple[int, int, int]] = {
    't': (192, 12, 3),
    's': (384, 12, 6),
    'b': (768, 12, 12),
    'l': (1024, 24, 16),
}
#: heads of released checkpoints whose width is none of the standard sizes:
#: CRATE's original small model (576 wide, 12 heads).
OTHER_WIDTH_HEADS: Dict[int, int] = {576: 12}


def arch_settings(arch: Union[str, Sequence[int]]) -> Tuple[int, int, int]:
    """(embed_dims, num_layers, num_heads) for ``'t'|'s'|'b'|'l'`` (or
    tiny/small/base/large) or an explicit triple."""
    if isinstance(arch, str):
        if arch.lower() not in ('t', 's', 'b', 'l', 'tiny', 'small', 'base', 'large'):
            raise ValueError(f"unknown arch '{arch}': expected one of tiny/small/base/large "
                             '(or t/s/b/l), or (embed_dims, num_layers, num_heads)')
        return ARCH_SETTINGS[arch.lower()[:1]]
    embed_dims, num_layers, num_heads = arch
    return int(embed_dims), int(num_layers), int(num_heads)


def heads_for_width(embed_dims: int) -> Optional[int]:
    """The number of heads of a released model of this width (converters
    read widths off tensors, heads are not stored); None if unknown."""
    by_width = {d: k for d, _, k in ARCH_SETTINGS.values()}
    return by_width.get(embed_dims, OTHER_WIDTH_HEADS.get(embed_dims))


def known_widths() -> Tuple[int, ...]:
    """The widths :func:`heads_for_width` knows."""
    return tuple(sorted({d for d, _, _ in ARCH_SETTINGS.values()} | set(OTHER_WIDTH_HEADS)))
