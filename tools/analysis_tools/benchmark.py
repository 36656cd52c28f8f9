"""Benchmark configs (whole model, decode head or encoder) and attention layers.

    python tools/analysis_tools/benchmark.py \
        --configs configs/cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py \
                  configs/segmenter/segmenter_vit-s16_8xb1-160k_ade20k-512x512.py \
        --part head --layers CBSA MSSA --sizes 512 1024 2048 --modes infer train

For every case, image size and mode (inference, or a training step of
``--batch`` images: forward, backward and the optimiser's step, with the
case's config's own ``optim_wrapper`` built by mmengine over the timed part's
parameters, AdamW for ``--layers`` and the authors' models; one untimed step
first creates the optimiser's state): median latency over ``--repeats`` runs
after ``--warmup``, throughput, peak memory of one call (CUDA: allocator
peak; CPU: growth of the resident set; a training step's includes the
optimiser's state) and the peak of the live tensors it creates (activations
and saved tensors, whatever the allocator keeps; in training, gradients and
the optimiser's state too, which is also reported alone), the FLOP rate
achieved (mmengine's count, 2 FLOPs per multiply-add, backward taken as twice
the forward, the optimiser's update not counted) as a share of a
matrix-multiply rate measured in the same run, and the scaling exponent of
latency over tokens (least squares over all sizes, and between the last
two). Every case runs in its own subprocess.
``--rounds R`` visits all cases R times in turn and reports medians over the
rounds, which is what makes ratios meaningful on a shared, noisy machine.
``--precisions float32 bf16`` runs every case in both (bf16: the forward
under ``torch.autocast`` to bfloat16), measures the matrix-multiply rate of
each precision and prints each bf16 case's speed-up over float32;
``--precisions auto`` runs the fastest precision the hardware runs natively
(float32 where bf16 would be slower; the choice and its reason are printed),
and an explicit precision the hardware does not run natively logs a
one-line warning with its measured cost.
Writes ``results.csv``, ``results.json`` and ``latency.png`` (log-log) to
``--out-dir``; the hardware report (``tools/misc/hardware_report.py``: CPU
capability and flags, CUDA device, matrix-multiply rate of each precision)
is printed above the table and written into both files.

``--backends eager compile ort ort-opt`` runs every case on each: eager
PyTorch, ``torch.compile``, and the case exported to ONNX in onnxruntime with
its basic or all of its graph optimisations (float32 inference only).
``--part backbone`` times the encoder alone (classifier configs give the
paper's Table 7: e.g. ``--sizes 224 512 --batch 8 --modes train infer``).
``--onnx MODEL.onnx`` times an exported model in onnxruntime.
``--baseline CASE`` prints every case's speed-up over that case.
``--memory-limit-gb G`` caps each case's address space and reports a case
that runs out of it as such (the size at which a model no longer fits).

``--authors-root DIR`` (a local checkout of the authors' repository,
QishuaiWen/CBSA) adds their CBT decoder, or with ``--part backbone`` their
classifiers (``--authors-encoders CBT-S CRATE-S ToST-S``); nothing of it is
part of this project. The benchmark is
mmseg_cbsa.apps.benchmark_suite.run_benchmark.
"""
import argparse

import torch

