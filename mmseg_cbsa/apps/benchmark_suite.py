"""The benchmark of ``tools/analysis_tools/benchmark.py``: every case at
every image size and mode, over several rounds, with the table, CSV and
plot. One measurement is :func:`mmseg_cbsa.apps.benchmark.measure`, run
in a fresh interpreter by :func:`~mmseg_cbsa.apps.benchmark.run_isolated`.
Every table, CSV row and JSON file carries the machine's
:class:`~mmseg_cbsa.utils.hardware.HardwareReport`.
"""
import math
import os
import os.path as osp
import statistics
import sys
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ..analysis.report import dict_rows, markdown_table, write_csv, write_json
from ..utils.hardware import CSV_FIELDS, HardwareReport, hardware_report, matmul_rate
from ..utils.precision import auto_precision, precision_name, resolve_precision
from ..visualization.plots import plot_latency
from .authors_code import AUTHORS_ENCODERS
from .benchmark import fit_exponent, measure, run_isolated

#: timed calls per case (rounds x repeats) below which the exponents are flagged as indicative
MIN_TIMED_FOR_EXPONENTS = 10

#: columns of ``results.csv``: the measurements, then the run's matrix-multiply
#: rate of the row's precision and the machine (:data:`~mmseg_cbsa.utils.hardware.CSV_FIELDS`)
CSV_COLUMNS = [
    'case', 'mode', 'backend', 'precision', 'size', 'tokens', 'latency_ms', 'throughput',
    'peak_mem_mb', 'peak_tensor_mb', 'optimizer', 'optimizer_state_mb', 'gflops',
    'achieved_gflops_per_s', 'pct_matmul', 'rounds', 'status', 'device', 'threads',
    'matmul_gflops_per_s', *CSV_FIELDS
]


def resolve_precisions(precisions: Sequence[str], device: str, report: HardwareReport) -> List[str]:
    """The precisions to run, 'auto' replaced by its choice on ``device``
    (printed with the reason) and repeats dropped; an explicit precision the
    hardware does not run natively logs its cost
    (:func:`~mmseg_cbsa.utils.precision.resolve_precision`)."""
    out = []
    for p in precisions:
        if precision_name(p) == 'auto':
            name, why = auto_precision(device, report)
            print(f'precision auto -> {why}', flush=True)
        else:
            name = resolve_precision(p, device, report)
        if name not in out:
            out.append(name)
    return out


