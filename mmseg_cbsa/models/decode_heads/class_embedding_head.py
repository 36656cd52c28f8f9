"""The mask-transformer skeleton shared by the white-box decoders."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor, nn

from ..layers import ResidualAttention


class ClassEmbeddingHead(BaseDecodeHead):
    r"""Patch tokens and learnable class embeddings, jointly refined.

    With patch tokens ``X`` (B, h*w, d) from the encoder and class embeddings
    ``E`` (n_cls, d):

    .. math::
        [X; E] &\leftarrow [X; E] + \mathrm{Attn}_l(\mathrm{LN}([X; E])),
                \quad l = 1..L \\
        \mathrm{masks} &= \mathrm{LN}_{n_{cls}}\big(\hat X \hat E^\top\big)

    after a final LayerNorm, where :math:`\hat\cdot` is row-wise L2
    normalisation; the masks are reshaped to (B, n_cls, h, w) logits. No FFN:
    each layer is one attention step, so the attention type (``attn_cfg``,
    any member of the family) is the whole difference between decoders.

    Args:
        in_channels: encoder token width d.
        num_layers: number of attention layers L.
        attn_cfg: the attention layer (any member of the family); its
            ``embed_dims`` is filled in.
        norm_eps: LayerNorm epsilon (PyTorch's default, as the authors').
        **kwargs: :class:`BaseDecodeHead` arguments (``num_classes``,
            ``loss_decode``, ``align_corners``, ...).
    """

    def __init__(self,
                 in_channels: int,
                 num_layers: int,
                 attn_cfg: dict,
                 norm_eps: float = 1e-5,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 **kwargs) -> None:
        kwargs.setdefault('dropout_ratio', 0.)
        super().__init__(in_channels=in_channels, channels=in_channels, init_cfg=init_cfg, **kwargs)
        # Masks come from class embeddings, not from a 1x1 classifier.
        del self.conv_seg
        d, n_cls = in_channels, self.out_channels
        self.cls_emb = nn.Parameter(torch.randn(1, n_cls, d))
        self.layers = nn.ModuleList(
            ResidualAttention(d, attn_cfg, norm_eps) for _ in range(num_layers))
        self.decoder_norm = nn.LayerNorm(d, eps=norm_eps)
        self.mask_norm = nn.LayerNorm(n_cls, eps=norm_eps)

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            return super().init_weights()
        # The authors' (Segmenter's) initialisation; attention-specific
        # parameters (step sizes, tied projections) keep their own init.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        trunc_normal_(self.cls_emb, std=.02)

    def refine(self, tokens: Tensor, hw_shape: Sequence[int]) -> Tensor:
        """Run the layers on [patches; classes] (B, h*w + n_cls, d), then the
        decoder norm."""
        for layer in self.layers:
            tokens = layer(tokens, hw_shape, 0)
        return self.decoder_norm(tokens)

    def masks(self, patches: Tensor, classes: Tensor, hw_shape: Sequence[int]) -> Tensor:
        """(B, h*w, d), (B, n_cls, d) -> (B, n_cls, h, w) mask logits."""
        # the patch norms divide the (N, n_cls) product, not the wider (N, d) tokens
        norms = torch.linalg.vector_norm(patches, dim=-1, keepdim=True).clamp_min(1e-12)
        masks = (patches @ F.normalize(classes, dim=-1).transpose(1, 2)).div_(norms)
        masks = self.mask_norm(masks)
        # a copy in the standard layout: the transposed view is channels-last, and
        # the bilinear resize to the image size that follows (mmseg's) runs its
        # channels-last kernel, 5-6x slower on CPU (150 classes, 32x32 -> 512x512)
        return masks.transpose(1, 2).reshape(masks.shape[0], -1, *hw_shape).contiguous()

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Encoder maps -> (B, n_cls, h, w) logits at the patch resolution."""
        x = self._transform_inputs(inputs)
        b, _, h, w = x.shape
        patches = x.flatten(2).transpose(1, 2)
        tokens = torch.cat((patches, self.cls_emb.expand(b, -1, -1)), dim=1)
        tokens = self.refine(tokens, (h, w))
        return self.masks(tokens[:, :h * w], tokens[:, h * w:], (h, w))
