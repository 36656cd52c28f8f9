"""Safe checkpoint loading and saving, and the check that a checkpoint fits.

Checkpoints are untrusted input. torch >= 2.6 loads them weights-only, which
mmengine 0.10.7's own checkpoints (numpy values in the message hub, history
buffers) do not pass, so ``--resume`` and ``load_from`` fail. Instead of
switching weights-only off, :func:`allow_mmengine_checkpoint_types` adds the
exact types mmengine writes to torch's allow-list; everything else is still
refused. :func:`load_checkpoint_file` passes ``weights_only=True``
explicitly, which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot override.

A checkpoint that does not fit the model is refused, not loaded halfway:
:func:`load_state_dict_checked` loads and raises
:class:`CheckpointMismatchError` (naming the file and the first missing,
unexpected and mis-shaped keys) unless a partial load was declared with
:func:`partial_loading` (shape mismatches are refused in any case).
:mod:`mmseg_cbsa.engine.checkpoint_loading` puts both in mmengine's paths.
"""
import contextlib
import contextvars
import io
import os
import os.path as osp
import pickle
import re
import tempfile
from typing import (Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple, Union)

import numpy as np
import torch
from torch.utils.weak import WeakIdKeyDictionary

_STATE_DICT_KEYS = ('state_dict', 'model', 'module', 'net')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` while unpickling.

    mmengine's ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``; this resolves exactly those and
    refuses any other attribute lookup a crafted file might ask for.
    """
    from mmengine.logging import HistoryBuffer
    # the defaults are registered lazily, at the first HistoryBuffer created
    allowed = {'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods}
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}) '
        'while loading a checkpoint')


def mmengine_checkpoint_types() -> List[Any]:
    """The globals an mmengine 0.10 checkpoint pickles besides tensors.

    ``meta`` holds numpy scalars (seeds, metrics) and the message hub holds
    ``HistoryBuffer`` objects with numpy arrays inside.
    """
    from mmengine.logging import HistoryBuffer
    np_multiarray = getattr(np, '_core', np.core).multiarray
    dtype_classes = [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
        np.uint64, np.float16, np.float32, np.float64)]
    return [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        np.ndarray,
        np.dtype,
        np_multiarray._reconstruct,
        np_multiarray.scalar,
        *dtype_classes,
    ]


def allow_mmengine_checkpoint_types() -> None:
    """Allow-list :func:`mmengine_checkpoint_types` for weights-only loads."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_types())


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file."""


def load_checkpoint_file(path: Union[str, 'os.PathLike', io.IOBase], map_location: Any = 'cpu',
                         name: Optional[str] = None) -> Any:
    """Load a ``.pth``/``.pt``/``.bin``/``.safetensors`` file weights-only.

    Args:
        path: a local file, or a buffer holding one (remote checkpoints).
        map_location: as for :func:`torch.load`.
        name: how messages name the checkpoint (default: ``path``), e.g. the
            URL a cached file was downloaded from.

    Every tensor loaded is remembered as coming from ``name``
    (:func:`checkpoint_source`), so that a later refusal names the file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError (a ValueError): the file is empty, or cannot be read
            weights-only; the message names the file and the disallowed
            globals it holds.
    """
    is_buffer = isinstance(path, io.IOBase)
    name = name or ('<buffer>' if is_buffer else os.fspath(path))
    if not is_buffer:
        path = os.fspath(path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'checkpoint not found: {path}')
        if osp.getsize(path) == 0:
            raise CheckpointError(f'{name}: the checkpoint file is empty (0 bytes); expected a '
                                  'file written by torch.save (.pth) or safetensors')
    if not is_buffer and path.endswith('.safetensors'):
        from safetensors.torch import load_file
        try:
            ckpt = load_file(path, device=_device_name(map_location))
        except Exception as e:
            raise CheckpointError(f'{name}: cannot be read as safetensors: '
                                  f'{type(e).__name__}: {e}') from e
    else:
        try:
            # explicit weights_only=True: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD
            # only overrides calls that leave it unset
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:  # pickle errors come in many types
            raise CheckpointError(f'{name}: cannot be loaded as a weights-only checkpoint: '
                                  f'{_refusal_reason(path, e)}') from e
    _remember_source(ckpt, name)
    return ckpt


def _device_name(map_location: Any) -> str:
    """safetensors takes a device name; dicts and callables map to the CPU."""
    if isinstance(map_location, (str, torch.device)):
        return str(map_location)
    return 'cpu'


#: tensor -> the checkpoint it was loaded from (weak: entries die with the tensors)
_SOURCES: WeakIdKeyDictionary = WeakIdKeyDictionary()


def _tensors(obj: Any, depth: int = 3) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, Mapping) and depth > 0:
        for value in obj.values():
            yield from _tensors(value, depth - 1)


def _remember_source(ckpt: Any, name: str) -> None:
    for t in _tensors(ckpt):
        _SOURCES[t] = name


def checkpoint_source(state_dict: Mapping[str, Any]) -> Optional[str]:
    """The checkpoint :func:`load_checkpoint_file` read ``state_dict``'s
    tensors from, or None (tensors made in memory, or copied)."""
    for value in state_dict.values():
        if isinstance(value, torch.Tensor) and value in _SOURCES:
            return _SOURCES[value]
    return None


def _refusal_reason(path: Any, err: Exception) -> str:
    """The disallowed globals of a refused file, else torch's own reason."""
    try:
        if isinstance(path, io.IOBase):
            path.seek(0)
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint: fall back to the error text
        unsafe = []
    if unsafe:
        return f'it holds objects that are not allow-listed: {unsafe}'
    text = str(err)
    marker = 'WeightsUnpickler error:'
    if marker in text:  # torch puts the actual reason after this marker
        reason = next((ln.strip() for ln in text.split(marker, 1)[1].splitlines()
                       if ln.strip()), '')
        if reason:
            return reason
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()] or ['']
    return f'{type(err).__name__}: ' + next((ln for ln in lines if 'GLOBAL' in ln), lines[0])


def extract_state_dict(ckpt: Any, path: str = '<checkpoint>') -> Dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint (``state_dict``/``model`` wrappers
    and a DataParallel ``module.`` prefix removed)."""
    obj = ckpt
    # descend through wrappers ({'state_dict': ...}, {'model': ...}); training
    # checkpoints keep tensors beside them (metrics, optimizer state)
    while isinstance(obj, Mapping):
        key = next((k for k in _STATE_DICT_KEYS if isinstance(obj.get(k), Mapping)), None)
        if key is None:
            break
        obj = obj[key]
    if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise KeyError(f'{path}: no state dict found; top-level keys are {sorted(obj)[:20]}, '
                       f'expected tensors or one of {_STATE_DICT_KEYS}')
    if not isinstance(obj, Mapping):
        raise TypeError(f'{path}: expected a dict of tensors, got {type(obj).__name__}')
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return state


def save_checkpoint_file(state_dict: Mapping[str, torch.Tensor], dst: str,
                         meta: Optional[dict] = None, overwrite: bool = False) -> None:
    """Save ``{'state_dict': ..., 'meta': ...}`` atomically.

    Writes to a temporary file in the destination folder and renames it, so a
    failure never leaves a truncated file, and refuses to replace an existing
    file unless ``overwrite``.
    """
    if osp.exists(dst) and not overwrite:
        raise FileExistsError(f'{dst} exists; pass --overwrite to replace it')
    folder = osp.dirname(osp.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.pth', dir=folder)
    os.close(fd)
    try:
        torch.save({'state_dict': dict(state_dict), 'meta': dict(meta or {})}, tmp)
        os.replace(tmp, dst)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


# --- does a checkpoint fit the model? ----------------------------------------------------

#: how many keys of each kind an error message lists
_SHOWN = 5
_SIZE_MISMATCH = re.compile(r'size mismatch for (\S+): copying a param with shape '
                            r'torch\.Size\((\[.*?\])\) from checkpoint, the shape in current '
                            r'model is torch\.Size\((\[.*?\])\)')

#: key prefixes (or True: all) a partial load may leave unset / ignore
Allowance = Union[bool, Sequence[str]]


class _Partial(NamedTuple):
    missing: Allowance
    unexpected: Allowance


_PARTIAL: contextvars.ContextVar = contextvars.ContextVar('mmseg_cbsa_partial_loading',
                                                          default=_Partial((), ()))


@contextlib.contextmanager
def partial_loading(allow_missing: Allowance = (), allow_unexpected: Allowance = ()
                    ) -> Iterator[None]:
    """Declare a partial load: the opt-out of the fit check, for this block.

    Args:
        allow_missing: model keys that may stay unset, as key prefixes
            relative to the module loaded into (e.g. ``('decode_head.',)``),
            or True for any.
        allow_unexpected: checkpoint keys the model may ignore, likewise.

    Shape mismatches are refused whatever is allowed. The keys a partial
    load leaves out are logged as a warning. In configs, the same opt-out
    is ``init_cfg=dict(type='Pretrained', ..., allow_missing=...,
    allow_unexpected=...)``.
    """
    token = _PARTIAL.set(_Partial(_allowance(allow_missing), _allowance(allow_unexpected)))
    try:
        yield
    finally:
        _PARTIAL.reset(token)


def _allowance(value: Allowance) -> Allowance:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return (value, )
    return tuple(value)


def _allowed(key: str, allowance: Allowance) -> bool:
    if isinstance(allowance, bool):
        return allowance
    return any(key.startswith(p) for p in allowance)


class FitReport(NamedTuple):
    """How a state dict fitted a module (:func:`fit_state_dict`).

    Attributes:
        missing: module keys the state dict has no tensor for.
        unexpected: state-dict keys the module has no place for.
        mismatched: ``(key, checkpoint shape, model shape)`` per tensor of the
            wrong shape, as the module's own loading (after its adaptations,
            e.g. resampling a position embedding) reported it.
        errors: other errors of the module's loading.
    """

    missing: List[str]
    unexpected: List[str]
    mismatched: List[Tuple[str, str, str]]
    errors: List[str]


class CheckpointMismatchError(CheckpointError):
    """A checkpoint whose tensors leave model weights unset, have no place in
    the model, or have the wrong shape. ``source`` and ``report`` say which."""

    def __init__(self, message: str, source: str, report: FitReport) -> None:
        super().__init__(message)
        self.source = source
        self.report = report


def fit_state_dict(module: torch.nn.Module, state_dict: Mapping[str, Any]) -> FitReport:
    """Load ``state_dict`` into ``module`` non-strictly and report the misfit.

    mmengine's ``load_state_dict`` walk (model wrappers and TTA models are
    entered, the modules' own ``_load_from_state_dict`` and post hooks run),
    returning what it would only log. As there, ``num_batches_tracked``
    buffers missing from old checkpoints are not counted.
    """
    from mmengine.model import BaseTTAModel, is_model_wrapper

    missing: List[str] = []
    unexpected: List[str] = []
    errors: List[str] = []
    metadata = getattr(state_dict, '_metadata', None)
    state_dict = dict(state_dict)    # _load_from_state_dict may modify it

    def load(mod: torch.nn.Module, local: Dict[str, Any], prefix: str = '') -> None:
        if is_model_wrapper(mod) or isinstance(mod, BaseTTAModel):
            mod = mod.module
        local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
        mod._load_from_state_dict(local, prefix, local_metadata, True, missing, unexpected,
                                  errors)
        for name, child in mod._modules.items():
            if child is not None:
                child_prefix = f'{prefix}{name}.'
                load(child, {k: v for k, v in local.items() if k.startswith(child_prefix)},
                     child_prefix)
        incompatible = torch.nn.modules.module._IncompatibleKeys(missing, unexpected)
        for hook in mod._load_state_dict_post_hooks.values():
            hook(mod, incompatible)

    load(module, state_dict)
    mismatched, other = [], []
    for err in errors:
        found = _SIZE_MISMATCH.search(err)
        if found:
            mismatched.append(found.groups())
        else:
            other.append(err.strip())
    missing = [k for k in missing if 'num_batches_tracked' not in k]
    return FitReport(missing, list(unexpected), mismatched, other)


def _listing(keys: Sequence[str]) -> str:
    more = f', ... ({len(keys) - _SHOWN} more)' if len(keys) > _SHOWN else ''
    return ', '.join(keys[:_SHOWN]) + more


def check_fit(report: FitReport, source: str, module: Optional[torch.nn.Module] = None,
              allow_missing: Allowance = (), allow_unexpected: Allowance = ()) -> FitReport:
    """Raise :class:`CheckpointMismatchError` unless ``report`` shows a fit.

    Returns:
        the report of what was allowed (keys left out by a partial load).
    """
    missing = [k for k in report.missing if not _allowed(k, allow_missing)]
    unexpected = [k for k in report.unexpected if not _allowed(k, allow_unexpected)]
    if missing or unexpected or report.mismatched or report.errors:
        target = f' ({type(module).__name__})' if module is not None else ''
        lines = [f'{source}: the checkpoint does not fit the model{target}; refused:']
        if missing:
            lines.append(f'  {len(missing)} model weights missing from the checkpoint (they would '
                         f'stay unset): {_listing(missing)}')
        if unexpected:
            lines.append(f'  {len(unexpected)} checkpoint tensors the model has no place for: '
                         f'{_listing(unexpected)}')
        if report.mismatched:
            shapes = [f'{k} (checkpoint {c}, model {m})' for k, c, m in report.mismatched]
            lines.append(f'  {len(shapes)} tensors of the wrong shape: {_listing(shapes)}')
        if report.errors:
            lines.append(f'  {len(report.errors)} other errors: {_listing(report.errors)}')
        lines.append('Is it the checkpoint of this config? A deliberately partial load is '
                     "declared with Pretrained's allow_missing / allow_unexpected or "
                     'mmseg_cbsa.utils.checkpoint.partial_loading (docs/reliability.md); '
                     'shapes must match in any case.')
        raise CheckpointMismatchError('\n'.join(lines), source, report)
    return FitReport([k for k in report.missing if k not in missing],
                     [k for k in report.unexpected if k not in unexpected], [], [])


def load_state_dict_checked(module: torch.nn.Module, state_dict: Mapping[str, Any],
                            source: Optional[str] = None, strict: bool = False,
                            logger: Any = 'current') -> FitReport:
    """Load ``state_dict`` into ``module``, refusing it unless it fits.

    A fit leaves no weight of ``module`` unset, uses every tensor, and
    matches every shape, except what the enclosing :func:`partial_loading`
    allows (nothing with ``strict``).

    Args:
        source: how the error names the checkpoint; default: the file its
            tensors were loaded from (:func:`checkpoint_source`).
        logger: where a partial load logs the keys it left out.

    Returns:
        the keys a partial load left out (empty lists for a full fit).

    Raises:
        CheckpointMismatchError: naming the file and the first keys of each kind.
    """
    source = source or checkpoint_source(state_dict) or 'state dict (not read from a file)'
    partial = _Partial((), ()) if strict else _PARTIAL.get()
    left_out = check_fit(fit_state_dict(module, state_dict), source, module,
                         partial.missing, partial.unexpected)
    if left_out.missing or left_out.unexpected:
        import logging
        from mmengine.logging import print_log
        print_log(f'{source}: partial load (declared): {len(left_out.missing)} weights left '
                  f'unset ({_listing(left_out.missing)}); {len(left_out.unexpected)} checkpoint '
                  f'tensors ignored ({_listing(left_out.unexpected)})',
                  logger=logger, level=logging.WARNING)
    return left_out
