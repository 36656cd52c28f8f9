"""High-level APIs shared by the analysis, deployment and application code:
building a config's model and loading its weights (as ``mmseg.apis`` is to
mmseg's tools), and mmseg's ``init_model`` / ``MMSegInferencer`` with the
project's checkpoint loading."""
from .evaluation_outputs import check_evaluation_outputs
from .inference import SegInferencer, init_model
from .loading import (BACKBONE_PREFIX, LoadedModel, build_model, drop_pretrained, image_pipeline,
                      is_bare_backbone_state, load_weights, pretrained_backbone)

__all__ = [
    'BACKBONE_PREFIX', 'LoadedModel', 'SegInferencer', 'build_model', 'check_evaluation_outputs',
    'drop_pretrained', 'image_pipeline', 'init_model', 'is_bare_backbone_state', 'load_weights',
    'pretrained_backbone'
]
