"""Nothing lost, nothing wrong reported as right: resuming, work dirs, concurrent
runs and the first distributed run (items 2-4 of the reliability issue).

Each test reproduces a failure of the code before the fix on tiny data:
``--resume`` that trained from iteration 0 over existing checkpoints, errors
that did not name the file, a second run that overwrote the first one's
checkpoints, runs sharing a log, and ranks racing to generate the dataset.
"""
import errno
import os
import shutil
import subprocess
import threading
import time

import pytest
import torch

from mmseg_cbsa.datasets import mini_ade
from mmseg_cbsa.datasets.mini_ade import ensure_mini_ade20k
from mmseg_cbsa.utils.checkpoint import load_checkpoint_file
from mmseg_cbsa.utils.work_dir import (WorkDirError, WorkDirLock, check_new_run, previous_run_files,
                                       resolve_resume)
from tests.cli import data_root_options, free_port, run_python

CONFIG = 'tests/data/configs/tiny_cbt.py'
TINY = dict(num_train=8, num_val=2, size=32, seed=0)  # tiny_cbt's generator
NO_VAL = ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']


def _train(repo_root, work, *flags, options, iters=2, env=None):
    """tools/train.py on tiny_cbt for ``iters`` iterations, without validation."""
    return run_python(
        repo_root,
        'tools/train.py',
        CONFIG,
        '--work-dir',
        work,
        *flags,
        '--cfg-options',
        *options,
        f'train_cfg.max_iters={iters}',
        *NO_VAL,
        env=env,
        check=False)


def _log(res) -> str:
    return res.stdout + res.stderr


def _bytes(path) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


@pytest.fixture(scope='module')
def run2(tmp_path_factory, repo_root):
    """One tiny_cbt run of 2 iterations (checkpoint iter_2.pth): the earlier
    run the tests resume, overwrite or protect. Read-only for the tests."""
    tmp = tmp_path_factory.mktemp('run2')
    options = data_root_options(tmp / 'data')
    res = _train(repo_root, tmp / 'work', options=options)
    assert res.returncode == 0, _log(res)[-3000:]
    return dict(work=tmp / 'work', ckpt=tmp / 'work' / 'iter_2.pth', options=options)


def _copy_run(run2, dst, last_checkpoint=True):
    """A work dir holding ``run2``'s checkpoint (and its last_checkpoint)."""
    dst.mkdir()
    shutil.copy(run2['ckpt'], dst / 'iter_2.pth')
    if last_checkpoint:
        (dst / 'last_checkpoint').write_text(str(dst / 'iter_2.pth'))
    return dst


def _fake_checkpoint(path, iteration):
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': {'iter': iteration}}, path)


# ------------------------------------------------------------ item 2: resume


@pytest.mark.slow
def test_resume_without_last_checkpoint_continues_from_the_newest(run2, repo_root, tmp_path):
    """Before: 'Auto resumed from the latest checkpoint None', training from
    iteration 0 and overwriting iter_2.pth."""
    work = _copy_run(run2, tmp_path / 'work', last_checkpoint=False)
    before = _bytes(work / 'iter_2.pth')
    res = _train(repo_root, work, '--resume', options=run2['options'], iters=3)
    log = _log(res)
    assert res.returncode == 0, log[-3000:]
    assert f'--resume: resuming from {work / "iter_2.pth"}' in log
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Iter(train) [3/3]' in log and 'Iter(train) [1/3]' not in log
    assert _bytes(work / 'iter_2.pth') == before  # nothing overwritten
    assert load_checkpoint_file(str(work / 'iter_3.pth'))['meta']['iter'] == 3


@pytest.mark.slow
def test_resume_into_a_mistyped_work_dir_stops(run2, repo_root, tmp_path):
    """Before: a fresh run from iteration 0 in a new folder, reported as a resume."""
    shutil.copytree(run2['work'], tmp_path / 'work_cbt')
    typo = tmp_path / 'work_cbd'
    res = _train(repo_root, typo, '--resume', options=run2['options'])
    assert res.returncode != 0
    assert f'the work dir {typo} does not exist' in res.stderr
    assert f'Did you mean {tmp_path / "work_cbt"}?' in res.stderr
    assert 'Iter(train)' not in _log(res) and not typo.exists()  # nothing started or created


