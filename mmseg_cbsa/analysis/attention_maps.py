r"""Attention maps read out of a model during one ordinary forward pass.

:class:`AttentionRecorder` wraps any forward of a segmentor (e.g. mmseg's
``inference_model``) and records, without changing the layers' code or the
model's outputs:

* the network input, i.e. the image after mmseg's test pipeline and data
  preprocessor, which is what the maps are aligned with;
* the [CLS] attention maps of :class:`~mmseg_cbsa.models.backbones.base.TokenBackbone`
  encoders, recorded by the package's one [CLS] recorder
  (:class:`~mmseg_cbsa.models.backbones.cls_attention.CLSAttentionRecorder`,
  as ``forward_cls_attention`` does);
* the extraction matrix ``A`` of every layer that extracts representatives
  (CBSA in encoder blocks and CBT decode head layers, subclasses such as
  ``AgentAttention``, a ViT's adapted ``QKVCBSA`` blocks): the layers that
  declare representatives and whose maps carry ``extraction``
  (:func:`~mmseg_cbsa.analysis.extraction_hooks.extracts_representatives`).

For CBSA, per head k with projected tokens ``W = Z P_k^T`` (N x p) and pooled
initial representatives ``Q_0`` (m x p):

.. math::
    A = \mathrm{softmax}_N(Q_0 W^\top / \sqrt{p}) \quad (m \times N)

Row j of ``A`` says from which tokens representative j extracts its content;
restricted to the h x w patch tokens it is an "extraction map". Everything
is read through the family's attention hooks
(:meth:`~mmseg_cbsa.models.attentions.BaseAttention.register_attention_hook`):
the maps are the very tensors the forward pass computes.
"""
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from ..models.attentions import AttentionMaps, BaseAttention
from ..models.attentions.representatives import representative_cells
from ..models.backbones.cls_attention import (CLSAttentionRecorder, has_cls_attention,
                                              no_cls_attention)
from .extraction_hooks import extracts_representatives


@dataclass
class CBSAExtraction:
    """The extraction matrix of one call of one CBSA layer.

    Attributes:
        name: the module's name in the model, e.g. ``'decode_head.layers.0.attn'``.
        type: its class name (``'CBSA'``, ``'AgentAttention'``...).
        maps: (B, K, m, h, w) rows of ``A`` restricted to the patch tokens,
            laid out on the patch grid; representatives in row-major order of
            the (rh, rw) grid.
        other_mass: (B, K, m) mass of each row on the tokens outside the patch
            grid ([CLS], class embeddings), so that
            ``maps.sum((-2, -1)) + other_mass == 1``.
        rep_grid: (rh, rw), m = rh * rw: the grid this call pooled to, the
            layer's configured grid or, on a patch grid smaller than it, at
            most one representative per patch row / column
            (:meth:`~mmseg_cbsa.models.attentions.CBSA.rep_grid_for`).
        hw_shape: (h, w) patch grid.
        patch_start: index of the first patch token in the layer's input.
        call: 0 for the first call of this module in the recording, 1 for the
            second (e.g. sliding-window inference), ...
        rep_init: ``'pool'`` (representatives pooled from patch cells) or
            ``'learned'`` (trained vectors, pooled from no cell).
    """

    name: str
    type: str
    maps: Tensor
    other_mass: Tensor
    rep_grid: Tuple[int, int]
    hw_shape: Tuple[int, int]
    patch_start: int
    call: int = 0
    rep_init: str = 'pool'

    @property
    def where(self) -> str:
        """The top-level part of the model holding the layer ('backbone',
        'decode_head', ...; 'model' for an unnamed root module)."""
        return self.name.split('.', 1)[0] if self.name else 'model'

    @property
    def layer(self) -> Optional[int]:
        """The first index in the module name (the block / layer number), if any."""
        m = re.search(r'\.(\d+)(?:\.|$)', '.' + self.name)
        return int(m.group(1)) if m else None

    def cells(self) -> Optional[Tensor]:
        """(m, 4) patch-grid cells ``(y0, x0, y1, x1)`` (end-exclusive) that the
        representatives are pooled from, see :func:`representative_cells`;
        None for learned representatives, which have no cell."""
        if self.rep_init == 'learned':
            return None
        return representative_cells(self.hw_shape, self.rep_grid)

    def centroids(self) -> Tensor:
        """(B, K, m, 2) A-weighted centroids ``(y, x)`` of the extraction maps
        on the patch grid, see :func:`extraction_centroids`."""
        return extraction_centroids(self.maps)


