"""The hardware report (mmseg_cbsa.utils.hardware): this machine's, and the
flags read from fake /proc/cpuinfo texts (no timing assertions)."""
import json
import math
import os
import re

import pytest
import torch

from mmseg_cbsa.utils.hardware import (CPU_FLAGS, CSV_FIELDS, HardwareReport, describe_hardware,
                                       hardware_report, matmul_rate, measure_matmul_rates,
                                       parse_cpuinfo)
from mmseg_cbsa.utils.precision import PRECISIONS
from tests.cli import run_python

# two processors of a Xeon with AVX-512 and VNNI but no avx512_bf16 / AMX (the
# machine of issue 22), as /proc/cpuinfo lists them (flags abridged)
XEON_CPUINFO = '''processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni
bugs\t\t: spectre_v1

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni
'''

SAPPHIRE_RAPIDS_FLAGS = ('flags : avx2 avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_bf16 '
                         'amx_tile amx_int8\n')


def test_parse_cpuinfo_xeon_without_bf16():
    model, flags = parse_cpuinfo(XEON_CPUINFO)
    assert model == 'Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz'
    assert set(flags) == set(CPU_FLAGS)
    assert {f for f, present in flags.items() if present} == {'avx2', 'avx512f', 'avx512_vnni'}


def test_parse_cpuinfo_amx_and_other_architectures():
    model, flags = parse_cpuinfo('model name : X\n' + SAPPHIRE_RAPIDS_FLAGS)
    assert model == 'X' and all(flags[f] for f in ('avx512_bf16', 'amx_bf16', 'avx512_fp16'))
    assert not flags['amx_fp16']
    # an Arm /proc/cpuinfo: no model name, no x86 flags
    model, flags = parse_cpuinfo('processor : 0\nFeatures : fp asimd bf16\nCPU part : 0xd40\n')
    assert model == '' and not any(flags.values())


def test_native_from_flags_and_capability():
    xeon = HardwareReport('Xeon', 'AVX512', parse_cpuinfo(XEON_CPUINFO)[1], 2)
    assert xeon.native('float32') and not xeon.native('bf16') and not xeon.native('fp16')
    assert xeon.missing('bf16') == 'no avx512_bf16/amx_bf16' and xeon.missing('float32') == ''
    spr = HardwareReport('SPR', 'AVX512', parse_cpuinfo(SAPPHIRE_RAPIDS_FLAGS)[1], 2)
    assert spr.native('bf16') and spr.native('fp16')
    # CUDA: tensor cores for fp16 from 7.0, bf16 from 8.0
    for cap, bf16, fp16 in [((6, 1), False, False), ((7, 5), False, True), ((8, 0), True, True)]:
        gpu = HardwareReport('c', 'AVX2', {}, 1, cuda_device='G', cuda_capability=cap)
        assert (gpu.native('bf16', 'cuda'), gpu.native('fp16', 'cuda:0')) == (bf16, fp16)
    assert HardwareReport(
        'c', 'AVX2', {}, 1, cuda_device='T4',
        cuda_capability=(7, 5)).missing('bf16', 'cuda') == 'capability 7.5 < 8.0'
    assert xeon.missing('bf16', 'cuda') == 'no CUDA device'


def test_speedup_only_on_the_measured_device():
    report = HardwareReport(
        'c', 'AVX512', {}, 2, device='cpu', matmul_gflops=dict(float32=74.0, bf16=13.0))
    assert report.speedup('bf16', 'cpu') == pytest.approx(13 / 74)
    assert report.speedup('bf16', 'cuda') is None and report.speedup('fp16') is None


def test_report_of_this_machine():
    threads = torch.get_num_threads()
    report = describe_hardware('cpu')
    assert torch.get_num_threads() == threads  # measured on one thread, then restored
    assert isinstance(report.cpu_model, str) and report.cpu_model
    assert report.cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert set(report.cpu_flags) == set(CPU_FLAGS)
    assert all(isinstance(v, bool) for v in report.cpu_flags.values())
    if os.path.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            model, flags = parse_cpuinfo(f.read())
        if any(flags.values()):
            assert report.cpu_flags == flags and report.cpu_model == model
    # AVX-512 kernels need the AVX-512 flag (an x86 machine's flags are real)
    if report.cpu_capability.startswith('AVX512'):
        assert report.cpu_flags['avx512f']
    assert report.threads == threads and report.cpus == os.cpu_count()
    assert report.device == 'cpu' and report.matmul_threads == 1
    assert set(report.matmul_gflops) == set(report.matmul_n) == set(PRECISIONS)
    for p, rate in report.matmul_gflops.items():
        assert math.isfinite(rate) and rate > 0
        n = report.matmul_n[p]
        assert 128 <= n <= report.matmul_n['float32'] <= 1024 and n & (n - 1) == 0
    assert (report.cuda_device is None) == (not torch.cuda.is_available())
    assert report.torch_version == torch.__version__
    assert json.loads(json.dumps(report.as_dict()))['cpu_flags'] == report.cpu_flags
    lines = report.lines()
    assert len(lines) == 3 and report.cpu_model in lines[0]
    assert 'native precisions: cpu float32' in lines[1]
    assert re.search(r'float32 [0-9.]+, bf16 [0-9.]+ \([0-9.]+x\), fp16', lines[2])
    fields = report.csv_fields()
    assert tuple(fields) == CSV_FIELDS and fields['cpu'] == report.cpu_model
    assert fields['cpu_flags'].split() == [f for f in CPU_FLAGS if report.cpu_flags[f]]


def test_report_is_measured_once_per_device():
    assert hardware_report('cpu') is hardware_report(torch.device('cpu'))


def test_matmul_rates():
    sides, rates = measure_matmul_rates('cpu', ['float32'], budget_s=0)
    assert set(sides) == set(rates) == {'float32'} and rates['float32'] > 0
    assert matmul_rate('cpu', n=64, repeats=1, precision='bf16') > 0


def test_hardware_report_tool(repo_root):
    res = run_python(repo_root, 'tools/misc/hardware_report.py', '--json')
    out = json.loads(res.stdout)
    assert set(out['cpu_flags']) == set(CPU_FLAGS) and set(out['matmul_gflops']) == set(PRECISIONS)
    assert out['auto']['precision'] in PRECISIONS and out['auto']['device'] == 'cpu'
    assert out['native']['float32'] is True
    # never a precision the hardware does not run natively
    assert out['native'][out['auto']['precision']]
    text = run_python(repo_root, 'tools/misc/hardware_report.py').stdout
    assert text.startswith('hardware: ') and '--precision auto on cpu: ' in text
    if not torch.cuda.is_available():
        res = run_python(
            repo_root, 'tools/misc/hardware_report.py', '--device', 'cuda', check=False)
        assert res.returncode == 2 and 'no CUDA device' in res.stderr
