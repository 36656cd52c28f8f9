"""The skeleton shared by the ViT family: [CLS] + patches, blocks, outputs."""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmseg.models.backbones.vit import VisionTransformer as MMSegViT
from torch import Tensor, nn

from ..tracing import is_exporting
from .arch import arch_settings
from .cls_attention import CLSAttentionRecorder
from .weight_init import WEIGHT_INITS


class TokenBackbone(BaseModule):
    """Patch embedding, a leading [CLS] token, a learnable position embedding
    and a stack of blocks; subclasses build ``patch_embed`` and ``blocks``.

    Args:
        arch: 't', 's', 'b', 'l' or (embed_dims, num_layers, num_heads).
        img_size: size the position embedding is laid out for; other sizes
            interpolate it with ``interpolate_mode`` (also on loading a
            checkpoint whose embedding has another grid).
        patch_size: patch size of the stem.
        norm_eps: epsilon of the final LayerNorm ``norm``.
        out_indices: blocks whose output is returned (negative from the end).
        final_norm: apply ``norm`` to the last block's output.
        out_type: 'featmap' -> (B, d, h, w) patch maps (segmentation);
            'cls_token' -> (B, d) [CLS] features (classification).
        legacy_cls_pooling: pass the patch grid as starting at token 0
            instead of 1 to the attention layers. The authors' CBT
            classifiers pool ``tokens[:, :-1]`` while [CLS] sits first, so
            their grid is shifted by one token; their checkpoints need this.
        weight_init: how :meth:`init_weights` initialises the backbone when it
            has no ``init_cfg``: 'timm' (trunc-normal 0.02) or 'torch' (the
            authors' white-box classifiers: PyTorch's defaults, N(0, 1)
            position embedding and [CLS] token); see ``weight_init.py``.
    """

    num_prefix_tokens = 1

    def __init__(self,
                 arch: Union[str, Sequence[int]],
                 img_size: Union[int, Sequence[int]],
                 patch_size: int,
                 norm_eps: float,
                 interpolate_mode: str = 'bicubic',
                 out_indices: Union[int, Sequence[int]] = -1,
                 final_norm: bool = True,
                 out_type: str = 'featmap',
                 legacy_cls_pooling: bool = False,
                 weight_init: str = 'timm',
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if out_type not in ('featmap', 'cls_token'):
            raise ValueError(f"out_type must be 'featmap' or 'cls_token', got '{out_type}'")
        self.embed_dims, self.num_layers, self.num_heads = arch_settings(arch)
        img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.patch_size = patch_size
        self.pos_grid = (img_size[0] // patch_size, img_size[1] // patch_size)
        self.interpolate_mode = interpolate_mode
        self.final_norm = final_norm
        self.out_type = out_type
        self.legacy_cls_pooling = legacy_cls_pooling
        if weight_init not in WEIGHT_INITS:
            raise ValueError(f'weight_init must be one of {sorted(WEIGHT_INITS)}, '
                             f"got '{weight_init}'")
        self.weight_init = weight_init
        out_indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        self.out_indices = sorted(i % self.num_layers for i in out_indices)
        d = self.embed_dims
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, self.num_prefix_tokens + self.pos_grid[0] * self.pos_grid[1], d))
        self.norm = nn.LayerNorm(d, eps=norm_eps)

    @property
    def patch_start(self) -> int:
        """Index the attention layers are told the patch grid starts at."""
        return 0 if self.legacy_cls_pooling else self.num_prefix_tokens

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            return super().init_weights()
        WEIGHT_INITS[self.weight_init](self)

    def resized_pos_embed(self, hw_shape: Sequence[int]) -> Tensor:
        """Position embedding for a (h, w) patch grid: (1, 1 + h*w, d).

        While exporting, always resized from the runtime grid: at the layout
        grid the resize is an exact identity, so the graph serves every size."""
        if not is_exporting() and tuple(hw_shape) == self.pos_grid:
            return self.pos_embed
        return MMSegViT.resize_pos_embed(self.pos_embed, tuple(hw_shape), self.pos_grid,
                                         self.interpolate_mode)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints store the position embedding at their training size
        # (e.g. 384 for timm, 512 for Segmenter): resample it on load.
        key = prefix + 'pos_embed'
        pos = state_dict.get(key)
        if pos is not None and pos.shape != self.pos_embed.shape and pos.ndim == 3 \
                and pos.shape[-1] == self.pos_embed.shape[-1]:
            side = math.isqrt(pos.shape[1] - self.num_prefix_tokens)
            if side * side + self.num_prefix_tokens == pos.shape[1]:
                state_dict[key] = MMSegViT.resize_pos_embed(pos, self.pos_grid, (side, side),
                                                            self.interpolate_mode)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def embed(self, img: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """(B, C, H, W) -> tokens (B, 1 + h*w, d) with [CLS] first, and (h, w)."""
        x, hw_shape = self.patch_embed(img)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1) + self.resized_pos_embed(hw_shape)
        return x, hw_shape

    def to_map(self, x: Tensor, hw_shape: Sequence[int]) -> Tensor:
        """(B, 1 + h*w, d) tokens -> (B, d, h, w) patch map."""
        b, _, d = x.shape
        return x[:, self.num_prefix_tokens:].transpose(1, 2).reshape(b, d, *hw_shape)

    def cls_rows(self, tokens: Tensor, hw_shape: Sequence[int]) -> Tensor:
        """(B, K, N, N) token attention of a block -> (B, K, h, w) [CLS]-to-patch
        maps. The patches follow the prefix tokens whatever grid the
        attention layers are told (``legacy_cls_pooling``)."""
        start = self.num_prefix_tokens
        rows = tokens[:, :, 0, start:start + hw_shape[0] * hw_shape[1]]
        return rows.reshape(*rows.shape[:2], *hw_shape)

    def forward_cls_attention(
            self,
            img: Tensor,
            layers: Optional[Sequence[int]] = None) -> Tuple[Tuple[Tensor, ...], Dict[int, Tensor]]:
        """Forward pass that also hands out [CLS] attention maps.

        One ordinary forward under a
        :class:`~mmseg_cbsa.models.backbones.cls_attention.CLSAttentionRecorder`
        (the family's attention hooks); outputs unchanged.

        Args:
            img: (B, C, H, W).
            layers: block indices (negative from the end); all blocks if None.

        Returns:
            The outputs of :meth:`forward` and, per requested layer, the
            [CLS]-to-patch attention of every head as (B, K, h, w): the [CLS]
            row of the softmax attention (MHSA, MSSA), of ``A^T A`` (CBSA,
            agent), or of the layer's own token map (linear, TSSA, DMSA).
        """
        with CLSAttentionRecorder(self, layers) as recorder:
            outs = self(img)
        return outs, recorder.maps

    def forward(self, img: Tensor) -> Tuple[Tensor, ...]:
        """(B, C, H, W) -> one (B, d, h, w) map (or (B, d) [CLS] feature) per
        ``out_indices``."""
        x, hw_shape = self.embed(img)
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x, hw_shape, self.patch_start)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.norm(x)
            if i in self.out_indices:
                outs.append(self.to_map(x, hw_shape) if self.out_type == 'featmap' else x[:, 0])
        return tuple(outs)