def extraction_centroids(maps: Tensor, eps: float = 1e-12) -> Tensor:
    """Centre of mass of each extraction map on its patch grid.

    ``c_j = sum_{y,x} A_j(y, x) (y + 1/2, x + 1/2) / sum_{y,x} A_j(y, x)``: patch
    (y, x) counts at its cell centre, and the weights are renormalised over the
    patches (mass on [CLS] / class tokens has no position). Multiply by the
    patch size to get pixels. A map with two separate blobs has its centroid
    between them.

    Args:
        maps: (..., h, w) non-negative maps.

    Returns:
        (..., 2) ``(y, x)`` in patch units.
    """
    h, w = maps.shape[-2:]
    ys = torch.arange(h, dtype=maps.dtype, device=maps.device) + 0.5
    xs = torch.arange(w, dtype=maps.dtype, device=maps.device) + 0.5
    mass = maps.sum((-2, -1)).clamp_min(eps)
    y = (maps.sum(-1) * ys).sum(-1) / mass
    x = (maps.sum(-2) * xs).sum(-1) / mass
    return torch.stack((y, x), -1)


def split_extraction(attn: Tensor, hw_shape: Sequence[int],
                     patch_start: int) -> Tuple[Tensor, Tensor]:
    """(B, K, m, N) extraction matrix -> (B, K, m, h, w) patch maps and (B, K, m)
    mass on the other tokens."""
    h, w_ = hw_shape
    end = patch_start + h * w_
    patches = attn[..., patch_start:end]
    other = attn[..., :patch_start].sum(-1) + attn[..., end:].sum(-1)
    return patches.reshape(*patches.shape[:-1], h, w_), other


