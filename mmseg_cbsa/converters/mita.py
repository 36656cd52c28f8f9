"""The authors' MiTA checkpoints (QishuaiWen/MiTA) -> this project.

MiTA's attention has exactly MHSA's parameters (``qkv``, ``proj``; its
router pooling has none), so a MiTA checkpoint has the key layout of the
plain model it was trained from and cannot be told from it by its tensors:
which source a file is, is named (``--from``, :data:`MITA_SOURCES`), and the
MiTA settings the tensors do not store are the authors' code's.

* ``mita-deit``: MiTA-DeiT's ``main.py`` checkpoint, ``{'model': timm
  VisionTransformer state dict, 'model_ema', 'optimizer', ..., 'args':
  argparse.Namespace}`` -> an mmpretrain ``ImageClassifier`` (``backbone.*``
  on :class:`~mmseg_cbsa.models.ViT` with MiTA in every block, ``head.fc.*``),
  as ``configs/mita/mita-deit-t_*.py`` builds it. Routers ``--pool-size`` and
  ``--kv-topk`` as passed to their ``main.py`` (default 5 and 5; their code
  squares ``kv_topk``: 25 keys per router).
* ``mita-segmenter``: MiTA-Segmenter's ``checkpoint.pth``, ``{'model':
  {encoder.*, decoder.*}}``: Segmenter's ViT with MiTA in every block (7x7
  routers, 49 keys, hard-coded in their attention) under the CBSA
  "mask_transformer" decoder -> an mmseg segmentor, as
  ``configs/mita/mita-segmenter_vit-t16_*.py`` builds it.

Both pool the authors' shifted grid (``q[:, :-1]`` as a square, [CLS] in it,
the last patch out: ``legacy_cls_pooling=True``) and scale the routers'
logits as their kernel call does (``router_scale='code'``).
"""
import argparse
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

from torch import Tensor

from .authors import convert_segmentation, shipped_config
from .checks import check_classifier_fit, refuse, require
from .timm_vit import read_timm_vit

#: MiTA-DeiT's ``main.py`` defaults (``--pool-size``, ``--kv-topk``)
DEIT_POOL_SIZE, DEIT_KV_TOPK = 5, 5
#: MiTA-Segmenter's attention hard-codes 7x7 routers and ``kv_topk = 7 ** 2``
SEGMENTER_POOL_SIZE, SEGMENTER_TOPK = 7, 49
#: what MiTA-DeiT's ``main.py`` pickles beside the tensors: its options
#: (``args``, of str / int / float / bool / None / list values)
DEIT_CHECKPOINT_TYPES = (argparse.Namespace, )


def mita_attention(pool_size: int, topk: int, qkv_bias: bool = True) -> dict:
    """The ``attn_cfg`` of the authors' MiTA block: ``pool_size`` x
    ``pool_size`` routers, ``topk`` keys per router (taken as given: their
    DeiT's ``kv_topk`` is squared before it gets here), their router-logit
    scale (``q . R / p``, :class:`~mmseg_cbsa.models.MiTA`)."""
    return dict(type='MiTA', pool_size=pool_size, topk=topk, router_scale='code', qkv_bias=qkv_bias)


def _same_attention(backbone: dict) -> Callable[[Any], bool]:
    """Whether a shipped config's backbone has ``backbone``'s MiTA settings
    (pooling and every block's attention), which the weights do not tell."""

    def per_block(attn: Any, depth: int = 1) -> list:
        # one config for every block, or one per block
        blocks = [dict(a or {}) for a in (attn if isinstance(attn, (list, tuple)) else [attn])]
        return blocks * depth if len(blocks) == 1 else blocks

    ours = per_block(backbone['attn_cfg'])

    def accepts(cfg: Any) -> bool:
        shipped = cfg.model.backbone
        theirs = per_block(shipped.get('attn_cfg'))
        depth = max(len(ours), len(theirs))
        return (per_block(ours, depth) == per_block(theirs, depth)
                and shipped.get('legacy_cls_pooling', False) == backbone['legacy_cls_pooling'])

    return accepts


