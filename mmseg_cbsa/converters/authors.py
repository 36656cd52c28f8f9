"""The authors' checkpoints (QishuaiWen/CBSA, QishuaiWen/DEPICT) -> this project.

Two formats:

* segmentation (Segmenter-style ``checkpoint.pth``): ``{'model': {encoder.*,
  decoder.*}}`` with a CBT decoder, DEPICT-SA or DEPICT-CA;
* classifiers (``*.pth.tar``): ``{'state_dict': {...}}``, keys optionally
  prefixed ``module.``, for CBT, CRATE, ToST and the CRATE+CBT hybrid.

Every tensor must be accounted for: unknown keys are refused by name, never
dropped silently.
"""
import re
from typing import Callable, Dict, List, Tuple

from torch import Tensor

from ..models.backbones.arch import heads_for_width
from ..registry import SCOPE
from .mapping import KeyMapper, refuse_unmatched
from .timm_vit import convert_timm_vit

#: the authors' decoder code hard-wires these widths (not stored in weights)
DEPICT_HEAD_DIMS, DEPICT_CROSS_HEAD_DIMS, CBT_DECODER_REP_GRID = 100, 50, 10


def _layers(state: Dict[str, Tensor], prefix: str) -> int:
    ids = {
        int(m.group(1))
        for k in state
        for m in [re.match(re.escape(prefix) + r'(\d+)\.', k)] if m
    }
    return max(ids) + 1 if ids else 0


# ----------------------------------------------------------------- decoders
_CBT_DECODER = KeyMapper([
    (r'net\.layers\.(\d+)\.norm\.(weight|bias)', r'layers.\1.norm.\2'),
    (r'net\.layers\.(\d+)\.fn\.proj\.weight', r'layers.\1.attn.proj.weight'),
    (r'net\.layers\.(\d+)\.fn\.step_rep', r'layers.\1.attn.step_extract'),
    (r'net\.layers\.(\d+)\.fn\.step_x', r'layers.\1.attn.step_broadcast'),
    (r'net\.layers\.(\d+)\.fn\.to_out\.(weight|bias)', r'layers.\1.attn.to_out.\2'),
    (r'(cls_emb|decoder_norm\.weight|decoder_norm\.bias|mask_norm\.weight|mask_norm\.bias)', r'\1'),
])
_DEPICT_SA = KeyMapper([
    (r'net\.layers\.(\d+)\.norm\.(weight|bias)', r'layers.\1.norm.\2'),
    (r'net\.layers\.(\d+)\.fn\.(proj|step_size)', r'layers.\1.attn.\2'),
    (r'(cls_emb|decoder_norm\.weight|decoder_norm\.bias|mask_norm\.weight|mask_norm\.bias)', r'\1'),
])
_DEPICT_CA = KeyMapper([
    (r'snet\.layers\.(\d+)\.norm\.(weight|bias)', r'layers.\1.norm.\2'),
    (r'snet\.layers\.(\d+)\.fn\.(proj|step_size)', r'layers.\1.attn.\2'),
    (r'cnet\.layers\.(\d+)\.norm\.(weight|bias)', r'cross_layers.\1.norm.\2'),
    (r'cnet\.layers\.(\d+)\.fn\.(proj|step_size)', r'cross_layers.\1.attn.\2'),
    (r'snorm\.(weight|bias)', r'decoder_norm.\1'),
    (r'cnorm\.(weight|bias)', r'cross_norm.\1'),
    (r'(cls_emb|mask_norm\.weight|mask_norm\.bias)', r'\1'),
])


def _cbt_decoder(dec: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], dict, List[str]]:
    out, left = _CBT_DECODER(dec)
    heads = dec['net.layers.0.fn.step_rep'].shape[0]
    cfg = dict(
        type='CBTHead',
        num_layers=_layers(dec, 'net.layers.'),
        num_heads=heads,
        head_dims=dec['net.layers.0.fn.proj.weight'].shape[0] // heads,
        attn_cfg=dict(type='CBSA', rep_grid=CBT_DECODER_REP_GRID))
    return out, cfg, left


def _depict_sa(dec: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], dict, List[str]]:
    out, left = _DEPICT_SA(dec)
    cfg = dict(
        type='DEPICTHead',
        mode='sa',
        num_layers=_layers(dec, 'net.layers.'),
        num_heads=dec['net.layers.0.fn.proj'].shape[0] // DEPICT_HEAD_DIMS,
        head_dims=DEPICT_HEAD_DIMS)
    return out, cfg, left


