"""The benchmark names the hardware in its table, CSV and JSON, and runs
``--precisions auto`` as the hardware report decides (no timing assertions)."""
import csv
import json
import re

import pytest

from mmseg_cbsa.utils.hardware import CPU_FLAGS, describe_hardware
from mmseg_cbsa.utils.precision import PRECISIONS
from tests.cli import run_python

pytestmark = pytest.mark.slow


def test_benchmark_reports_hardware_and_resolves_auto(repo_root, tmp_path):
    res = run_python(repo_root, 'tools/analysis_tools/benchmark.py', '--dims', '32', '--heads', '2',
                     '--head-dims', '8', '--rep-grid', '2', '--extra-tokens', '3', '--repeats', '1',
                     '--warmup', '0', '--out-dir', tmp_path, '--no-isolation', '--layers', 'CBSA',
                     '--sizes', '64', '--precisions', 'auto', 'float32', 'fp16')
    out = res.stdout + res.stderr
    chosen = re.search(r'precision auto -> (\w+)', out).group(1)
    assert chosen in PRECISIONS
    # the report sits right above the table
    head = res.stdout.split('| case')[0].rstrip().splitlines()
    assert head[-3].startswith('hardware: ') and head[-2].startswith('native precisions: cpu')
    assert head[-1].startswith('matrix-multiply rate on cpu')

    machine = describe_hardware('cpu', measure=False)
    if not machine.native('fp16', 'cpu'):
        # asked for explicitly on a CPU without native fp16: one warning line with the cost
        (line, ) = [x for x in out.splitlines() if 'WARNING' in x]
        assert re.search(
            r'fp16 runs at [0-9.]+x the float32 matrix-multiply rate on this CPU '
            r'\(no avx512_fp16/amx_fp16\)', line)

    rows = list(csv.DictReader(open(tmp_path / 'results.csv')))
    # auto resolved (never run as 'auto'), a repeat of float32 dropped
    assert {r['precision'] for r in rows} == {chosen, 'float32', 'fp16'}
    assert len(rows) == len({chosen, 'float32', 'fp16'})
    flags = ' '.join(f for f in CPU_FLAGS if machine.cpu_flags[f])
    for r in rows:
        assert r['cpu'] == machine.cpu_model and r['cpu_flags'] == flags
        assert r['cpu_capability'] == machine.cpu_capability and r['device'] == 'cpu'
        assert float(r['matmul_gflops_per_s']) > 0

    data = json.loads((tmp_path / 'results.json').read_text())
    hw = data['hardware']
    assert hw['cpu_model'] == machine.cpu_model and hw['cpu_flags'] == machine.cpu_flags
    assert set(hw['matmul_gflops']) == set(PRECISIONS) and hw['device'] == 'cpu'
    assert set(data['matmul_gflops_per_s']) == {chosen, 'float32', 'fp16'}
    assert [(r['case'], r['precision']) for r in data['rows']] == [(r['case'], r['precision'])
                                                                   for r in rows]
