"""Save prediction overlays of the first validation images as plain PNGs."""
import os.path as osp
from typing import Sequence

import mmcv
from mmengine.runner import Runner
from mmseg.engine.hooks import SegVisualizationHook
from mmseg.registry import HOOKS
from mmseg.structures import SegDataSample


@HOOKS.register_module()
class OverlayHook(SegVisualizationHook):
    """Write ``<work_dir>/<out_dir>/<image>.png`` for the first ``num_images``
    images of every validation and test run: the ground truth and the
    prediction painted over the image side by side, by mmseg's visualizer.

    Unlike :class:`SegVisualizationHook` the files land at a fixed path (the
    latest validation overwrites the previous one), so scripts and READMEs can
    point at them.
    """

    def __init__(self, num_images: int = 4, out_dir: str = 'overlays', **kwargs) -> None:
        kwargs.setdefault('draw', True)
        super().__init__(**kwargs)
        self.num_images = num_images
        self.out_dir = out_dir

    def _save(self, runner: Runner, batch_idx: int, outputs: Sequence[SegDataSample]) -> None:
        if not self.draw:
            return
        for i, output in enumerate(outputs):
            if batch_idx * len(outputs) + i >= self.num_images:
                return
            img = mmcv.imread(output.img_path, channel_order='rgb')
            name = osp.splitext(osp.basename(output.img_path))[0] + '.png'
            self._visualizer.add_datasample(
                name, img, data_sample=output, draw_gt=True, draw_pred=True,
                show=self.show, wait_time=self.wait_time,
                out_file=osp.join(runner.work_dir, self.out_dir, name))

    def after_val_iter(self, runner: Runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence[SegDataSample]) -> None:
        self._save(runner, batch_idx, outputs)

    def after_test_iter(self, runner: Runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence[SegDataSample]) -> None:
        self._save(runner, batch_idx, outputs)
