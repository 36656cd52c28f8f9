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

:func:`register_scope` is called on import of the package.
"""
import os.path as osp

import mmengine.config.config as mmengine_config
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

_mmengine_installed_path = mmengine_config.get_installed_path


def installed_path(package: str) -> str:
    """mmengine's ``get_installed_path``, except that this package is where
    Python imports it from.

    mmengine 0.10.7 joins the distribution's location with the package name:
    for an editable install (PEP 660, ``pip install -e .``) that location is
    site-packages, which holds no ``mmseg_cbsa`` folder, so the installed
    ``.mim/configs`` would not be found.
    """
    if package == SCOPE:
        return osp.dirname(osp.abspath(__file__))
    return _mmengine_installed_path(package)


def register_scope() -> None:
    """Let mmengine resolve ``mmseg_cbsa::<method>/<config>.py`` (from the
    installed ``mmseg_cbsa/.mim/configs``) and accept ``scope='mmseg_cbsa'``
    in its inferencers (``mmseg_cbsa/.mim/model-index.yml``). Idempotent."""
    MODULE2PACKAGE.setdefault(SCOPE, SCOPE)
    mmengine_config.get_installed_path = installed_path


__all__ = ['SCOPE', 'installed_path', 'register_scope']