class AttentionRecorder:
    """Record the network input, [CLS] attention and CBSA extraction maps.

    Use as a context manager around one forward of ``model``; the hooks are
    removed on exit, also on error::

        with AttentionRecorder(model, cls_layers=None) as rec:
            inference_model(model, 'demo.png')
        rec.inputs          # (B, 3, H, W) what the backbone received
        rec.cls_maps        # {layer: (B, K, h, w)}, or None (see cls_skip_reason)
        rec.extractions     # [CBSAExtraction, ...] in call order

    Args:
        model: a model with a ``backbone`` (an mmseg segmentor, an
            mmpretrain classifier, the [CLS] probe), or any module whose CBSA
            layers are wanted (the input and [CLS] maps then stay empty).
        cls_layers: encoder blocks whose [CLS] attention is recorded
            (negative from the end; None = all). [CLS] maps need a backbone
            with a [CLS] token (every encoder of this package,
            :func:`~mmseg_cbsa.models.backbones.has_cls_attention`); for
            others ``cls_maps`` stays None and ``cls_skip_reason`` says why.
            Under sliding-window inference the first window's maps are kept.
        record_cls: record [CLS] maps at all.
        cbsa: record CBSA extraction maps.
    """

    def __init__(self,
                 model: nn.Module,
                 cls_layers: Optional[Sequence[int]] = None,
                 record_cls: bool = True,
                 cbsa: bool = True) -> None:
        self.model = model
        self.backbone = getattr(model, 'backbone', None)
        self.cls_layers = cls_layers
        self.record_cls = record_cls
        self.record_cbsa = cbsa
        self.inputs: Optional[Tensor] = None
        #: set by the caller that fed the model RGB pixels (an in-memory
        #: dataset's pipeline), so that no preprocessor swap means RGB input
        self.input_is_rgb = False
        self.cls_skip_reason: Optional[str] = None
        self.extractions: List[CBSAExtraction] = []
        self._cls: Optional[CLSAttentionRecorder] = None
        self._handles = []
        self._calls: Dict[str, int] = {}

    @property
    def cls_maps(self) -> Optional[Dict[int, Tensor]]:
        """{block: (B, K, h, w)} [CLS] maps, detached; None when none were
        recorded (see ``cls_skip_reason``)."""
        maps = self._cls.maps if self._cls is not None else {}
        return maps or None

    @property
    def patch_size(self) -> Optional[int]:
        """Pixels per patch of the backbone, if it declares one."""
        size = getattr(self.backbone, 'patch_size', None)
        return size if isinstance(size, int) else None

    def __enter__(self) -> 'AttentionRecorder':
        try:
            self._install()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._remove()

    def _install(self) -> None:
        if self.backbone is not None:
            self._handles.append(self.backbone.register_forward_pre_hook(self._keep_input))
            if self.record_cls:
                if has_cls_attention(self.backbone):
                    if self._cls is None:  # once: entering again keeps what was recorded
                        self._cls = CLSAttentionRecorder(
                            self.backbone, self.cls_layers, detach=True)
                    self._cls.install()
                else:
                    self.cls_skip_reason = no_cls_attention(self.backbone)
        if self.record_cbsa:
            for name, module in self.model.named_modules():
                if extracts_representatives(module):
                    self._handles.append(module.register_attention_hook(self._make_cbsa_hook(name)))

    def _remove(self) -> None:
        if self._cls is not None:
            self._cls.remove()
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _keep_input(self, module: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], Tensor) and self.inputs is None:
            self.inputs = args[0].detach()

    def _make_cbsa_hook(self, name: str):

        def hook(module: BaseAttention, maps: AttentionMaps) -> None:
            if maps.extraction is None:
                return
            patches, other = split_extraction(maps.extraction.detach(), maps.hw_shape,
                                              maps.patch_start)
            call = self._calls.get(name, 0)
            self._calls[name] = call + 1
            self.extractions.append(
                CBSAExtraction(
                    name=name,
                    type=type(module).__name__,
                    maps=patches,
                    other_mass=other,
                    rep_grid=tuple(getattr(maps, 'rep_grid', module.rep_grid)),
                    hw_shape=maps.hw_shape,
                    patch_start=maps.patch_start,
                    call=call,
                    rep_init=getattr(maps, 'rep_init', 'pool')))

        return hook

    def input_images(self) -> List[np.ndarray]:
        """The recorded network input as (H, W, 3) uint8 RGB numpy images.

        Undoes the data preprocessor's normalisation (``mean``/``std``) and
        channel swap; padding added by the preprocessor stays, as the maps
        cover it too.
        """
        if self.inputs is None:
            raise RuntimeError('no network input was recorded: run the model inside the '
                               'recorder, and give it a model with a backbone')
        x = self.inputs.float().cpu()
        pre = getattr(self.model, 'data_preprocessor', None)
        if getattr(pre, '_enable_normalize', False):
            x = x * pre.std.cpu() + pre.mean.cpu()
        # The preprocessor's channel swap turns BGR files into the RGB the
        # network sees (mmseg's bgr_to_rgb, mmpretrain's to_rgb); without it
        # the input is still BGR (unless it was fed RGB: input_is_rgb).
        swapped = getattr(pre, 'channel_conversion', getattr(pre, 'to_rgb', False))
        if not (swapped or self.input_is_rgb) and x.shape[1] == 3:
            x = x[:, [2, 1, 0]]
        x = x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1)
        return [img.numpy() for img in x]
