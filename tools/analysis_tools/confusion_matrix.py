"""Confusion matrix of saved predictions against the test set, plotted by
mmseg's tools/analysis_tools/confusion_matrix.py (same arguments).

    python tools/test.py CONFIG CKPT --out PRED_DIR
    python tools/analysis_tools/confusion_matrix.py CONFIG PRED_DIR SAVE_DIR
        [--show] [--color-theme winter] [--title T] [--cfg-options k=v ...]

Writes ``SAVE_DIR/confusion_matrix.png`` (mmseg's ``plot_confusion_matrix``:
rows ground truth, columns prediction, normalised per row in percent) and the
raw pixel counts to ``SAVE_DIR/confusion_matrix.npy``.

Unlike mmseg's tool, predictions are matched to images by file name (not by
listing order), and labels are compared as the metric compares them: for a
``reduce_zero_label`` dataset mmseg's tool subtracts 1 from ground truth the
pipeline has already reduced, and ignores that ``tools/test.py --out`` (mmseg's
``IoUMetric``) writes such predictions shifted by +1, so its matrix is shifted.
Here the trace over the total equals the test's aAcc (tested).
"""
import argparse
import os
import os.path as osp
import runpy

import mmseg
import numpy as np
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from mmseg.registry import DATASETS
from PIL import Image

import mmseg_cbsa  # noqa: F401  (registers modules and the mmseg_cbsa:: scope)
from mmseg_cbsa.utils import prepare_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Confusion matrix of saved predictions')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('prediction_path', help='folder of label PNGs (tools/test.py --out)')
    parser.add_argument('save_dir', help='where confusion_matrix.png / .npy are written')
    parser.add_argument('--show', action='store_true', help='show the matrix')
    parser.add_argument('--color-theme', default='winter', help='matplotlib colour map')
    parser.add_argument('--title', default='Normalized Confusion Matrix')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args()


def confusion_matrix(dataset, prediction_path: str) -> np.ndarray:
    """(num_classes, num_classes) pixel counts, rows ground truth (as the test
    pipeline yields it), columns prediction; ``ignore_index`` pixels skipped."""
    n = len(dataset.metainfo['classes'])
    matrix = np.zeros((n, n), dtype=np.int64)
    progress = ProgressBar(len(dataset))
    for item in dataset:
        sample = item['data_samples']
        stem = osp.splitext(osp.basename(sample.img_path))[0]
        path = osp.join(prediction_path, stem + '.png')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no prediction for {sample.img_path}')
        pred = np.asarray(Image.open(path)).astype(np.int64)
        if sample.get('reduce_zero_label', False):
            pred = pred - 1  # IoUMetric writes reduce_zero_label labels + 1
        gt = sample.gt_sem_seg.data.squeeze(0).numpy().astype(np.int64)
        if pred.shape != gt.shape:
            raise ValueError(f'{path}: prediction {pred.shape} for a label map {gt.shape}')
        keep = gt != dataset.ignore_index
        matrix += np.bincount(n * gt[keep] + pred[keep], minlength=n * n).reshape(n, n)
        progress.update()
    return matrix


def main() -> None:
    args = parse_args()
    cfg = prepare_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    matrix = confusion_matrix(dataset, args.prediction_path)
    os.makedirs(args.save_dir, exist_ok=True)
    np.save(osp.join(args.save_dir, 'confusion_matrix.npy'), matrix)
    # the plot is mmseg's, from the tool its package ships in .mim/tools
    mmseg_tool = runpy.run_path(
        osp.join(
            osp.dirname(mmseg.__file__), '.mim', 'tools', 'analysis_tools', 'confusion_matrix.py'))
    mmseg_tool['plot_confusion_matrix'](
        matrix,
        dataset.metainfo['classes'],
        save_dir=args.save_dir,
        show=args.show,
        title=args.title,
        color_theme=args.color_theme)
    print(f'pixel accuracy {matrix.trace() / max(matrix.sum(), 1) * 100:.2f}, '
          f'matrix in {args.save_dir}')


if __name__ == '__main__':
    main()
