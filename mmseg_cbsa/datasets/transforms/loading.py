"""Label maps that are loaded as they are, or not at all.

:class:`LoadCheckedAnnotations` is mmseg's ``LoadAnnotations`` with the
checks a label map needs before anything trusts it; every failure is a
``ValueError`` naming the file and what was expected, raised where the file
is read instead of as an ``IndexError`` several steps later (or never, when
a training pipeline silently resizes a label map of the wrong size).
"""
from typing import Optional

import numpy as np
from mmengine import fileio
from mmseg.datasets.transforms import LoadAnnotations

from ...registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadCheckedAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations``, checked right after loading.

    Same arguments, keys and result as ``LoadAnnotations`` for a good label
    map, plus these checks, each a ``ValueError`` naming ``seg_map_path``:

    * the file decodes (an empty or corrupt PNG otherwise fails inside the
      decoder as ``PIL.UnidentifiedImageError ... <_io.BytesIO object>``);
    * it is a single-channel map of its image's size: ``ori_shape``, the
      size the image file had when it was loaded, so the check holds before
      and after a ``Resize`` (test pipelines resize first). Labels are never
      resized to fit;
    * its values, after ``reduce_zero_label`` and the dataset's
      ``label_map``, are classes ``0 .. num_classes - 1`` or ``ignore_index``.

    A sample without ``seg_map_path`` (an image given to mmseg's
    ``inference_model`` or ``MMSegInferencer``, which drop only steps of type
    ``LoadAnnotations`` from the test pipeline) has no label map to load and
    passes through unchanged; dataset samples always carry the key.

    Args:
        num_classes: the dataset's number of classes, stated in the dataset
            config next to the dataset type (a transform is built from its
            config alone and never sees the dataset's ``metainfo``); None
            skips the value check.
        ignore_index: the label value that is not a class (mmseg's 255).
        reduce_zero_label, backend_args, imdecode_backend: as for
            ``LoadAnnotations``.
    """

    def __init__(self,
                 num_classes: Optional[int],
                 ignore_index: int = 255,
                 reduce_zero_label=None,
                 backend_args=None,
                 imdecode_backend: str = 'pillow') -> None:
        super().__init__(
            reduce_zero_label=reduce_zero_label,
            backend_args=backend_args,
            imdecode_backend=imdecode_backend)
        if num_classes is not None and not 0 < num_classes <= 256:
            raise ValueError(f'num_classes must be 1..256 for uint8 label maps, got {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        if results.get('seg_map_path') is None:
            return results
        return super().transform(results)

    def _load_seg_map(self, results: dict) -> None:
        path = results['seg_map_path']
        try:
            super()._load_seg_map(results)
        except (FileNotFoundError, AssertionError):
            raise  # they name the file / the setting already
        except Exception as e:  # decoders raise many types without the file name
            size = len(fileio.get(path, backend_args=self.backend_args))
            what = 'an empty file (0 bytes)' if size == 0 else \
                f'not a decodable image ({size} bytes; {type(e).__name__}: {e})'
            raise ValueError(f'label map {path} is {what}; expected a single-channel PNG '
                             'of class indices') from e
        self._check(results, results['gt_seg_map'])

    def _check(self, results: dict, label: np.ndarray) -> None:
        path = results['seg_map_path']
        image_hw = results.get('ori_shape', results.get('img_shape'))
        if label.ndim != 2:
            raise ValueError(f'label map {path} has shape {label.shape}; expected a '
                             'single-channel (H, W) map of class indices')
        if image_hw is not None and tuple(label.shape) != tuple(image_hw[:2]):
            (h, w), (ih, iw) = label.shape, image_hw[:2]
            raise ValueError(
                f'label map {path} is {h}x{w} (HxW) but its image '
                f'{results.get("img_path", "")} is {ih}x{iw}; expected a label map of the '
                "image's size (labels are not resized to fit)")
        if self.num_classes is None:
            return
        counts = np.bincount(label.ravel(), minlength=256)
        counts[:self.num_classes] = 0
        if 0 <= self.ignore_index < counts.size:
            counts[self.ignore_index] = 0
        bad = np.flatnonzero(counts)
        if bad.size:
            shown = ', '.join(str(v) for v in bad[:10]) + (', ...' if bad.size > 10 else '')
            steps = [
                s for s, on in (('reduce_zero_label', self.reduce_zero_label),
                                ("the dataset's label_map", results.get('label_map'))) if on
            ]
            after = f' (after {" and ".join(steps)})' if steps else ''
            stored = ''
            if self.reduce_zero_label and not results.get('label_map'):
                stored = f'; stored in the file as {", ".join(str(v + 1) for v in bad[:10])}'
            raise ValueError(
                f'label map {path} has values {shown}{after}{stored}, in '
                f'{int(counts.sum())} pixels; expected classes 0..{self.num_classes - 1} '
                f'or the ignore index {self.ignore_index}')

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] + f', num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
