"""Draw the training set's images with their ground truth, as mmseg's
tools/analysis_tools/browse_dataset.py does (same arguments).

    python tools/analysis_tools/browse_dataset.py CONFIG [--output-dir DIR] [--not-show]
                                                  [--show-interval S] [--cfg-options k=v ...]

mmseg's own tool fails in ``cv2.rectangle`` (``cv2.error ... in function
'rectangle'``) with OpenCV 4.10, 4.14 and 5.0 alike: it hands the visualizer
the pipeline's CHW tensor permuted to HWC, a non-contiguous array that OpenCV
refuses to draw on. Here the image is made contiguous; the drawing is mmseg's
``SegLocalVisualizer.add_datasample``. ``mmseg_cbsa::`` configs resolve (the
package is imported before the config is read).
"""
import argparse
import os.path as osp

import numpy as np
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from mmseg.registry import DATASETS, VISUALIZERS

import mmseg_cbsa  # noqa: F401  (registers modules and the mmseg_cbsa:: scope)
from mmseg_cbsa.utils import prepare_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Browse a dataset')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--output-dir', help='save the pictures here instead of showing them')
    parser.add_argument('--not-show', action='store_true', help='do not open a window')
    parser.add_argument('--show-interval', type=float, default=2, help='seconds per picture')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = prepare_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    visualizer = VISUALIZERS.build(cfg.visualizer)
    visualizer.dataset_meta = dataset.metainfo
    progress = ProgressBar(len(dataset))
    for item in dataset:
        # CHW BGR tensor -> contiguous HWC RGB array (OpenCV draws only on contiguous ones)
        image = np.ascontiguousarray(item['inputs'].permute(1, 2, 0).numpy()[..., ::-1])
        sample = item['data_samples'].numpy()
        name = osp.basename(sample.img_path)
        visualizer.add_datasample(
            name,
            image,
            data_sample=sample,
            draw_gt=True,
            draw_pred=False,
            show=not args.not_show,
            wait_time=args.show_interval,
            out_file=osp.join(args.output_dir, name) if args.output_dir else None)
        progress.update()


if __name__ == '__main__':
    main()
