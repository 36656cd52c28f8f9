"""A frozen encoder whose "prediction" is its [CLS] attention maps."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from mmseg.structures import SegDataSample
from torch import Tensor

from ...registry import MODELS, build_in_scope
from ..backbones.cls_attention import has_cls_attention


@MODELS.register_module()
class CLSAttentionProbe(BaseModel):
    """Runs an encoder of the family and attaches, to every data sample,
    ``cls_attn``: {layer: (K, h, w) [CLS]-to-patch attention} for the chosen
    layers, for :class:`~mmseg_cbsa.evaluation.ZeroShotCLSMetric`.

    Args:
        backbone: an encoder with a [CLS] token (ViT, CRATE, CBT, ToST,
            CRATECBT), whose maps ``forward_cls_attention`` records
            (:class:`~mmseg_cbsa.models.backbones.cls_attention.CLSAttentionRecorder`);
            its ``init_cfg`` loads the checkpoint.
        layers: block indices; all blocks if None.
        data_preprocessor: normalisation (a ``SegDataPreProcessor``).
    """

    def __init__(self,
                 backbone: dict,
                 layers: Optional[Sequence[int]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = build_in_scope(MODELS, backbone)
        if not has_cls_attention(self.backbone):
            raise TypeError(f'{type(self.backbone).__name__} hands out no [CLS] attention; '
                            'use ViT, CRATE, CBT, ToST or CRATECBT')
        self.layers = None if layers is None else list(layers)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None,
                mode: str = 'predict') -> Union[List[SegDataSample], Dict[int, Tensor]]:
        if mode == 'loss':
            raise ValueError('CLSAttentionProbe is for evaluation only (frozen encoder)')
        with torch.no_grad():
            _, maps = self.backbone.forward_cls_attention(inputs, self.layers)
        if mode == 'tensor' or data_samples is None:
            return maps
        for i, sample in enumerate(data_samples):
            sample.set_field({
                layer: m[i]
                for layer, m in maps.items()
            },
                             'cls_attn',
                             field_type='data')
        return data_samples
