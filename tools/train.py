"""Train a segmentor (or classifier) with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse

import torch

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmseg_cbsa  # noqa: F401  (registers modules, allow-lists checkpoint types)
from mmseg_cbsa.utils import (add_runner_args, close_distributed, init_cpu_distributed,
                              parse_runner_args, prepare_config)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or without a value from the latest checkpoint '
        'in the work dir')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    add_runner_args(parser)
    return parse_runner_args(parser)


def main() -> None:
    args = parse_args()
    cfg = prepare_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    init_cpu_distributed(args.launcher)
    if args.amp:
        if not torch.cuda.is_available():
            raise SystemExit('--amp: mmengine\'s AmpOptimWrapper trains on GPU/NPU/MLU/MUSA '
                             'only, and no CUDA device is available')
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print('AMP is already enabled in the config')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    # only after success: a barrier after a failed rank would hang the others
    close_distributed()


if __name__ == '__main__':
    main()