def _depict_ca(dec: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], dict, List[str]]:
    out, left = _DEPICT_CA(dec)
    cfg = dict(
        type='DEPICTHead',
        mode='ca',
        num_layers=_layers(dec, 'snet.layers.'),
        num_heads=dec['snet.layers.0.fn.proj'].shape[0] // DEPICT_HEAD_DIMS,
        head_dims=DEPICT_HEAD_DIMS,
        num_cross_layers=_layers(dec, 'cnet.layers.'),
        cross_head_dims=dec['cnet.layers.0.fn.proj'].shape[0] //
        (dec['snet.layers.0.fn.proj'].shape[0] // DEPICT_HEAD_DIMS))
    return out, cfg, left


#: decoder kind -> (key that identifies it, converter, config folder prefix)
DECODERS: Dict[str, Tuple[str, Callable, str]] = {
    'cbt': ('net.layers.0.fn.step_rep', _cbt_decoder, 'cbt/cbt'),
    'depict-sa': ('net.layers.0.fn.step_size', _depict_sa, 'depict/depict-sa'),
    'depict-ca': ('snet.layers.0.fn.step_size', _depict_ca, 'depict/depict-ca'),
}


def convert_segmentation(state: Dict[str, Tensor],
                         src: str = '<checkpoint>') -> Tuple[Dict[str, Tensor], dict]:
    """Segmenter-style ``encoder.*`` / ``decoder.*`` -> ``backbone.*`` / ``decode_head.*``.

    Returns:
        The converted state dict and ``dict(backbone=..., decode_head=...,
        decoder=kind, config=path)`` describing the model it belongs to.
    """
    others = sorted(k for k in state if not k.startswith(('encoder.', 'decoder.')))
    refuse_unmatched(src, "a Segmenter-style checkpoint (only 'encoder.*' and 'decoder.*')", others)
    enc = {k[len('encoder.'):]: v for k, v in state.items() if k.startswith('encoder.')}
    dec = {k[len('decoder.'):]: v for k, v in state.items() if k.startswith('decoder.')}
    backbone, bb_cfg = convert_timm_vit(enc, src)
    kind = next((name for name, (key, _, _) in DECODERS.items() if key in dec), None)
    if kind is None:
        raise KeyError(f'{src}: decoder is none of {list(DECODERS)}; its keys start with '
                       f'{sorted({k.split(".")[0] for k in dec})}')
    head, head_cfg, left = DECODERS[kind][1](dec)
    refuse_unmatched(src, f'a {kind} decoder', ['decoder.' + k for k in left])
    d = bb_cfg['arch'][0]
    head_cfg.update(in_channels=d, num_classes=dec['cls_emb'].shape[1])
    # the authors' encoder is Segmenter's ViT
    bb_cfg.update(norm_eps=1e-5, interpolate_mode='bilinear')
    size = {192: 't', 384: 's', 768: 'b', 1024: 'l'}.get(d, '?')
    config = f'configs/{DECODERS[kind][2]}_vit-{size}16_8xb1-160k_ade20k-512x512.py'
    out = {f'backbone.{k}': v for k, v in backbone.items()}
    out.update({f'decode_head.{k}': v for k, v in head.items()})
    return out, dict(backbone=bb_cfg, decode_head=head_cfg, decoder=kind, config=config)


# -------------------------------------------------------------- classifiers
_CLASSIFIER = KeyMapper([
    (r'to_patch_embedding\.proj\.(\d+)\.0\.weight', r'patch_embed.convs.\1.conv.weight'),
    (r'to_patch_embedding\.proj\.(\d+)\.1\.(weight|bias|running_mean|running_var|'
     r'num_batches_tracked)', r'patch_embed.convs.\1.bn.\2'),
    (r'to_patch_embedding\.1\.(weight|bias)', r'patch_embed.norm_in.\1'),
    (r'to_patch_embedding\.2\.(weight|bias)', r'patch_embed.proj.\1'),
    (r'to_patch_embedding\.3\.(weight|bias)', r'patch_embed.norm_out.\1'),
    (r'pos_embedding', r'pos_embed'),
    (r'cls_token', r'cls_token'),
    (r'transformer\.layers\.(\d+)\.0\.norm\.(weight|bias)', r'blocks.\1.norm1.\2'),
    (r'transformer\.layers\.(\d+)\.0\.fn\.step_rep', r'blocks.\1.attn.step_extract'),
    (r'transformer\.layers\.(\d+)\.0\.fn\.step_x', r'blocks.\1.attn.step_broadcast'),
    (r'transformer\.layers\.(\d+)\.0\.fn\.(proj|qkv)\.weight', r'blocks.\1.attn.\2.weight'),
    (r'transformer\.layers\.(\d+)\.0\.fn\.temp', r'blocks.\1.attn.temp'),
    (r'transformer\.layers\.(\d+)\.0\.fn\.to_out(?:\.0)?\.(weight|bias)',
     r'blocks.\1.attn.to_out.\2'),
    (r'transformer\.layers\.(\d+)\.1\.norm\.(weight|bias)', r'blocks.\1.norm2.\2'),
    (r'transformer\.layers\.(\d+)\.1\.fn\.weight', r'blocks.\1.mlp.weight'),
    (r'mlp_head\.0\.(weight|bias)', r'norm.\1'),
])


def _conv_index(key: str) -> str:
    # the authors' Sequential interleaves GELUs: conv blocks sit at 0, 2, 4, 6
    return re.sub(r'convs\.(\d+)\.', lambda m: f'convs.{int(m.group(1)) // 2}.', key)


def convert_classifier(state: Dict[str, Tensor],
                       src: str = '<checkpoint>') -> Tuple[Dict[str, Tensor], dict]:
    """The authors' CBT / CRATE / ToST / hybrid classifier -> an mmpretrain
    ``ImageClassifier`` state dict (``backbone.*``, ``head.fc.*``).

    Returns:
        The state dict and ``dict(backbone=cfg, num_classes=..., kinds=[...])``.
    """
    head = {k[len('mlp_head.1.'):]: v for k, v in state.items() if k.startswith('mlp_head.1.')}
    body, left = _CLASSIFIER({k: v for k, v in state.items() if not k.startswith('mlp_head.1.')})
    refuse_unmatched(src, 'an authors\' classifier (CBT / CRATE / ToST)', left)
    if 'cls_token' not in body or 'pos_embed' not in body or set(head) != {'weight', 'bias'}:
        raise KeyError(f'{src}: missing cls_token, pos_embedding or mlp_head.1.{{weight,bias}}')
    body = {_conv_index(k): v for k, v in body.items()}
    depth = _layers(body, 'blocks.')
    kinds = []
    for i in range(depth):
        if f'blocks.{i}.attn.step_extract' in body:
            kinds.append('CBSA')
        elif f'blocks.{i}.attn.temp' in body:
            kinds.append('TSSA')
        elif f'blocks.{i}.attn.qkv.weight' in body:
            kinds.append('MSSA')
        else:
            raise KeyError(f'{src}: layer {i} has no attention weights')
    d = body['cls_token'].shape[-1]
    if 'CBSA' in kinds:
        heads = body[f'blocks.{kinds.index("CBSA")}.attn.step_extract'].shape[0]
    elif 'TSSA' in kinds:
        heads = body['blocks.0.attn.temp'].shape[0]
    else:
        # MSSA layers store no per-head tensor
        heads = heads_for_width(d)
        if heads is None:
            raise KeyError(f'{src}: cannot tell the number of heads of width {d}')
    half = depth // 2
    if set(kinds) == {'CBSA'}:
        model = 'CBT'
    elif set(kinds) == {'MSSA'}:
        model = 'CRATE'
    elif set(kinds) == {'TSSA'}:
        model = 'ToST'
    elif kinds == ['MSSA'] * half + ['CBSA'] * (depth - half):
        model = 'CRATECBT'
    else:
        raise KeyError(f'{src}: unsupported mix of attention layers {kinds}')
    conv = 'patch_embed.convs.0.conv.weight' in body
    if conv:
        patch = 2**_layers(body, 'patch_embed.convs.')
    else:
        patch = int(round((body['patch_embed.proj.weight'].shape[1] / 3)**0.5))
    grid = round((body['pos_embed'].shape[1] - 1)**0.5)
    cfg = dict(
        _scope_=SCOPE,
        type=model,
        arch=(d, depth, heads),
        img_size=grid * patch,
        patch_size=patch,
        stem='conv' if conv else 'linear')
    if 'CBSA' in kinds:
        cfg['legacy_cls_pooling'] = True  # their grid is pooled from tokens[:, :-1]
    out = {f'backbone.{k}': v for k, v in body.items()}
    out.update({f'head.fc.{k}': v for k, v in head.items()})
    return out, dict(backbone=cfg, num_classes=head['weight'].shape[0], kinds=kinds)
