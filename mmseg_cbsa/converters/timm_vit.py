"""timm ``vit_*`` state dicts -> this project's :class:`~mmseg_cbsa.models.ViT`."""
import re
from typing import Dict, Tuple

from torch import Tensor

from ..models.backbones.arch import heads_for_width, known_widths
from ..registry import SCOPE

_BLOCK_KEY = re.compile(r'^blocks\.\d+\.(norm1|norm2)\.(weight|bias)$|'
                        r'^blocks\.\d+\.attn\.(qkv|proj)\.(weight|bias)$|'
                        r'^blocks\.\d+\.mlp\.(fc1|fc2)\.(weight|bias)$')
_STEM_KEYS = {
    'cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias', 'norm.weight',
    'norm.bias'
}
#: classifier parts of timm's model that a segmentation encoder drops
_DROPPED = re.compile(r'^(head|fc_norm|head_drop|pre_logits)\.')


def convert_timm_vit(state: Dict[str, Tensor],
                     src: str = '<timm state dict>') -> Tuple[Dict[str, Tensor], dict]:
    """Return (backbone state dict, backbone config) for a timm ViT.

    The layouts coincide, so conversion keeps the encoder tensors, drops the
    classifier and checks that nothing unknown (register tokens, layer scale,
    distillation tokens) would be silently lost.

    Raises:
        KeyError: unexpected or missing keys, named in the message.
    """
    out, unexpected = {}, []
    for k, v in state.items():
        if _DROPPED.match(k):
            continue
        if k in _STEM_KEYS or _BLOCK_KEY.match(k):
            out[k] = v
        else:
            unexpected.append(k)
    if unexpected:
        raise KeyError(f'{src}: not a plain timm ViT; unexpected keys: {sorted(unexpected)[:12]}'
                       f'{" ..." if len(unexpected) > 12 else ""}')
    missing = sorted(_STEM_KEYS - set(out))
    if missing:
        raise KeyError(f'{src}: missing ViT keys {missing}')
    depth = 1 + max(int(k.split('.')[1]) for k in out if k.startswith('blocks.'))
    dims = out['cls_token'].shape[-1]
    heads = heads_for_width(dims)
    if heads is None:
        raise KeyError(f'{src}: embed_dims={dims} is not a standard ViT width; '
                       f'expected one of {list(known_widths())}')
    patch = out['patch_embed.proj.weight'].shape[-1]
    grid = round((out['pos_embed'].shape[1] - 1)**0.5)
    # scoped, so that the config builds from an mmseg or mmpretrain config too
    cfg = dict(
        _scope_=SCOPE,
        type='ViT',
        arch=(dims, depth, heads),
        img_size=grid * patch,
        patch_size=patch)
    return out, cfg
