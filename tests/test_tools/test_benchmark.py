"""The benchmark tool end to end on a tiny layer (no timing assertions)."""
import csv
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _bench(tmp_path, *args):
    return subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py', '--dims', '32', '--heads', '2',
         '--head-dims', '8', '--rep-grid', '2', '--extra-tokens', '3', '--repeats', '1',
         '--warmup', '0', '--out-dir', str(tmp_path), *args],
        cwd=REPO, capture_output=True, text=True)


def test_isolated_case_reports_memory(tmp_path):
    res = _bench(tmp_path, '--layers', 'CBSA', '--sizes', '64', '--keep-freed-memory')
    assert res.returncode == 0, res.stderr[-3000:]
    (row,) = csv.DictReader(open(tmp_path / 'results.csv'))
    assert float(row['peak_mem_mb']) >= 0 and float(row['latency_ms']) > 0
    # 16 patch + 3 extra tokens of width 32: at least the input-sized update
    assert float(row['peak_tensor_mb']) * 2 ** 20 >= 19 * 32 * 4


def test_keep_freed_memory_needs_isolation(tmp_path):
    res = _bench(tmp_path, '--layers', 'CBSA', '--no-isolation', '--keep-freed-memory')
    assert res.returncode == 2 and 'drop --no-isolation' in res.stderr


def test_benchmark_writes_table_csv_and_plot(tmp_path):
    res = _bench(tmp_path, '--no-isolation', '--layers', 'CBSA', 'MSSA', '--sizes', '64', '128',
                 '--modes', 'infer', 'train', '--rounds', '2')
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'matrix-multiply rate' in res.stdout and 'scaling exponent' in res.stdout
    rows = list(csv.DictReader(open(tmp_path / 'results.csv')))
    assert len(rows) == 2 * 2 * 2
    for r in rows:
        assert int(r['tokens']) in (16, 64)
        assert float(r['latency_ms']) > 0 and float(r['gflops']) > 0
        assert int(r['rounds']) == 2
    # a training step does about three times the work of inference
    by = {(r['case'], r['mode'], r['size']): float(r['gflops']) for r in rows}
    assert by[('CBSA layer', 'train', '128')] == pytest.approx(3 * by[('CBSA layer', 'infer', '128')])
    assert (tmp_path / 'latency.png').stat().st_size > 0
