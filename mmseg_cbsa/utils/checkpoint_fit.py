"""Does a checkpoint fit the model? The one rule behind every load of ours.

A checkpoint that does not fit the model is refused, not loaded halfway:
:func:`load_state_dict_checked` first fits the state dict to a shadow of the
module (its parameters on the meta device, so nothing is copied), raises
:class:`CheckpointMismatchError` (naming the file and the first missing,
unexpected and mis-shaped keys) unless a partial load was declared with
:func:`partial_loading` (shape mismatches are refused in any case), and only
then copies. A refused load leaves the model untouched.

The rule is applied by the project's own entry points (the
:class:`~mmseg_cbsa.engine.CheckedRunner`, the ``mmseg_cbsa`` scope's
``Pretrained`` initialiser, :func:`load_checkpoint`, :mod:`mmseg_cbsa.apis`);
mmengine's own ``load_checkpoint`` and ``load_state_dict`` keep mmengine's
behaviour.
"""
import contextlib
import contextvars
import copy
import itertools
import re
import warnings
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch

from .checkpoint import CheckpointError, extract_state_dict
from .checkpoint_sources import read_checkpoint

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
    keep_init: Sequence[str] = ()


_PARTIAL: contextvars.ContextVar = contextvars.ContextVar(
    'mmseg_cbsa_partial_loading', default=_Partial((), ()))


@contextlib.contextmanager
def partial_loading(allow_missing: Allowance = (),
                    allow_unexpected: Allowance = (),
                    keep_init: Sequence[str] = ()) -> Iterator[None]:
    """Declare a partial load: the opt-out of the fit check, for this block.

    Args:
        allow_missing: model keys that may stay unset, as key prefixes
            relative to the module loaded into (e.g. ``('decode_head.',)``),
            or True for any.
        allow_unexpected: checkpoint keys the model may ignore, likewise.
        keep_init: model key prefixes that keep their own initialisation:
            the checkpoint's tensors under them are dropped before the fit,
            whatever their shape (fine-tuning to another class count:
            ``keep_init=['decode_head.conv_seg.']``).

    Shape mismatches are refused whatever is allowed (outside ``keep_init``).
    The keys a partial load leaves out are logged as a warning. In configs,
    the same opt-out is ``init_cfg=dict(type='Pretrained', ...,
    allow_missing=..., allow_unexpected=..., keep_init=...)`` and, for
    ``load_from``, ``load_from_fit=dict(allow_missing=..., ...)``.
    """
    token = _PARTIAL.set(
        _Partial(
            _allowance(allow_missing), _allowance(allow_unexpected),
            _allowance(keep_init) or ()))
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


class CheckpointMismatchError(CheckpointError, RuntimeError):
    """A checkpoint whose tensors leave model weights unset, have no place in
    the model, or have the wrong shape. ``source`` and ``report`` say which.

    A ``RuntimeError`` too, as torch's and mmengine's strict loads raise."""

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
    state_dict = dict(state_dict)  # _load_from_state_dict may modify it

    def load(mod: torch.nn.Module, local: Dict[str, Any], prefix: str = '') -> None:
        if is_model_wrapper(mod) or isinstance(mod, BaseTTAModel):
            mod = mod.module
        local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
        mod._load_from_state_dict(local, prefix, local_metadata, True, missing, unexpected, errors)
        for name, child in mod._modules.items():
            if child is not None:
                child_prefix = f'{prefix}{name}.'
                load(child, {
                    k: v
                    for k, v in local.items() if k.startswith(child_prefix)
                }, child_prefix)
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


