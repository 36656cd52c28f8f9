"""Benchmark configs (whole model or decode head) and attention layers.

    python tools/analysis_tools/benchmark.py \
        --configs configs/cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py \
                  configs/segmenter/segmenter_vit-s16_8xb1-160k_ade20k-512x512.py \
        --part head --layers CBSA MSSA --sizes 512 1024 2048 --modes infer train

For every case, image size and mode (inference, or a training step:
forward + backward): median latency over ``--repeats`` runs after
``--warmup``, throughput, peak memory of one call (CUDA: allocator peak; CPU:
growth of the resident set) and the peak of the live tensors it creates
(activations and saved tensors, whatever the allocator keeps), the FLOP rate
achieved (mmengine's count, 2 FLOPs per multiply-add, backward taken as twice
the forward) as a share of a matrix-multiply rate measured in the same run,
and the scaling exponent of latency over tokens (least squares over all
sizes, and between the last two). Every case runs in its own subprocess.
``--rounds R`` visits all cases R times in turn and reports medians over the
rounds, which is what makes ratios meaningful on a shared, noisy machine.
Writes ``results.csv`` and ``latency.png`` (log-log) to ``--out-dir``.

``--authors-root DIR`` adds the authors' CBT decoder from a local checkout of
their repository (the ``CBSA_semantic_segmentation`` folder); nothing of it is
part of this project.
"""
import argparse
import csv
import os
import os.path as osp
import statistics
from collections import defaultdict

import torch

from mmseg_cbsa.utils.benchmark import fit_exponent, matmul_rate, measure, run_isolated


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__)
    p.add_argument('--configs', nargs='*', default=[], help='mmseg configs')
    p.add_argument('--part', choices=['head', 'model'], default='head',
                   help='decode head alone (on encoder-shaped features) or the whole model')
    p.add_argument('--layers', nargs='*', default=[],
                   help='attention types of the family (MODELS names), one layer each')
    p.add_argument('--dims', type=int, default=384, help='token width of --layers')
    p.add_argument('--heads', type=int, default=3)
    p.add_argument('--head-dims', type=int, default=100)
    p.add_argument('--rep-grid', type=int, default=10)
    p.add_argument('--extra-tokens', type=int, default=150,
                   help='tokens besides the patches (class embeddings) for --layers')
    p.add_argument('--authors-root', help="the authors' CBSA_semantic_segmentation folder")
    p.add_argument('--sizes', type=int, nargs='+', default=[512, 1024, 2048])
    p.add_argument('--modes', nargs='+', choices=['infer', 'train'], default=['infer'])
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--repeats', type=int, default=5, help='timed calls per case and round')
    p.add_argument('--rounds', type=int, default=1,
                   help='visit every case this many times in turn; report medians over rounds')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--out-dir', default='work_dirs/benchmark')
    p.add_argument('--no-isolation', action='store_true',
                   help='run cases in this process (faster start; peak memory then '
                   'includes earlier cases)')
    p.add_argument('--keep-freed-memory', action='store_true',
                   help='start every case with glibc tunables that keep freed memory in '
                   'the process instead of page-faulting it in again on every call (CPU)')
    args = p.parse_args()
    if args.rounds < 1:
        p.error(f'--rounds must be >= 1, got {args.rounds}')
    if args.no_isolation and args.keep_freed_memory:
        p.error('--keep-freed-memory needs a fresh process per case: drop --no-isolation')
    return args


def cases(args):
    for cfg in args.configs:
        name = osp.splitext(osp.basename(cfg))[0] + ('' if args.part == 'model' else ' [head]')
        yield name, dict(kind='config', config=cfg, part=args.part)
    for t in args.layers:
        layer = dict(type=t, embed_dims=args.dims, num_heads=args.heads,
                     extra_tokens=args.extra_tokens)
        if t not in ('MHSA',):
            layer['head_dims'] = args.head_dims
        if t in ('CBSA', 'AgentAttention'):
            layer['rep_grid'] = args.rep_grid
        if t == 'DMSA':
            layer.pop('head_dims')
        yield f'{t} layer', dict(kind='layer', layer=layer)
    if args.authors_root:
        yield "authors' CBT decoder", dict(kind='authors', root=args.authors_root,
                                           dims=args.dims)


