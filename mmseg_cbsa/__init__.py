"""mmseg_cbsa: Contract-and-Broadcast Self-Attention and the white-box attention
family for mmsegmentation.

Importing the package (directly or through ``custom_imports`` in a config)
registers its modules in the ``mmseg_cbsa`` scope's registries
(:mod:`mmseg_cbsa.registry`, children of mmseg's) and makes that scope known to
mmengine, so that configs inherit ``mmseg_cbsa::cbt/...py`` and
``MMSegInferencer(..., scope='mmseg_cbsa')`` finds the model index. It changes
nothing else in the process: mmengine's checkpoint loading, torch's
weights-only allow-list and the other libraries' registries are left as they
are. The project's guarantees (weights-only reads, checkpoints that must fit)
hold in its own entry points: :class:`~mmseg_cbsa.engine.CheckedRunner`, the
scope's ``Pretrained`` initialiser, :mod:`mmseg_cbsa.apis` and the tools.
"""
from . import datasets, engine, evaluation, models  # noqa: F401,E402  (registration)
from .registry import register_scope
from .version import __version__

register_scope()

__all__ = ['__version__']