from mmseg_cbsa.apps.authors_code import AUTHORS_ENCODERS
from mmseg_cbsa.apps.benchmark import BACKENDS
from mmseg_cbsa.apps.benchmark_suite import benchmark_cases, run_benchmark
from mmseg_cbsa.utils.precision import PRECISION_CHOICES


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__)
    p.add_argument('--configs', nargs='*', default=[], help='mmseg or classifier configs')
    p.add_argument(
        '--part',
        choices=['head', 'model', 'backbone'],
        default='head',
        help='decode head alone (on encoder-shaped features), the whole model, '
        'or the encoder alone')
    p.add_argument(
        '--onnx',
        nargs='*',
        default=[],
        help='exported models (tools/deployment/pytorch2onnx.py) to time in '
        'onnxruntime, e.g. beside the config they came from')
    p.add_argument(
        '--layers',
        nargs='*',
        default=[],
        help='attention types of the family (MODELS names), one layer each')
    p.add_argument('--dims', type=int, default=384, help='token width of --layers')
    p.add_argument('--heads', type=int, default=3)
    p.add_argument('--head-dims', type=int, default=100)
    p.add_argument('--rep-grid', type=int, default=10)
    p.add_argument(
        '--extra-tokens',
        type=int,
        default=150,
        help='tokens besides the patches (class embeddings) for --layers')
    p.add_argument(
        '--authors-root',
        help="a checkout of the authors' repository QishuaiWen/CBSA (or its "
        'CBSA_semantic_segmentation / CBSA_image_classification folder)')
    p.add_argument(
        '--authors-encoders',
        nargs='+',
        choices=list(AUTHORS_ENCODERS),
        default=list(AUTHORS_ENCODERS),
        help="the authors' classifiers timed with --part backbone")
    p.add_argument('--sizes', type=int, nargs='+', default=[512, 1024, 2048])
    p.add_argument(
        '--modes',
        nargs='+',
        choices=['infer', 'train'],
        default=['infer'],
        help="inference, and/or a training step (forward, backward, the config's "
        'optimiser step; AdamW without a config)')
    p.add_argument(
        '--precisions',
        nargs='+',
        choices=list(PRECISION_CHOICES),
        default=['float32'],
        help='run every case in these precisions (bf16, fp16: autocast; auto: the '
        'fastest the hardware runs natively)')
    p.add_argument(
        '--backends',
        nargs='+',
        choices=list(BACKENDS),
        default=['eager'],
        help='run every case on these backends (onnxruntime: float32 inference)')
    p.add_argument(
        '--memory-limit-gb',
        type=float,
        help='cap each case\'s address space; a case that runs out of it is '
        'reported as out of memory instead of stopping the run')
    p.add_argument('--baseline', help='a case name: print every case\'s speed-up over it')
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--repeats', type=int, default=5, help='timed calls per case and round')
    p.add_argument(
        '--rounds',
        type=int,
        default=1,
        help='visit every case this many times in turn; report medians over rounds')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--out-dir', default='work_dirs/benchmark')
    p.add_argument(
        '--no-isolation',
        action='store_true',
        help='run cases in this process (faster start; peak memory then '
        'includes earlier cases)')
    p.add_argument(
        '--keep-freed-memory',
        action='store_true',
        help='start every case with glibc tunables that keep freed memory in '
        'the process instead of page-faulting it in again on every call (CPU)')
    args = p.parse_args()
    if args.rounds < 1:
        p.error(f'--rounds must be >= 1, got {args.rounds}')
    if min(args.sizes) < 1:
        p.error(f'--sizes must be image sizes >= 1 pixel, got {args.sizes}')
    if args.no_isolation and args.memory_limit_gb:
        p.error('--memory-limit-gb needs a fresh process per case: drop --no-isolation')
    if args.no_isolation and args.keep_freed_memory:
        p.error('--keep-freed-memory needs a fresh process per case: drop --no-isolation')
    return args


def main() -> None:
    args = parse_args()
    rows = run_benchmark(
        benchmark_cases(args.configs, args.part, args.layers, args.dims, args.heads, args.head_dims,
                        args.rep_grid, args.extra_tokens, args.authors_root, args.authors_encoders,
                        args.onnx),
        args.out_dir,
        args.sizes,
        args.modes,
        args.batch,
        args.repeats,
        args.rounds,
        args.warmup,
        args.device,
        isolate=not args.no_isolation,
        keep_freed_memory=args.keep_freed_memory,
        precisions=args.precisions,
        backends=args.backends,
        baseline=args.baseline,
        memory_limit_gb=args.memory_limit_gb)
    failed = [r for r in rows if r['status'].startswith('failed')]
    if failed:
        # a table with holes is not a successful benchmark
        raise SystemExit(f'{len(failed)} case(s) failed: ' +
                         '; '.join(f"{r['case']} {r['backend']} {r['precision']} "
                                   f"{r['size']}px ({r['status']})" for r in failed))


if __name__ == '__main__':
    main()
