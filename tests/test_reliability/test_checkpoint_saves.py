"""Checkpoint saves under faults: a kill or a full disk while saving never
leaves a run without a complete checkpoint, and two runs cannot share a
checkpoint folder (the checkpoint hook's ``out_dir``).

Before: mmengine's hook removed the older checkpoint (``max_keep_ckpts``)
before writing the new one in place, so a kill while saving lost every
checkpoint; runs with different work dirs of one name and one ``out_dir``
wrote into one folder, and each ``last_checkpoint`` named the other's files.
"""
import errno
import os

import pytest
import torch

from mmseg_cbsa.engine.hooks.atomic_checkpoint_hook import DeferredRemovals
from mmseg_cbsa.utils.checkpoint import load_checkpoint_file, save_checkpoint_file
from mmseg_cbsa.utils.outputs import PARTIAL_PREFIX, atomic_path
from mmseg_cbsa.utils.work_dir import WorkDirLock
from tests.cli import data_root_options, run_python

CONFIG = 'tests/data/configs/tiny_cbt.py'
NO_VAL = ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']


def _train(repo_root, config, work, *args, env=None):
    return run_python(
        repo_root, 'tools/train.py', config, '--work-dir', work, *args, env=env, check=False)


def _partials(folder):
    return [n for n in os.listdir(folder) if n.startswith(PARTIAL_PREFIX)]


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path):
    """A full disk in the middle of a save: the old checkpoint is untouched,
    nothing truncated is left, and the error names the file."""
    dst = tmp_path / 'iter_2.pth'
    save_checkpoint_file({'w': torch.ones(3)}, str(dst))
    before = dst.read_bytes()
    with pytest.raises(OSError, match=f'could not write {dst}.*No space left'):
        with atomic_path(str(dst)) as tmp:
            with open(tmp, 'wb') as f:
                f.write(b'half a checkpoint')
            raise OSError(errno.ENOSPC, 'No space left on device')
    assert dst.read_bytes() == before
    assert _partials(tmp_path) == []


def test_a_complete_write_replaces_the_file(tmp_path):
    dst = tmp_path / 'iter_2.pth'
    save_checkpoint_file({'w': torch.ones(3)}, str(dst))
    save_checkpoint_file({'w': torch.zeros(3)}, str(dst), overwrite=True)
    assert torch.equal(load_checkpoint_file(str(dst))['state_dict']['w'], torch.zeros(3))
    assert _partials(tmp_path) == []


def test_removals_wait_for_flush(tmp_path):
    """The hook's backend queues removals until the save completed."""
    from mmengine.fileio import get_file_backend
    old = tmp_path / 'iter_2.pth'
    old.write_bytes(b'x')
    backend = DeferredRemovals(get_file_backend(str(tmp_path)))
    backend.remove(str(old))
    assert old.exists() and backend.isfile(str(old))
    backend.discard()  # a failed save: the older file stays
    backend.flush()
    assert old.exists()
    backend.remove(str(old))
    backend.flush()
    assert not old.exists()


@pytest.mark.slow
def test_a_kill_while_saving_keeps_a_checkpoint_to_resume_from(repo_root, tmp_path):
    """``max_keep_ckpts=1``, SIGKILL while iter_4.pth is saved: iter_2.pth is
    still there and complete, and ``--resume`` continues from it to the end.
    Before: iter_2.pth was already removed; nothing to resume from."""
    env = {'PYTHONPATH': os.path.join(repo_root, 'tests', 'data')}
    work = tmp_path / 'work'
    options = [*data_root_options(tmp_path / 'data'), *NO_VAL]
    res = _train(
        repo_root,
        'tests/data/configs/tiny_cbt_killed_while_saving.py',
        work,
        '--cfg-options',
        *options,
        env=env)
    assert res.returncode == -9, (res.stdout + res.stderr)[-3000:]
    assert load_checkpoint_file(str(work / 'iter_2.pth'))['meta']['iter'] == 2
    assert not (work / 'iter_4.pth').exists()
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')

    res = _train(repo_root, CONFIG, work, '--resume', '--cfg-options', *options,
                 'default_hooks.checkpoint.max_keep_ckpts=1')
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    assert f'--resume: resuming from {work / "iter_2.pth"}' in log
    assert 'Iter(train) [4/4]' in log
    assert load_checkpoint_file(str(work / 'iter_4.pth'))['meta']['iter'] == 4
    assert not (work / 'iter_2.pth').exists()  # removed once iter_4.pth was complete
    assert _partials(work) == []  # the killed save's leftover is cleaned


@pytest.mark.slow
def test_runs_cannot_share_a_checkpoint_folder(repo_root, tmp_path):
    """Work dirs a/exp and b/exp with one checkpoint out_dir both write to
    out/exp. While a run holds it, another is refused by name; after it, a
    new run there is refused as for its own work dir."""
    out = tmp_path / 'out'
    options = [
        *data_root_options(tmp_path / 'data'), *NO_VAL, f'default_hooks.checkpoint.out_dir={out}'
    ]
    with WorkDirLock(str(out / 'exp'), owner=str(tmp_path / 'a' / 'exp')):  # run a, training
        res = _train(repo_root, CONFIG, tmp_path / 'b' / 'exp', '--cfg-options', *options,
                     'train_cfg.max_iters=2')
        log = res.stdout + res.stderr
        assert res.returncode != 0
        assert f'another training run (pid {os.getpid()} on' in log
        assert f'writes its checkpoints to {out / "exp"}' in log
        assert f'work dir {tmp_path / "a" / "exp"}' in log and 'Iter(train)' not in log
    res = _train(repo_root, CONFIG, tmp_path / 'a' / 'exp', '--cfg-options', *options,
                 'train_cfg.max_iters=2')
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert (out / 'exp' / 'iter_2.pth').is_file()
    res = _train(repo_root, CONFIG, tmp_path / 'b' / 'exp', '--cfg-options', *options,
                 'train_cfg.max_iters=2')
    assert res.returncode != 0
    assert 'already holds checkpoints of an earlier run' in res.stderr
    assert 'iter_2.pth' in res.stderr
