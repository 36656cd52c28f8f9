"""DEPICT decoders (Wen & Li, NeurIPS 2024): white-box MSSA mask transformers."""
import inspect
from typing import Optional, Sequence

from torch import Tensor, nn

from ...registry import MODELS
from ..layers import ResidualCrossAttention, attention_cfg
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

    Args:
        attn_cfg: another self-attention layer in place of TiedMSSA (any
            registered member of the family, e.g. ``dict(type='CBSA',
            rep_grid=10)``); ``num_heads`` and ``head_dims`` default to the
            head's.
        cross_attn_cfg: the cross-attention layer of ``mode='ca'``; it is
            called with ``query=`` (class embeddings), which TiedMSSA
            supports; ``num_heads`` and ``head_dims`` (``cross_head_dims``)
            default to the head's.

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
                 attn_cfg: Optional[dict] = None,
                 cross_attn_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if mode not in ('sa', 'ca'):
            raise ValueError(f"DEPICTHead mode must be 'sa' or 'ca', got '{mode}'")
        super().__init__(
            in_channels, num_layers,
            attention_cfg(
                attn_cfg, dict(type='TiedMSSA'), num_heads=num_heads, head_dims=head_dims),
            **kwargs)
        self.mode = mode
        if mode == 'ca':
            cross = attention_cfg(
                cross_attn_cfg,
                dict(type='TiedMSSA'),
                num_heads=num_heads,
                head_dims=cross_head_dims)
            self.cross_layers = nn.ModuleList(
                ResidualCrossAttention(in_channels, cross) for _ in range(num_cross_layers))
            if not all('query' in inspect.signature(layer.attn.attend).parameters
                       for layer in self.cross_layers):
                raise ValueError(f"cross_attn_cfg type '{cross['type']}' has no cross-attention "
                                 "(its attend() takes no query); use TiedMSSA or a subclass")
            self.cross_norm = nn.LayerNorm(in_channels, eps=self.decoder_norm.eps)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        if self.mode == 'sa':
            return super().forward(inputs)
        x = self._transform_inputs(inputs)
        b, _, h, w = x.shape
        patches = self.refine(x.flatten(2).transpose(1, 2), (h, w))
        classes = self.cls_emb.expand(b, -1, -1)
        for layer in self.cross_layers:
            classes = layer(patches, classes)
        return self.masks(patches, self.cross_norm(classes), (h, w))
