"""Work-directory safety for ``tools/train.py``: nothing lost, nothing wrong
reported as right.

* ``--resume`` (without a file) resumes from a checkpoint this module chose
  and checked, never silently from scratch: ``last_checkpoint`` when it names
  an intact file, else the newest intact ``iter_*.pth`` / ``epoch_*.pth``,
  else a clear error (:func:`resolve_resume`).
* A new run into a work dir that holds an earlier run's checkpoints is
  refused unless ``--overwrite`` (:func:`check_new_run`).
* One training run per work dir, and per checkpoint folder, at a time: the
  run holds an ``flock`` on ``.train.lock`` in its work dir and in the
  checkpoint hook's ``out_dir/<work dir name>`` when one is set
  (:class:`WorkDirLock`); the kernel drops it when the process ends, so a
  crashed run leaves no stale lock.

:func:`guard_work_dir` puts these together for a (possibly distributed) run:
rank 0 decides, the other ranks receive its decision.

A checkpoint is *intact* when :func:`~mmseg_cbsa.utils.checkpoint.load_checkpoint_file`
(weights-only) loads it and it holds a ``state_dict``; nothing else is
unpickled.
"""
import contextlib
import difflib
import errno
import fcntl
import glob
import os
import os.path as osp
import re
import socket
import time
from collections.abc import Mapping
from typing import Callable, Iterator, List, Optional, Tuple

from .checkpoint import load_checkpoint_file
from .config import from_rank0

LAST_CHECKPOINT = 'last_checkpoint'
LOCK_NAME = '.train.lock'
_DEFAULT_TEMPLATES = ('iter_{}.pth', 'epoch_{}.pth')
#: errors of file systems without flock (some NFS / Lustre mounts)
_NO_FLOCK = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}


class WorkDirError(RuntimeError):
    """A run that would lose work or misreport what it did; the message says
    what was found and what to do instead."""


# ---------------------------------------------------------------- checkpoints


def _template_regex(template: str) -> 're.Pattern':
    head, _, tail = template.partition('{}')
    return re.compile('^' + re.escape(head) + r'(\d+)' + re.escape(tail) + '$')


def checkpoint_templates(cfg=None) -> Tuple[str, ...]:
    """Names the checkpoint hook gives its files: mmengine's ``iter_{}.pth``
    and ``epoch_{}.pth``, or the config's ``filename_tmpl``."""
    hook = ((cfg or {}).get('default_hooks') or {}).get('checkpoint') or {}
    tmpl = hook.get('filename_tmpl') if isinstance(hook, Mapping) else None
    return (tmpl, ) if tmpl and '{}' in tmpl else _DEFAULT_TEMPLATES


def checkpoint_dirs(work_dir: str, cfg=None) -> List[str]:
    """Where a run's checkpoints are: the work dir, and the checkpoint hook's
    ``out_dir/<work dir name>`` when the config sets one."""
    dirs = [osp.abspath(work_dir)]
    hook = ((cfg or {}).get('default_hooks') or {}).get('checkpoint') or {}
    out_dir = hook.get('out_dir') if isinstance(hook, Mapping) else None
    if out_dir and '://' not in str(out_dir):
        extra = osp.abspath(osp.join(out_dir, osp.basename(dirs[0])))
        if extra not in dirs:
            dirs.append(extra)
    return dirs


def numbered_checkpoints(dirs: List[str], templates=_DEFAULT_TEMPLATES) -> List[str]:
    """``iter_N.pth`` / ``epoch_N.pth`` files in ``dirs``, newest (highest N,
    then latest modification) first."""
    found = []
    for folder in dirs:
        if not osp.isdir(folder):
            continue
        for name in os.listdir(folder):
            for regex in map(_template_regex, templates):
                m = regex.match(name)
                path = osp.join(folder, name)
                if m and osp.isfile(path):
                    found.append((int(m.group(1)), osp.getmtime(path), path))
                    break
    return [p for _, _, p in sorted(found, reverse=True)]


