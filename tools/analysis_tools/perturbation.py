"""Robustness of segmentors to Gaussian noise on attention projection weights
(paper Fig. 8: CBT decoder vs Segmenter).

    python tools/analysis_tools/perturbation.py \\
        --configs CFG1 CFG2 ... --checkpoints CK1 CK2 ... \\
        --noise 0 0.05 0.1 0.2 0.5 1 --out-dir DIR [--labels L1 L2 ...] \\
        [--scope head|all] [--mode relative|absolute] [--repeats R] [--seed 0] \\
        [--metric mIoU] [--cfg-options k=v ...]

For each (config, checkpoint) the tool builds mmengine's Runner as
tools/test.py does, loads the checkpoint once (weights-only; the file is only
read), keeps the clean attention projection weights and, for every noise
level sigma, restores them, adds ``sigma * rms(W) * N(0, 1)`` to each of them
(``--mode absolute``: ``sigma * N(0, 1)``) and runs the test loop. Which
weights are perturbed: mmseg_cbsa/utils/perturbation.py; ``--scope head``
(default, as the paper) only inside ``model.decode_head``, ``all`` in the whole
model. With ``--repeats R`` each sigma > 0 is evaluated with R noise draws
(seeds seed..seed+R-1, the same draws at every sigma), reported as mean and
sample std. Noise 0 is the clean model: the number tools/test.py gives.

Writes to --out-dir: ``perturbation.json`` (settings, perturbed weights, every
evaluation), ``perturbation.csv`` (one row per model and level),
``perturbation.png`` (metric vs noise, one line per model, error bars when
R > 1) and the runners' logs in ``runs/<label>/`` (with the config's
OverlayHook, prediction overlays of the first draw at each level in
``runs/<label>/overlays/noise_<sigma>/``); prints a table (rows:
noise, columns: models). ``--cfg-options`` apply to every config, e.g.
``test_dataloader.dataset.data_root=...``.
"""
import argparse
import csv
import json
import math
import os
import os.path as osp
import re
from typing import List, Optional

from mmengine.dist import is_main_process
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

import mmseg_cbsa  # noqa: F401  (registers modules, allow-lists checkpoint types)
from mmseg_cbsa.engine.hooks import OverlayHook
from mmseg_cbsa.utils import (add_runner_args, close_distributed, init_cpu_distributed,
                              parse_runner_args, prepare_config)
from mmseg_cbsa.utils.perturbation import NOISE_MODES, attention_projection_weights, noise_sweep


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--configs', nargs='+', required=True, help='config files')
    p.add_argument('--checkpoints', nargs='+', required=True,
                   help='one checkpoint per config, in the same order')
    p.add_argument('--labels', nargs='+', help='model names for the table and plot '
                   '(default: config file names)')
    p.add_argument('--noise', type=float, nargs='+', default=[0, 0.01, 0.03, 0.1, 0.3, 1.0],
                   help='noise levels sigma')
    p.add_argument('--out-dir', required=True, help='where the JSON, CSV, plot and logs go')
    p.add_argument('--scope', choices=['head', 'all'], default='head',
                   help='perturb the decode head only (default) or the whole model')
    p.add_argument('--mode', choices=NOISE_MODES, default='relative',
                   help="noise std: sigma * rms(W) ('relative', default) or sigma")
    p.add_argument('--repeats', type=int, default=1, help='noise draws per level > 0')
    p.add_argument('--seed', type=int, default=0, help='seed of the first draw')
    p.add_argument('--metric', default='mIoU', help='metric for the table and plot')
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
    return args


def model_labels(configs: List[str], labels: Optional[List[str]] = None) -> List[str]:
    """The given labels, or config names; duplicates get ``-2``, ``-3``..."""
    labels = list(labels or [osp.splitext(osp.basename(c))[0] for c in configs])
    out = []
    for label in labels:
        unique, i = label, 2
        while unique in out:
            unique, i = f'{label}-{i}', i + 1
        out.append(unique)
    return out