def _shadow(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``module`` whose parameters and buffers live on the meta
    device: loading into it runs every adaptation hook and reports every
    misfit, but copies nothing."""
    from mmengine.model import BaseTTAModel, is_model_wrapper
    while is_model_wrapper(module) or isinstance(module, BaseTTAModel):
        module = module.module
    memo: Dict[int, Any] = {}
    for t in itertools.chain(module.parameters(), module.buffers()):
        meta = torch.empty_like(t, device='meta')
        if isinstance(t, torch.nn.Parameter):
            meta = torch.nn.Parameter(meta, requires_grad=t.requires_grad)
        memo[id(t)] = meta
    return copy.deepcopy(module, memo)


def dry_fit(module: torch.nn.Module, state_dict: Mapping[str, Any]) -> FitReport:
    """:func:`fit_state_dict` on a meta-device shadow of ``module``: the
    report, with ``module`` left untouched."""
    with warnings.catch_warnings():
        # "copying from a non-meta parameter ... to a meta parameter is a no-op": that is the point
        warnings.simplefilter('ignore', UserWarning)
        return fit_state_dict(_shadow(module), state_dict)


def _listing(keys: Sequence[str]) -> str:
    more = f', ... ({len(keys) - _SHOWN} more)' if len(keys) > _SHOWN else ''
    return ', '.join(keys[:_SHOWN]) + more


def check_fit(
    report: FitReport,
    source: str,
    module: Optional[torch.nn.Module] = None,
    allow_missing: Allowance = (),
    allow_unexpected: Allowance = ()
) -> FitReport:
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
                     'mmseg_cbsa.utils.partial_loading (docs/reliability.md); '
                     'shapes must match in any case.')
        raise CheckpointMismatchError('\n'.join(lines), source, report)
    return FitReport([k for k in report.missing if k not in missing],
                     [k for k in report.unexpected if k not in unexpected], [], [])


def load_state_dict_checked(module: torch.nn.Module,
                            state_dict: Mapping[str, Any],
                            source: Optional[str] = None,
                            strict: bool = False,
                            logger: Any = 'current') -> FitReport:
    """Load ``state_dict`` into ``module``, refusing it unless it fits.

    A fit leaves no weight of ``module`` unset, uses every tensor, and
    matches every shape, except what the enclosing :func:`partial_loading`
    allows (nothing with ``strict``). The fit is judged before anything is
    copied: a refused state dict leaves ``module`` as it was.

    Args:
        source: how the error names the checkpoint (its file or URL).
        logger: where a partial load logs the keys it left out.

    Returns:
        the keys a partial load left out (empty lists for a full fit).

    Raises:
        CheckpointMismatchError: naming the file and the first keys of each kind.
    """
    source = source or 'state dict (not read from a file)'
    partial = _Partial((), ()) if strict else _PARTIAL.get()
    if partial.keep_init:
        state_dict = {k: v for k, v in state_dict.items() if not _allowed(k, partial.keep_init)}
    allow_missing = partial.missing
    if partial.keep_init:
        allow_missing = True if allow_missing is True else (*allow_missing, *partial.keep_init)
    left_out = check_fit(
        dry_fit(module, state_dict), source, module, allow_missing, partial.unexpected)
    fit_state_dict(module, state_dict)  # it fits: copy
    if left_out.missing or left_out.unexpected:
        import logging

        from mmengine.logging import print_log
        print_log(
            f'{source}: partial load (declared): {len(left_out.missing)} weights left '
            f'unset ({_listing(left_out.missing)}); {len(left_out.unexpected)} checkpoint '
            f'tensors ignored ({_listing(left_out.unexpected)})',
            logger=logger,
            level=logging.WARNING)
    return left_out


def load_checkpoint_to_model(
    model: torch.nn.Module,
    checkpoint: Mapping[str, Any],
    source: str,
    strict: bool = False,
    revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''), )) -> None:
    """A checkpoint already read into ``model``: its state dict extracted,
    keys renamed by ``revise_keys`` as mmengine does, then
    :func:`load_state_dict_checked` (refused by ``source`` and key before
    anything is copied)."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f'{source}: expected a dict (a state dict or a checkpoint '
                              f'holding one), got {type(checkpoint).__name__}')
    state = extract_state_dict(checkpoint, source)
    for pattern, replacement in revise_keys:
        state = {re.sub(pattern, replacement, k): v for k, v in state.items()}
    load_state_dict_checked(model, state, source=source, strict=strict)


def load_checkpoint(
    model: torch.nn.Module,
    filename: str,
    map_location: Any = 'cpu',
    strict: bool = False,
    revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''), )) -> dict:
    """mmengine's ``load_checkpoint``, with the project's guarantees.

    Reads ``filename`` (a path or any mmengine scheme) weights-only
    (:func:`~mmseg_cbsa.utils.checkpoint_sources.read_checkpoint`) and loads
    it with :func:`load_checkpoint_to_model`: a misfit is refused by file and
    key, before anything is copied.

    Returns:
        the checkpoint (a dict), as mmengine's returns it.
    """
    checkpoint = read_checkpoint(filename, map_location)
    load_checkpoint_to_model(model, checkpoint, str(filename), strict, revise_keys)
    return checkpoint
