"""mmseg 1.2.2's own tools on this package's configs (through ``custom_imports``),
the thin tools that stand in where mmseg's fail, and the Slurm launchers
(docs/mmseg_tools.md)."""
import hashlib
import os
import re
import stat
import subprocess

import mmseg
import numpy as np
import pytest
import torch
from PIL import Image

from mmseg_cbsa.utils.checkpoint import load_checkpoint_file
from tests.cli import run_python

QUICKSTART = 'configs/quickstart/cbt_vit-t8_1xb8-1k_mini-ade20k-128x128.py'
MMSEG_TOOLS = os.path.join(os.path.dirname(mmseg.__file__), '.mim', 'tools')


def _mmseg_tool(name):
    return os.path.join(MMSEG_TOOLS, *name.split('/'))


@pytest.mark.slow
def test_mmseg_test_tool_evaluates_our_config(tiny_cbt_trained, repo_root, tmp_path):
    # mmseg's test.py builds mmengine's Runner, whose torch.load (weights-only
    # under torch >= 2.6) reads a published checkpoint, not a training one
    res = run_python(repo_root, _mmseg_tool('test.py'), tiny_cbt_trained['config'],
                     tiny_cbt_trained['published'], '--work-dir', tmp_path, '--cfg-options',
                     *tiny_cbt_trained['options'])
    assert re.search(r'mIoU: \d', res.stdout + res.stderr)


@pytest.mark.slow
def test_mmseg_train_tool_trains_our_config(tiny_cbt_trained, repo_root, tmp_path):
    run_python(repo_root, _mmseg_tool('train.py'), tiny_cbt_trained['config'], '--work-dir',
               tmp_path, '--cfg-options', *tiny_cbt_trained['options'], 'train_cfg.max_iters=2',
               'train_cfg.val_interval=2')
    assert (tmp_path / 'iter_2.pth').is_file()


@pytest.mark.slow
def test_mmseg_print_config_and_ours(repo_root, tmp_path):
    user = tmp_path / 'user.py'
    user.write_text(f"_base_ = ['mmseg_cbsa::{QUICKSTART[len('configs/'):]}']\n")
    # a user's working directory that holds a file of the name mmseg's tool dumps to
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'example.py').write_text('mine\n')
    # mmseg's reads our configs by path (custom_imports), and replaces example.py ...
    res = run_python(work, _mmseg_tool('misc/print_config.py'), os.path.join(repo_root, QUICKSTART))
    assert "type='CBTHead'" in res.stdout
    assert (work / 'example.py').read_text() != 'mine\n'
    # ... and cannot read a config inheriting mmseg_cbsa:: (parsed before any import)
    res = run_python(work, _mmseg_tool('misc/print_config.py'), user, check=False)
    assert res.returncode != 0 and 'does not support to load mmseg_cbsa config' in res.stderr
    # ours reads both and leaves the working directory as it was
    (work / 'example.py').write_text('mine\n')
    for config in (user, os.path.relpath(os.path.join(repo_root, QUICKSTART), work)):
        res = run_python(work, os.path.join(repo_root, 'tools/misc/print_config.py'), config)
        assert "type='CBTHead'" in res.stdout
    assert os.listdir(work) == ['example.py'] and (work / 'example.py').read_text() == 'mine\n'


@pytest.mark.slow
def test_browse_dataset_writes_ground_truth_pictures(tiny_cbt_trained, repo_root, tmp_path):
    args = [tiny_cbt_trained['config'], '--not-show', '--cfg-options', *tiny_cbt_trained['options']]
    # mmseg's own tool builds in mmseg's scope whatever the config's default_scope (and
    # then draws on a non-contiguous array, which OpenCV refuses: docs/mmseg_tools.md)
    res = run_python(
        repo_root,
        _mmseg_tool('analysis_tools/browse_dataset.py'),
        *args,
        '--output-dir',
        tmp_path / 'mmseg',
        check=False)
    assert res.returncode != 0 and "MiniADE20KDataset is not in the mmseg::dataset" in res.stderr
    run_python(repo_root, 'tools/analysis_tools/browse_dataset.py', *args, '--output-dir',
               tmp_path / 'ours')
    pictures = sorted((tmp_path / 'ours').iterdir())
    assert [p.name for p in pictures] == [f'mini_{i:06d}.jpg' for i in range(8)]
    drawn = np.asarray(Image.open(pictures[0]))
    image = np.asarray(
        Image.open(tiny_cbt_trained['data'] / 'images' / 'training' / 'mini_000000.jpg'))
    assert drawn.shape == image.shape and np.abs(drawn.astype(int) - image).mean() > 5


@pytest.mark.slow
def test_confusion_matrix_agrees_with_the_test_metric(tiny_cbt_trained, repo_root, tmp_path):
    res = run_python(repo_root, 'tools/test.py', tiny_cbt_trained['config'],
                     tiny_cbt_trained['checkpoint'], '--work-dir', tmp_path / 'work', '--out',
                     tmp_path / 'pred', '--cfg-options', *tiny_cbt_trained['options'])
    a_acc = float(re.findall(r'aAcc: ([\d.]+)', res.stdout + res.stderr)[-1])
    run_python(repo_root, 'tools/analysis_tools/confusion_matrix.py', tiny_cbt_trained['config'],
               tmp_path / 'pred', tmp_path / 'cm', '--cfg-options', *tiny_cbt_trained['options'])
    matrix = np.load(tmp_path / 'cm' / 'confusion_matrix.npy')
    assert matrix.shape == (6, 6) and matrix.sum() == 2 * 32 * 32
    assert round(matrix.trace() / matrix.sum() * 100, 2) == pytest.approx(a_acc, abs=0.01)
    assert (tmp_path / 'cm' / 'confusion_matrix.png').stat().st_size > 0