def evaluate_model(args: argparse.Namespace, config: str, checkpoint: str, label: str) -> dict:
    """Build the runner, load ``checkpoint`` once and sweep the noise levels."""
    work_dir = osp.join(args.out_dir, 'runs', re.sub(r'[^\w.-]+', '_', label))
    cfg = prepare_config(config, args.cfg_options, work_dir, args.launcher)
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()     # once; runner.test() then skips loading
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    if args.scope == 'head':
        if not hasattr(model, 'decode_head'):
            raise AttributeError(f'{config}: --scope head needs a model with a decode_head, '
                                 f'got {type(model).__name__}; use --scope all')
        params = attention_projection_weights(model.decode_head, prefix='decode_head.')
    else:
        params = attention_projection_weights(model)
    if not params:
        where = 'model.decode_head' if args.scope == 'head' else 'the model'
        raise ValueError(f'{config}: no attention projection weights found in {where} '
                         '(attention-family layers of mmseg_cbsa or nn.MultiheadAttention)')

    # prediction overlays of the config's OverlayHook, one folder per level
    # (first draw only) instead of each level overwriting the previous one
    overlays = [(h, h.draw) for h in runner.hooks if isinstance(h, OverlayHook)]

    def evaluate(sigma: float, repeat: int) -> dict:
        for hook, draw in overlays:
            hook.out_dir = osp.join('overlays', f'noise_{sigma:g}')
            hook.draw = draw and repeat == 0
        metrics = runner.test()
        if args.metric not in metrics:
            raise KeyError(f'{config}: the test evaluator returned no {args.metric!r}; '
                           f'it returned {sorted(metrics)} (see --metric)')
        # IoUMetric rounds to 2 decimals in float32: its shortest decimal form is
        # the number the log prints (10.44, not 10.4399995803833)
        return {k: float(str(v)) for k, v in metrics.items()}

    results = noise_sweep(params, evaluate, args.noise, args.repeats, args.seed, args.mode)
    return dict(label=label, config=config, checkpoint=checkpoint,
                weights={k: list(v.shape) for k, v in params.items()},
                num_perturbed=sum(v.numel() for v in params.values()), results=results)


def format_table(models: List[dict], metric: str) -> str:
    """Markdown table, rows noise levels, columns models: mean (± std)."""
    lines = ['| noise | ' + ' | '.join(m['label'] for m in models) + ' |',
             '|---' * (len(models) + 1) + '|']
    for i, entry in enumerate(models[0]['results']):
        cells = []
        for m in models:
            r = m['results'][i][metric]
            runs = len(m['results'][i]['values'])
            cells.append(f"{r['mean']:.2f}" + (f" ± {r['std']:.2f}" if runs > 1 else ''))
        lines.append(f"| {entry['noise']:g} | " + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def write_csv(path: str, models: List[dict], metric: str) -> None:
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['model', 'noise', 'runs', f'{metric}_mean', f'{metric}_std', 'values'])
        for m in models:
            for r in m['results']:
                w.writerow([m['label'], r['noise'], len(r['values']), r[metric]['mean'],
                            r[metric]['std'], ' '.join(str(v[metric]) for v in r['values'])])


def plot(path: str, models: List[dict], args: argparse.Namespace) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in models:
        x = [r['noise'] for r in m['results']]
        y = [r[args.metric]['mean'] for r in m['results']]
        err = [r[args.metric]['std'] for r in m['results']]
        ax.errorbar(x, y, yerr=err if args.repeats > 1 else None, fmt='o-', capsize=3,
                    label=m['label'])
    positive = [s for s in args.noise if s > 0]
    # the paper's axis is logarithmic; symlog keeps sigma = 0 on it
    if positive and max(positive) / min(positive) >= 100:
        ax.set_xscale('symlog', linthresh=min(positive))
    unit = 'x rms(W)' if args.mode == 'relative' else 'absolute'
    ax.set_xlabel(f'noise level sigma ({unit})')
    ax.set_ylabel(args.metric)
    ax.set_title(f'noise on attention projections ({args.scope})', fontsize=9)
    ax.grid(alpha=.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    init_cpu_distributed(args.launcher)
    labels = model_labels(args.configs, args.labels)
    models = [evaluate_model(args, cfg, ckpt, label)
              for cfg, ckpt, label in zip(args.configs, args.checkpoints, labels)]
    if is_main_process():
        os.makedirs(args.out_dir, exist_ok=True)
        settings = dict(noise=args.noise, scope=args.scope, mode=args.mode,
                        repeats=args.repeats, seed=args.seed, metric=args.metric,
                        cfg_options=args.cfg_options)
        with open(osp.join(args.out_dir, 'perturbation.json'), 'w') as f:
            json.dump(dict(settings=settings, models=models), f, indent=1)
        write_csv(osp.join(args.out_dir, 'perturbation.csv'), models, args.metric)
        plot(osp.join(args.out_dir, 'perturbation.png'), models, args)
        print(f'\n{args.metric} under noise on the attention projections '
              f'(scope {args.scope}, {args.mode}):')
        print(format_table(models, args.metric))
        print(f'wrote perturbation.json, perturbation.csv and perturbation.png to {args.out_dir}')
    close_distributed()


if __name__ == '__main__':
    main()