@pytest.mark.slow
def test_empty_last_checkpoint_is_an_error_naming_it(run2, repo_root, tmp_path):
    """Before: 'FileNotFoundError:  can not be found.'"""
    work = _copy_run(run2, tmp_path / 'work')
    (work / 'last_checkpoint').write_text('')
    res = _train(repo_root, work, '--resume', options=run2['options'])
    assert res.returncode != 0
    assert f'error: --resume: {work / "last_checkpoint"} is empty' in res.stderr
    assert 'iter_2.pth' in res.stderr  # says what could be resumed instead
    assert 'Iter(train)' not in _log(res)


def test_dangling_last_checkpoint_is_an_error_naming_it(tmp_path):
    """Before: an error naming the missing file, not where its name came from."""
    _fake_checkpoint(tmp_path / 'iter_2.pth', 2)
    missing = tmp_path / 'moved' / 'iter_8.pth'
    (tmp_path / 'last_checkpoint').write_text(str(missing) + '\n')
    with pytest.raises(WorkDirError) as err:
        resolve_resume(str(tmp_path))
    assert str(err.value).startswith(
        f'--resume: {tmp_path / "last_checkpoint"} names {missing}, which does not exist')
    assert 'iter_2.pth' in str(err.value)


def test_resume_resolution_falls_back_past_corrupt_checkpoints(tmp_path):
    for i in (2, 4):
        _fake_checkpoint(tmp_path / f'iter_{i}.pth', i)
    (tmp_path / 'iter_6.pth').write_bytes(b'')  # empty
    (tmp_path / 'iter_10.pth').write_bytes(_bytes(tmp_path / 'iter_4.pth')[:100])  # truncated
    (tmp_path / 'iter_12.pth').write_bytes(os.urandom(300))  # garbage
    notes = []
    assert resolve_resume(str(tmp_path), note=notes.append) == str(tmp_path / 'iter_4.pth')
    assert [n.split(':')[1].strip()
            for n in notes] == [f'skipping {tmp_path / f"iter_{i}.pth"}' for i in (12, 10, 6)]
    # last_checkpoint naming a corrupt file falls back too, saying so
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_12.pth'))
    notes.clear()
    assert resolve_resume(str(tmp_path), note=notes.append) == str(tmp_path / 'iter_4.pth')
    assert 'named by' in notes[0] and str(tmp_path / 'iter_12.pth') in notes[0]
    # a valid one wins over higher numbers (it names what the run last saved),
    # pointing at an intact checkpoint written after it
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    os.utime(tmp_path / 'iter_2.pth', (1e9, 1e9))
    notes.clear()
    assert resolve_resume(str(tmp_path), note=notes.append) == str(tmp_path / 'iter_2.pth')
    assert len(notes) == 1 and f'the intact {tmp_path / "iter_4.pth"} was written' in notes[0]


