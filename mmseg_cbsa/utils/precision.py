"""Reduced-precision inference: autocast around a model's forward passes.

One vocabulary for the tools: ``'float32'`` (no autocast), ``'bf16'``
(``torch.autocast`` to bfloat16) and ``'fp16'`` (to float16), on the device
type the model's parameters are on (CPU or CUDA). Weights stay float32;
autocast runs matrix products and the other ops on its lists in the low
precision. What a test or a demo hands on (logits, label maps) is float32
again (:func:`outputs_to_float32`).

``'auto'`` (:func:`resolve_precision`) picks the fastest of them that the
hardware runs natively (:mod:`mmseg_cbsa.utils.hardware`), and never one
slower than float32.
"""
import argparse
import contextlib
import logging
import sys
from typing import TYPE_CHECKING, Iterable, Optional, Tuple, Union

import torch
from torch import nn

#: precision name -> autocast dtype (None: float32, no autocast)
PRECISIONS = {'float32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}

_ALIASES = {'fp32': 'float32', 'bfloat16': 'bf16', 'float16': 'fp16', 'half': 'fp16'}

#: what a ``--precision`` option accepts
PRECISION_CHOICES = ('auto', *PRECISIONS)

#: reduced precisions ``'auto'`` may pick, in order of preference (bf16 has
#: float32's range). Both keep the argmax agreement target, >= 99.5% of the
#: pixels as float32's: measured 99.99% (bf16) and 100.00% (fp16) on the trained
#: quickstart model (docs/deployment.md#reduced-precision,
#: ``tools/analysis_tools/precision_agreement.py`` measures a model's own).
AUTO_CANDIDATES = ('bf16', 'fp16')

#: how many times float32's matrix-multiply rate, as the hardware report
#: measures it, a reduced precision must reach for ``'auto'`` to pick it. A
#: model gains less than its products: on the 2-core AMD EPYC of
#: docs/performance.md, 2048 x 2048 bf16 products ran 2.69x faster than float32
#: but the whole CBT-S model at 512 only 1.23x, as autocast's casts (25-29% of
#: the bf16 head's time in torch.profiler) and the ops it leaves in float32
#: (LayerNorm) take their share. Fitted to those figures (products 75% of the
#: float32 time), 2048 x 2048 products under ~1.6-1.7x faster would leave the
#: model slower. The report's short one-thread 256 x 256 products read lower
#: there, 2.0x for the same 2.69x, which puts that break-even near 1.2-1.3x on
#: its scale; 1.5 keeps a margin above it.
AUTO_MIN_SPEEDUP = 1.5

if TYPE_CHECKING:
    from .hardware import HardwareReport


def precision_dtype(precision: Union[str, torch.dtype, None]) -> Optional[torch.dtype]:
    """The autocast dtype of a precision name (or dtype); None for float32."""
    if precision is None or precision == torch.float32:
        return None
    if isinstance(precision, torch.dtype):
        if precision not in PRECISIONS.values():
            raise ValueError(f'unsupported autocast dtype {precision}')
        return precision
    name = _ALIASES.get(precision, precision)
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}': use one of {list(PRECISIONS)}")
    return PRECISIONS[name]


def device_type_of(model_or_device: Union[nn.Module, torch.device, str]) -> str:
    """'cpu' or 'cuda': where a model's parameters are, or a device's type."""
    if isinstance(model_or_device, nn.Module):
        param = next(model_or_device.parameters(), None)
        return param.device.type if param is not None else 'cpu'
    return torch.device(model_or_device).type


def precision_name(precision: str) -> str:
    """The canonical name of a precision or of 'auto' ('bfloat16' -> 'bf16')."""
    name = _ALIASES.get(precision, precision)
    if name not in PRECISION_CHOICES:
        raise ValueError(f"unknown precision '{precision}': use one of {list(PRECISION_CHOICES)}")
    return name


def auto_precision(device: Union[torch.device, str], report: 'HardwareReport') -> Tuple[str, str]:
    """What ``'auto'`` picks on ``device`` of the machine ``report``
    describes, and why (one line).

    The first of :data:`AUTO_CANDIDATES` that ``device`` runs natively
    (:meth:`~mmseg_cbsa.utils.hardware.HardwareReport.native`: the CPU's
    bf16 / fp16 flags, the CUDA capability's tensor cores) and whose measured
    matrix-multiply rate is at least :data:`AUTO_MIN_SPEEDUP` times
    float32's; else float32. On the CPU the rates must have been measured
    there; on CUDA the capability alone qualifies where they were not. Both
    candidates keep the argmax agreement target (:data:`AUTO_CANDIDATES`).
    """
    dev = device_type_of(device)
    if dev == 'cuda' and report.cuda_capability is None:
        return 'float32', 'float32: no CUDA device in the hardware report'
    where = 'this CPU' if dev == 'cpu' else report.cuda_device
    reasons = []
    for p in AUTO_CANDIDATES:
        speedup = report.speedup(p, dev)
        if not report.native(p, dev):
            reasons.append(f'{p} not native ({report.missing(p, dev)})')
        elif speedup is None and dev == 'cpu':
            reasons.append(f'{p} native but its rate is not measured')
        elif speedup is not None and speedup < AUTO_MIN_SPEEDUP:
            reasons.append(f'{p} native but multiplies matrices only {speedup:.2f}x as fast as '
                           f'float32 (auto needs {AUTO_MIN_SPEEDUP}x)')
        else:
            rate = f', {speedup:.2f}x the float32 matrix-multiply rate' if speedup else ''
            return p, f'{p}: native on {where}{rate}'
    return 'float32', f"float32 on {where}: {'; '.join(reasons)}"


