from .base import TokenBackbone
from .vit import ViT
from .white_box import CBT, CRATE, CRATECBT, ToST, WhiteBoxViT

__all__ = ['CBT', 'CRATE', 'CRATECBT', 'TokenBackbone', 'ToST', 'ViT', 'WhiteBoxViT']
