"""A pretrained ViT -> a ViT whose attention runs in CBSA style (paper Fig. 9).

The authors adapt ImageNet-21k ViTs (timm weights) by keeping every tensor and
changing only what the attention computes from its query / key / value and
output projections (:class:`~mmseg_cbsa.models.attentions.QKVCBSA`,
:class:`~mmseg_cbsa.models.attentions.QKVLinearAttention`). The adapted
members have exactly MHSA's parameters, so conversion is a renaming into this
project's :class:`~mmseg_cbsa.models.ViT` classifier layout plus the model
config that swaps the attention of the chosen blocks.

Sources: timm ``vit_*`` state dicts, and the ViTs of mmsegmentation
(``VisionTransformer``: ``attn.attn.in_proj_weight``) and mmpretrain
(``VisionTransformer``: ``attn.qkv``), bare or inside a segmentor /
classifier checkpoint. Unknown keys are refused by name, never dropped.
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

from torch import Tensor

from .checks import check_blocks, check_classifier_fit, refuse
from .mapping import KeyMapper, refuse_unmatched
from .timm_vit import read_timm_vit

#: Fig. 9's adaptations: the attention config of each adapted block
ADAPTATIONS: Dict[str, dict] = {
    'cbsa': dict(type='QKVCBSA'),
    'cbsa-no-contraction': dict(type='QKVCBSA', contraction=False),
    'linear': dict(type='QKVLinearAttention'),
}

#: mmsegmentation / mmpretrain ViT names -> timm's
_OPENMMLAB_VIT = KeyMapper([
    (r'(cls_token|pos_embed)', r'\1'),
    (r'patch_embed\.projection\.(weight|bias)', r'patch_embed.proj.\1'),
    (r'layers\.(\d+)\.ln([12])\.(weight|bias)', r'blocks.\1.norm\2.\3'),
    (r'layers\.(\d+)\.attn\.attn\.in_proj_(weight|bias)', r'blocks.\1.attn.qkv.\2'),
    (r'layers\.(\d+)\.attn\.attn\.out_proj\.(weight|bias)', r'blocks.\1.attn.proj.\2'),
    (r'layers\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)', r'blocks.\1.attn.\2.\3'),
    (r'layers\.(\d+)\.ffn\.layers\.0\.0\.(weight|bias)', r'blocks.\1.mlp.fc1.\2'),
    (r'layers\.(\d+)\.ffn\.layers\.1\.(weight|bias)', r'blocks.\1.mlp.fc2.\2'),
    (r'ln1\.(weight|bias)', r'norm.\1'),
])
#: classifier heads by layout: timm, mmpretrain's ViT head, LinearClsHead
_HEADS = ('head.', 'head.layers.head.', 'head.fc.')
#: parts of a segmentor checkpoint that are not the encoder
_SEGMENTOR_PARTS = re.compile(r'^(decode_head|auxiliary_head)\.')


def _split_source(state: Dict[str, Tensor],
                  src: str) -> Tuple[Dict[str, Tensor], Dict[str, Tensor], List[str]]:
    """(encoder in timm's names, classifier head {weight, bias} or {}, keys of
    a segmentor's decode heads left out)."""
    dropped = sorted(k for k in state if _SEGMENTOR_PARTS.match(k))
    state = {k: v for k, v in state.items() if k not in dropped}
    prefix = 'backbone.' if any(k.startswith('backbone.') for k in state) else ''
    if prefix:
        body = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
        rest = {k: v for k, v in state.items() if not k.startswith('backbone.')}
    else:
        body, rest = {}, state
    head_prefix = next((p for p in sorted(_HEADS, key=len, reverse=True) if f'{p}weight' in rest),
                       None)
    head = {} if head_prefix is None else {
        k[len(head_prefix):]: v
        for k, v in rest.items() if k.startswith(head_prefix)
    }
    rest = {k: v for k, v in rest.items() if head_prefix is None or not k.startswith(head_prefix)}
    body.update(rest)
    if any(k.startswith('layers.') for k in body):
        renamed, left = _OPENMMLAB_VIT(body)
        refuse_unmatched(src, 'an mmsegmentation / mmpretrain ViT', left)
        # checked in the file's own names before they become timm's
        check_blocks(src, body, 'layers.', shown=prefix)
        body = renamed
    if head and set(head) != {'weight', 'bias'}:
        refuse(
            src,
            [f'classifier head {head_prefix}* holds {sorted(head)}, '
             'expected weight and bias'])
    return body, head, dropped


def adapted_attention(variant: str,
                      num_layers: int,
                      blocks: Optional[Sequence[int]] = None,
                      rep_grid: Union[int, Sequence[int]] = 8) -> Union[dict, List[dict]]:
    """The ``attn_cfg`` of an adapted ViT: one config when every block is
    adapted (the authors' setting), else one per block with MHSA in the
    blocks not listed. ``rep_grid`` applies to the CBSA variants."""
    if variant not in ADAPTATIONS:
        raise ValueError(f"unknown adaptation '{variant}': expected one of {list(ADAPTATIONS)}")
    cfg = dict(ADAPTATIONS[variant])
    if cfg['type'] == 'QKVCBSA':
        cfg['rep_grid'] = rep_grid
    if blocks is None:
        return cfg
    chosen = sorted({b % num_layers for b in blocks})
    if any(not -num_layers <= b < num_layers for b in blocks) or not chosen:
        raise ValueError(f'blocks {list(blocks)} must name blocks of a {num_layers}-block ViT')
    if len(chosen) == num_layers:
        return cfg
    return [dict(cfg) if i in chosen else dict(type='MHSA') for i in range(num_layers)]


def convert_vit_to_cbsa(state: Dict[str, Tensor],
                        src: str = '<checkpoint>',
                        variant: str = 'cbsa',
                        blocks: Optional[Sequence[int]] = None,
                        rep_grid: Union[int, Sequence[int]] = 8,
                        keep_head: bool = True,
                        grid: Optional[Sequence[int]] = None) -> Tuple[Dict[str, Tensor], dict]:
    """A pretrained ViT state dict -> an mmpretrain ``ImageClassifier`` state
    dict (``backbone.*`` for this project's ``ViT``, ``head.fc.*``) whose
    backbone config adapts the attention of ``blocks`` (all when None).

    Every encoder tensor is kept under its timm name: the adapted blocks read
    their pretrained ``attn.qkv`` and ``attn.proj`` as queries / keys / values
    and output map. The classifier head is kept when ``keep_head`` and present
    (timm's ``head``, mmpretrain's ``head.layers.head`` or ``head.fc``).
    The source is checked as a timm ViT (its blocks against each other, in
    the file's names), and the converted tensors must load strictly into the
    classifier of the returned backbone config and
    ``LinearClsHead(num_classes)``.

    Args:
        grid: the (h, w) patch grid of a non-square position embedding.

    Returns:
        The state dict and ``dict(backbone=cfg, num_classes=int or None,
        adapted=[block indices], reused=[attention keys of the adapted
        blocks], dropped=[decode-head keys of a segmentor checkpoint])``.

    Raises:
        ConversionError (a KeyError): keys of no known ViT layout, missing
            or of the wrong shape (named), a head that cannot be read by a
            [CLS]-token classifier when it is kept.
        ValueError: ``variant`` or ``blocks`` name no adaptation or block.
    """
    body, head, dropped = _split_source(state, src)
    pooled = sorted(k for k in body if re.match(r'(fc_norm|pre_logits)\.', k))
    if keep_head and head and pooled:
        refuse(src, [
            f'the head reads {pooled} (average pooling or a pre-logits layer), not the [CLS] '
            "token that this project's classifier reads; convert without the head "
            '(--drop-head) and fine-tune a new one'
        ])
    backbone, cfg = read_timm_vit(body, src, grid)
    depth = cfg['arch'][1]
    attn = adapted_attention(variant, depth, blocks, rep_grid)
    adapted = list(range(depth)) if isinstance(attn, dict) else \
        [i for i, c in enumerate(attn) if c['type'] != 'MHSA']
    cfg.update(attn_cfg=attn, out_type='cls_token')
    out = {f'backbone.{k}': v for k, v in backbone.items()}
    num_classes = None
    if keep_head and head:
        out.update({f'head.fc.{k}': v for k, v in head.items()})
        num_classes = head['weight'].shape[0]
    check_classifier_fit(src, out, cfg, num_classes, state)
    reused = sorted(
        k for k in backbone
        if re.match(r'blocks\.(\d+)\.attn\.', k) and int(k.split('.')[1]) in adapted)
    return out, dict(
        backbone=cfg, num_classes=num_classes, adapted=adapted, reused=reused, dropped=dropped)
