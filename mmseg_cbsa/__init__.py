"""mmseg_cbsa: Contract-and-Broadcast Self-Attention and the white-box attention
family for mmsegmentation.

Importing the package (directly or through ``custom_imports`` in a config)
registers its modules into mmseg's registries and allow-lists the types of
mmengine's own checkpoints for torch's weights-only loader.
"""
from .utils.checkpoint import allow_mmengine_checkpoint_types
from .version import __version__
from . import datasets, engine, evaluation, models  # noqa: F401,E402  (registration)

allow_mmengine_checkpoint_types()

__all__ = ['__version__']
