"""Reading a checkpoint from wherever mmengine could: weights-only, always.

:func:`read_checkpoint` is the project's counterpart of mmengine's
``CheckpointLoader.load_checkpoint``: the same schemes (local paths, http(s),
torchvision://, open-mmlab://, mmcls://, s3:// / petrel://, pavi://), each
fetched where mmengine would fetch it, and every file read with
:func:`~mmseg_cbsa.utils.checkpoint.load_checkpoint_file` (explicit
``weights_only=True``, the mmengine allow-list for that call only). mmengine 0.10.7
reads with a bare ``torch.load``, which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``
turns into full unpickling (its HTTP path even passes ``weights_only=False``).

This is the project's own table, used by its own entry points (the
:class:`~mmseg_cbsa.engine.CheckedRunner`, the ``Pretrained`` initialiser of
the ``mmseg_cbsa`` scope, :mod:`mmseg_cbsa.apis`); mmengine's
``CheckpointLoader`` is not touched.
"""
import io
import os
import os.path as osp
import re
from tempfile import TemporaryDirectory
from typing import Any, Callable, Optional, Sequence, Tuple
from urllib.parse import urlparse

import torch

from .checkpoint import load_checkpoint_file


def read_local(filename: str, map_location: Any = None) -> Any:
    """A local file."""
    return load_checkpoint_file(osp.expanduser(filename), map_location)


def _download(url: str, model_dir: Optional[str] = None) -> str:
    """The cached copy of ``url`` (torch hub's cache, as mmengine uses),
    downloaded first if needed."""
    from torch.hub import download_url_to_file, get_dir
    model_dir = model_dir or osp.join(get_dir(), 'checkpoints')
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.isfile(cached):
        os.makedirs(model_dir, exist_ok=True)
        download_url_to_file(url, cached, progress=False)
    return cached


def read_http(filename: str, map_location: Any = None, model_dir: Optional[str] = None) -> Any:
    """An http(s) URL: downloaded once (rank 0 first), then read from the cache."""
    from mmengine.dist import get_dist_info
    rank, world_size = get_dist_info()
    if rank == 0:
        cached = _download(filename, model_dir)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            cached = _download(filename, model_dir)
    return load_checkpoint_file(cached, map_location, name=filename)


def _model_name(filename: str) -> str:
    return filename.split('://', 1)[1]


def read_torchvision(filename: str, map_location: Any = None) -> Any:
    """``torchvision://NAME`` (and the deprecated ``modelzoo://NAME``)."""
    from mmengine.runner.checkpoint import get_torchvision_models
    return read_http(get_torchvision_models()[_model_name(filename)], map_location)


def read_openmmlab(filename: str, map_location: Any = None) -> Any:
    """``open-mmlab://NAME``: a URL or a file in mmengine's home."""
    from mmengine.runner import checkpoint as mmengine_checkpoint
    name = _model_name(filename)
    name = mmengine_checkpoint.get_deprecated_model_names().get(name, name)
    url = mmengine_checkpoint.get_external_models()[name]
    if url.startswith(('http://', 'https://')):
        return read_http(url, map_location)
    return load_checkpoint_file(
        osp.join(mmengine_checkpoint._get_mmengine_home(), url), map_location, name=filename)


def read_mmcls(filename: str, map_location: Any = None) -> Any:
    """``mmcls://NAME``: an mmcls classifier, keys renamed as mmengine does."""
    from mmengine.runner import checkpoint as mmengine_checkpoint
    url = mmengine_checkpoint.get_mmcls_models()[_model_name(filename)]
    return mmengine_checkpoint._process_mmcls_checkpoint(read_http(url, map_location))


def read_ceph(filename: str, map_location: Any = None, backend: str = 'petrel') -> Any:
    """``s3://`` / ``petrel://``: the bytes from mmengine's file backend."""
    from mmengine.fileio import get_file_backend
    data = get_file_backend(filename, backend_args={'backend': backend}).get(filename)
    return load_checkpoint_file(io.BytesIO(data), map_location, name=filename)


def read_pavi(filename: str, map_location: Any = None) -> Any:
    """``pavi://``: downloaded from pavi's model cloud into a temporary folder."""
    try:
        from pavi import modelcloud
    except ImportError as e:
        raise ImportError(
            f'{filename}: install pavi to load checkpoints from its model cloud') from e
    model = modelcloud.get(_model_name(filename))
    with TemporaryDirectory() as tmp:
        path = osp.join(tmp, model.name)
        model.download(path)
        return load_checkpoint_file(path, map_location, name=filename)


#: (prefixes, reader) for every scheme mmengine 0.10.7 knows, local files last
SCHEMES: Sequence[Tuple[Sequence[str], Callable[..., Any]]] = (
    (('http://', 'https://'), read_http),
    (('modelzoo://', 'torchvision://'), read_torchvision),
    (('open-mmlab://', 'openmmlab://'), read_openmmlab),
    (('mmcls://', ), read_mmcls),
    ((r'(\S+\:)?s3://', r'(\S+\:)?petrel://'), read_ceph),
    (('pavi://', ), read_pavi),
)


def reader_for(filename: str) -> Callable[..., Any]:
    """The reader of ``filename``'s scheme (:data:`SCHEMES`), else :func:`read_local`."""
    for prefixes, reader in SCHEMES:
        if any(re.match(p, filename) for p in prefixes):
            return reader
    return read_local


def read_checkpoint(filename: str, map_location: Any = 'cpu') -> Any:
    """The checkpoint at ``filename`` (a path or any mmengine scheme), weights-only.

    Raises:
        FileNotFoundError: a local file that does not exist.
        CheckpointError: a file that cannot be read weights-only (named).
    """
    return reader_for(str(filename))(str(filename), map_location)
