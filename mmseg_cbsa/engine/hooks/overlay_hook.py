"""Save prediction overlays of the first validation images as plain PNGs."""
import os.path as osp
from typing import Sequence

import mmcv
from mmengine.dist import is_main_process
from mmengine.runner import Runner
from mmseg.engine.hooks import SegVisualizationHook
from mmseg.structures import SegDataSample

from ...registry import HOOKS
from ...visualization.overlay import annotated_overlay


@HOOKS.register_module()
class OverlayHook(SegVisualizationHook):
    """Write ``<work_dir>/<out_dir>/<image>.png`` for the first ``num_images``
    images of every validation and test run: the input, the prediction and
    the ground truth painted over it side by side under headings, each class
    name written inside its segment (never one over another), and a title
    naming the image and the training iteration (validation) or ``test``,
    by the package's overlay renderer
    (:func:`~mmseg_cbsa.visualization.overlay.annotated_overlay`, which
    paints with the runner's mmseg visualizer).

    Unlike :class:`SegVisualizationHook`'s pictures these files land at a
    fixed path (the latest validation overwrites the previous one), so scripts
    and READMEs can point at them. Everything :class:`SegVisualizationHook`
    does with ``draw=True`` happens as well: every ``interval``-th validation
    or test batch goes to the visualizer (``<save_dir>/vis_data/vis_image/``,
    the folder ``tools/test.py --show-dir`` sets, or shown with ``--show``).

    Args:
        num_images: how many images of each run to draw.
        out_dir: folder relative to the work dir.
        legend: append a legend of the classes present (off by default, so
            that an image's overlays have one size whatever classes they show).
        **kwargs: :class:`SegVisualizationHook`'s (``draw`` defaults to True).
    """

    def __init__(self,
                 num_images: int = 4,
                 out_dir: str = 'overlays',
                 legend: bool = False,
                 **kwargs) -> None:
        kwargs.setdefault('draw', True)
        super().__init__(**kwargs)
        self.num_images = num_images
        self.out_dir = out_dir
        self.legend = legend

    def before_run(self, runner: Runner) -> None:
        # paint with the runner's own visualizer, whose dataset_meta its loops
        # set: the "current instance" mmseg's hook takes when it is built is
        # another runner's or an inferencer's once several ran in one process
        self._visualizer = runner.visualizer

    def _save(self, runner: Runner, batch_idx: int, outputs: Sequence[SegDataSample],
              mode: str) -> None:
        # rank 0 only, as mmseg's visualizer draws (add_datasample is master-only)
        if not self.draw or not is_main_process():
            return
        # a test run has no training iteration (runner.iter is 0 there)
        when = f'validation at iteration {runner.iter}' if mode == 'val' else mode
        for i, output in enumerate(outputs):
            if batch_idx * len(outputs) + i >= self.num_images:
                return
            img = mmcv.imread(output.img_path, channel_order='rgb')
            name = osp.splitext(osp.basename(output.img_path))[0] + '.png'
            canvas = annotated_overlay(
                self._visualizer,
                img,
                output,
                title=f'{osp.basename(output.img_path)}, {when}',
                legend=self.legend)
            if self.show:
                self._visualizer.show(canvas, win_name=name, wait_time=self.wait_time)
            mmcv.imwrite(mmcv.rgb2bgr(canvas), osp.join(runner.work_dir, self.out_dir, name))

    def _after_iter(self,
                    runner: Runner,
                    batch_idx: int,
                    data_batch: dict,
                    outputs: Sequence[SegDataSample],
                    mode: str = 'val') -> None:
        # mmseg's drawing first (every ``interval``-th batch to the visualizer's
        # backends, i.e. ``--show-dir``/vis_data): tools/test.py and mmseg's own
        # tools/test.py turn it on through ``draw`` and ``visualizer.save_dir``
        super()._after_iter(runner, batch_idx, data_batch, outputs, mode)
        if mode != 'train':
            self._save(runner, batch_idx, outputs, mode)
