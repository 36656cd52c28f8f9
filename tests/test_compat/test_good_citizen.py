"""The plugin is a good citizen: importing it changes nothing it does not own,
and stock workflows behave identically with and without it loaded.

Each stock case runs twice in fresh interpreters (tests/test_compat/
stock_workflows.py), once without and once with ``import mmseg_cbsa``, and
the outcomes (ran or which exception, the loaded weights' digest, whether
mmengine logged the misfit) must be equal. Before the plugin stopped
patching mmengine, the "with" runs of most cases were refused
(CheckpointMismatchError) or loaded other weights.
"""
import json
import os.path as osp
import subprocess
import sys

import pytest

from mmseg_cbsa.registry import SCOPE

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))

sys.path.insert(0, HERE)
from stock_workflows import CASES  # noqa: E402

pytestmark = pytest.mark.slow


def _run(script: str, *args: str, env=None) -> dict:
    res = subprocess.run([sys.executable, osp.join(HERE, script), *args],
                         cwd=REPO,
                         capture_output=True,
                         text=True,
                         timeout=600,
                         env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


#: what each stock case does (identically with the plugin): it runs, and
#: where the file does not fit, mmengine logs the misfit instead of refusing
EXPECTED = {name: dict(status='ok') for name in CASES}
for name in ('resnet_pretrained_with_fc', 'fcn_pretrained_with_fc', 'convnext_pretrained_prefix',
             'load_from_other_class_count', 'load_checkpoint_not_strict', 'mmseg_train_py'):
    EXPECTED[name]['logged_misfit'] = True
EXPECTED['load_checkpoint_strict']['caught'] = 'RuntimeError'
EXPECTED['legacy_checkpoint_forced_full_load']['meta_seed'] = 3
EXPECTED['mmpretrain_get_model']['head'] = [10, 512]
EXPECTED['other_plugin_registers_generic_names'].update(mlp=True, vit=True)


@pytest.mark.parametrize('case', sorted(CASES))
def test_stock_workflow_is_unchanged_by_the_plugin(case, tmp_path):
    without = _run('stock_workflows.py', case, str(tmp_path / 'without'))
    with_plugin = _run('stock_workflows.py', case, str(tmp_path / 'with'), '--plugin')
    assert with_plugin == without
    assert {k: without.get(k) for k in EXPECTED[case]} == EXPECTED[case], without


def test_import_changes_nothing_it_does_not_own():
    """Only the scope's own entry in mmengine's module-to-package table may
    appear; no function of torch / mmengine / mmcv / mmseg / mmpretrain is
    replaced, no name enters their registries, no loader scheme or torch
    safe global is added, no logging or warnings state changes."""
    changed = _run('import_side_effects.py')
    assert changed == {f'MODULE2PACKAGE {SCOPE}': [None, SCOPE]}, json.dumps(changed, indent=1)
