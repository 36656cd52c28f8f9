"""The authors' checkpoints (QishuaiWen/CBSA, QishuaiWen/DEPICT) -> this project.

Two formats:

* segmentation (Segmenter-style ``checkpoint.pth``): ``{'model': {encoder.*,
  decoder.*}}`` with a CBT decoder, DEPICT-SA or DEPICT-CA;
* classifiers (``*.pth.tar``): ``{'state_dict': {...}}``, keys optionally
  prefixed ``module.``, for CBT, CRATE, ToST and the CRATE+CBT hybrid.

Every tensor must be accounted for: unknown keys are refused by name, never
dropped silently.
"""
import glob
import os.path as osp
import re
from typing import Any, Callable, Dict, Optional, Sequence, Set, Tuple

from torch import Tensor

from ..models.backbones.arch import heads_for_width
from ..registry import SCOPE
from ..utils.checkpoint_fit import dry_fit
from .checks import (build_inferred, check_blocks, check_classifier_fit, check_model_fit,
                     image_size, patch_grid, refuse, require, split_blocks)
from .mapping import KeyMapper, refuse_unmatched
from .timm_vit import read_timm_vit

#: the authors' decoder code hard-wires these widths (not stored in weights)
DEPICT_HEAD_DIMS, DEPICT_CROSS_HEAD_DIMS, CBT_DECODER_REP_GRID = 100, 50, 10

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


def _cbt_decoder(src: str, dec: Dict[str, Tensor]) -> dict:
    layers = len(check_blocks(src, dec, 'net.layers.', shown='decoder.'))
    heads = require(src, dec, 'net.layers.0.fn.step_rep', 3, 'decoder.').shape[0]
    return dict(
        type='CBTHead',
        num_layers=layers,
        num_heads=heads,
        head_dims=require(src, dec, 'net.layers.0.fn.proj.weight', 2, 'decoder.').shape[0] // heads,
        attn_cfg=dict(type='CBSA', rep_grid=CBT_DECODER_REP_GRID))


def _depict_sa(src: str, dec: Dict[str, Tensor]) -> dict:
    return dict(
        type='DEPICTHead',
        mode='sa',
        num_layers=len(check_blocks(src, dec, 'net.layers.', shown='decoder.')),
        num_heads=require(src, dec, 'net.layers.0.fn.proj', 2, 'decoder.').shape[0] //
        DEPICT_HEAD_DIMS,
        head_dims=DEPICT_HEAD_DIMS)


