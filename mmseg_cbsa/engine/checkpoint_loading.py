"""Every checkpoint mmengine loads: weights-only, and refused unless it fits.

mmengine 0.10.7 reads checkpoints with a bare ``torch.load`` (which
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns into full unpickling; its HTTP
path even passes ``weights_only=False``) and fits them non-strictly, only
logging what is missing, unexpected or mis-shaped. All its paths (the
Runner's ``load_from`` and ``resume``, ``init_cfg=Pretrained``, mmseg's
``init_model`` and ``MMSegInferencer``, the EMA hook) go through two places,
and :func:`install_checkpoint_loading` (run at ``import mmseg_cbsa``,
idempotent) takes both over:

* reading: a loader registered with ``CheckpointLoader.register_scheme`` for
  every scheme mmengine knows (local paths, http(s), torchvision://,
  open-mmlab://, mmcls://, s3:// / petrel://, pavi://). Each gets the file
  (downloading it where mmengine would) and reads it with
  :func:`~mmseg_cbsa.utils.checkpoint.load_checkpoint_file`: explicit
  ``weights_only=True`` with the mmengine allow-list, whatever the
  environment says, and errors that name the file.
* fitting: ``mmengine.runner.checkpoint.load_state_dict``, the function all
  those paths call (looked up in that module at call time), is replaced by
  :func:`load_state_dict`, which loads through the modules' own
  ``_load_from_state_dict`` (so their adaptations, e.g. position-embedding
  resampling, count) and raises
  :class:`~mmseg_cbsa.utils.checkpoint_fit.CheckpointMismatchError` instead of
  logging. This is the one patch of mmengine: it has no hook between loading
  a state dict and judging the result. The ``strict=False`` its callers pass
  is not an opt-out; a partial load is declared with
  :func:`~mmseg_cbsa.utils.checkpoint_fit.partial_loading`, or in a config with
  :class:`Pretrained`'s ``allow_missing`` / ``allow_unexpected``.
* ``Pretrained`` in mmengine's ``WEIGHT_INITIALIZERS`` is re-registered
  (``force=True``) as :class:`Pretrained`, mmengine's initializer with those
  two arguments and an error naming the file when ``prefix`` matches nothing.
  The type name stays ``'Pretrained'``, which ``BaseModule.init_weights``
  needs to apply it after the children's own initialisation.
"""
import io
import os
import os.path as osp
from tempfile import TemporaryDirectory
from typing import Any, Optional
from urllib.parse import urlparse

import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.checkpoint import CheckpointError, extract_state_dict, load_checkpoint_file
from ..utils.checkpoint_fit import (Allowance, CheckpointMismatchError, load_state_dict_checked,
                                    partial_loading)

# --- reading: one weights-only loader per scheme ---------------------------------------------
# (named load_from_*: mmengine logs ``name[10:]`` as the backend's name)


def load_from_local_weights_only(filename: str, map_location: Any = None) -> Any:
    """A local file, weights-only."""
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


def load_from_http_weights_only(filename: str,
                                map_location: Any = None,
                                model_dir: Optional[str] = None) -> Any:
    """An http(s) URL: downloaded once (local rank 0 first), read weights-only."""
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


def load_from_torchvision_weights_only(filename: str, map_location: Any = None) -> Any:
    """``torchvision://NAME`` (and the deprecated ``modelzoo://NAME``)."""
    urls = mmengine_checkpoint.get_torchvision_models()
    return load_from_http_weights_only(urls[_model_name(filename)], map_location)


def load_from_openmmlab_weights_only(filename: str, map_location: Any = None) -> Any:
    """``open-mmlab://NAME``: a URL or a file in mmengine's home."""
    name = _model_name(filename)
    name = mmengine_checkpoint.get_deprecated_model_names().get(name, name)
    url = mmengine_checkpoint.get_external_models()[name]
    if url.startswith(('http://', 'https://')):
        return load_from_http_weights_only(url, map_location)
    return load_checkpoint_file(
        osp.join(mmengine_checkpoint._get_mmengine_home(), url), map_location, name=filename)


def load_from_mmcls_weights_only(filename: str, map_location: Any = None) -> Any:
    """``mmcls://NAME``: an mmcls classifier, keys renamed as mmengine does."""
    url = mmengine_checkpoint.get_mmcls_models()[_model_name(filename)]
    return mmengine_checkpoint._process_mmcls_checkpoint(
        load_from_http_weights_only(url, map_location))