def precision_cost(precision: str, device: Union[torch.device, str],
                   report: 'HardwareReport') -> Optional[str]:
    """The one-line warning for asking for ``precision`` on ``device``, or
    None: where the hardware does not run it natively, or runs it slower
    than float32, what that costs in the measured matrix-multiply rate
    (e.g. "bf16 runs at 0.18x the float32 matrix-multiply rate on this CPU
    (no avx512_bf16/amx_bf16): expect it slower")."""
    precision, dev = precision_name(precision), device_type_of(device)
    if precision in ('float32', 'auto'):
        return None
    native, speedup = report.native(precision, dev), report.speedup(precision, dev)
    if native and (speedup is None or speedup >= 1):
        return None
    where = 'this CPU' if dev == 'cpu' else report.cuda_device or 'CUDA'
    if not native:
        where += f' ({report.missing(precision, dev)})'
    if speedup is None:
        return f'{precision} is not native on {where}: expect it slower than float32'
    if speedup < 1:
        return (f'{precision} runs at {speedup:.2f}x the float32 matrix-multiply rate on '
                f'{where}: expect it slower')
    return (f'{precision} is not native on {where}: emulated, it multiplied matrices at '
            f'{speedup:.2f}x the float32 rate')


def resolve_precision(requested: str,
                      device: Union[nn.Module, torch.device, str] = 'cpu',
                      report: Optional['HardwareReport'] = None,
                      logger: Union[logging.Logger, str] = 'current') -> str:
    """The precision to run: ``requested`` itself (its canonical name), or
    for ``'auto'`` :func:`auto_precision`'s choice.

    ``report`` defaults to this machine's
    (:func:`~mmseg_cbsa.utils.hardware.hardware_report`, measured once per
    process); float32 needs none. Asking for a precision ``device`` does not
    run natively logs :func:`precision_cost`'s one-line warning to
    ``logger`` (mmengine's ``print_log``); ``'auto'`` never warns.
    """
    name = precision_name(requested)
    if name == 'float32':
        return name
    if report is None:
        from .hardware import hardware_report
        report = hardware_report(device_type_of(device))
    if name == 'auto':
        return auto_precision(device_type_of(device), report)[0]
    cost = precision_cost(name, device_type_of(device), report)
    if cost:
        from mmengine.logging import print_log
        print_log(cost, logger=logger, level=logging.WARNING)
    return name


def announce_precision(requested: str,
                       device: Union[nn.Module, torch.device, str] = 'cpu',
                       logger: Union[logging.Logger, str, None] = None) -> str:
    """:func:`resolve_precision` once, for a tool or demo, and say in one line
    which precision runs (``precision: bf16 (asked: auto)``): on stderr, or
    to ``logger`` (mmengine's ``print_log``) where one is given."""
    precision = resolve_precision(requested, device, logger=logger or 'current')
    line = f'precision: {precision}'
    if precision != requested:
        line += f' (asked: {requested})'
    if logger is None:
        print(line, file=sys.stderr)
    else:
        from mmengine.logging import print_log
        print_log(line, logger=logger)
    return precision


def add_precision_arg(parser: argparse.ArgumentParser, default: str) -> None:
    """``--precision {auto,float32,bf16,fp16}`` (default ``default``) and
    ``--bf16``, its deprecated alias for ``--precision bf16``: one command
    line for the tools and demos. Both set ``args.precision``; the tool
    resolves it once (:func:`resolve_precision`) on its model's device."""
    parser.add_argument(
        '--precision',
        choices=PRECISION_CHOICES,
        default=default,
        help="autocast precision of the model's forward passes (CPU or CUDA); 'auto': the "
        'fastest the hardware runs natively, never slower than float32 (default %(default)s)')
    parser.add_argument(
        '--bf16',
        dest='precision',
        action='store_const',
        const='bf16',
        help='deprecated: same as --precision bf16')


def autocast(model_or_device: Union[nn.Module, torch.device, str],
             precision: Union[str, torch.dtype, None] = 'float32'):
    """``torch.autocast`` to ``precision`` on the model's device type; a
    no-op context for float32."""
    dtype = precision_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type_of(model_or_device), dtype=dtype)


def outputs_to_float32(data_samples: Iterable) -> None:
    """Cast the floating tensors an mmseg prediction carries (``seg_logits``
    and the like, in ``PixelData`` fields) to float32, in place."""
    for sample in data_samples:
        for value in sample.values():
            if hasattr(value, 'items'):  # PixelData and other data elements
                for key, tensor in list(value.items()):
                    if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() \
                            and tensor.dtype != torch.float32:
                        value.set_field(tensor.float(), key)
