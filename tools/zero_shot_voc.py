"""Zero-shot VOC12 segmentation from [CLS] attention maps (paper appendix C).

    python tools/zero_shot_voc.py CONFIG CHECKPOINT [--share 0.6] [--layers 0 5 11]
                                  [--work-dir DIR] [--cfg-options k=v ...]

CONFIG: one of configs/zero_shot/ (or any config with a CLSAttentionProbe
model and ZeroShotCLSMetric). CHECKPOINT: a classifier converted with
tools/model_converters/cbt_cls2mmseg.py (``backbone.*`` keys) or a bare
backbone state dict. Writes ``zero_shot.json`` (every number),
``zero_shot_layers.png`` (per-layer plot) to the work dir and prints tables
like the paper's Tables 5 and 6. The evaluation is
mmseg_cbsa.analysis.zero_shot.evaluate_zero_shot.
"""
import argparse

from mmseg_cbsa.analysis.zero_shot import evaluate_zero_shot
from mmseg_cbsa.utils import add_runner_args, parse_runner_args
from mmseg_cbsa.utils.distributed_exit import exit_finished_run


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--share', type=float, help='attention mass kept per head (default 0.6)')
    p.add_argument('--layers', type=int, nargs='+', help='blocks to evaluate (default all)')
    p.add_argument('--work-dir', help='where the JSON and the plot go')
    add_runner_args(p)
    return parse_runner_args(p)


def main() -> None:
    args = parse_args()
    evaluate_zero_shot(args.config, args.checkpoint, args.share, args.layers, args.work_dir,
                       args.cfg_options, args.launcher)
    exit_finished_run()  # a distributed run: exit 0 without gloo's teardown abort


if __name__ == '__main__':
    main()
