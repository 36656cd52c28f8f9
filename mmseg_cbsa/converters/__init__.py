"""Checkpoint converters (used by ``tools/model_converters``)."""
from .timm_vit import convert_timm_vit

__all__ = ['convert_timm_vit']
