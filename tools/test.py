"""Evaluate a checkpoint with mmengine's Runner.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR]
                         [--show-dir DIR] [--overwrite] [--tta] [--precision float32]
                         [--cfg-options k=v ...]

``--precision bf16`` / ``fp16`` (``--bf16``: a deprecated alias of
``--precision bf16``) runs the model under ``torch.autocast`` to that type on
the device it is on, CPU or CUDA (mmseg_cbsa/engine/precision_loop.py); the
metrics are computed on float32 predictions as usual. The default stays
float32 (reproducible numbers); ``auto`` picks the fastest precision the
hardware runs natively (mmseg_cbsa/utils/precision.py).

The checkpoint is read weights-only and must fit the model built from the
config (every weight present, nothing extra, every shape equal); otherwise
the tool stops with an error naming the file and the offending keys, exit
status 1, and reports no metric (mmseg_cbsa.engine.CheckedRunner, also for a
config from elsewhere that names no runner_type).

``--out`` and ``--show-dir`` may not lie inside the test dataset's folders,
and files of an earlier run there (label maps / pictures of these images)
are replaced only with ``--overwrite``; both are checked before the model runs.
"""
import argparse
import os.path as osp

import mmseg_cbsa  # noqa: F401  (registers modules)
from mmseg_cbsa.apis import check_evaluation_outputs
from mmseg_cbsa.engine import build_runner
from mmseg_cbsa.utils import (CheckpointError, add_runner_args, init_distributed, parse_runner_args,
                              prepare_config)
from mmseg_cbsa.utils.checkpoint import missing_checkpoint
from mmseg_cbsa.utils.console import known_warnings_ignored
from mmseg_cbsa.utils.distributed_exit import exit_finished_run
from mmseg_cbsa.utils.outputs import OutputExistsError, OutputInInputError
from mmseg_cbsa.utils.precision import add_precision_arg, announce_precision


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument(
        '--out',
        help='save the predicted label maps (PNG) to this dir (not inside the dataset; '
        'existing label maps of these images are replaced only with --overwrite)')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace files of an earlier run in --out / --show-dir')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='save painted predictions to this dir')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true', help='test time augmentation')
    add_precision_arg(parser, 'float32')
    add_runner_args(parser)
    return parse_runner_args(parser)


def set_test_precision(cfg, requested: str) -> str:
    """Resolve ``--precision`` once on the device the runner puts the model
    on (CUDA where there is one), say it in one line, and run a reduced one
    in ``AutocastTestLoop`` (replacing the config's test loop and its fp16
    flag). Returns the precision that runs."""
    import torch
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    precision = announce_precision(requested, device, logger='current')
    if precision != 'float32':
        test_cfg = dict(cfg.get('test_cfg') or {})
        test_cfg.pop('fp16', None)
        test_cfg.update(_scope_='mmseg_cbsa', type='AutocastTestLoop', precision=precision)
        cfg.test_cfg = test_cfg
    return precision


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'error: {missing_checkpoint(args.checkpoint)}')
    cfg = prepare_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    try:
        check_evaluation_outputs(cfg, args.out, args.show_dir, args.overwrite)
    except (OutputExistsError, OutputInInputError) as e:
        raise SystemExit(f'error: {e}') from None
    init_distributed(args.launcher, cfg)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        vis = cfg.default_hooks.get('visualization')
        if vis is None:
            raise KeyError(f'{args.config}: --show/--show-dir need '
                           'default_hooks.visualization (SegVisualizationHook)')
        vis.draw = True
        vis.show = args.show
        vis.wait_time = args.wait_time
        if args.show_dir:
            cfg.visualizer.save_dir = args.show_dir
    if args.out:
        cfg.test_evaluator.output_dir = args.out
        cfg.test_evaluator.keep_results = True
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise KeyError(f'{args.config} defines no tta_model / tta_pipeline')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    set_test_precision(cfg, args.precision)
    try:
        # checked loading; its own log folder even beside a training run
        # started in the same second
        build_runner(cfg).test()
    except CheckpointError as e:  # unreadable, unsafe or not this model's checkpoint
        raise SystemExit(f'error: {e}') from None
    # only after success: a barrier after a failed rank would hang the others;
    # a distributed run ends here, its exit status the run's (distributed_exit.py)
    exit_finished_run()


if __name__ == '__main__':
    with known_warnings_ignored():  # third-party notices (mmseg_cbsa/utils/console.py)
        main()
