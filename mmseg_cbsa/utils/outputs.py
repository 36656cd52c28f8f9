"""What the project's tools write: complete files only, never over a user's.

* :func:`atomic_path` gives a temporary name next to the destination; the
  file becomes the destination (``fsync``, ``rename``) only when the writer
  finished, so a kill, a full disk or an exception never leaves a truncated
  file under the real name, nor removes the file it was to replace.
* :func:`check_new_file` and :func:`check_output_dir` refuse, before anything
  is written, an output that exists (unless ``--overwrite``) or that lies in
  a folder the tool reads (its inputs, the dataset): writing there replaces
  the data the next run measures.
"""
import contextlib
import os
import os.path as osp
import tempfile
from typing import Iterable, Iterator, Optional, Sequence

#: temporary files of :func:`atomic_path` (``.partial-XXXX-<name>``)
PARTIAL_PREFIX = '.partial-'
PARTIAL_GLOB = PARTIAL_PREFIX + '*'


class OutputExistsError(FileExistsError):
    """An output would replace a file this run did not create."""


class OutputInInputError(ValueError):
    """An output folder is, or lies inside, a folder the tool reads."""


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened (some platforms): the rename stands
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(dst: str) -> Iterator[str]:
    """Yield a temporary path in ``dst``'s folder to write to; on success it
    is flushed to disk and renamed to ``dst`` (replacing it), on any error
    removed, and the error re-raised naming ``dst``.

    Example::

        with atomic_path('work_dirs/run/iter_8.pth') as tmp:
            torch.save(checkpoint, tmp)
    """
    folder = osp.dirname(osp.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix='-' + osp.basename(dst), dir=folder)
    os.close(fd)
    try:
        yield tmp
        if osp.isfile(tmp):
            with open(tmp, 'rb') as f:
                os.fsync(f.fileno())
            os.replace(tmp, dst)
            _fsync_dir(folder)
    except BaseException as e:
        if osp.exists(tmp):
            os.remove(tmp)
        if isinstance(e, (OSError, RuntimeError)) and not isinstance(e, FileExistsError):
            # torch.save reports a full disk as a RuntimeError naming an archive member
            raise OSError(f'could not write {dst} ({type(e).__name__}: {e}); nothing was '
                          'written under that name and the file it would replace, if any, '
                          'is unchanged') from e
        raise


def _inside(path: str, folder: str) -> bool:
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_new_file(path: str, overwrite: bool = False, what: str = 'output') -> None:
    """Refuse ``path`` when it exists and not ``overwrite``, or is a folder."""
    if osp.isdir(path):
        raise OutputExistsError(f'the {what} {path} is a folder; give a file name')
    if osp.lexists(path) and not overwrite:
        raise OutputExistsError(
            f'the {what} {path} exists; pass --overwrite to replace it, or choose another name')


def check_output_dir(out_dir: str,
                     names: Iterable[str],
                     read_from: Sequence[Optional[str]] = (),
                     overwrite: bool = False,
                     what: str = '--out') -> None:
    """Refuse an output folder before anything is written to it.

    Args:
        out_dir: the folder the tool writes ``names`` into.
        names: the file names (relative to ``out_dir``) the run will write.
        read_from: folders or files the tool reads (its inputs, the dataset
            root); ``out_dir`` may not be one of them nor lie inside one, and
            none of ``names`` may be an input file.
        overwrite: allow replacing existing files of ``names`` (never inputs).
        what: the option the folder came from, for the message.

    Raises:
        OutputInInputError: ``out_dir`` is, or is inside, a folder read from,
            or an output name is an input file.
        OutputExistsError: files of ``names`` exist and not ``overwrite``
            (the first few are named).
    """
    names = list(names)
    for src in filter(None, read_from):
        folder = src if osp.isdir(src) else None
        if folder is not None and _inside(out_dir, folder):
            raise OutputInInputError(
                f'{what} {out_dir} is inside {folder}, which this run reads; writing there would '
                'replace or add to its input. Choose a folder outside it.')
        if folder is None and any(
                osp.realpath(osp.join(out_dir, n)) == osp.realpath(src) for n in names):
            raise OutputInInputError(f'{what} {out_dir} would replace the input {src}; choose '
                                     'another folder')
    if overwrite:
        return
    existing = [n for n in names if osp.lexists(osp.join(out_dir, n))]
    if existing:
        shown = ', '.join(
            existing[:5]) + (f' and {len(existing) - 5} more' if len(existing) > 5 else '')
        raise OutputExistsError(
            f'{what} {out_dir} already holds {len(existing)} of the files this run writes '
            f'({shown}); pass --overwrite to replace them, or choose an empty folder')


__all__ = [
    'OutputExistsError', 'OutputInInputError', 'PARTIAL_GLOB', 'PARTIAL_PREFIX', 'atomic_path',
    'check_new_file', 'check_output_dir'
]