def test_resume_without_any_intact_checkpoint_is_an_error(tmp_path):
    (tmp_path / '20250101_000000').mkdir()  # logs only
    with pytest.raises(WorkDirError, match='no checkpoint to resume from in .*leave out --resume'):
        resolve_resume(str(tmp_path))
    (tmp_path / 'iter_2.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(WorkDirError, match='no intact checkpoint'):
        resolve_resume(str(tmp_path), note=lambda _: None)
    # a weights-only loadable file without a state_dict is not a checkpoint to resume
    torch.save({'meta': {}}, tmp_path / 'iter_2.pth')
    with pytest.raises(WorkDirError, match='no intact checkpoint'):
        resolve_resume(str(tmp_path), note=lambda _: None)


# ------------------------------------------------------- item 3: work dirs


@pytest.mark.slow
def test_new_run_into_a_work_dir_with_checkpoints_is_refused(run2, repo_root, tmp_path):
    """Before: the second run silently overwrote the first run's iter_2.pth."""
    work = _copy_run(run2, tmp_path / 'work')
    before = sorted(os.listdir(work)), _bytes(work / 'iter_2.pth')
    res = _train(repo_root, work, options=run2['options'])
    assert res.returncode != 0
    assert f'error: {work} already holds checkpoints of an earlier run' in res.stderr
    assert '--resume' in res.stderr and '--overwrite' in res.stderr
    assert 'Iter(train)' not in _log(res)
    # nothing written: the lock file is the only addition
    assert (sorted(set(os.listdir(work)) - {'.train.lock'}), _bytes(work / 'iter_2.pth')) == before

    res = _train(repo_root, work, '--overwrite', options=run2['options'], iters=1)
    assert res.returncode == 0, _log(res)[-3000:]
    assert '--overwrite: deleted the earlier run\'s checkpoints' in _log(res)
    assert 'Iter(train) [1/1]' in _log(res)
    assert sorted(p for p in os.listdir(work) if p.endswith('.pth')) == ['iter_1.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_1.pth')


def test_work_dirs_with_only_logs_do_not_block(tmp_path):
    (tmp_path / '20250101_000000' / 'vis_data').mkdir(parents=True)
    (tmp_path / '20250101_000000' / '20250101_000000.log').write_text('a failed start\n')
    (tmp_path / 'tiny_cbt.py').write_text('# dumped config\n')
    (tmp_path / 'pretrained_vit.pth').write_bytes(b'a user file, not a run checkpoint')
    (tmp_path / '.train.lock').write_text('')
    assert previous_run_files(str(tmp_path)) == []
    assert check_new_run(str(tmp_path)) == []
    _fake_checkpoint(tmp_path / 'best_mIoU_iter_4.pth', 4)
    with pytest.raises(WorkDirError, match='best_mIoU_iter_4.pth'):
        check_new_run(str(tmp_path))
    # a config's own checkpoint names count too
    cfg = dict(default_hooks=dict(checkpoint=dict(filename_tmpl='ckpt_{}.pth')))
    os.remove(tmp_path / 'best_mIoU_iter_4.pth')
    _fake_checkpoint(tmp_path / 'ckpt_3.pth', 3)
    with pytest.raises(WorkDirError, match='ckpt_3.pth'):
        check_new_run(str(tmp_path), cfg)
    assert resolve_resume(str(tmp_path), cfg) == str(tmp_path / 'ckpt_3.pth')


@pytest.mark.slow
def test_a_concurrent_run_into_the_same_work_dir_is_refused(run2, repo_root, tmp_path):
    """Before: both runs trained, writing each other's checkpoints (and, when
    they started in the same second, one log)."""
    work = tmp_path / 'work'
    with WorkDirLock(str(work)):  # the first run, still going
        res = _train(repo_root, work, options=run2['options'])
        assert res.returncode != 0
        assert f'another training run (pid {os.getpid()} on' in res.stderr
        assert str(work) in res.stderr and 'Iter(train)' not in _log(res)
    with pytest.raises(WorkDirError, match='another training run'):  # also in-process
        with WorkDirLock(str(work)), WorkDirLock(str(work)):
            pass
    with WorkDirLock(str(work)):  # released on exit
        pass


def test_runs_starting_in_the_same_second_get_their_own_log(tmp_path, monkeypatch):
    """mmengine names the log folder and file after the start second and
    appends: two runs in one second shared one log."""
    from mmengine.model import BaseModel

    from mmseg_cbsa.engine import UniqueLogRunner, claim_log_dir

    class Model(BaseModel):

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(1, 1)

        def forward(self, inputs=None, data_samples=None, mode='tensor'):
            return self.w(inputs)

    monkeypatch.setattr(time, 'time', lambda: 1_750_000_000.0)  # one frozen second
    runners = [UniqueLogRunner(model=Model(), work_dir=str(tmp_path)) for _ in range(3)]
    dirs = [r.log_dir for r in runners]
    assert len(set(dirs)) == 3
    stamp = os.path.basename(dirs[0])
    assert [os.path.basename(d) for d in dirs] == [stamp, f'{stamp}_1', f'{stamp}_2']
    for i, r in enumerate(runners):
        r.logger.info(f'message of run {i}')
    for i, d in enumerate(dirs):
        text = _bytes(os.path.join(d, os.path.basename(d) + '.log')).decode()
        assert f'message of run {i}' in text
        assert all(f'message of run {j}' not in text for j in range(3) if j != i)
    assert claim_log_dir(str(tmp_path), stamp) == f'{stamp}_3'


# ------------------------------------------------- item 4: distributed data


def _generate_concurrently(root, n=4):
    """``ensure_mini_ade20k(root)`` from ``n`` threads released together (each
    opens its own lock file description, as separate processes do); returns
    the errors."""
    barrier, errors, results = threading.Barrier(n), [], []

    def rank():
        barrier.wait()
        try:
            results.append(ensure_mini_ade20k(root, **TINY))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=rank) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors or results == [root] * n
    return errors


