from .base import TokenBackbone
from .cls_attention import CLSAttentionRecorder, has_cls_attention, no_cls_attention
from .vit import ViT
from .white_box import CBT, CRATE, CRATECBT, ToST, WhiteBoxViT

__all__ = [
    'CBT', 'CLSAttentionRecorder', 'CRATE', 'CRATECBT', 'TokenBackbone', 'ToST', 'ViT',
    'WhiteBoxViT', 'has_cls_attention', 'no_cls_attention'
]