def _json_ready(value):
    """NaN -> None (JSON has no NaN), through dicts and lists."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def benchmark_cases(
    configs: Sequence[str] = (),
    part: str = 'head',
    layers: Sequence[str] = (),
    dims: int = 384,
    heads: int = 3,
    head_dims: int = 100,
    rep_grid: int = 10,
    extra_tokens: int = 150,
    authors_root: Optional[str] = None,
    authors_encoders: Sequence[str] = tuple(AUTHORS_ENCODERS),
    onnx_files: Sequence[str] = ()
) -> List[Tuple[str, Dict]]:
    """``(name, case)`` pairs for :func:`~mmseg_cbsa.apps.benchmark.build_case`
    (without size and mode).

    Args:
        configs: mmseg (or classifier) configs, each timed as ``part``:
            'head' (the decode head on encoder-shaped features), 'model' (the
            whole segmentor) or 'backbone' (the encoder alone, e.g. of a
            classifier config, as in the paper's Table 7).
        layers: attention types of the family, one layer each, of width
            ``dims`` with ``heads`` heads of ``head_dims`` (ignored where the
            type has no such argument), ``rep_grid`` representatives (CBSA,
            AgentAttention) and ``extra_tokens`` tokens besides the patches.
        authors_root: a checkout of the authors' repository (or its
            ``CBSA_*`` folder): adds their CBT decoder (parts 'head' and
            'model') or, for part 'backbone', their classifiers named in
            ``authors_encoders`` (keys of
            :data:`~mmseg_cbsa.apps.authors_code.AUTHORS_ENCODERS`).
        onnx_files: exported models (``tools/deployment/pytorch2onnx.py``), each
            run by onnxruntime on (batch, 3, size, size) inputs (float32
            inference; FLOPs not counted).
    """
    out = []
    for cfg in configs:
        name = osp.splitext(osp.basename(cfg))[0] + dict(
            model='', head=' [head]', backbone=' [encoder]')[part]
        out.append((name, dict(kind='config', config=cfg, part=part)))
    for t in layers:
        layer = dict(type=t, embed_dims=dims, num_heads=heads, extra_tokens=extra_tokens)
        if t not in ('MHSA', ):
            layer['head_dims'] = head_dims
        if t in ('CBSA', 'AgentAttention'):
            layer['rep_grid'] = rep_grid
        if t == 'DMSA':
            layer.pop('head_dims')
        out.append((f'{t} layer', dict(kind='layer', layer=layer)))
    for path in onnx_files:
        out.append((osp.basename(path) + ' [onnxruntime]', dict(kind='onnx', file=path)))
    if authors_root and part == 'backbone':
        for name in authors_encoders:
            out.append(
                (f"authors' {name} [encoder]",
                 dict(kind='authors_encoder', root=authors_root, model=AUTHORS_ENCODERS[name])))
    elif authors_root:
        out.append(("authors' CBT decoder", dict(kind='authors', root=authors_root, dims=dims)))
    return out


def _runs_on(case: Dict, mode: str, backend: str, precision: str) -> bool:
    """onnxruntime runs float32 inference; an exported file runs only there."""
    if case['kind'] == 'onnx':
        return (mode, backend, precision) == ('infer', 'eager', 'float32')
    return not backend.startswith('ort') or (mode, precision) == ('infer', 'float32')


def _variant(row: Dict) -> str:
    """'infer', 'infer, bf16', 'infer, ort-opt', ...: mode, then what differs from eager float32."""
    parts = [row['mode']]
    if row['backend'] != 'eager':
        parts.append(row['backend'])
    if row['precision'] != 'float32':
        parts.append(row['precision'])
    return ', '.join(parts)


def run_benchmark(cases: Sequence[Tuple[str, Dict]],
                  out_dir: str,
                  sizes: Sequence[int] = (512, 1024, 2048),
                  modes: Sequence[str] = ('infer', ),
                  batch: int = 1,
                  repeats: int = 5,
                  rounds: int = 1,
                  warmup: int = 2,
                  device: str = 'cpu',
                  isolate: bool = True,
                  keep_freed_memory: bool = False,
                  precisions: Sequence[str] = ('float32', ),
                  backends: Sequence[str] = ('eager', ),
                  baseline: Optional[str] = None,
                  memory_limit_gb: Optional[float] = None,
                  report: Optional[HardwareReport] = None) -> List[Dict]:
    """Time every case at every image size and mode; print, plot and save.

    ``rounds`` visit all cases in turn, so that slow drifts of a shared
    machine hit all cases alike; each figure is the median (latency) or the
    maximum (memory) over rounds, and the FLOP rate is compared with the
    median matrix-multiply rate of the rounds, measured per precision (a
    bf16 case against the rate of bf16 matrices; 2048 x 2048 products, smaller
    where one would take over 2 s, as emulated fp16 on a CPU:
    :func:`~mmseg_cbsa.utils.hardware.matmul_rate`).

    Args:
        cases: ``(name, case)`` pairs, e.g. from :func:`benchmark_cases`.
        out_dir: created if needed; receives ``results.csv`` (one row per
            case, mode and size: :data:`CSV_COLUMNS`), ``results.json`` (the
            hardware report, the run's matrix-multiply rates and the rows;
            NaN as null) and ``latency.png`` (latency against tokens, log-log).
        sizes: square image sizes in px (tokens = ceil(size / patch size)^2,
            the model's patch size, 16 for layer cases).
        modes: 'infer' and/or 'train' (a training step: forward, backward and
            the optimiser's step, the config's optimiser or AdamW, whose state
            the peak memory includes:
            :func:`~mmseg_cbsa.apps.benchmark.measure`).
        batch, repeats, warmup, device: see :func:`~mmseg_cbsa.apps.benchmark.measure`.
        isolate: run each case in a fresh interpreter
            (:func:`~mmseg_cbsa.apps.benchmark.run_isolated`).
        keep_freed_memory: see :func:`~mmseg_cbsa.apps.benchmark.run_isolated`.
        precisions: 'float32' and/or 'bf16', 'fp16' (the forward under
            ``torch.autocast`` to that type), or 'auto' (the fastest the
            hardware runs natively: :func:`resolve_precisions`); every case
            runs in each.
        backends: 'eager', 'compile', 'ort', 'ort-opt'
            (:func:`~mmseg_cbsa.apps.benchmark.backend_call`); every case
            runs on each, onnxruntime in float32 inference only (other
            combinations are left out).
        memory_limit_gb: cap every case's address space (isolated cases
            only); a case that runs out of it is reported as such (status
            'out of memory') instead of stopping the run.
        baseline: a case name; every other case's speed-up over its eager
            float32 latency (same mode and size) is printed, e.g. the authors'
            decoder or the ViT encoder.
        report: the machine's hardware report; by default
            :func:`~mmseg_cbsa.utils.hardware.hardware_report` on ``device``.

    Returns:
        the rows of ``results.csv`` as dicts. Also prints per-case progress,
        the hardware report above the table, and the scaling exponents of
        latency over tokens.
    """
    os.makedirs(out_dir, exist_ok=True)
    report = report or hardware_report(device)
    precisions = resolve_precisions(precisions, device, report)
    specs = [((name, mode, backend, prec, size),
              dict(
                  case,
                  size=size,
                  mode=mode,
                  batch=batch,
                  repeats=repeats,
                  warmup=warmup,
                  device=device,
                  precision=prec,
                  backend=backend)) for name, case in cases for mode in modes
             for backend in backends for prec in precisions for size in sizes
             if _runs_on(case, mode, backend, prec)]
    rates, runs = defaultdict(list), defaultdict(list)
    for r in range(rounds):
        for prec in precisions:
            rates[prec].append(matmul_rate(device, precision=prec))
        print(
            f'round {r + 1}/{rounds}: matrix-multiply rate ' +
            ', '.join(f'{p} {rates[p][-1]:.1f}' for p in precisions) + ' GFLOP/s',
            flush=True)
        for key, spec in specs:
            name, mode, backend, prec, size = key
            res = (
                run_isolated(
                    spec, keep_freed_memory=keep_freed_memory, memory_limit_gb=memory_limit_gb)
                if isolate else measure(spec))
            runs[key].append(res)
            if res.get('out_of_memory') or res.get('failed'):
                status = (f'out of memory (limit {memory_limit_gb} GB)'
                          if res.get('out_of_memory') else f"failed: {res['failed']}")
                print(
                    f'  {name:50s} {mode:5s} {backend:7s} {prec:7s} {size:5d}px {status}',
                    flush=True)
                if res.get('stderr'):
                    print(res['stderr'], file=sys.stderr, flush=True)
                continue
            print(
                f"  {name:50s} {mode:5s} {backend:7s} {prec:7s} {size:5d}px "
                f"{res['tokens']:6d} tok {res['latency_ms']:10.1f} ms "
                f"{res['peak_tensor_mb']:9.1f} MB tensors",
                flush=True)
    rate = {p: statistics.median(v) for p, v in rates.items()}
    print(f'device {device}, {torch.get_num_threads()} threads; measured matrix-multiply rate: ' +
          ', '.join(f'{p} {rate[p]:.1f} GFLOP/s' for p in precisions) + f' (median of {rounds})')
    rows = []
    for (name, mode, backend, prec, size), results in runs.items():
        bad = [r for r in results if r.get('out_of_memory') or r.get('failed')]
        if bad:
            nan = float('nan')
            rows.append(
                dict(
                    case=name,
                    mode=mode,
                    backend=backend,
                    precision=prec,
                    size=size,
                    # a failed case may not have built its model: tokens unknown
                    tokens=next((r['tokens'] for r in results if 'tokens' in r), nan),
                    rounds=len(results),
                    status=(f'out of memory (limit {memory_limit_gb} GB)'
                            if bad[0].get('out_of_memory') else f"failed: {bad[0]['failed']}"),
                    optimizer='',
                    **{
                        k: nan
                        for k in ('latency_ms', 'throughput', 'peak_mem_mb', 'peak_tensor_mb',
                                  'optimizer_state_mb', 'gflops', 'pct_matmul',
                                  'achieved_gflops_per_s')
                    }))
            continue
        res = dict(results[0], status='ok')
        res['latency_ms'] = statistics.median(r['latency_ms'] for r in results)
        for key in ('peak_mem_mb', 'peak_tensor_mb', 'optimizer_state_mb'):
            res[key] = max(r[key] for r in results)
        res['throughput'] = batch * 1e3 / res['latency_ms']
        res['achieved_gflops_per_s'] = res['gflops'] / res['latency_ms'] * 1e3
        res.update(
            case=name,
            mode=mode,
            backend=backend,
            precision=prec,
            size=size,
            rounds=len(results),
            pct_matmul=100 * res['achieved_gflops_per_s'] / rate[prec])
        rows.append(res)
    machine = dict(device=device, threads=torch.get_num_threads(), **report.csv_fields())
    for r in rows:
        r.update(machine, matmul_gflops_per_s=rate[r['precision']])

    header = [
        'case', 'mode', 'backend', 'precision', 'size', 'tokens', 'latency ms', 'img/s', 'peak MB',
        'tensors MB', 'optimizer (state MB)', 'GFLOP', 'GFLOP/s', '% matmul', 'status'
    ]
    table = [[
        r['case'], r['mode'], r['backend'], r['precision'], r['size'], r['tokens'],
        f"{r['latency_ms']:.1f}", f"{r['throughput']:.2f}", f"{r['peak_mem_mb']:.1f}",
        f"{r['peak_tensor_mb']:.1f}",
        f"{r['optimizer']} ({r['optimizer_state_mb']:.1f})" if r['optimizer'] else '-',
        f"{r['gflops']:.2f}", f"{r['achieved_gflops_per_s']:.1f}", f"{r['pct_matmul']:.0f}",
        r['status']
    ] for r in rows]
    print()
    print('\n'.join(report.lines()))
    print(markdown_table(header, table, align=True))

    measured = [r for r in rows if r['status'] == 'ok']
    series = defaultdict(list)
    for r in measured:
        series[(r['case'], _variant(r))].append(r)
    print('\nscaling exponent of latency over tokens (1 = linear, 2 = quadratic)')
    timed = min((r['rounds'] * repeats for r in measured), default=0)
    if measured and timed < MIN_TIMED_FOR_EXPONENTS:
        print(f'  note: from {timed} timed call(s) per case (rounds x --repeats); on a noisy '
              f'machine an exponent needs at least {MIN_TIMED_FOR_EXPONENTS}: treat these as '
              'indicative only')
    for (name, variant), rs in series.items():
        if len(rs) > 1:
            t, v = [r['tokens'] for r in rs], [r['latency_ms'] for r in rs]
            print(f'  {name} [{variant}]: all sizes {fit_exponent(t, v):.2f}, '
                  f'{t[-2]}->{t[-1]} tokens {fit_exponent(t[-2:], v[-2:]):.2f}')
    eager32 = {
        (r['case'], r['mode'], r['size']): r['latency_ms']
        for r in measured if (r['backend'], r['precision']) == ('eager', 'float32')
    }
    others = [
        r for r in measured
        if (r['backend'], r['precision']) != ('eager', 'float32') and (r['case'], r['mode'],
                                                                       r['size']) in eager32
    ]
    if others:
        print('\nspeed-up over eager float32 (its latency / latency; same case, mode and size)')
        for r in others:
            ref = eager32[(r['case'], r['mode'], r['size'])]
            print(f"  {r['case']} [{_variant(r)}] {r['size']}px: {ref / r['latency_ms']:.2f}x")
    if baseline:
        ref = {
            (r['mode'], r['size']): r['latency_ms']
            for r in measured
            if r['case'] == baseline and (r['backend'], r['precision']) == ('eager', 'float32')
        }
        if not ref:
            raise ValueError(f"--baseline '{baseline}' is not a case of this run: "
                             f"{sorted({r['case'] for r in measured})}")
        print(f'\nspeed-up over {baseline} (eager float32; its latency / latency)')
        for r in measured:
            own = r['case'] == baseline and (r['backend'], r['precision']) == ('eager', 'float32')
            if not own and (r['mode'], r['size']) in ref:
                print(f"  {r['case']} [{_variant(r)}] {r['size']}px: "
                      f"{ref[(r['mode'], r['size'])] / r['latency_ms']:.2f}x")

    csv_path, png_path = osp.join(out_dir, 'results.csv'), osp.join(out_dir, 'latency.png')
    json_path = osp.join(out_dir, 'results.json')
    write_csv(csv_path, CSV_COLUMNS, dict_rows(rows, CSV_COLUMNS))
    write_json(
        json_path,
        _json_ready(
            dict(
                hardware=report.as_dict(),
                device=device,
                threads=torch.get_num_threads(),
                rounds=rounds,
                matmul_gflops_per_s=rate,
                rows=rows)))
    plot_latency(
        png_path, {
            f'{name} [{v}]': rs
            for (name, v), rs in series.items()
        }, f'{device}, matmul rate ' + ', '.join(f'{p} {rate[p]:.0f}'
                                                 for p in precisions) + ' GFLOP/s')
    print(f'\nwrote {csv_path}, {json_path} and {png_path}')
    return rows
