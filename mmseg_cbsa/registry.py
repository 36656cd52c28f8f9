"""The ``mmseg_cbsa`` scope: registries and the config-package mapping that
mmengine needs before ``mmseg_cbsa::`` config paths and
``MMSegInferencer(..., scope='mmseg_cbsa')`` work.

Packaging alone does not make a scope. mmengine resolves
``_base_ = ['mmseg_cbsa::cbt/...py']`` only for module names listed in its
``MODULE2PACKAGE`` (``mmengine.config.utils``), and it tags every typed dict
of such a base with ``_scope_='mmseg_cbsa'``; building one then looks for a
registry of that scope in each registry tree and, finding none, falls back to
mmengine's root registries, which know no mmseg or mmseg_cbsa type. So, as
mmseg does for ``mmseg``, every registry here is a child of mmseg's (scope
``mmseg_cbsa``): a lookup falls through to mmseg and mmengine, where this
package registers its modules. ``FUNCTIONS`` (collate functions, looked up by
the inferencers in their scope) hangs under mmengine's, since mmseg has none.

:func:`register_scope` is called on import of the package. The project's
modules are registered here, never in mmseg's, mmpretrain's or mmengine's
registries: a config of another scope names them ``mmseg_cbsa.<Name>`` (e.g.
``type='mmseg_cbsa.CBTHead'`` in an mmseg config), the project's own configs
set ``default_scope = 'mmseg_cbsa'``, and mmpretrain-scoped configs tag the
dicts of our types with ``_scope_='mmseg_cbsa'``.
"""
from typing import Any

from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import Registry
from mmseg import registry as mmseg

SCOPE = 'mmseg_cbsa'


def _child(parent: Registry) -> Registry:
    # a lookup imports only the searched registry's own locations, never its
    # parent's: list mmseg's (e.g. mmseg.evaluation for IoUMetric) as well
    return Registry(parent.name, parent=parent, scope=SCOPE, locations=[*parent._locations, SCOPE])


HOOKS = _child(mmseg.HOOKS)
DATASETS = _child(mmseg.DATASETS)
DATA_SAMPLERS = _child(mmseg.DATA_SAMPLERS)
TRANSFORMS = _child(mmseg.TRANSFORMS)
MODELS = _child(mmseg.MODELS)
WEIGHT_INITIALIZERS = _child(mmseg.WEIGHT_INITIALIZERS)
OPTIMIZERS = _child(mmseg.OPTIMIZERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(mmseg.OPTIM_WRAPPER_CONSTRUCTORS)
OPTIM_WRAPPERS = _child(mmseg.OPTIM_WRAPPERS)
TASK_UTILS = _child(mmseg.TASK_UTILS)
PARAM_SCHEDULERS = _child(mmseg.PARAM_SCHEDULERS)
METRICS = _child(mmseg.METRICS)
EVALUATOR = _child(mmseg.EVALUATOR)
MODEL_WRAPPERS = _child(mmseg.MODEL_WRAPPERS)
VISBACKENDS = _child(mmseg.VISBACKENDS)
VISUALIZERS = _child(mmseg.VISUALIZERS)
RUNNERS = _child(mmseg.RUNNERS)
RUNNER_CONSTRUCTORS = _child(mmseg.RUNNER_CONSTRUCTORS)
LOOPS = _child(mmseg.LOOPS)
LOG_PROCESSORS = _child(mmseg.LOG_PROCESSORS)
INFERENCERS = _child(mmseg.INFERENCERS)
FUNCTIONS = _child(MMENGINE_FUNCTIONS)


def build_in_scope(registry: Registry, cfg: dict) -> Any:
    """Build ``cfg`` from ``registry`` in the ``mmseg_cbsa`` scope (the
    project's types first, then mmseg's and mmengine's), whatever scope is in
    force: what a module of ours builds inside itself does not depend on the
    config that holds it (``default_scope`` mmseg, mmpretrain or ours).
    A ``_scope_`` given in ``cfg`` is kept."""
    return registry.build({'_scope_': SCOPE, **cfg})


def register_scope() -> None:
    """Let mmengine resolve ``mmseg_cbsa::<method>/<config>.py`` (from the
    installed ``mmseg_cbsa/.mim/configs``) and accept ``scope='mmseg_cbsa'``
    in its inferencers (``mmseg_cbsa/.mim/model-index.yml``): the scope's
    entry in mmengine's module-to-package table, as mmseg's own is there.
    Adds that one entry and changes no other. Idempotent.

    The entry names the module, not the distribution (``mmsegmentation-cbsa``):
    mmengine's ``get_installed_path`` then falls back to where Python imports
    the module from, which is the checkout for an editable install (the
    distribution's location would be site-packages, which holds no
    ``mmseg_cbsa`` folder then)."""
    MODULE2PACKAGE.setdefault(SCOPE, SCOPE)


__all__ = ['SCOPE', 'build_in_scope', 'register_scope']