def _depict_ca(src: str, dec: Dict[str, Tensor]) -> dict:
    layers = len(check_blocks(src, dec, 'snet.layers.', shown='decoder.'))
    cross_layers = len(check_blocks(src, dec, 'cnet.layers.', shown='decoder.'))
    heads = require(src, dec, 'snet.layers.0.fn.proj', 2, 'decoder.').shape[0] // DEPICT_HEAD_DIMS
    cross_width = require(src, dec, 'cnet.layers.0.fn.proj', 2, 'decoder.').shape[0]
    return dict(
        type='DEPICTHead',
        mode='ca',
        num_layers=layers,
        num_heads=heads,
        head_dims=DEPICT_HEAD_DIMS,
        num_cross_layers=cross_layers,
        # no heads (a projection under 100 rows) is refused when the head is built
        cross_head_dims=cross_width // max(heads, 1))


#: decoder kind -> (what a key of any of its layers looks like, its key
#: mapping, what reads its head config (checking its layers), config folder
#: prefix)
DECODERS: Dict[str, Tuple[str, KeyMapper, Callable[[str, Dict[str, Tensor]], dict], str]] = {
    'cbt': (r'net\.layers\.\d+\.fn\.(step_rep|step_x)$', _CBT_DECODER, _cbt_decoder, 'cbt/cbt'),
    'depict-sa': (r'net\.layers\.\d+\.fn\.step_size$', _DEPICT_SA, _depict_sa, 'depict/depict-sa'),
    'depict-ca': (r'[sc]net\.layers\.\d+\.', _DEPICT_CA, _depict_ca, 'depict/depict-ca'),
}


def _configs_root() -> Optional[str]:
    """The shipped configs: the installed copy (``mmseg_cbsa/.mim``), else
    the checkout's (the package's parent folder)."""
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for root in (osp.join(package, '.mim', 'configs'), osp.join(osp.dirname(package), 'configs')):
        if osp.isdir(root):
            return root
    return None


def shipped_config(pattern: str,
                   state: Dict[str, Tensor],
                   num_classes: int,
                   accepts: Optional[Callable[[Any], bool]] = None) -> Optional[str]:
    """The first shipped config (``configs/{pattern}``, sorted: ADE20K
    before Cityscapes and Pascal Context) whose model takes ``state``
    strictly, as ``tools/test.py`` loads it; None if none does.

    Only the configs of ``num_classes`` classes (the segmentor's
    ``decode_head``, a classifier's ``head``) that ``accepts(cfg)`` (all
    without it) are built: settings the weights do not tell apart, such as an
    attention's options, are checked there."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from ..apis import build_model
    root = _configs_root()
    for path in sorted(glob.glob(osp.join(root, pattern))) if root else []:
        cfg = Config.fromfile(path)
        head = cfg.model.get('decode_head') or cfg.model.get('head') or {}
        if head.get('num_classes') != num_classes or (accepts is not None and not accepts(cfg)):
            continue
        with DefaultScope.overwrite_default_scope(SCOPE):
            model = build_model(cfg, seed=None, init_weights=False).model
        if not any(dry_fit(model, state)):
            return osp.join('configs', osp.relpath(path, root))
    return None


def convert_segmentation(
        state: Dict[str, Tensor],
        src: str = '<checkpoint>',
        grid: Optional[Sequence[int]] = None,
        *,
        encoder: Optional[dict] = None,
        decoders: Optional[Sequence[str]] = None,
        config_folder: Optional[str] = None,
        accepts: Optional[Callable[[Any], bool]] = None) -> Tuple[Dict[str, Tensor], dict]:
    """Segmenter-style ``encoder.*`` / ``decoder.*`` -> ``backbone.*`` / ``decode_head.*``.

    The encoder is checked as a timm ViT, the decoder's layers against each
    other, and the converted tensors must load strictly into the segmentor of
    the returned ``backbone`` and ``decode_head``; ``config`` is a shipped
    config whose model takes them strictly as well, else None.

    Args:
        grid: the (h, w) patch grid of a non-square position embedding.
        encoder: settings merged into the encoder config read off the file,
            for what its tensors do not tell (e.g. another attention with
            MHSA's parameters: :mod:`.mita`).
        decoders: the decoder kinds (keys of :data:`DECODERS`) this source
            may hold; default all.
        config_folder: the shipped configs looked at are
            ``configs/{config_folder}_vit-{size}16_*.py``; default the
            decoder's folder.
        accepts: passed to :func:`shipped_config`.

    Returns:
        The converted state dict and ``dict(backbone=..., decode_head=...,
        decoder=kind, config=path or None, config_pattern=the configs
        looked at)`` describing the model it belongs to.

    Raises:
        ConversionError (a KeyError): keys unknown, missing or of the wrong
            shape, named by their key in the file.
    """
    others = sorted(k for k in state if not k.startswith(('encoder.', 'decoder.')))
    refuse_unmatched(src, "a Segmenter-style checkpoint (only 'encoder.*' and 'decoder.*')", others)
    enc = {k[len('encoder.'):]: v for k, v in state.items() if k.startswith('encoder.')}
    dec = {k[len('decoder.'):]: v for k, v in state.items() if k.startswith('decoder.')}
    backbone, bb_cfg = read_timm_vit(enc, src, grid, shown='encoder.')
    kind = next(
        (name for name, (key, *_) in DECODERS.items() if any(re.match(key, k) for k in dec)), None)
    if kind is None:
        refuse(src, [
            f'decoder is none of {list(DECODERS)}; its keys start with '
            f'{sorted({k.split(".")[0] for k in dec})}'
        ])
    if decoders is not None and kind not in decoders:
        refuse(src, [f'decoder is a {kind} decoder; this source holds one of {list(decoders)}'])
    _, mapper, read_head, folder = DECODERS[kind]
    folder = config_folder or folder
    head, left = mapper(dec)
    refuse_unmatched(src, f'a {kind} decoder', ['decoder.' + k for k in left])
    head_cfg = read_head(src, dec)
    d = bb_cfg['arch'][0]
    num_classes = require(src, dec, 'cls_emb', 3, 'decoder.').shape[1]
    head_cfg.update(in_channels=d, num_classes=num_classes)
    # the authors' encoder is Segmenter's ViT
    bb_cfg.update(norm_eps=1e-5, interpolate_mode='bilinear', **(encoder or {}))
    out = {f'backbone.{k}': v for k, v in backbone.items()}
    out.update({f'decode_head.{k}': v for k, v in head.items()})
    segmentor = build_inferred(src,
                               dict(type='EncoderDecoder', backbone=bb_cfg, decode_head=head_cfg))
    check_model_fit(
        src, out, segmentor, f'the segmentor read off it (ViT, arch {bb_cfg["arch"]}; '
        f'{head_cfg["type"]}, {num_classes} classes)', state)
    size = {192: 't', 384: 's', 768: 'b', 1024: 'l'}.get(d)
    pattern = f'{folder}_vit-{size or "*"}16_*.py'
    return out, dict(
        backbone=bb_cfg,
        decode_head=head_cfg,
        decoder=kind,
        config=shipped_config(pattern, out, num_classes, accepts) if size else None,
        config_pattern=f'configs/{pattern}')


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


def _attention_family(tensors: Set[str]) -> Optional[str]:
    """A classifier layer's attention from its tensors (after
    ``transformer.layers.{i}.``): 'CBSA' (its projection and step sizes), or
    'qkv' (MSSA, and TSSA with its temperature), None if neither."""
    if tensors & {'0.fn.step_rep', '0.fn.step_x', '0.fn.proj.weight'}:
        return 'CBSA'
    if tensors & {'0.fn.qkv.weight', '0.fn.temp'}:
        return 'qkv'
    return None


def convert_classifier(state: Dict[str, Tensor],
                       src: str = '<checkpoint>',
                       grid: Optional[Sequence[int]] = None) -> Tuple[Dict[str, Tensor], dict]:
    """The authors' CBT / CRATE / ToST / hybrid classifier -> an mmpretrain
    ``ImageClassifier`` state dict (``backbone.*``, ``head.fc.*``).

    The layers are checked against each other (the layers of one attention
    family hold the same tensors, of the same shapes), and the converted
    tensors must load strictly into the classifier of the returned backbone
    config and ``LinearClsHead(num_classes, in_channels=width)``.

    Args:
        grid: the (h, w) patch grid of a non-square position embedding.

    Returns:
        The state dict and ``dict(backbone=cfg, num_classes=..., kinds=[...])``.

    Raises:
        ConversionError (a KeyError): keys unknown, missing or of the wrong
            shape, named by their key in the file.
    """
    head = {k[len('mlp_head.1.'):]: v for k, v in state.items() if k.startswith('mlp_head.1.')}
    body, left = _CLASSIFIER({k: v for k, v in state.items() if not k.startswith('mlp_head.1.')})
    refuse_unmatched(src, 'an authors\' classifier (CBT / CRATE / ToST)', left)
    families = check_blocks(src, state, 'transformer.layers.', _attention_family)
    # a temperature makes MSSA's layer ToST's TSSA
    kinds = [
        'CBSA'
        if family == 'CBSA' else 'TSSA' if f'transformer.layers.{i}.0.fn.temp' in state else 'MSSA'
        for i, family in enumerate(families)
    ]
    depth = len(kinds)
    d = require(src, state, 'cls_token', 3).shape[-1]
    num_classes = require(src, state, 'mlp_head.1.weight', 2).shape[0]
    require(src, state, 'mlp_head.1.bias')
    body = {_conv_index(k): v for k, v in body.items()}
    if 'CBSA' in kinds:
        heads = require(src, state, f'transformer.layers.{kinds.index("CBSA")}.0.fn.step_rep',
                        3).shape[0]
    elif 'TSSA' in kinds:
        heads = require(src, state, f'transformer.layers.{kinds.index("TSSA")}.0.fn.temp',
                        2).shape[0]
    else:
        # MSSA layers store no per-head tensor
        heads = heads_for_width(d)
        if heads is None:
            refuse(src, [f'cannot tell the number of heads of width {d}'])
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
        refuse(src, [f'unsupported mix of attention layers {kinds}'])
    convs = split_blocks(state, 'to_patch_embedding.proj.')
    if convs:
        patch = 2**(max(convs) // 2 + 1)  # stride-2 convs at 0, 2, 4, ...
    else:
        # CRATE's linear stem reads flattened 3 x p x p patches
        flat = require(src, state, 'to_patch_embedding.2.weight', 2).shape[1]
        patch = int(round((flat / 3)**0.5))
    pos_grid = patch_grid(src, require(src, state, 'pos_embedding', 3), grid, 'pos_embedding')
    cfg = dict(
        _scope_=SCOPE,
        type=model,
        arch=(d, depth, heads),
        img_size=image_size(pos_grid, patch),
        patch_size=patch,
        stem='conv' if convs else 'linear')
    if 'CBSA' in kinds:
        cfg['legacy_cls_pooling'] = True  # their grid is pooled from tokens[:, :-1]
    out = {f'backbone.{k}': v for k, v in body.items()}
    out.update({f'head.fc.{k}': v for k, v in head.items()})
    check_classifier_fit(src, out, cfg, num_classes, state)
    return out, dict(backbone=cfg, num_classes=num_classes, kinds=kinds)
