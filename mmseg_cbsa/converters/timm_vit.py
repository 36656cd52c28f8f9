"""timm ``vit_*`` state dicts -> this project's :class:`~mmseg_cbsa.models.ViT`."""
import re
from typing import Dict, Optional, Sequence, Tuple

from torch import Tensor

from ..models.backbones.arch import heads_for_width, known_widths
from ..registry import SCOPE
from .checks import (build_inferred, check_blocks, check_model_fit, image_size, patch_grid, refuse,
                     require)

_BLOCK_KEY = re.compile(r'^blocks\.\d+\.(norm1|norm2)\.(weight|bias)$|'
                        r'^blocks\.\d+\.attn\.(qkv|proj)\.(weight|bias)$|'
                        r'^blocks\.\d+\.mlp\.(fc1|fc2)\.(weight|bias)$')
_STEM_KEYS = {
    'cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias', 'norm.weight',
    'norm.bias'
}
#: classifier parts of timm's model that a segmentation encoder drops
_DROPPED = re.compile(r'^(head|fc_norm|head_drop|pre_logits)\.')


def read_timm_vit(state: Dict[str, Tensor],
                  src: str = '<timm state dict>',
                  grid: Optional[Sequence[int]] = None,
                  shown: str = '') -> Tuple[Dict[str, Tensor], dict]:
    """Check a timm ViT state dict and read its architecture off it.

    The layouts coincide, so this keeps the encoder tensors, drops the
    classifier and checks that nothing unknown (register tokens, layer scale,
    distillation tokens) would be silently lost, that no tensor or block is
    missing and that the blocks agree on their shapes
    (:func:`~.checks.check_blocks`). Heads come from the width (timm does not
    store them), the patch grid from the position embedding (square, or
    ``grid``: :func:`~.checks.patch_grid`).

    Args:
        shown: the prefix the keys have in the file (e.g. ``'encoder.'``).

    Returns:
        (backbone state dict, backbone config), not yet checked against the
        model of that config: :func:`convert_timm_vit` does that, and so do
        the converters that extend the config.

    Raises:
        ConversionError (a KeyError): unexpected, missing or mis-shaped
            keys, named in the message.
    """
    out, unexpected = {}, []
    for k, v in state.items():
        if _DROPPED.match(k):
            continue
        if k in _STEM_KEYS or _BLOCK_KEY.match(k):
            out[k] = v
        else:
            unexpected.append(shown + k)
    if unexpected:
        refuse(src, [
            f'not a plain timm ViT; unexpected keys: {sorted(unexpected)[:12]}'
            f'{" ..." if len(unexpected) > 12 else ""}'
        ])
    missing = sorted(shown + k for k in _STEM_KEYS - set(out))
    if missing:
        refuse(src, [f'missing ViT keys {missing}'])
    depth = len(check_blocks(src, out, 'blocks.', shown=shown))
    if not depth:
        refuse(src, [f'no {shown}blocks.* tensors: expected the blocks of a ViT'])
    dims = require(src, out, 'cls_token', 3, shown).shape[-1]
    heads = heads_for_width(dims)
    if heads is None:
        refuse(src, [
            f'embed_dims={dims} is not a standard ViT width; '
            f'expected one of {list(known_widths())}'
        ])
    patch = require(src, out, 'patch_embed.proj.weight', 4, shown).shape[-1]
    pos_grid = patch_grid(src, require(src, out, 'pos_embed', 3, shown), grid, shown + 'pos_embed')
    # scoped, so that the config builds from an mmseg or mmpretrain config too
    cfg = dict(
        _scope_=SCOPE,
        type='ViT',
        arch=(dims, depth, heads),
        img_size=image_size(pos_grid, patch),
        patch_size=patch)
    return out, cfg


def convert_timm_vit(state: Dict[str, Tensor],
                     src: str = '<timm state dict>',
                     grid: Optional[Sequence[int]] = None) -> Tuple[Dict[str, Tensor], dict]:
    """Return (backbone state dict, backbone config) for a timm ViT.

    The source is checked by :func:`read_timm_vit`, and the converted tensors
    must load strictly into the ``ViT`` the returned config builds.

    Args:
        grid: the (h, w) patch grid of a non-square position embedding.

    Raises:
        ConversionError (a KeyError): unexpected, missing or mis-shaped
            keys, named in the message.
    """
    out, cfg = read_timm_vit(state, src, grid)
    check_model_fit(src, out, build_inferred(src, cfg),
                    f'the ViT read off it (arch {cfg["arch"]}, img_size {cfg["img_size"]})', state)
    return out, cfg