@pytest.mark.slow
def test_publish_model(tiny_cbt_trained, repo_root, tmp_path):
    res = run_python(repo_root, 'tools/misc/publish_model.py', tiny_cbt_trained['checkpoint'],
                     tmp_path / 'tiny.pth')
    final = res.stdout.strip().splitlines()[-1]
    digest = hashlib.sha256(open(final, 'rb').read()).hexdigest()
    assert os.path.basename(final) == f'tiny-{digest[:8]}.pth'
    assert os.listdir(tmp_path) == [os.path.basename(final)]
    published = torch.load(final, weights_only=True)
    original = load_checkpoint_file(str(tiny_cbt_trained['checkpoint']))
    assert sorted(published) == ['meta', 'state_dict'] and 'optimizer' in original
    assert published['meta']['dataset_meta'] == original['meta']['dataset_meta']
    assert all(
        torch.equal(v, original['state_dict'][k]) for k, v in published['state_dict'].items())
    assert sorted(published['state_dict']) == sorted(original['state_dict'])


@pytest.mark.slow
def test_mmseg_get_flops_fails_on_this_stack(tiny_cbt_trained, repo_root):
    """Why tools/analysis_tools/get_flops.py is ours (tests/test_tools/test_get_flops.py)."""
    res = run_python(
        repo_root,
        _mmseg_tool('analysis_tools/get_flops.py'),
        tiny_cbt_trained['config'],
        '--shape',
        '32',
        check=False)
    # it reads cfg.scope, not default_scope, so it builds in mmseg's scope (and fails with
    # '"input_shape" and "inputs" cannot be both set' on mmseg's own configs)
    assert res.returncode != 0 and 'ViT is not in the mmseg::model registry' in res.stderr


FAKE_SRUN = """#!/usr/bin/env bash
# records its arguments (one a line) and PYTHONPATH, then runs the command once
printf '%s\\n' "$@" > "$SRUN_LOG"
echo "PYTHONPATH=$PYTHONPATH" >> "$SRUN_LOG"
while [ "$#" -gt 0 ]; do
  case "$1" in
    -p) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
exec "$@"
"""


@pytest.mark.parametrize('script,args,tool', [
    ('tools/slurm_train.sh', ['part', 'job', QUICKSTART], 'train.py'),
    ('tools/slurm_test.sh', ['part', 'job', QUICKSTART, 'ckpt.pth'], 'test.py'),
])
@pytest.mark.slow
def test_slurm_scripts_build_mmseg_command_line(script, args, tool, repo_root, tmp_path):
    fake = tmp_path / 'bin' / 'srun'
    fake.parent.mkdir()
    fake.write_text(FAKE_SRUN)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / 'srun.log'
    env = {
        **os.environ, 'PATH': f'{fake.parent}:{os.environ["PATH"]}',
        'SRUN_LOG': str(log),
        'GPUS': '16',
        'GPUS_PER_NODE': '8',
        'CPUS_PER_TASK': '3',
        'SRUN_ARGS': '--quotatype=auto --time=10'
    }
    # --help: the tool runs and parses its command line without a cluster
    res = subprocess.run(['bash', script, *args, '--work-dir', 'w', '--help'],
                         cwd=repo_root,
                         env=env,
                         capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert f'usage: {tool}' in res.stdout and '--launcher' in res.stdout
    recorded = log.read_text().splitlines()
    assert recorded[:-1] == [
        '-p', 'part', '--job-name=job', '--gres=gpu:8', '--ntasks=16', '--ntasks-per-node=8',
        '--cpus-per-task=3', '--kill-on-bad-exit=1', '--quotatype=auto', '--time=10', 'python',
        '-u', f'tools/{tool}', *args[2:], '--launcher=slurm', '--work-dir', 'w', '--help'
    ]
    assert recorded[-1].startswith('PYTHONPATH=tools/..:')


def test_analyze_logs_plots_loss_and_metric(tiny_cbt_trained, repo_root, tmp_path):
    """mmseg's analyze_logs.py needs seaborn; ours plots mmengine's scalars.json."""
    (log, ) = tiny_cbt_trained['checkpoint'].parent.glob('*/vis_data/scalars.json')
    res = run_python(
        repo_root,
        _mmseg_tool('analysis_tools/analyze_logs.py'),
        log,
        '--out',
        tmp_path / 'mmseg.png',
        check=False)
    assert res.returncode != 0 and "No module named 'seaborn'" in res.stderr
    res = run_python(repo_root, 'tools/analysis_tools/analyze_logs.py', log, '--keys', 'loss',
                     'mIoU', '--backend', 'Agg', '--out', tmp_path / 'curves.png')
    assert 'save curve to' in res.stdout
    assert Image.open(tmp_path / 'curves.png').size == (640, 480)
    res = run_python(
        repo_root,
        'tools/analysis_tools/analyze_logs.py',
        log,
        '--keys',
        'mIoUU',
        '--backend',
        'Agg',
        '--out',
        tmp_path / 'x.png',
        check=False)
    assert res.returncode != 0 and "no 'mIoUU'; it holds" in res.stderr
    assert not (tmp_path / 'x.png').exists()
