"""``--precision auto`` and the cost warning (mmseg_cbsa.utils.precision.
resolve_precision) as pure functions of fake hardware reports."""
import logging

import pytest

from mmseg_cbsa.utils import hardware
from mmseg_cbsa.utils.hardware import CPU_FLAGS, HardwareReport
from mmseg_cbsa.utils.precision import (AUTO_MIN_SPEEDUP, PRECISIONS, auto_precision,
                                        precision_cost, resolve_precision)


def _cpu(flags=(), float32=74.0, bf16=None, fp16=None, device='cpu'):
    """A CPU report with ``flags`` present and the given rates in GFLOP/s."""
    rates = {p: r for p, r in dict(float32=float32, bf16=bf16, fp16=fp16).items() if r}
    return HardwareReport(
        'CPU', 'AVX512', {f: f in flags
                          for f in CPU_FLAGS}, 2, device=device, matmul_gflops=rates)


def _gpu(capability, **rates):
    return HardwareReport(
        'CPU',
        'AVX2', {f: False
                 for f in CPU_FLAGS},
        2,
        cuda_device='GPU',
        cuda_capability=capability,
        device='cuda' if rates else 'cpu',
        matmul_gflops=rates)


#: issue 22's Xeon: AVX-512 and VNNI, no native bf16; bf16 matmul 13, float32 74 GFLOP/s
ISSUE_XEON = _cpu(('avx2', 'avx512f', 'avx512_vnni'), 74.0, bf16=13.0, fp16=2.0)


@pytest.fixture
def log(caplog):
    logger = logging.getLogger('test_resolve_precision')
    caplog.set_level(logging.WARNING, logger=logger.name)
    return logger, caplog


def test_native_and_faster_bf16_is_picked(log):
    logger, caplog = log
    report = _cpu(('avx512f', 'avx512_bf16'), 150.0, bf16=400.0, fp16=1.0)
    assert resolve_precision('auto', 'cpu', report, logger) == 'bf16'
    name, why = auto_precision('cpu', report)
    assert name == 'bf16' and '2.67x the float32' in why
    # AMX alone is native bf16 too
    assert auto_precision('cpu', _cpu(('amx_tile', 'amx_bf16'), 100.0, bf16=900.0))[0] == 'bf16'
    # asked for explicitly where it is native and faster: no warning
    assert resolve_precision('bf16', 'cpu', report, logger) == 'bf16'
    assert not caplog.records


def test_no_native_bf16_auto_stays_float32_quietly(log):
    logger, caplog = log
    assert resolve_precision('auto', 'cpu', ISSUE_XEON, logger) == 'float32'
    assert not caplog.records
    name, why = auto_precision('cpu', ISSUE_XEON)
    assert 'bf16 not native (no avx512_bf16/amx_bf16)' in why
    # even if the emulated products measured faster: not native, not picked
    assert auto_precision('cpu', _cpu(('avx512f', ), 74.0, bf16=200.0))[0] == 'float32'


def test_explicit_non_native_bf16_warns_with_its_cost(log):
    logger, caplog = log
    assert resolve_precision('bf16', 'cpu', ISSUE_XEON, logger) == 'bf16'
    (record, ) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == ('bf16 runs at 0.18x the float32 matrix-multiply rate on '
                                   'this CPU (no avx512_bf16/amx_bf16): expect it slower')
    assert '\n' not in record.getMessage()
    # aliases are the same request
    assert resolve_precision('bfloat16', 'cpu', ISSUE_XEON, logger) == 'bf16'


