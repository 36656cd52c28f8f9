"""Checkpoint converters (used by ``tools/model_converters``)."""
from .authors import convert_classifier, convert_segmentation
from .checks import ConversionError
from .mapping import KeyMapper, refuse_unmatched
from .mita import convert_mita_deit, convert_mita_segmenter
from .timm_vit import convert_timm_vit
from .vit_adaptation import ADAPTATIONS, adapted_attention, convert_vit_to_cbsa

__all__ = [
    'ADAPTATIONS', 'ConversionError', 'KeyMapper', 'adapted_attention', 'convert_classifier',
    'convert_mita_deit', 'convert_mita_segmenter', 'convert_segmentation', 'convert_timm_vit',
    'convert_vit_to_cbsa', 'refuse_unmatched'
]