def main() -> None:
    args = parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    specs = [(name, mode, size, dict(case, size=size, mode=mode, batch=args.batch,
                                     repeats=args.repeats, warmup=args.warmup,
                                     device=args.device))
             for name, case in cases(args) for mode in args.modes for size in args.sizes]
    # Rounds visit every case in turn, so slow drifts of a shared machine hit
    # all cases alike; each figure is the median over rounds.
    rates, runs = [], defaultdict(list)
    for r in range(args.rounds):
        rates.append(matmul_rate(args.device))
        print(f'round {r + 1}/{args.rounds}: matrix-multiply rate {rates[-1]:.1f} GFLOP/s',
              flush=True)
        for name, mode, size, spec in specs:
            res = (measure(spec) if args.no_isolation else
                   run_isolated(spec, keep_freed_memory=args.keep_freed_memory))
            runs[(name, mode, size)].append(res)
            print(f"  {name:55s} {mode:5s} {size:5d}px {res['tokens']:6d} tok "
                  f"{res['latency_ms']:10.1f} ms {res['peak_tensor_mb']:9.1f} MB tensors",
                  flush=True)
    rate = statistics.median(rates)
    print(f'device {args.device}, {torch.get_num_threads()} threads; measured float32 '
          f'matrix-multiply rate: {rate:.1f} GFLOP/s (median of {len(rates)})')
    rows = []
    for (name, mode, size), results in runs.items():
        res = dict(results[0])
        res['latency_ms'] = statistics.median(r['latency_ms'] for r in results)
        for key in ('peak_mem_mb', 'peak_tensor_mb'):
            res[key] = max(r[key] for r in results)
        res['throughput'] = args.batch * 1e3 / res['latency_ms']
        res['achieved_gflops_per_s'] = res['gflops'] / res['latency_ms'] * 1e3
        res.update(case=name, mode=mode, size=size, rounds=len(results),
                   pct_matmul=100 * res['achieved_gflops_per_s'] / rate)
        rows.append(res)

    header = ['case', 'mode', 'size', 'tokens', 'latency ms', 'img/s', 'peak MB',
              'tensors MB', 'GFLOP', 'GFLOP/s', '% matmul']
    table = [[r['case'], r['mode'], r['size'], r['tokens'], f"{r['latency_ms']:.1f}",
              f"{r['throughput']:.2f}", f"{r['peak_mem_mb']:.1f}",
              f"{r['peak_tensor_mb']:.1f}", f"{r['gflops']:.2f}",
              f"{r['achieved_gflops_per_s']:.1f}", f"{r['pct_matmul']:.0f}"] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    print()
    for n, r in enumerate([header] + table):
        print('| ' + ' | '.join(str(c).ljust(w) for c, w in zip(r, widths)) + ' |')
        if n == 0:
            print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')

    series = defaultdict(list)
    for r in rows:
        series[(r['case'], r['mode'])].append(r)
    print('\nscaling exponent of latency over tokens (1 = linear, 2 = quadratic)')
    for (name, mode), rs in series.items():
        if len(rs) > 1:
            t, v = [r['tokens'] for r in rs], [r['latency_ms'] for r in rs]
            print(f'  {name} [{mode}]: all sizes {fit_exponent(t, v):.2f}, '
                  f'{t[-2]}->{t[-1]} tokens {fit_exponent(t[-2:], v[-2:]):.2f}')

    with open(osp.join(args.out_dir, 'results.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=['case', 'mode', 'size', 'tokens', 'latency_ms',
                                               'throughput', 'peak_mem_mb',
                                               'peak_tensor_mb', 'gflops',
                                               'achieved_gflops_per_s', 'pct_matmul',
                                               'rounds'])
        writer.writeheader()
        writer.writerows(rows)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5))
    for (name, mode), rs in series.items():
        ax.loglog([r['tokens'] for r in rs], [r['latency_ms'] for r in rs], 'o-',
                  label=f'{name} [{mode}]')
    ax.set_xlabel('patch tokens')
    ax.set_ylabel('median latency (ms)')
    ax.set_title(f'{args.device}, matmul rate {rate:.0f} GFLOP/s')
    ax.grid(True, which='both', alpha=.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(osp.join(args.out_dir, 'latency.png'), dpi=120)
    print(f"\nwrote {osp.join(args.out_dir, 'results.csv')} and "
          f"{osp.join(args.out_dir, 'latency.png')}")


if __name__ == '__main__':
    main()
