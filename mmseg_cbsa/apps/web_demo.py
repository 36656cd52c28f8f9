"""The interactive demo behind ``demo/web_demo.py``: a Gradio page where a user
uploads an image and sees what the model predicts, the [CLS] attention of a
chosen encoder block and head, and what a chosen CBSA representative
extracts.

What the model predicts depends on its kind (:func:`prediction_shown`): a
segmentor's segmentation and the classes found in it
(:class:`SegmentationShown`), an image classifier's top-5 classes
(:class:`TopClassesShown`; mmpretrain classifiers, converted authors'
checkpoints included), nothing for the zero-shot [CLS] probe
(:class:`AttentionOnly`); where a panel does not apply, the page says so.

:class:`WebDemo` holds the model and draws every picture from one
:class:`Analysis` (one forward pass under an
:class:`~mmseg_cbsa.analysis.attention_maps.AttentionRecorder`, see
:func:`~mmseg_cbsa.apps.demos.record_attention`), so that choosing
another layer, head or representative redraws without running the model
again. The pictures are the package's own (:mod:`mmseg_cbsa.visualization`).

Uploads are read as the command-line demos read image files
(:func:`~mmseg_cbsa.utils.images.read_image`: 16-bit and grey images
included), and a file that is not an image, or one larger than the demo
takes, is answered with a message naming the file and what was expected.

The memory the page holds is bounded whatever its users do (:class:`Limits`):
an :class:`Analysis` is small (the upload and its prediction at most
``display_size`` px on their long side, the network input and the attention
maps, never logits at the upload's size); the analyses live in an
:class:`AnalysisStore` that keeps at most ``max_sessions`` of them and drops a
session's when its tab closes or it goes unused for ``session_ttl`` seconds;
uploads larger than ``max_pixels`` or ``max_file_size`` are refused; at most
``concurrency`` analyses run at once; and uploaded and drawn files are
deleted from Gradio's cache after ``cache_ttl`` seconds.

The page works offline: Gradio's analytics and version check are off, no
share link is made, server-side rendering (which needs Node) is off, and the
theme uses the browser's own fonts, so nothing is fetched from outside the
machine, neither by the server nor by the page.
"""
import argparse
import gc
import os
import re
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..analysis.attention_maps import CBSAExtraction
from ..datasets.metainfo import config_dataset
from ..utils.images import UnreadableImage, read_image
from ..utils.precision import add_precision_arg, announce_precision
from ..visualization import (append_colour_bar, attention_overlay, draw_segmentation,
                             extraction_tile, label_grid, present_classes, standalone_visualizer)
from ..visualization.attention import fit_size
from .demos import attention_model, record_attention

if TYPE_CHECKING:
    import gradio

#: long side of the attention pictures on the page, px
PICTURE_SIZE = 320
#: what the [CLS] and representative pictures say when the model has none
NO_CLS = 'This encoder has no [CLS] token: no [CLS] attention.'
NO_CBSA = 'This model has no CBSA layers: no representatives.'
#: sessions whose page settings Gradio keeps, older ones forgotten (with its
#: default, 10000, the server grew some 0.2 MB per session: up to 2 GB)
GRADIO_SESSIONS = 1000
#: what an upload must be, said in every message about a bad one
EXPECTED_IMAGE = ('expected an image file that OpenCV decodes (PNG, JPEG, BMP, TIFF, WebP...), '
                  'as demo/image_demo.py reads it')


@dataclass
class Limits:
    """What bounds the web demo's memory and disk, whatever its users do
    (``demo/web_demo.py`` has an option of the same name for each).

    Attributes:
        max_pixels: largest upload, in pixels; larger ones are refused with
            a message, before they are decoded.
        max_file_size: largest upload in bytes, or Gradio's ``'<n>mb'``
            form; Gradio refuses larger files while they are uploaded.
        display_size: long side, px, of what the page keeps of an upload:
            larger images are shown, and predicted, at this size (the model's
            logits are resized to it instead of to the upload's size).
        max_sessions: analyses kept at once, one per session (browser tab);
            beyond it, the least recently used one is dropped.
        session_ttl: seconds a session's analysis is kept unused; it is also
            dropped as soon as its tab is closed.
        concurrency: analyses that run at once; further uploads wait in
            Gradio's queue (their files on disk, not decoded).
        cache_ttl: seconds after which uploaded files and drawn pictures are
            deleted from Gradio's cache (``GRADIO_TEMP_DIR``).
    """
    max_pixels: int = 50_000_000
    max_file_size: str = '100mb'
    display_size: int = 1024
    max_sessions: int = 16
    session_ttl: float = 600
    concurrency: int = 1
    cache_ttl: int = 3600

    def __post_init__(self) -> None:
        for name in ('max_pixels', 'display_size', 'max_sessions', 'session_ttl', 'concurrency',
                     'cache_ttl'):
            if not getattr(self, name) > 0:
                raise ValueError(f'--{name.replace("_", "-")} {getattr(self, name)}: expected '
                                 'a positive number')
        self.file_size_bytes  # refuses a size it cannot read

    @property
    def file_size_bytes(self) -> int:
        """``max_file_size`` in bytes (units: b, kb, mb, gb, tb, of 1024)."""
        m = re.fullmatch(r'(\d+) *([kmgt]?b)?', str(self.max_file_size).strip().lower())
        if m is None or int(m.group(1)) == 0:
            raise ValueError(f'--max-file-size {self.max_file_size}: expected a positive number '
                             "of bytes, or one with a unit: '500kb', '20mb', '1gb'")
        return int(m.group(1)) * 1024**'bkmgt'.index((m.group(2) or 'b')[0])


