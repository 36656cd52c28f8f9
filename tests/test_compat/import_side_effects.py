"""What ``import mmseg_cbsa`` changes in a process, printed as JSON.

    python tests/test_compat/import_side_effects.py

The OpenMMLab stack is imported in full first (so that its own lazy
registrations are not counted), then the process state a plugin could
change is recorded, ``mmseg_cbsa`` is imported, and the state is recorded
again. Printed: every difference, by where it is.
"""
import importlib
import json
import logging
import sys
import types
import warnings
from typing import Any, Dict

STACK = [
    'torch', 'torch.serialization', 'torchvision', 'mmengine', 'mmengine.config',
    'mmengine.config.config', 'mmengine.config.utils', 'mmengine.model',
    'mmengine.model.weight_init', 'mmengine.registry', 'mmengine.runner',
    'mmengine.runner.checkpoint', 'mmengine.utils', 'mmengine.utils.package_utils',
    'mmengine.fileio', 'mmcv', 'mmcv.transforms', 'mmcv.cnn', 'mmseg', 'mmseg.apis', 'mmseg.models',
    'mmseg.datasets', 'mmseg.evaluation', 'mmseg.engine', 'mmseg.visualization', 'mmseg.registry',
    'mmpretrain', 'mmpretrain.apis', 'mmpretrain.models', 'mmpretrain.datasets',
    'mmpretrain.evaluation', 'mmpretrain.engine', 'mmpretrain.registry'
]


def _name(obj: Any) -> str:
    """What an attribute is: its identity (a replaced function has another)."""
    if isinstance(obj, types.ModuleType):
        return f'module {obj.__name__}@{id(obj)}'
    try:
        return f'{obj.__module__}.{obj.__qualname__}@{id(obj)}'
    except Exception:  # objects with dynamic attribute lookup (torch.classes)
        return f'{type(obj).__name__}@{id(obj)}'


def _registries() -> Dict[str, Any]:
    from mmengine.registry import Registry
    found = {}
    for module_name in ('mmengine.registry', 'mmseg.registry', 'mmpretrain.registry'):
        module = sys.modules[module_name]
        for attr, value in vars(module).items():
            if isinstance(value, Registry):
                found[f'{module_name}.{attr}'] = value
    return found


def snapshot() -> Dict[str, Any]:
    import torch
    from mmengine.config.utils import MODULE2PACKAGE
    from mmengine.runner.checkpoint import CheckpointLoader
    state: Dict[str, Any] = {}
    for module_name in STACK:
        module = sys.modules[module_name]
        for attr, value in vars(module).items():
            if callable(value) or isinstance(value, types.ModuleType):
                state[f'attr {module_name}.{attr}'] = _name(value)
    for key, reg in _registries().items():
        for name, obj in reg._module_dict.items():
            state[f'registry {key} ({reg.scope}) {name}'] = _name(obj)
    for prefix, loader in CheckpointLoader._schemes.items():
        state[f'checkpoint scheme {prefix}'] = _name(loader)
    for entry in torch.serialization.get_safe_globals():
        state[f'torch safe global {entry}'] = str(entry)
    for module, package in MODULE2PACKAGE.items():
        state[f'MODULE2PACKAGE {module}'] = package
    state['warnings filters'] = repr(warnings.filters)
    state['root logger handlers'] = repr(logging.getLogger().handlers)
    state['torch default dtype'] = str(torch.get_default_dtype())
    state['torch num threads'] = torch.get_num_threads()
    return state


def main() -> None:
    for name in STACK:
        importlib.import_module(name)
    before = snapshot()
    importlib.import_module('mmseg_cbsa')
    after = snapshot()
    changed = {
        k: [before.get(k), after.get(k)]
        for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)
    }
    print(json.dumps(changed, sort_keys=True))


if __name__ == '__main__':
    main()