def test_cost_texts():
    assert precision_cost('float32', 'cpu', ISSUE_XEON) is None
    assert precision_cost('auto', 'cpu', ISSUE_XEON) is None
    assert precision_cost('fp16', 'cpu', ISSUE_XEON).startswith('fp16 runs at 0.03x')
    # emulated but measured faster: still named
    assert precision_cost('bf16', 'cpu', _cpu((), 74.0, bf16=100.0)) == (
        'bf16 is not native on this CPU (no avx512_bf16/amx_bf16): emulated, it multiplied '
        'matrices at 1.35x the float32 rate')
    # native but measured slower than float32
    assert 'expect it slower' in precision_cost('bf16', 'cpu',
                                                _cpu(('avx512_bf16', ), 100.0, bf16=80.0))
    # rates measured elsewhere: the missing feature alone
    assert precision_cost('bf16', 'cpu', _cpu(
        (), device='cuda')) == ('bf16 is not native on this CPU (no '
                                'avx512_bf16/amx_bf16): expect it slower '
                                'than float32')


def test_native_but_not_fast_enough():
    just_below = _cpu(('avx512_bf16', ), 100.0, bf16=100.0 * AUTO_MIN_SPEEDUP * 0.99)
    name, why = auto_precision('cpu', just_below)
    assert name == 'float32' and f'auto needs {AUTO_MIN_SPEEDUP}x' in why
    at = _cpu(('avx512_bf16', ), 100.0, bf16=100.0 * AUTO_MIN_SPEEDUP)
    assert auto_precision('cpu', at)[0] == 'bf16'
    # native but unmeasured on the CPU: never a guess
    assert auto_precision('cpu', _cpu(('avx512_bf16', ), device='cuda'))[0] == 'float32'


def test_fp16_when_only_fp16_is_native_and_fast():
    report = _cpu(('avx512_fp16', ), 100.0, bf16=20.0, fp16=300.0)
    assert auto_precision('cpu', report)[0] == 'fp16'
    # bf16 first when both qualify (float32's range)
    both = _cpu(('avx512_bf16', 'avx512_fp16'), 100.0, bf16=300.0, fp16=400.0)
    assert auto_precision('cpu', both)[0] == 'bf16'


@pytest.mark.parametrize('capability, expected', [((9, 0), 'bf16'), ((8, 0), 'bf16'),
                                                  ((7, 5), 'fp16'), ((7, 0), 'fp16'),
                                                  ((6, 1), 'float32')])
def test_cuda_by_capability(capability, expected):
    assert resolve_precision('auto', 'cuda', _gpu(capability)) == expected
    assert resolve_precision('auto', 'cuda:0', _gpu(capability)) == expected


def test_cuda_cases(log):
    logger, caplog = log
    name, why = auto_precision('cuda', _cpu(('avx512_bf16', ), 100.0, bf16=400.0))
    assert name == 'float32' and 'no CUDA device' in why
    # measured on the device: a capability that qualifies but no faster products
    flat = _gpu((8, 0), float32=100.0, bf16=110.0, fp16=110.0)
    assert auto_precision('cuda', flat)[0] == 'float32'
    assert auto_precision('cuda', _gpu((8, 0), float32=100.0, bf16=800.0))[0] == 'bf16'
    assert resolve_precision('bf16', 'cuda', _gpu((7, 5)), logger) == 'bf16'
    assert caplog.records[-1].getMessage() == (
        'bf16 is not native on GPU (capability 7.5 < 8.0): expect it slower than float32')
    # the CPU's answer does not follow the GPU's
    assert auto_precision('cpu', _gpu((8, 0)))[0] == 'float32'


def test_float32_needs_no_report(monkeypatch):

    def measure(*args):
        raise AssertionError('measured the hardware for float32')

    monkeypatch.setattr(hardware, 'hardware_report', measure)
    assert resolve_precision('float32') == 'float32' and resolve_precision('fp32') == 'float32'


def test_unknown_precision_is_named():
    with pytest.raises(ValueError, match=r"unknown precision 'int8'.*'auto', 'float32'"):
        resolve_precision('int8', 'cpu', ISSUE_XEON)


def test_auto_on_this_machine_is_native():
    report = hardware.hardware_report('cpu')
    name = resolve_precision('auto', 'cpu')
    assert name in PRECISIONS and report.native(name, 'cpu')
    assert name == auto_precision('cpu', report)[0]
    if name != 'float32':
        assert report.speedup(name, 'cpu') >= AUTO_MIN_SPEEDUP