#: the command-line help of each limit
LIMIT_HELP = {
    'max_pixels': 'largest image taken, in pixels',
    'max_file_size': "largest upload, bytes or e.g. '20mb'",
    'display_size': 'long side, px, at which larger images are predicted, shown and kept',
    'max_sessions': 'analyses kept at once, one per browser tab (least recently used dropped)',
    'session_ttl': 'seconds an unused analysis is kept',
    'concurrency': 'analyses run at once; further uploads wait',
    'cache_ttl': "seconds before uploaded files and drawn pictures leave Gradio's cache",
}


class ImageRejected(ValueError):
    """An upload the demo does not analyse; the message names the file and
    says what was expected (the page shows it)."""


@dataclass
class Analysis:
    """What the page keeps of one image: enough to draw every picture, at
    a size that does not grow with the upload's beyond ``display_size``.

    Attributes:
        network_input: (H', W', 3) uint8 RGB, the image after the test
            pipeline, which the attention maps are aligned with.
        cls_maps: {block: (K, h, w)} [CLS]-to-patch attention, or None for
            encoders without a [CLS] token.
        extractions: the CBSA layers' extraction maps, in call order
            (``maps`` (1, K, m, h, w) on the CPU in float32).
        image: segmentors: (h, w, 3) uint8 RGB, the upload, shrunk to at
            most ``Limits.display_size`` px on its long side; None for other
            models (nothing is drawn over the upload).
        label: segmentors: (h, w) integer prediction over ``image`` (uint8
            for up to 256 classes); None for other models.
        top_classes: classifiers: [(class id, score)] of the best-scored
            classes, best first; None for other models.
    """
    network_input: np.ndarray
    cls_maps: Optional[Dict[int, np.ndarray]]
    extractions: List[CBSAExtraction]
    image: Optional[np.ndarray] = None
    label: Optional[np.ndarray] = None
    top_classes: Optional[List[Tuple[int, float]]] = None

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays: what a session holds."""
        arrays = [self.network_input, *(self.cls_maps or {}).values()]
        arrays += [a for a in (self.image, self.label) if a is not None]
        tensors = [t for e in self.extractions for t in (e.maps, e.other_mass)]
        return sum(a.nbytes for a in arrays) + sum(t.numel() * t.element_size() for t in tensors)


class AnalysisStore:
    """The analyses of the sessions, bounded: at most ``max_sessions``
    (least recently used dropped first), each dropped after ``ttl`` seconds
    unused. Thread-safe: Gradio runs handlers in worker threads.

    Args:
        max_sessions: analyses kept at once.
        ttl: seconds an analysis is kept unused.
        clock: the time in seconds (``time.monotonic``; tests pass their own).
    """

    def __init__(self,
                 max_sessions: int,
                 ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_sessions < 1:
            raise ValueError(f'max_sessions must be at least 1, not {max_sessions}')
        self.max_sessions = max_sessions
        self.ttl = ttl
        self.clock = clock
        self._items: 'OrderedDict[str, Tuple[Analysis, float]]' = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, analysis: Analysis) -> None:
        """Keep ``analysis`` as session ``key``'s (replacing its last one)."""
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (analysis, self.clock())
            self._expire()
            while len(self._items) > self.max_sessions:
                self._items.popitem(last=False)

    def get(self, key: Optional[str]) -> Optional[Analysis]:
        """Session ``key``'s analysis (now used: its time restarts), or None
        when it has none, or it was dropped."""
        with self._lock:
            self._expire()
            if key not in self._items:
                return None
            analysis, _ = self._items.pop(key)
            self._items[key] = (analysis, self.clock())
            return analysis

    def drop(self, key: Optional[str]) -> None:
        """Forget session ``key``'s analysis (none: nothing to do)."""
        with self._lock:
            self._items.pop(key, None)

    def __contains__(self, key: Optional[str]) -> bool:
        """Whether session ``key`` has an analysis kept (not counted as a use)."""
        with self._lock:
            self._expire()
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes of the analyses kept."""
        with self._lock:
            return sum(a.nbytes for a, _ in self._items.values())

    def _expire(self) -> None:
        # in order of use: the first one still fresh ends the sweep
        deadline = self.clock() - self.ttl
        while self._items and next(iter(self._items.values()))[1] < deadline:
            self._items.popitem(last=False)


def layer_label(ext: CBSAExtraction, index: int) -> str:
    """How a CBSA layer is offered on the page: its place and number."""
    layer = ext.layer if ext.layer is not None else index
    return f'{ext.where} layer {layer}' + (f' (call {ext.call})' if ext.call else '')


def predict_at_most(model, long_side: int) -> None:
    """Make ``model`` resize its logits to at most ``long_side`` px on the
    long side instead of to the input image's size.

    mmseg's ``postprocess_result`` resizes the (C, h, w) logits to the
    image's ``ori_shape``: 4 C bytes per pixel of the upload (1.5 GB for an
    8000x8000 image and 6 classes, 38 GB for ADE20K's 150), where the page
    shows ``long_side`` px. The network input is unchanged, and so is the
    prediction of an image no larger than ``long_side``.
    """
    postprocess = model.postprocess_result

    def postprocess_result(seg_logits, data_samples=None):
        for sample in data_samples or ():
            h, w = sample.ori_shape
            if max(h, w) > long_side:
                sample.set_metainfo(dict(ori_shape=fit_size((h, w), long_side)))
        return postprocess(seg_logits, data_samples)

    model.postprocess_result = postprocess_result


def image_size(path: str) -> Optional[Tuple[int, int]]:
    """(width, height) of an image file from its header, without decoding
    it; None for a file PIL does not recognise (OpenCV may still decode it).

    Raises:
        ImageRejected: PIL refuses the header as a decompression bomb (over
            twice ``PIL.Image.MAX_IMAGE_PIXELS``).
    """
    import PIL.Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(path) as image:
                return image.size
    except PIL.Image.DecompressionBombError as e:
        raise ImageRejected(str(e)) from e
    except Exception:  # not PIL's format: OpenCV decides, and its size is checked then
        return None


def release_memory() -> None:
    """Give the memory freed by an analysis back to the system.

    Collects the garbage in reference cycles, then has glibc return its
    free pages: it keeps freed blocks smaller than its mmap threshold (up
    to 32 MB) in its heaps, one per worker thread, for later use, and after
    a few large uploads a server would hold hundreds of MB it no longer
    uses. ``malloc_trim`` returns them; elsewhere than glibc there is no
    trimming.
    """
    import ctypes
    import ctypes.util

    # the recorder, mmseg's data samples and Gradio's events leave reference
    # cycles, which hold their arrays until the collector runs
    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


#: how many of a classifier's classes the page lists
TOP_K = 5


class AttentionOnly:
    """What the page shows of a model's own prediction, for a model whose
    only output is its encoder's attention (the zero-shot [CLS] probe,
    ``CLSAttentionProbe``, configs/zero_shot): a note in place of the
    segmentation, and no classes. Its subclasses show a segmentor's and a
    classifier's prediction; the [CLS] and CBSA panels are the same for all.

    Args:
        model: from :func:`~mmseg_cbsa.apps.demos.attention_model`.
        display_size: long side, px, of what an analysis keeps of an upload.
        opacity: weight of the class colours over the image (segmentors).
    """
    #: whether the page has a segmentation picture beside the upload
    segments = False

    def __init__(self, model, display_size: int, opacity: float) -> None:
        self.model_name = type(model).__name__

    def intro(self) -> str:
        """The page's first line, under its title."""
        return ("Upload an image: the panels below show where its encoder's attention goes "
                '(the [CLS] token per block and head, the CBSA representatives).')

    def note(self) -> str:
        """What the page says in place of the segmentation."""
        return (f'**No segmentation, no classes:** {self.model_name} has no decode head and no '
                "classifier head; its output is its encoder's attention, shown below.")

    def keep(self, image: np.ndarray, sample) -> dict:
        """The :class:`Analysis` fields that keep the model's prediction
        (none here), from the (H, W, 3) uint8 RGB upload and the model's
        data sample (:func:`~mmseg_cbsa.apps.demos.record_attention`)."""
        return {}

    def summary(self, analysis: Analysis) -> str:
        """The Markdown under the upload: what was predicted (nothing here)."""
        return ''