def test_concurrent_generation_writes_the_dataset_once(tmp_path, monkeypatch):
    """Before: every caller generated, and the losers' rename raised
    OSError: [Errno 39] Directory not empty."""
    generated = []
    original = mini_ade.generate_mini_ade20k

    def counting(root, **params):
        generated.append(root)
        return original(root, **params)

    monkeypatch.setattr(mini_ade, 'generate_mini_ade20k', counting)
    root = str(tmp_path / 'data' / 'mini_ade20k')
    assert _generate_concurrently(root) == []
    assert generated == [root]
    assert sorted(os.listdir(tmp_path / 'data')) == ['.mini_ade20k.lock', 'mini_ade20k']
    assert len(os.listdir(os.path.join(root, 'images', 'training'))) == TINY['num_train']


def test_concurrent_generation_without_a_working_lock(tmp_path, monkeypatch):
    """File systems without flock: several callers may generate, but none
    fails and no half-written copy is left."""
    monkeypatch.setattr(mini_ade.fcntl, 'flock', _raise_enolck)
    root = str(tmp_path / 'data' / 'mini_ade20k')
    assert _generate_concurrently(root) == []
    assert sorted(os.listdir(tmp_path / 'data')) == ['.mini_ade20k.lock', 'mini_ade20k']


def _raise_enolck(fd, op):
    raise OSError(errno.ENOLCK, 'No locks available')


def test_relative_data_roots_are_reported(tmp_path, monkeypatch):
    messages = []
    monkeypatch.setattr(mini_ade, 'print_log', lambda msg, **kw: messages.append(msg))
    repo = tmp_path / 'checkout'
    ensure_mini_ade20k(str(repo / 'data' / 'm'), **TINY)  # "the repository's" dataset
    monkeypatch.setattr(mini_ade, '_repo_root', lambda: str(repo))
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    messages.clear()
    ensure_mini_ade20k(os.path.join('data', 'm'), **TINY)
    assert messages[0] == (f'generating the miniature ADE20K at {elsewhere / "data" / "m"} (the '
                           f"relative data_root 'data/m' resolves against the current directory "
                           f'{elsewhere})')
    assert f'a generated dataset already exists at {repo / "data" / "m"}' in messages[1]
    assert (elsewhere / 'data' / 'm' / 'mini_ade20k.json').is_file()


@pytest.mark.slow
def test_first_distributed_run_on_a_fresh_data_root(repo_root, tmp_path):
    """Before: 3 failures out of 3 (both ranks generated the dataset). 1000
    training images make generation take long enough (seconds) for the ranks
    to race, as the quickstart's 400 images of 128x128 do."""
    port = free_port()
    data, work = tmp_path / 'data' / 'mini_ade20k', tmp_path / 'work'
    cmd = [
        'bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir',
        str(work), '--cfg-options', *data_root_options(data), 'train_cfg.max_iters=2', *NO_VAL,
        'train_dataloader.dataset.generator.num_train=1000'
    ]
    res = subprocess.run(
        cmd, cwd=repo_root, capture_output=True, text=True, env={
            **os.environ, 'PORT': port
        })
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert f'miniature ADE20K at {data}' in res.stdout + res.stderr
    assert sorted(os.listdir(data.parent)) == ['.mini_ade20k.lock', 'mini_ade20k']
    assert (work / 'iter_2.pth').is_file()
    logs = [d for d in os.listdir(work) if (work / d).is_dir()]
    assert len(logs) == 1  # one log folder, shared by the ranks


def test_relative_paths_of_a_run_are_reported(tmp_path, monkeypatch):
    from mmengine.config import Config

    from mmseg_cbsa.utils import relative_path_notes
    monkeypatch.chdir(tmp_path)
    cfg = Config(
        dict(
            work_dir='work_dirs/x',
            load_from=None,
            train_dataloader=dict(dataset=dict(data_root='data/m')),
            val_dataloader=dict(dataset=dict(data_root=str(tmp_path / 'abs')))))
    assert relative_path_notes(cfg) == [
        f"work_dir 'work_dirs/x' is relative: it resolves against the current directory "
        f"{tmp_path}: {tmp_path / 'work_dirs' / 'x'}",
        f"train_dataloader.dataset.data_root 'data/m' is relative: it resolves against the "
        f"current directory {tmp_path}: {tmp_path / 'data' / 'm'}"
    ]
