"""Segmenter's mask transformer as Segmenter itself initialises it."""
from mmengine.model.weight_init import trunc_normal_
from mmseg.models.decode_heads import SegmenterMaskTransformerHead
from torch import nn

from ...registry import MODELS


@MODELS.register_module()
class SegmenterHead(SegmenterMaskTransformerHead):
    """mmseg's ``SegmenterMaskTransformerHead`` (the same layers, forward pass
    and checkpoint keys) with the initialisation of Segmenter's own decoder
    (rstrudel/segmenter ``segm/model/decoder.py``), which the authors' baseline
    numbers were trained from:

    * the patch and class projections drawn from N(0, 1/d) (Segmenter's
      ``scale * randn(d, d)``; mmseg: trunc-normal 0.02);
    * the attention's q/k/v projection trunc-normal 0.02 with zero bias, as
      every other Linear layer (mmseg's ``nn.MultiheadAttention`` keeps
      PyTorch's xavier-uniform).

    Takes mmseg's arguments; ``type='SegmenterMaskTransformerHead'`` gives
    mmseg's initialisation back.
    """

    def init_weights(self) -> None:
        super().init_weights()
        dims = self.patch_proj.weight.shape[0]
        for proj in (self.patch_proj, self.classes_proj):
            nn.init.normal_(proj.weight, std=dims**-0.5)
        for m in self.modules():
            if isinstance(m, nn.MultiheadAttention):
                trunc_normal_(m.in_proj_weight, std=self.init_std)
                if m.in_proj_bias is not None:
                    nn.init.zeros_(m.in_proj_bias)