def load_from_ceph_weights_only(filename: str,
                                map_location: Any = None,
                                backend: str = 'petrel') -> Any:
    """``s3://`` / ``petrel://``: the bytes from mmengine's file backend."""
    from mmengine.fileio import get_file_backend
    data = get_file_backend(filename, backend_args={'backend': backend}).get(filename)
    return load_checkpoint_file(io.BytesIO(data), map_location, name=filename)


def load_from_pavi_weights_only(filename: str, map_location: Any = None) -> Any:
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


#: every scheme mmengine 0.10.7 registers, with its weights-only replacement
SCHEMES = (
    ('', load_from_local_weights_only),
    (('http://', 'https://'), load_from_http_weights_only),
    (('modelzoo://', 'torchvision://'), load_from_torchvision_weights_only),
    (('open-mmlab://', 'openmmlab://'), load_from_openmmlab_weights_only),
    ('mmcls://', load_from_mmcls_weights_only),
    ((r'(\S+\:)?s3://', r'(\S+\:)?petrel://'), load_from_ceph_weights_only),
    ('pavi://', load_from_pavi_weights_only),
)

# --- fitting ---------------------------------------------------------------------------------


def load_state_dict(module: torch.nn.Module,
                    state_dict: Any,
                    strict: bool = False,
                    logger: Any = None) -> None:
    """Stands in for ``mmengine.runner.checkpoint.load_state_dict``.

    Same signature, but a state dict that does not fit ``module`` raises
    :class:`~mmseg_cbsa.utils.checkpoint_fit.CheckpointMismatchError` (naming
    the file it was read from) instead of a logged warning; ``strict=False``
    changes nothing, only :func:`~mmseg_cbsa.utils.checkpoint_fit.partial_loading`
    allows a partial load.
    """
    load_state_dict_checked(module, state_dict, strict=strict, logger=logger or 'current')


class Pretrained(PretrainedInit):
    """mmengine's ``Pretrained`` init_cfg, with the fit check's opt-out.

    Args:
        checkpoint, prefix, map_location: as in mmengine's ``PretrainedInit``
            (with ``prefix``, the file's ``<prefix>*`` tensors go into the
            module, e.g. ``prefix='backbone.'`` for a whole model's
            checkpoint loaded into a backbone).
        allow_missing: weights of the module the file may leave unset (key
            prefixes relative to the module, or True for any); default none.
        allow_unexpected: tensors of the file (after ``prefix``) the module
            may ignore; default none. Shapes must match in any case.
    """

    def __init__(
        self,
        checkpoint: str,
        prefix: Optional[str] = None,
        map_location: Any = 'cpu',
        allow_missing: Allowance = (),
        allow_unexpected: Allowance = ()
    ) -> None:
        super().__init__(checkpoint, prefix=prefix, map_location=map_location)
        self.allow_missing = allow_missing
        self.allow_unexpected = allow_unexpected

    def __call__(self, module: torch.nn.Module) -> None:
        with partial_loading(self.allow_missing, self.allow_unexpected):
            if self.prefix is None:
                super().__call__(module)
                return
            print_log(f'load {self.prefix} in model from: {self.checkpoint}', logger='current')
            ckpt = CheckpointLoader.load_checkpoint(self.checkpoint, self.map_location)
            state = extract_state_dict(ckpt, self.checkpoint)
            prefix = self.prefix if self.prefix.endswith('.') else self.prefix + '.'
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if not sub:
                heads = sorted({k.split('.', 1)[0] + '.' for k in state})
                raise CheckpointError(f'{self.checkpoint}: no tensors under prefix {prefix!r}; '
                                      f'its keys start with {heads[:8]}')
            load_state_dict_checked(module, sub, source=self.checkpoint)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())


def install_checkpoint_loading() -> None:
    """Register the weights-only loaders and the fit check (idempotent)."""
    for prefixes, loader in SCHEMES:
        CheckpointLoader.register_scheme(prefixes, loader, force=True)
    mmengine_checkpoint.load_state_dict = load_state_dict
    WEIGHT_INITIALIZERS.register_module(name='Pretrained', module=Pretrained, force=True)


__all__ = [
    'CheckpointMismatchError', 'Pretrained', 'SCHEMES', 'install_checkpoint_loading',
    'load_state_dict'
]
