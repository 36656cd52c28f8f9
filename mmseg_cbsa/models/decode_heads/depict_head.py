"""DEPICT decoders (Wen & Li, NeurIPS 2024): white-box MSSA mask transformers."""
from typing import Sequence

from mmseg.registry import MODELS
from torch import Tensor, nn

from ..layers import CrossAttentionLayer
from .class_embedding_head import ClassEmbeddingHead


@MODELS.register_module()
class DEPICTHead(ClassEmbeddingHead):
    r"""DEPICT decode head, in its two forms.

    * ``mode='sa'`` (DEPICT-SA): the :class:`ClassEmbeddingHead` skeleton with
      :class:`~mmseg_cbsa.models.attentions.TiedMSSA` layers over
      [patches; class embeddings]:
      ``x = x + s (softmax(W W^T/sqrt(p)) W) U``, ``W = LN(x) U^T``.
    * ``mode='ca'`` (DEPICT-CA): ``num_layers`` TiedMSSA self-attention layers
      on the patches only, LN; then ``num_cross_layers`` cross-attention
      layers (width ``cross_head_dims``) in which the class embeddings query
      the patches, LN; masks as in the skeleton.

    Defaults are the authors': K = 3 heads, p = 100 (self) and 50 (cross),
    3 + 3 layers. Quadratic in the number of tokens (MSSA).

    Shapes:
        inputs[in_index] (B, d, h, w) -> logits (B, num_classes, h, w).
    """

    def __init__(self,
                 in_channels: int,
                 mode: str = 'sa',
                 num_layers: int = 3,
                 num_heads: int = 3,
                 head_dims: int = 100,
                 num_cross_layers: int = 3,
                 cross_head_dims: int = 50,
                 **kwargs) -> None:
        if mode not in ('sa', 'ca'):
            raise ValueError(f"DEPICTHead mode must be 'sa' or 'ca', got '{mode}'")
        super().__init__(in_channels, num_layers,
                         dict(type='TiedMSSA', num_heads=num_heads, head_dims=head_dims),
                         **kwargs)
        self.mode = mode
        if mode == 'ca':
            cross = dict(type='TiedMSSA', num_heads=num_heads, head_dims=cross_head_dims)
            self.cross_layers = nn.ModuleList(
                CrossAttentionLayer(in_channels, cross) for _ in range(num_cross_layers))
            self.cross_norm = nn.LayerNorm(in_channels, eps=self.decoder_norm.eps)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        if self.mode == 'sa':
            return super().forward(inputs)
        x = self._transform_inputs(inputs)
        b, _, h, w = x.shape
        patches, _ = self.refine(x.flatten(2).transpose(1, 2), (h, w))
        classes = self.cls_emb.expand(b, -1, -1)
        for layer in self.cross_layers:
            classes = layer(patches, classes)
        return self.masks(patches, self.cross_norm(classes), (h, w))