def convert_mita_deit(state: Dict[str, Tensor],
                      src: str = '<checkpoint>',
                      grid: Optional[Sequence[int]] = None,
                      pool_size: int = DEIT_POOL_SIZE,
                      kv_topk: int = DEIT_KV_TOPK) -> Tuple[Dict[str, Tensor], dict]:
    """MiTA-DeiT (timm ``VisionTransformer`` names) -> mmpretrain
    ``ImageClassifier`` state dict (``backbone.*``, ``head.fc.*``).

    The encoder is checked as a timm ViT (:func:`~.timm_vit.read_timm_vit`:
    no tensor or block missing or mis-shaped, nothing unknown such as DeiT's
    distillation token), the head must be there, and the converted tensors
    must load strictly into the classifier of the returned backbone config
    and ``LinearClsHead(num_classes, in_channels=width)``.

    Args:
        grid: the (h, w) patch grid of a non-square position embedding.
        pool_size, kv_topk: their ``main.py``'s ``--pool-size`` and
            ``--kv-topk`` (routers per side, the square root of the keys
            per router).

    Returns:
        The state dict and ``dict(backbone=cfg, num_classes=..., config=the
        shipped config that loads it with these settings or None,
        config_pattern=the configs looked at)``.

    Raises:
        ConversionError (a KeyError): keys unknown, missing or of the wrong
            shape, named by their key in the file.
    """
    if pool_size < 1 or kv_topk < 1:
        refuse(src, [f'--pool-size {pool_size} and --kv-topk {kv_topk} must be positive'])
    heads = {k: v for k, v in state.items() if k.startswith('head.')}
    # a pooled-feature norm or a pre-logits layer would be dropped as a
    # segmentation encoder drops them, but this classifier computes them
    unknown = sorted((set(heads) - {'head.weight', 'head.bias'})
                     | {k
                        for k in state if k.startswith(('fc_norm.', 'pre_logits.'))})
    if unknown:
        refuse(src, [f'unexpected keys for a MiTA-DeiT classifier head: {unknown}'])
    backbone, cfg = read_timm_vit(state, src, grid)
    num_classes = require(src, state, 'head.weight', 2).shape[0]
    require(src, state, 'head.bias', 1)
    depth = cfg['arch'][1]
    qkv_bias = 'blocks.0.attn.qkv.bias' in state
    attn = mita_attention(pool_size, kv_topk**2, qkv_bias)
    cfg.update(
        out_type='cls_token', legacy_cls_pooling=True, qkv_bias=qkv_bias, attn_cfg=[attn] * depth)
    out = {f'backbone.{k}': v for k, v in backbone.items()}
    out.update({f'head.fc.{k[len("head."):]}': v for k, v in heads.items()})
    check_classifier_fit(src, out, cfg, num_classes, state)
    size = {192: 't', 384: 's', 768: 'b'}.get(cfg['arch'][0])
    pattern = f'mita/mita-deit-{size or "*"}_*.py'
    config = shipped_config(pattern, out, num_classes, _same_attention(cfg)) if size else None
    return out, dict(
        backbone=cfg, num_classes=num_classes, config=config, config_pattern=f'configs/{pattern}')


def convert_mita_segmenter(state: Dict[str, Tensor],
                           src: str = '<checkpoint>',
                           grid: Optional[Sequence[int]] = None) -> Tuple[Dict[str, Tensor], dict]:
    """MiTA-Segmenter (``encoder.*``: Segmenter's ViT, every block MiTA;
    ``decoder.*``: the CBSA decoder) -> ``backbone.*`` / ``decode_head.*``.

    :func:`~.authors.convert_segmentation` with the authors' MiTA settings in
    the encoder config and only their decoder (CBT) accepted; the shipped
    configs looked at are ``configs/mita/mita-segmenter_vit-{size}16_*.py``.

    Returns / Raises: as :func:`~.authors.convert_segmentation`.
    """
    encoder = dict(
        legacy_cls_pooling=True,
        attn_cfg=mita_attention(SEGMENTER_POOL_SIZE, SEGMENTER_TOPK, qkv_bias=True))
    return convert_segmentation(
        state,
        src,
        grid,
        encoder=encoder,
        decoders=('cbt', ),
        config_folder='mita/mita-segmenter',
        accepts=_same_attention(encoder))


class MiTASource(NamedTuple):
    """A checkpoint layout of the authors' MiTA code.

    Attributes:
        convert: ``convert(state, src, grid=..., **options)`` -> (state dict,
            info).
        description: what the file is, for ``--help``.
        options: the converter options it takes (``pool_size``, ``kv_topk``).
        safe_types: globals its training script pickles beside the tensors,
            allowed for the weights-only read.
    """

    convert: Callable[..., Tuple[Dict[str, Tensor], dict]]
    description: str
    options: Tuple[str, ...] = ()
    safe_types: Tuple[Any, ...] = ()


#: ``--from`` name -> the source layout
MITA_SOURCES: Dict[str, MiTASource] = {
    'mita-deit':
    MiTASource(convert_mita_deit, "MiTA-DeiT main.py checkpoint ({'model': timm ViT, 'args', ...})",
               ('pool_size', 'kv_topk'), DEIT_CHECKPOINT_TYPES),
    'mita-segmenter':
    MiTASource(convert_mita_segmenter,
               "MiTA-Segmenter checkpoint.pth ({'model': {encoder.*, decoder.*}})"),
}
