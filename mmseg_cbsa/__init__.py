"""mmseg_cbsa: Contract-and-Broadcast Self-Attention and the white-box attention
family for mmsegmentation.

Importing the package (directly or through ``custom_imports`` in a config)
registers its modules into mmseg's registries, allow-lists the types of
mmengine's own checkpoints for torch's weights-only loader, and puts every
checkpoint mmengine loads (test, load_from, resume, Pretrained, init_model,
MMSegInferencer) through the project's weights-only loader and fit check
(:mod:`mmseg_cbsa.engine.checkpoint_loading`). It also makes the
``mmseg_cbsa`` scope known to mmengine (:mod:`mmseg_cbsa.registry`), so that
configs inherit ``mmseg_cbsa::cbt/...py`` and ``MMSegInferencer(...,
scope='mmseg_cbsa')`` finds the model index.
"""
from . import datasets, engine, evaluation, models  # noqa: F401,E402  (registration)
from .engine.checkpoint_loading import install_checkpoint_loading
from .registry import register_scope
from .utils.checkpoint import allow_mmengine_checkpoint_types
from .version import __version__

allow_mmengine_checkpoint_types()
install_checkpoint_loading()
register_scope()

__all__ = ['__version__']
