"""The package's layers (docs/architecture.md#layers): every module imports only
from its own subpackage and the layers below it, function-level imports
included, so that no import cycle between subpackages can be hidden inside a
function; analysis and deployment stay independent of each other; nothing in
the library imports the applications."""
import ast
import os
from typing import Iterator, List, Tuple

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'mmseg_cbsa'

#: bottom -> top; a subpackage may import its own modules and those of lower layers
LAYERS = [
    ('utils', 'version'),
    ('registry', ),
    ('models', 'datasets', 'evaluation', 'engine', 'visualization'),
    ('apis', ),
    ('analysis', 'deployment', 'converters'),
    ('apps', ),
]
#: imports inside one layer: OverlayHook (engine) paints with the package's
#: overlay renderer (visualization)
SAME_LAYER = {('engine', 'visualization')}
LEVEL = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def _modules() -> Iterator[Tuple[str, str]]:
    """(dotted module name, file path) of every module of the package."""
    root = os.path.join(REPO, PACKAGE)
    for folder, _, files in os.walk(root):
        for name in sorted(files):
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, REPO)[:-3].split(os.sep)
                if parts[-1] == '__init__':
                    parts = parts[:-1]
                yield '.'.join(parts), path


def _imports(module: str, path: str) -> List[Tuple[str, int]]:
    """(absolute name, line) of every import of the package's own modules in
    ``path``, at any depth (functions, classes, ``if TYPE_CHECKING``)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith('__init__.py') else module.rsplit('.', 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # ``from . import models``: the names may be submodules
            found += [(f'{target}.{alias.name}' if target == PACKAGE else target, node.lineno)
                      for alias in node.names]
    return [(name, line) for name, line in found
            if name == PACKAGE or name.startswith(PACKAGE + '.')]


def _part(name: str) -> str:
    """The subpackage (or top-level module) a dotted name belongs to; the
    package itself for ``mmseg_cbsa``."""
    parts = name.split('.')
    return parts[1] if len(parts) > 1 else PACKAGE


MODULES = sorted(_modules())
EDGES = [(module, _part(module), target, _part(target), line) for module, path in MODULES
         for target, line in _imports(module, path)]


def test_every_subpackage_has_a_layer():
    parts = {_part(m) for m, _ in MODULES} - {PACKAGE}
    assert parts <= set(LEVEL), f'add {sorted(parts - set(LEVEL))} to LAYERS and the docs'
    assert EDGES  # the scan sees the package's imports


def _allowed(src: str, dst: str) -> bool:
    """May subpackage ``src`` import from ``dst``? Not from the package
    itself (its ``__init__`` imports every registering subpackage)."""
    if src == dst:
        return True
    return dst != PACKAGE and (LEVEL[dst] < LEVEL[src] or (src, dst) in SAME_LAYER)


@pytest.mark.parametrize('part', sorted(LEVEL))
def test_imports_go_down_the_layers(part):
    wrong = [
        f'{module}:{line} imports {target}' for module, src, target, dst, line in EDGES
        if src == part and not _allowed(src, dst)
    ]
    assert not wrong, '\n'.join(wrong)


@pytest.mark.parametrize('a, b', [('analysis', 'deployment'), ('deployment', 'analysis')])
def test_analysis_and_deployment_do_not_import_each_other(a, b):
    assert not [(m, t) for m, src, t, dst, _ in EDGES if src == a and dst == b]


def test_nothing_in_the_library_imports_the_applications():
    assert not [(m, t) for m, src, t, dst, _ in EDGES if dst == 'apps' and src != 'apps']


def test_the_scan_sees_function_level_imports(tmp_path):
    # a relative import inside a function, two levels up, is found and resolved
    path = tmp_path / 'mod.py'
    path.write_text('def f():\n    from ..apps.demos import segment_images\n')
    assert _imports('mmseg_cbsa.analysis.mod', str(path)) == [('mmseg_cbsa.apps.demos', 2)]