def previous_run_files(work_dir: str, cfg=None) -> List[str]:
    """The files by which a work dir holds an earlier run: ``last_checkpoint``,
    numbered checkpoints and ``best_*.pth``. Logs, dumped configs and other
    files do not count."""
    dirs = checkpoint_dirs(work_dir, cfg)
    files = numbered_checkpoints(dirs, checkpoint_templates(cfg))
    for folder in dirs:
        files += sorted(glob.glob(osp.join(glob.escape(folder), 'best_*.pth')))
    last = osp.join(dirs[0], LAST_CHECKPOINT)
    if osp.isfile(last):
        files.append(last)
    return files


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be resumed from, or None when it is intact (loads
    weights-only and holds a ``state_dict``)."""
    try:
        ckpt = load_checkpoint_file(path)
    except Exception as e:  # noqa: BLE001 (corrupt files fail in many ways)
        return f'{type(e).__name__}: {e}'
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get('state_dict'), Mapping):
        return 'it holds no state_dict'
    return None


def _did_you_mean(work_dir: str, cfg=None) -> str:
    """`` did you mean X?`` for sibling folders of a mistyped work dir that
    hold checkpoints."""
    work_dir = osp.abspath(work_dir)
    parent, name = osp.split(work_dir)
    if not osp.isdir(parent):
        return ''
    siblings = [
        d for d in os.listdir(parent) if d != name and osp.isdir(osp.join(parent, d))
        and previous_run_files(osp.join(parent, d), cfg)
    ]
    close = difflib.get_close_matches(name, siblings, n=3, cutoff=0.6)
    if not close:
        return ''
    return ' Did you mean ' + ' or '.join(osp.join(parent, c) for c in close) + '?'


# --------------------------------------------------------------------- resume


def resolve_resume(work_dir: str, cfg=None, note: Callable[[str], None] = print) -> str:
    """The checkpoint ``--resume`` (without a file) continues from.

    1. ``WORK_DIR/last_checkpoint`` when it names an intact checkpoint; an
       empty one, or one naming a missing file, is an error naming it.
    2. Otherwise the newest intact numbered checkpoint, skipping corrupt ones
       (each skip is reported through ``note``).
    3. Otherwise :class:`WorkDirError`: resuming never starts from scratch.
    """
    work_dir = osp.abspath(work_dir)
    if not osp.isdir(work_dir):
        raise WorkDirError(f'--resume: the work dir {work_dir} does not exist, so there is '
                           f'nothing to resume.{_did_you_mean(work_dir, cfg)} To start a new run, '
                           'leave out --resume.')
    dirs = checkpoint_dirs(work_dir, cfg)
    numbered = numbered_checkpoints(dirs, checkpoint_templates(cfg))
    listing = ', '.join(osp.basename(p) for p in numbered[:5]) or 'none'
    skip = set()
    last = osp.join(work_dir, LAST_CHECKPOINT)
    if osp.isfile(last):
        with open(last) as f:
            target = f.read().strip()
        if not target:
            raise WorkDirError(
                f'--resume: {last} is empty; it should name the checkpoint to resume from. '
                f'Numbered checkpoints in the work dir: {listing}; resume from one of them with '
                '--resume PATH, or remove the empty file.')
        if not osp.isfile(target):
            raise WorkDirError(
                f'--resume: {last} names {target}, which does not exist. Numbered checkpoints '
                f'in the work dir: {listing}; resume from one of them with --resume PATH, or '
                'correct the file.')
        problem = checkpoint_problem(target)
        if problem is None:
            newer = next(
                (p for p in numbered if osp.getmtime(p) > osp.getmtime(target)
                 and osp.realpath(p) != osp.realpath(target) and checkpoint_problem(p) is None),
                None)
            if newer:
                note(f'--resume: {last} names {target}, but the intact {newer} was written '
                     'after it (the run may have stopped before updating last_checkpoint); to '
                     f'resume from that one, pass --resume {newer}')
            return target
        note(f'--resume: {target} (named by {last}) cannot be resumed from ({problem}); '
             'looking for the newest intact checkpoint before it')
        skip.add(osp.realpath(target))
    for path in numbered:
        if osp.realpath(path) in skip:
            continue
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        note(f'--resume: skipping {path}: it cannot be resumed from ({problem})')
        skip.add(osp.realpath(path))
    if skip:
        raise WorkDirError(f'--resume: no intact checkpoint in {work_dir}; every candidate '
                           f'failed to load (see the notes above): {sorted(skip)}')
    raise WorkDirError(
        f'--resume: no checkpoint to resume from in {work_dir} (no {LAST_CHECKPOINT}, no '
        f'{" / ".join(t.format("*") for t in checkpoint_templates(cfg))} files).'
        f'{_did_you_mean(work_dir, cfg)} To start a new run, leave out --resume.')


# -------------------------------------------------------------------- new run


def check_new_run(work_dir: str,
                  cfg=None,
                  overwrite: bool = False,
                  note: Callable[[str], None] = print) -> List[str]:
    """Refuse a new (non-resume) run into a work dir that holds an earlier
    run's checkpoints; with ``overwrite``, delete them (and return them).

    A work dir holding only logs, dumped configs or other files is fine.
    """
    files = previous_run_files(work_dir, cfg)
    if not files:
        return []
    names = ', '.join(osp.relpath(f, osp.abspath(work_dir)) for f in files[:6])
    more = f' and {len(files) - 6} more' if len(files) > 6 else ''
    if not overwrite:
        raise WorkDirError(
            f'{osp.abspath(work_dir)} already holds checkpoints of an earlier run ({names}{more}); '
            'a new run would overwrite them. Pass --resume to continue that run, --overwrite to '
            'delete them and start afresh, or choose another --work-dir.')
    for f in files:
        os.remove(f)
    note(f'--overwrite: deleted the earlier run\'s checkpoints in {osp.abspath(work_dir)}: '
         f'{names}{more}')
    return files


# ----------------------------------------------------------------------- lock


class WorkDirLock:
    """An exclusive ``flock`` on ``FOLDER/.train.lock`` held for a run.

    ``FOLDER`` is the run's work dir, or a folder its checkpoints go to
    (``default_hooks.checkpoint.out_dir``, shared by runs whose work dirs
    have one name). :meth:`acquire` fails at once with
    :class:`WorkDirError`, naming the holder, when another run holds it. The
    lock file stays (removing it would race with the next run taking it);
    only the lock matters.

    Args:
        folder: the folder to lock.
        owner: the work dir of the run taking it (``folder`` by default),
            written into the lock file for the message another run gets.
    """

    def __init__(self, folder: str, owner: Optional[str] = None) -> None:
        self.work_dir = osp.abspath(folder)
        self.owner = osp.abspath(owner or folder)
        self.path = osp.join(self.work_dir, LOCK_NAME)
        self._fd: Optional[int] = None
        #: why the file system refused to lock (then nothing is locked)
        self.unsupported: Optional[str] = None

    def acquire(self) -> 'WorkDirLock':
        os.makedirs(self.work_dir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.read(fd, 400).decode(errors='replace').strip() or 'unknown'
            os.close(fd)
            if e.errno in _NO_FLOCK:
                self.unsupported = f'{type(e).__name__}: {e}'
                return self
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            if self.owner == self.work_dir:
                raise WorkDirError(
                    f'another training run ({holder}) is using the work dir {self.work_dir} (it '
                    f'holds {self.path}); two runs in one work dir would overwrite each other\'s '
                    'checkpoints. Wait for it to finish or choose another --work-dir.') from None
            raise WorkDirError(
                f'another training run ({holder}) writes its checkpoints to {self.work_dir}, '
                f'where this run (work dir {self.owner}) would write its own: the checkpoint '
                'hook\'s out_dir joined with the work dir\'s name. Two runs there would '
                'overwrite each other\'s checkpoints and last_checkpoint would name the other '
                'run\'s. Give this run a work dir of another name, or another '
                'default_hooks.checkpoint.out_dir.') from None
        os.ftruncate(fd, 0)
        os.write(
            fd, f'pid {os.getpid()} on {socket.gethostname()}, work dir {self.owner}, started '
            f'{time.strftime("%Y-%m-%d %H:%M:%S")}\n'.encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ------------------------------------------------------------- the whole run


@contextlib.contextmanager
def guard_work_dir(cfg,
                   overwrite: bool = False,
                   notes: Optional[List[str]] = None) -> Iterator[Optional[str]]:
    """Check ``cfg.work_dir`` for the run ``cfg`` describes and hold it.

    Rank 0 takes the :class:`WorkDirLock`, then, for ``cfg.resume`` without
    ``load_from``, resolves the checkpoint (:func:`resolve_resume`) and sets
    ``cfg.load_from``; for a new run it applies :func:`check_new_run`. The
    decision (or the error) is shared with the other ranks, so all of them
    resume from the same file or fail with the same message. Call it after
    the process group exists (``init_distributed``). Yields the checkpoint
    resumed from (None for a new run); messages meant for the log are
    appended to ``notes``.
    """
    from mmengine.dist import get_rank, is_distributed
    if cfg.get('launcher', 'none') != 'none' and not is_distributed():
        raise RuntimeError('guard_work_dir: start the process group first (init_distributed), '
                           'so that rank 0 can share its decision')
    notes = [] if notes is None else notes
    work_dir = osp.abspath(cfg.work_dir)
    resume_from = cfg.get('load_from') if cfg.get('resume') else None
    locks: List[WorkDirLock] = []
    decision: dict = {}
    failure: Optional[BaseException] = None
    if get_rank() == 0:
        try:
            if cfg.get('resume') and not resume_from and not osp.isdir(work_dir):
                resolve_resume(work_dir, cfg)  # raises: nothing to resume, nothing created
            if resume_from and '://' not in str(resume_from) and not osp.isfile(resume_from):
                raise WorkDirError(f'--resume: checkpoint not found: {resume_from}')
            for folder in checkpoint_dirs(work_dir, cfg):
                locks.append(WorkDirLock(folder, owner=work_dir).acquire())
                if locks[-1].unsupported:
                    notes.append(f'could not lock {locks[-1].path} ({locks[-1].unsupported}): a '
                                 'second run writing there at the same time would not be '
                                 'detected')
            if cfg.get('resume') and not resume_from:
                resume_from = resolve_resume(work_dir, cfg, note=notes.append)
                notes.append(f'--resume: resuming from {resume_from}')
            elif not cfg.get('resume'):
                check_new_run(work_dir, cfg, overwrite, note=notes.append)
            decision = dict(resume_from=resume_from)
        except Exception as e:  # every rank must hear of it, or the others hang
            failure = e
            decision = dict(
                error=str(e) if isinstance(e, WorkDirError) else
                f'rank 0 failed to check the work dir: {type(e).__name__}: {e}')
    decision = from_rank0(decision)
    if 'error' in decision:
        for lock in locks:
            lock.release()
        if failure is not None:
            raise failure
        raise WorkDirError(decision['error'])
    if cfg.get('resume'):
        cfg.load_from = decision['resume_from']
    try:
        yield decision['resume_from']
    finally:
        for lock in locks:
            lock.release()
