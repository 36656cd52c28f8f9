"""Safe checkpoint loading and saving.

Checkpoints are untrusted input. torch >= 2.6 loads them weights-only, which
mmengine 0.10.7's own checkpoints (numpy values in the message hub, history
buffers) do not pass, so ``--resume`` and ``load_from`` fail. Instead of
switching weights-only off, :func:`load_checkpoint_file` passes the exact
types mmengine writes (:func:`mmengine_checkpoint_types`) as the allow-list of
that one call (torch's ``safe_globals`` context): everything else is still
refused, and torch's process-wide allow-list is left as it was. It passes
``weights_only=True`` explicitly, which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
cannot override. :func:`read_checkpoint` does the same for every scheme
mmengine knows (http(s), torchvision://, open-mmlab://, ...).

These are the project's own entry points; mmengine's loaders are left alone.
Whether a checkpoint fits a model is :mod:`mmseg_cbsa.utils.checkpoint_fit`.
"""
import io
import os
import os.path as osp
import pickle
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np
import torch

from .outputs import atomic_path, check_new_file

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
    dtype_classes = [
        type(np.dtype(t))
        for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                  np.uint64, np.float16, np.float32, np.float64)
    ]
    return [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        np.ndarray,
        np.dtype,
        np_multiarray._reconstruct,
        np_multiarray.scalar,
        *dtype_classes,
    ]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file."""


def missing_checkpoint(path: str) -> Exception:
    """The error for a checkpoint path that is not a file: a folder is named
    as one, with the checkpoints in it; anything else is not found."""
    if osp.isdir(path):
        kinds = ('.pth', '.pt', '.bin', '.safetensors')
        inside = sorted(n for n in os.listdir(path) if n.endswith(kinds))
        hint = f'; it holds {", ".join(inside[:4])}' if inside else ''
        return CheckpointError(f'{path} is a folder, not a checkpoint file{hint}: give the '
                               'file itself')
    return FileNotFoundError(f'checkpoint not found: {path}')


def load_checkpoint_file(path: Union[str, 'os.PathLike', io.IOBase],
                         map_location: Any = 'cpu',
                         name: Optional[str] = None) -> Any:
    """Load a ``.pth``/``.pt``/``.bin``/``.safetensors`` file weights-only.

    Args:
        path: a local file, or a buffer holding one (remote checkpoints).
        map_location: as for :func:`torch.load`.
        name: how messages name the checkpoint (default: ``path``), e.g. the
            URL a cached file was downloaded from.

    Raises:
        FileNotFoundError: ``path`` does not exist (CheckpointError: it is a
            folder).
        CheckpointError (a ValueError): the file is empty, or cannot be read
            weights-only; the message names the file and the disallowed
            globals it holds.
    """
    is_buffer = isinstance(path, io.IOBase)
    name = name or ('<buffer>' if is_buffer else os.fspath(path))
    if not is_buffer:
        path = os.fspath(path)
        if not osp.isfile(path):
            raise missing_checkpoint(path)
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
            # only overrides calls that leave it unset; the allow-list is
            # this call's, not added to torch's process-wide list
            with torch.serialization.safe_globals(mmengine_checkpoint_types()):
                ckpt = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:  # pickle errors come in many types
            raise CheckpointError(f'{name}: cannot be loaded as a weights-only checkpoint: '
                                  f'{_refusal_reason(path, e)}') from e
    return ckpt


def _device_name(map_location: Any) -> str:
    """safetensors takes a device name; dicts and callables map to the CPU."""
    if isinstance(map_location, (str, torch.device)):
        return str(map_location)
    return 'cpu'


def _file_kind(path: Any) -> Optional[str]:
    """What a file that is not a torch checkpoint looks like, from its first
    kilobyte (where an ONNX model names its producer): an ONNX graph or a
    plain pickle; None when neither."""
    if isinstance(path, io.IOBase):
        path.seek(0)
        head = path.read(1024)
    else:
        with open(path, 'rb') as f:
            head = f.read(1024)
    if head[:1] == b'\x08' and b'pytorch' in head:
        return ('an ONNX graph (.onnx), not a checkpoint: give it to the tools that run exported '
                'graphs (demo/image_demo.py, tools/deployment/test_onnx.py), or give this tool '
                'the .pth checkpoint it was exported from')
    if head[:1] == b'\x80' and head[1:2] in (b'\x04', b'\x05'):
        return ('a plain pickle (pickle.dump), not a file written by torch.save: weights-only '
                'loading cannot read it. Re-save its tensors with torch.save on a machine where '
                'you trust the file')
    return None


def _refusal_reason(path: Any, err: Exception) -> str:
    """The disallowed globals of a refused file, else what kind of file it
    is, else torch's own reason."""
    try:
        kind = _file_kind(path)
    except OSError:
        kind = None
    if kind:
        return f'it is {kind}'
    try:
        if isinstance(path, io.IOBase):
            path.seek(0)
        with torch.serialization.safe_globals(mmengine_checkpoint_types()):
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint: fall back to the error text
        unsafe = []
    if unsafe:
        return f'it holds objects that are not allow-listed: {unsafe}'
    text = str(err)
    marker = 'WeightsUnpickler error:'
    if marker in text:  # torch puts the actual reason after this marker
        reason = next((ln.strip() for ln in text.split(marker, 1)[1].splitlines() if ln.strip()),
                      '')
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


def save_checkpoint_file(state_dict: Mapping[str, torch.Tensor],
                         dst: str,
                         meta: Optional[dict] = None,
                         overwrite: bool = False) -> None:
    """Save ``{'state_dict': ..., 'meta': ...}`` atomically.

    Writes to a temporary file in the destination folder and renames it, so a
    failure never leaves a truncated file, and refuses to replace an existing
    file unless ``overwrite``.
    """
    check_new_file(dst, overwrite)
    with atomic_path(dst) as tmp:
        torch.save({'state_dict': dict(state_dict), 'meta': dict(meta or {})}, tmp)