class TopClassesShown(AttentionOnly):
    """An image classifier's prediction (mmpretrain classifiers:
    configs/classification, configs/finetune, converted authors'
    checkpoints): its :data:`TOP_K` best-scored classes and their scores,
    and a note that it makes no segmentation.

    The class names are those of the config's test dataset (its
    ``METAINFO``, in the config's scope), where it names as many classes
    as the head scores; otherwise the page lists class numbers and says why.
    """

    def __init__(self, model, display_size: int, opacity: float) -> None:
        super().__init__(model, display_size, opacity)
        dataset, names = dataset_class_names(model.cfg)
        num_classes = getattr(getattr(model, 'head', None), 'num_classes', None)
        self.classes = names if names is not None and len(names) == num_classes else None
        self.why_numbers = '' if self.classes is not None else (
            f'class numbers: the test dataset ({dataset}) names '
            f'{"no" if names is None else len(names)} classes, the head scores {num_classes}')

    def intro(self) -> str:
        return (f'Upload an image: the model classifies it (its top {TOP_K} classes), and the '
                'panels below show where its attention goes.')

    def note(self) -> str:
        return (f'**No segmentation:** {self.model_name} is an image classifier: it scores '
                f'classes for the whole image (its top {TOP_K} are listed here) and draws no '
                "map. The [CLS] and CBSA panels show where its encoder's attention goes.")

    def keep(self, image: np.ndarray, sample) -> dict:
        scores = sample.pred_score.float().cpu()
        top = scores.topk(min(TOP_K, len(scores)))
        return dict(top_classes=list(zip(top.indices.tolist(), top.values.tolist())))

    def summary(self, analysis: Analysis) -> str:
        lines = [
            f"**top {len(analysis.top_classes)} classes**, with the head's scores" +
            (f' ({self.why_numbers})' if self.why_numbers else ''), ''
        ]
        for rank, (c, score) in enumerate(analysis.top_classes, 1):
            name = self.classes[c] if self.classes is not None else f'class {c}'
            lines.append(f'{rank}. {name} ({score:.3g})')
        return '\n'.join(lines)


