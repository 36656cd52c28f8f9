"""Robustness of models to Gaussian noise on attention projection weights
(paper Fig. 8: CBT decoder vs Segmenter).

    python tools/analysis_tools/perturbation.py \\
        --configs CFG1 CFG2 ... --checkpoints CK1 CK2 ... \\
        --noise 0 0.05 0.1 0.2 0.5 1 --out-dir DIR [--labels L1 L2 ...] \\
        [--scope head|all] [--mode relative|absolute] [--repeats R] [--seed 0] \\
        [--metric NAME] [--cfg-options k=v ...]

For each (config, checkpoint) the tool builds mmengine's Runner as
tools/test.py does, loads the checkpoint once (weights-only; the file is only
read), keeps the clean attention projection weights and, for every noise
level sigma, restores them, adds ``sigma * rms(W) * N(0, 1)`` to each of them
(``--mode absolute``: ``sigma * N(0, 1)``) and runs the test loop. Which
weights are perturbed: mmseg_cbsa/analysis/perturbation.py; ``--scope head``
only inside ``model.decode_head``, ``all`` in the whole model. By default a
segmentor's decode head is perturbed (as the paper) and a model without one
(an mmpretrain image classifier of configs/classification or
configs/finetune, converted authors' checkpoints included, or the zero-shot
[CLS] probe of configs/zero_shot) has its encoder's attention perturbed (a
line says so); ``--scope head`` for such a model is refused before anything
runs. With ``--repeats R`` each sigma > 0 is evaluated with R noise draws
(seeds seed..seed+R-1, the same draws at every sigma), reported as mean and
sample std. Noise 0 is the clean model: the number tools/test.py gives.

The test loop runs on the config's test set: a classifier's is ImageNet val
under ``data_root`` (``--cfg-options test_dataloader.dataset.data_root=DIR``;
your own labelled images work as ``DIR/val/<file>`` with ``DIR/meta/val.txt``
lines ``<file> <class index>``). ``--metric`` defaults to the test
evaluator's main number: mIoU (segmentors), accuracy/top1 (classifiers),
zero_shot/foreground/best (the probe); models judged by different numbers
are refused in one run.

Writes to --out-dir: ``perturbation.json`` (settings, perturbed weights, every
evaluation), ``perturbation.csv`` (one row per model and level),
``perturbation.png`` (metric vs noise, one line per model, error bars when
R > 1) and the runners' logs in ``runs/<label>/`` (with the config's
OverlayHook, prediction overlays of the first draw at each level in
``runs/<label>/overlays/noise_<sigma>/``); prints a table (rows:
noise, columns: models). ``--cfg-options`` apply to every config, e.g.
``test_dataloader.dataset.data_root=...``. The experiment is
mmseg_cbsa.analysis.perturbation.measure_noise_robustness.
"""
import argparse
import math
import os.path as osp

from mmseg_cbsa.analysis.perturbation import (NOISE_MODES, measure_noise_robustness,
                                              resolve_noise_settings)
from mmseg_cbsa.utils import add_runner_args, parse_runner_args
from mmseg_cbsa.utils.distributed_exit import exit_finished_run


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--configs', nargs='+', required=True, help='config files')
    p.add_argument(
        '--checkpoints',
        nargs='+',
        required=True,
        help='one checkpoint per config, in the same order')
    p.add_argument(
        '--labels',
        nargs='+',
        help='model names for the table and plot '
        '(default: config file names)')
    p.add_argument(
        '--noise',
        type=float,
        nargs='+',
        default=[0, 0.01, 0.03, 0.1, 0.3, 1.0],
        help='noise levels sigma')
    p.add_argument('--out-dir', required=True, help='where the JSON, CSV, plot and logs go')
    p.add_argument(
        '--scope',
        choices=['head', 'all'],
        help='perturb the decode head only or the whole model (default: the decode head '
        'where the model has one, else the whole model, i.e. its encoder)')
    p.add_argument(
        '--mode',
        choices=NOISE_MODES,
        default='relative',
        help="noise std: sigma * rms(W) ('relative', default) or sigma")
    p.add_argument('--repeats', type=int, default=1, help='noise draws per level > 0')
    p.add_argument('--seed', type=int, default=0, help='seed of the first draw')
    p.add_argument(
        '--metric',
        help="metric for the table and plot (default: the test evaluator's main number, "
        'e.g. mIoU, accuracy/top1)')
    add_runner_args(p)
    args = parse_runner_args(p)
    if len(args.checkpoints) != len(args.configs):
        p.error(f'{len(args.configs)} configs but {len(args.checkpoints)} checkpoints: '
                'give one checkpoint per config')
    if args.labels is not None and len(args.labels) != len(args.configs):
        p.error(f'{len(args.configs)} configs but {len(args.labels)} labels')
    if any(not math.isfinite(s) or s < 0 for s in args.noise):
        p.error(f'noise levels must be finite and >= 0, got {args.noise}')
    if args.repeats < 1:
        p.error(f'--repeats must be >= 1, got {args.repeats}')
    for path, what in [(c, 'config') for c in args.configs] + \
            [(c, 'checkpoint') for c in args.checkpoints]:
        if not osp.isfile(path):
            p.error(f'{what} not found: {path}')
    try:  # from the configs alone, before anything runs
        resolve_noise_settings(args.configs, args.cfg_options, args.scope, args.metric)
    except ValueError as e:  # NotApplicable included
        p.error(str(e))
    return args


def main() -> None:
    args = parse_args()
    measure_noise_robustness(args.configs, args.checkpoints, args.out_dir, args.labels, args.noise,
                             args.scope, args.mode, args.repeats, args.seed, args.metric,
                             args.cfg_options, args.launcher)
    exit_finished_run()  # a distributed run: exit 0 without gloo's teardown abort


if __name__ == '__main__':
    main()
