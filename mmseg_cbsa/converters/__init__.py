"""Checkpoint converters (used by ``tools/model_converters``)."""
from .authors import convert_classifier, convert_segmentation
from .timm_vit import convert_timm_vit

__all__ = ['convert_classifier', 'convert_segmentation', 'convert_timm_vit']