class SegmentationShown(AttentionOnly):
    """A segmentor's prediction: its segmentation over the upload with a
    legend, and the names of the classes found (classes and colours from
    the checkpoint, as mmseg's ``init_model`` sets them). Its logits are
    resized to at most ``display_size`` px (:func:`predict_at_most`)."""
    segments = True

    def __init__(self, model, display_size: int, opacity: float) -> None:
        super().__init__(model, display_size, opacity)
        predict_at_most(model, display_size)
        self.opacity = opacity
        self.visualizer = standalone_visualizer()
        meta = model.dataset_meta
        self.visualizer.set_dataset_meta(meta['classes'], meta.get('palette'))

    def intro(self) -> str:
        return 'Upload an image: the model segments it, and the panels below show where its ' \
               'attention goes.'

    def keep(self, image: np.ndarray, sample) -> dict:
        # the prediction at most display_size px (predict_at_most): the
        # upload is shrunk to it, and nothing at the upload's size is kept
        label = sample.pred_sem_seg.data[0].cpu().numpy()
        num_classes = len(self.visualizer.dataset_meta['classes'])
        label = label.astype(np.min_scalar_type(max(num_classes - 1, 1)))
        if label.shape != image.shape[:2]:
            import cv2
            image = cv2.resize(image, label.shape[::-1], interpolation=cv2.INTER_AREA)
        else:
            image = image.copy()  # not a view of the caller's (larger) array
        return dict(image=image, label=label)

    def summary(self, analysis: Analysis) -> str:
        return f'**predicted:** {", ".join(self.classes_found(analysis))}'

    def classes_found(self, analysis: Analysis) -> List[str]:
        """Names of the classes in the prediction, by id."""
        classes = self.visualizer.dataset_meta['classes']
        return [classes[c] for c in present_classes(analysis.label, len(classes))]

    def picture(self, analysis: Analysis) -> np.ndarray:
        """The prediction over the image with a legend of the classes present
        (:func:`~mmseg_cbsa.visualization.draw_segmentation`); images smaller
        than ``PICTURE_SIZE`` are first enlarged by a whole factor (pixels
        repeated), so that the page shows them."""
        import torch
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample

        f = max(1, PICTURE_SIZE // max(analysis.image.shape[:2]))
        label = torch.from_numpy(analysis.label.astype(np.int64)[None])
        sample = SegDataSample(
            pred_sem_seg=PixelData(data=label.repeat_interleave(f, -2).repeat_interleave(f, -1)))
        image = analysis.image.repeat(f, 0).repeat(f, 1)
        return draw_segmentation(
            self.visualizer,
            image,
            sample,
            draw_gt=False,
            with_labels=False,
            legend=True,
            opacity=self.opacity)


def prediction_shown(model, display_size: int, opacity: float) -> AttentionOnly:
    """What the page shows of ``model``'s own prediction, by its kind: an
    mmseg segmentor's segmentation, an mmpretrain classifier's top classes,
    nothing for any other model (the [CLS] probe)."""
    from mmpretrain.models.classifiers import BaseClassifier
    from mmseg.models.segmentors import BaseSegmentor
    kinds = ((BaseSegmentor, SegmentationShown), (BaseClassifier, TopClassesShown))
    shown = next((cls for base, cls in kinds if isinstance(model, base)), AttentionOnly)
    return shown(model, display_size, opacity)


def dataset_class_names(cfg) -> Tuple[Optional[str], Optional[List[str]]]:
    """(type, class names) of a config's test dataset, as the dataset class
    declares them (its ``METAINFO`` merged with the config's ``metainfo``),
    looked up in the config's scope (mmpretrain's for the classifiers:
    ``ImageNet``, ``CIFAR10``...) without building the dataset; the names
    are None where it declares none."""
    dataset, cls = config_dataset(cfg)
    kind = dataset.get('type')
    if kind is None:
        return None, None
    classes = None
    if cls is not None and hasattr(cls, '_load_metainfo'):
        classes = cls._load_metainfo(dataset.get('metainfo')).get('classes')
    return kind, None if classes is None else list(classes)


class WebDemo:
    """A model and the pictures the page shows.

    Args:
        config, checkpoint: the model: a segmentor (a sliding-window test
            config runs on the whole image, so that every map covers it), an
            mmpretrain classifier or the [CLS] probe, with its checkpoint or
            a converted authors' one
            (:func:`~mmseg_cbsa.apps.demos.attention_model`).
        device: where the model runs.
        opacity: weight of the class colours over the image.
        limits: what bounds the page's memory and disk (:class:`Limits`).
        precision: ``'float32'`` (default; the command line's is
            ``'auto'``), ``'bf16'``, ``'fp16'`` or ``'auto'``, resolved once on the model's device
            (:func:`~mmseg_cbsa.utils.precision.resolve_precision`) and kept
            in ``self.precision``; every analysis runs under autocast to it.
    """

    def __init__(self,
                 config: str,
                 checkpoint: str,
                 device: str = 'cpu',
                 opacity: float = 0.5,
                 limits: Optional[Limits] = None,
                 precision: str = 'float32') -> None:
        self.config = config
        self.limits = limits or Limits()
        self.model = attention_model(config, checkpoint, device)
        self.precision = announce_precision(precision, self.model)
        #: what the page shows of the model's own prediction (by its kind)
        self.prediction = prediction_shown(self.model, self.limits.display_size, opacity)
        self.patch_size = getattr(self.model.backbone, 'patch_size', None)
        self.store = AnalysisStore(self.limits.max_sessions, self.limits.session_ttl)

    def check_size(self, height: int, width: int, name: str) -> None:
        """Refuse an image of more than ``limits.max_pixels`` pixels.

        Raises:
            ImageRejected: naming the file, its size and the limit.
        """
        limit = self.limits.max_pixels
        if height * width > limit:
            raise ImageRejected(
                f'{name}: the image is {width}x{height} = {height * width:,} pixels; this demo '
                f'takes images of at most {limit:,} pixels (its --max-pixels): scale it down '
                'and upload it again')

    def read_upload(self, path: str, name: Optional[str] = None) -> np.ndarray:
        """An uploaded file as the (H, W, 3) uint8 RGB image the command-line
        demos read from it (:func:`~mmseg_cbsa.utils.images.read_image`: a
        16-bit image scaled to 8 bits, a grey one repeated in 3 channels),
        once its size is checked from its header.

        Args:
            path: the file (in Gradio's upload cache).
            name: what the user called it (default: the file's name).

        Raises:
            ImageRejected: an empty file, one that is not an image, or a too
                large image; the message names the file and what was expected.
        """
        name = name or os.path.basename(path)
        try:
            size = os.path.getsize(path)
        except FileNotFoundError:
            raise ImageRejected(
                f'{name}: the upload is no longer on the server (its cache keeps files '
                f'{self.limits.cache_ttl} s, see --cache-ttl); upload it again') from None
        if size == 0:
            raise ImageRejected(f'{name}: the file is empty (0 bytes); {EXPECTED_IMAGE}')
        try:
            header = image_size(path)
        except ImageRejected as e:
            raise ImageRejected(f'{name}: {e}; this demo takes images of at most '
                                f'{self.limits.max_pixels:,} pixels (its --max-pixels)') from None
        if header is not None:
            self.check_size(header[1], header[0], name)
        try:
            image = read_image(path)
        except UnreadableImage:
            raise ImageRejected(f'{name}: cannot be decoded as an image ({size} bytes); '
                                f'{EXPECTED_IMAGE}') from None
        self.check_size(*image.shape[:2], name)
        return image

    def analyse(self, image: np.ndarray, name: str = 'the image') -> Analysis:
        """One forward pass on an (H, W, 3) uint8 RGB image.

        Raises:
            ImageRejected: the image has more than ``limits.max_pixels`` pixels.
        """
        self.check_size(*image.shape[:2], name)
        image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        rec, sample = record_attention(self.model, image, precision=self.precision)
        prediction = self.prediction.keep(image, sample)
        del sample
        cls_maps = None
        if rec.cls_maps is not None:
            cls_maps = {i: m[0].float().cpu().numpy() for i, m in rec.cls_maps.items()}
        for ext in rec.extractions:
            # own storage: a view would keep the recorded attention matrix alive
            ext.maps = ext.maps.float().cpu().clone()
            ext.other_mass = ext.other_mass.float().cpu().clone()
        return Analysis(rec.input_images()[0].copy(), cls_maps, rec.extractions, **prediction)

    def segmentation(self, analysis: Analysis) -> np.ndarray:
        """A segmentor's prediction over the image with a legend
        (:meth:`SegmentationShown.picture`)."""
        return self.prediction.picture(analysis)

    def predicted_classes(self, analysis: Analysis) -> List[str]:
        """Names of the classes in a segmentor's prediction, by id."""
        return self.prediction.classes_found(analysis)

    def cls_picture(self, analysis: Analysis, block: int, head: int) -> np.ndarray:
        """[CLS] attention of one block and head over the network input,
        scaled to its maximum, with a title and a colour bar."""
        maps = analysis.cls_maps[block]
        picture = attention_overlay(analysis.network_input, maps[head], PICTURE_SIZE,
                                    self.patch_size)
        return label_grid(
            [[append_colour_bar(picture)]],
            pad=0,
            title=(f'[CLS] attention to each patch, encoder block {block}, head {head}\n'
                   f'scaled to its maximum, {maps[head].max():.3g}'))

    def representative_picture(self, analysis: Analysis, layer: int, head: int,
                               rep: int) -> np.ndarray:
        """What representative ``rep`` of CBSA layer ``layer`` (index into
        ``analysis.extractions``) extracts in ``head``: its row of ``A`` over
        the network input, with the patches it starts from outlined (none
        for learned representatives)."""
        ext = analysis.extractions[layer]
        amap = ext.maps[0, head, rep].numpy()
        cells = ext.cells()
        tile = extraction_tile(
            analysis.network_input,
            amap,
            None if cells is None else cells[rep].tolist(),
            PICTURE_SIZE,
            self.patch_size,
            number=rep)
        mass = 1 - float(ext.other_mass[0, head, rep])
        start = ('learned representative: it starts from no patch'
                 if cells is None else 'white box: the patches it starts from')
        return label_grid(
            [[append_colour_bar(tile)]],
            pad=0,
            title=(f'{ext.name}, head {head}: representative {rep} of {ext.maps.shape[2]}'
                   f'\nits row of A = softmax(Q0 W^T / sqrt p) over the image, scaled to its max'
                   f'\n{start}; {mass:.2f} of its mass on patches'))

    def forget(self, key: Optional[str]) -> None:
        """Drop session ``key``'s analysis (its tab closed, or it expired)
        and give the memory back."""
        self.store.drop(key)
        release_memory()

    def expired_message(self) -> str:
        """What the page says when a session's analysis was dropped."""
        return ('The analysis of this image was dropped to free memory (unused for '
                f'{self.limits.session_ttl:g} s, or {self.limits.max_sessions} newer sessions '
                'came): upload the image again.')

    def build(self) -> 'gradio.Blocks':
        """The Gradio page (a ``gradio.Blocks``; not launched).

        Beside the upload: a segmentor's segmentation (``#segmentation``),
        or a note that the model makes none (``#no-segmentation``); then
        what it predicts (``#classes``, :attr:`prediction`'s summary).

        A session's analysis lives in :attr:`store` under the session's id,
        which a ``gradio.State`` holds: the state expires after
        ``limits.session_ttl`` s unused (every event sets it again) and
        takes the analysis with it, and so does closing the tab (Gradio
        itself keeps a closed session's state for an hour).
        """
        os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'
        import gradio as gr
        name = os.path.splitext(os.path.basename(self.config))[0]
        cache_ttl = int(self.limits.cache_ttl)
        with gr.Blocks(
                title=f'mmseg_cbsa: {name}',
                analytics_enabled=False,
                delete_cache=(min(cache_ttl, 600), cache_ttl)) as page:
            state = gr.State(
                None, time_to_live=self.limits.session_ttl, delete_callback=self.forget)
            gr.Markdown(f'## {name}\n{self.prediction.intro()}')
            with gr.Row():
                upload = gr.Image(
                    type='filepath',
                    sources=['upload'],
                    label='image',
                    height=PICTURE_SIZE,
                    elem_id='upload')
                if self.prediction.segments:
                    seg = [
                        gr.Image(
                            type='numpy',
                            format='png',
                            label='segmentation',
                            height=PICTURE_SIZE,
                            interactive=False,
                            elem_id='segmentation')
                    ]
                else:  # said where the segmentation would be; the classes beside it
                    seg = []
                    with gr.Column():
                        gr.Markdown(self.prediction.note(), elem_id='no-segmentation')
                        classes = gr.Markdown(elem_id='classes')
            if self.prediction.segments:
                classes = gr.Markdown(elem_id='classes')
            with gr.Row():
                with gr.Column():
                    gr.Markdown('### [CLS] attention\nWhere the class token looks, per '
                                'encoder block and head.')
                    cls_block, cls_head = _dropdowns(('encoder block', 'cls-block'),
                                                     ('head', 'cls-head'))
                    cls_note, cls_image = gr.Markdown(elem_id='cls-note'), _picture('cls-picture')
                with gr.Column():
                    gr.Markdown('### CBSA representatives\nWhere one representative '
                                'extracts its content from (its row of A).')
                    rep_layer, rep_head = _dropdowns(('CBSA layer', 'rep-layer'),
                                                     ('head', 'rep-head'))
                    rep_index = gr.Slider(
                        0, 1, step=1, value=0, label='representative', elem_id='rep-index')
                    rep_note, rep_image = gr.Markdown(elem_id='rep-note'), _picture('rep-picture')

            def run(upload: Optional[dict], request: gr.Request):
                key = request.session_hash or uuid.uuid4().hex
                if upload is None:  # cleared
                    self.forget(key)
                    return (None, *[None] * len(seg), '', *self._cls_widgets(None),
                            *self._rep_widgets(None))
                # the file as uploaded (Gradio does not decode it: preprocess
                # is off), so that it is read as the command-line demos read it
                name = upload.get('orig_name') or os.path.basename(upload['path'])
                try:
                    analysis = self.analyse(self.read_upload(upload['path'], name), name)
                except ImageRejected as e:
                    raise gr.Error(str(e), title='Not analysed', print_exception=False) from None
                finally:
                    release_memory()  # what the upload's size took
                self.store.put(key, analysis)
                drawn = [self.segmentation(analysis)] if seg else []
                return (key, *drawn, self.prediction.summary(analysis),
                        *self._cls_widgets(analysis), *self._rep_widgets(analysis))

            def kept(key: Optional[str], chosen) -> Optional[Analysis]:
                analysis = self.store.get(key)
                if analysis is None and chosen is not None:
                    gr.Warning(self.expired_message())
                return analysis

            def show_cls(key, block, head):
                analysis = kept(key, block)
                if analysis is None or analysis.cls_maps is None or block is None:
                    return key, gr.update()
                return key, self.cls_picture(analysis, int(block), int(head or 0))

            def show_rep(key, layer, head, rep):
                analysis = kept(key, layer)
                if analysis is None or not analysis.extractions or layer is None:
                    return key, gr.update(), gr.update()
                m = analysis.extractions[int(layer)].maps.shape[2]
                rep = min(int(rep or 0), m - 1)
                picture = self.representative_picture(analysis, int(layer), int(head or 0), rep)
                return key, picture, gr.update(maximum=m - 1, value=rep)

            def end_session(request: gr.Request):
                self.forget(request.session_hash)

            upload.change(
                run,
                upload, [
                    state, *seg, classes, cls_block, cls_head, cls_note, cls_image, rep_layer,
                    rep_head, rep_index, rep_note, rep_image
                ],
                preprocess=False,
                concurrency_limit=self.limits.concurrency,
                concurrency_id='analysis')
            for widget in (cls_block, cls_head):
                widget.input(show_cls, [state, cls_block, cls_head], [state, cls_image])
            for widget in (rep_layer, rep_head, rep_index):
                widget.input(show_rep, [state, rep_layer, rep_head, rep_index],
                             [state, rep_image, rep_index])
            page.unload(end_session)
        return page

    def _cls_widgets(self, analysis: Optional[Analysis]) -> Tuple:
        """Updates of the [CLS] tab for a new analysis: block and head
        choices, a note, the first picture."""
        import gradio as gr
        if analysis is None or analysis.cls_maps is None:
            note = NO_CLS if analysis is not None else ''
            return (gr.update(choices=[], value=None), gr.update(choices=[],
                                                                 value=None), note, None)
        blocks = sorted(analysis.cls_maps)
        heads = range(len(analysis.cls_maps[blocks[0]]))
        return (gr.update(choices=[(str(b), b) for b in blocks], value=blocks[0]),
                gr.update(choices=[(str(k), k) for k in heads],
                          value=0), '', self.cls_picture(analysis, blocks[0], 0))

    def _rep_widgets(self, analysis: Optional[Analysis]) -> Tuple:
        """Updates of the representatives tab for a new analysis: layer,
        head and representative choices, a note, the first picture."""
        import gradio as gr
        if analysis is None or not analysis.extractions:
            note = NO_CBSA if analysis is not None else ''
            return (gr.update(choices=[], value=None), gr.update(choices=[], value=None),
                    gr.update(maximum=1, value=0), note, None)
        layers = [(layer_label(e, i), i) for i, e in enumerate(analysis.extractions)]
        first = analysis.extractions[0]
        heads, m = first.maps.shape[1], first.maps.shape[2]
        return (gr.update(choices=layers,
                          value=0), gr.update(choices=[(str(k), k) for k in range(heads)], value=0),
                gr.update(minimum=0, maximum=m - 1,
                          value=0), '', self.representative_picture(analysis, 0, 0, 0))


def _dropdowns(*specs: Tuple[str, str]) -> list:
    """Dropdowns side by side, one per (label, elem_id), filled per image."""
    import gradio as gr
    with gr.Row():
        return [gr.Dropdown(label=label, choices=[], elem_id=elem_id) for label, elem_id in specs]


def _picture(elem_id: str):
    """An output picture, sent losslessly (PNG); the picture has its own title."""
    import gradio as gr
    return gr.Image(
        type='numpy', format='png', interactive=False, show_label=False, elem_id=elem_id)


def launch(config: str,
           checkpoint: str,
           host: str = '127.0.0.1',
           port: int = 7860,
           device: str = 'cpu',
           opacity: float = 0.5,
           limits: Optional[Limits] = None,
           precision: str = 'float32') -> None:
    """Serve the demo page of a model until interrupted (no share link, no
    analytics, nothing fetched from outside), within ``limits``, running it
    in ``precision`` (:class:`WebDemo`)."""
    serve_page(WebDemo(config, checkpoint, device, opacity, limits, precision), host, port)


def serve_page(demo: WebDemo, host: str, port: int, block: bool = True) -> 'gradio.Blocks':
    """Serve ``demo``'s page on ``host:port`` with its limits; with
    ``block=False`` return the running ``gradio.Blocks`` (its ``close()``
    stops it) instead of waiting until interrupted."""
    page = demo.build()
    if block:
        # the server owns the process, and what is loaded by now (torch,
        # mmseg, Gradio, the model) lives as long: out of the collector's
        # sight, the full collection after each analysis (release_memory)
        # takes a millisecond instead of 0.3 s
        gc.freeze()
    page.launch(
        server_name=host,
        server_port=port,
        share=False,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        footer_links=[],
        max_file_size=demo.limits.file_size_bytes,
        state_session_capacity=GRADIO_SESSIONS,
        theme=_offline_theme(),
        prevent_thread_lock=not block)
    return page


def _offline_theme():
    """Gradio's default theme on the browser's own fonts (no font files to fetch)."""
    import gradio as gr
    return gr.themes.Default(
        font=['ui-sans-serif', 'system-ui', 'sans-serif'], font_mono=['ui-monospace', 'monospace'])


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line of ``demo/web_demo.py`` (and ``python -m`` of this module)."""
    p = argparse.ArgumentParser(description='Interactive demo in the browser: the prediction '
                                '(segmentation or top classes), [CLS] attention and CBSA '
                                'representatives.')
    p.add_argument('config', help='a segmentor, classifier or [CLS] probe config')
    p.add_argument('checkpoint', help="its weights, or a converted authors' checkpoint")
    p.add_argument(
        '--host', default='127.0.0.1', help='address to serve on (0.0.0.0 for other machines)')
    p.add_argument('--port', type=int, default=7860)
    p.add_argument('--device', default='cpu')
    add_precision_arg(p, 'auto')
    p.add_argument(
        '--opacity', type=float, default=0.5, help='weight of the class colours over the image')
    limits = p.add_argument_group('limits (what bounds memory and disk, docs/demos.md)')
    for field in fields(Limits):
        limits.add_argument(
            '--' + field.name.replace('_', '-'),
            type=field.type,
            default=field.default,
            help=f'{LIMIT_HELP[field.name]} (default %(default)s)')
    args = p.parse_args(argv)
    try:
        args.limits = Limits(**{field.name: getattr(args, field.name) for field in fields(Limits)})
    except ValueError as e:
        p.error(str(e))
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    launch(args.config, args.checkpoint, args.host, args.port, args.device, args.opacity,
           args.limits, args.precision)


if __name__ == '__main__':
    main()
