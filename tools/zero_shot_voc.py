"""Zero-shot VOC12 segmentation from [CLS] attention maps (paper appendix C).

    python tools/zero_shot_voc.py CONFIG CHECKPOINT [--share 0.6] [--layers 0 5 11]
                                  [--work-dir DIR] [--cfg-options k=v ...]

CONFIG: one of configs/zero_shot/ (or any config with a CLSAttentionProbe
model and ZeroShotCLSMetric). CHECKPOINT: a classifier converted with
tools/model_converters/cbt_cls2mmseg.py (``backbone.*`` keys) or a bare
backbone state dict. Writes ``zero_shot.json`` (every number),
``zero_shot_layers.png`` (per-layer plot) to the work dir and prints tables
like the paper's Tables 5 and 6.
"""
import argparse
import json
import os
import os.path as osp
import re

from mmengine.runner import Runner

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.evaluation.zero_shot import TARGETS
from mmseg_cbsa.utils import (add_runner_args, close_distributed, extract_state_dict,
                              init_cpu_distributed, load_checkpoint_file, parse_runner_args,
                              prepare_config)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--share', type=float, help='attention mass kept per head (default 0.6)')
    p.add_argument('--layers', type=int, nargs='+', help='blocks to evaluate (default all)')
    p.add_argument('--work-dir', help='where the JSON and the plot go')
    add_runner_args(p)
    return parse_runner_args(p)


def per_layer(metrics: dict) -> dict:
    """{target: {layer: value}} from the metric's flat keys."""
    out = {t: {} for t in TARGETS}
    for key, value in metrics.items():
        m = re.fullmatch(r'(?:zero_shot/)?(\w+)/layer(\d+)', key)
        if m and m.group(1) in out:
            out[m.group(1)][int(m.group(2))] = value
    return out


def main() -> None:
    args = parse_args()
    cfg = prepare_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    state = extract_state_dict(load_checkpoint_file(args.checkpoint), args.checkpoint)
    prefixed = any(k.startswith('backbone.') for k in state)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=args.checkpoint,
                                       prefix='backbone.' if prefixed else None)
    if args.share is not None:
        cfg.test_evaluator.share = args.share
    if args.layers is not None:
        cfg.model.layers = args.layers
    init_cpu_distributed(args.launcher)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    close_distributed()

    layers = per_layer(metrics)
    os.makedirs(cfg.work_dir, exist_ok=True)
    result = dict(config=args.config, checkpoint=args.checkpoint,
                  share=cfg.test_evaluator.get('share', 0.6), per_layer=layers,
                  best={t: max(layers[t].values()) for t in TARGETS})
    with open(osp.join(cfg.work_dir, 'zero_shot.json'), 'w') as f:
        json.dump(result, f, indent=1)

    ids = sorted(layers['foreground'])
    print('\nbest layer (as Table 5):  ' + '  '.join(
        f'{t} {result["best"][t]:.2f}' for t in TARGETS))
    print('per layer (as Table 6):')
    print('| target | ' + ' | '.join(f'L{i}' for i in ids) + ' |')
    print('|---' * (len(ids) + 1) + '|')
    for t in TARGETS:
        print(f'| {t} | ' + ' | '.join(f'{layers[t][i]:.2f}' for i in ids) + ' |')

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for t in TARGETS:
        ax.plot(ids, [layers[t][i] for i in ids], 'o-', label=t)
    ax.set_xlabel('layer')
    ax.set_ylabel('Jaccard (best head, mean over images)')
    ax.set_title(osp.splitext(osp.basename(args.config))[0], fontsize=8)
    ax.legend()
    ax.grid(alpha=.3)
    fig.tight_layout()
    fig.savefig(osp.join(cfg.work_dir, 'zero_shot_layers.png'), dpi=120)
    print(f"wrote {osp.join(cfg.work_dir, 'zero_shot.json')} and zero_shot_layers.png")


if __name__ == '__main__':
    main()
