"""Train a segmentor (or classifier) with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT] | --overwrite] [--amp]
                                 [--cfg-options k=v ...] [--launcher pytorch]

The work dir is guarded (mmseg_cbsa/utils/work_dir.py): ``--resume`` without
a file resumes from a checked checkpoint or stops with an error, never from
scratch; a new run into a work dir holding checkpoints is refused unless
``--overwrite``; one run per work dir at a time. Relative paths (work dir,
data roots, checkpoints) resolve against the current directory.
"""
import argparse
import contextlib

import torch

import mmseg_cbsa  # noqa: F401  (registers modules)
from mmseg_cbsa.engine import build_runner
from mmseg_cbsa.utils import (CheckpointError, WorkDirError, add_runner_args, guard_work_dir,
                              init_distributed, parse_runner_args, prepare_config,
                              relative_path_notes)
from mmseg_cbsa.utils.console import known_warnings_ignored
from mmseg_cbsa.utils.distributed_exit import exit_finished_run


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or without a value from the latest intact checkpoint '
        'in the work dir (an error if there is none)')
    start.add_argument(
        '--overwrite',
        action='store_true',
        help='start a new run in a work dir that holds an earlier run\'s checkpoints, '
        'deleting them (without it such a run is refused)')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    add_runner_args(parser)
    return parse_runner_args(parser)


def main() -> None:
    args = parse_args()
    cfg = prepare_config(args.config, args.cfg_options, args.work_dir, args.launcher)
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
    # `resume = True` in the config without load_from is the same auto resume
    init_distributed(args.launcher, cfg)
    notes = relative_path_notes(cfg)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(guard_work_dir(cfg, overwrite=args.overwrite, notes=notes))
        except WorkDirError as e:
            raise SystemExit(f'error: {e}') from None
        runner = build_runner(cfg)
        for note in notes:
            runner.logger.info(note)
        try:
            runner.train()
        except CheckpointError as e:  # load_from / resume: unreadable, unsafe or a misfit
            raise SystemExit(f'error: {e}') from None
    # only after success: a barrier after a failed rank would hang the others;
    # a distributed run ends here, its exit status the run's (distributed_exit.py)
    del runner
    exit_finished_run()


if __name__ == '__main__':
    with known_warnings_ignored():  # third-party notices (mmseg_cbsa/utils/console.py)
        main()
