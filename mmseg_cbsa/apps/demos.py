"""What the demos do: run a model on image files and write pictures.

* :func:`predict_images` (``demo/image_demo.py``): by the kind of model,
  :func:`segment_images`, ``input | prediction [| ground truth]`` with a
  class legend, for any mmseg segmentor, or for an exported ONNX graph run
  by onnxruntime; :func:`classify_images`, the image under an image
  classifier's top classes;
* :func:`draw_attention_maps` (``demo/attention_demo.py``): [CLS] attention
  grids and CBSA representative figures;
* :func:`draw_zero_shot_masks` (``demo/zero_shot_demo.py``): the zero-shot
  masks of the [CLS] attention (paper appendix C) per block and head.

Segmentors, mmpretrain classifiers and the [CLS] probe are told apart by the
class their config builds (:func:`model_class`); a model trained on
synthetic images gets a note (:func:`synthetic_data_note`). All take files
and folders, show one progress bar (mmengine's, on stderr)
over all inputs and keep going past a bad input: an image that cannot be
read or processed is reported on stderr by name and skipped, and once every
other image is done :class:`ImageFailures` lists the skipped ones (the
scripts then exit with status 1). What they write is listed on stdout
(one path per line) once the bar is complete, so that the two do not mix
on a terminal. Inputs whose outputs would have the same name
(``a/x.jpg`` and ``b/x.jpg``) are refused before anything runs
(:func:`unique_images`); the same file named twice is processed once. An
output folder inside an input folder, an output that would replace an input
file, and existing pictures of an earlier run (unless ``overwrite``) are
refused before anything runs (:func:`check_demo_outputs`).
"""
import argparse
import fnmatch
import os
import os.path as osp
import sys
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from ..analysis.applicability import NotApplicable
from ..analysis.attention_maps import AttentionRecorder, CBSAExtraction
from ..analysis.zero_shot import config_share
from ..apis import SegInferencer, build_model, image_pipeline, init_model
from ..datasets.metainfo import config_dataset, dataset_meta
from ..deployment import OnnxSegmentor, announce_onnx_precision, onnx_precision
from ..evaluation import mass_share_mask
from ..models.backbones import has_cls_attention, no_cls_attention
from ..registry import MODELS, SCOPE, TRANSFORMS, build_in_scope
from ..utils import collect_images
from ..utils.images import UnreadableImage, read_image
from ..utils.outputs import OutputExistsError, check_output_dir
from ..utils.precision import add_precision_arg, announce_precision, autocast, outputs_to_float32
from ..visualization import (attention_overlay, cbsa_extraction_figure, cls_attention_grid,
                             input_prediction_truth, label_grid, standalone_visualizer)


class ImageFailures(RuntimeError):
    """Some images were skipped; every other one was processed.

    Attributes:
        failures: ``{path: reason}`` of the skipped images, in input order.
        written: the paths written for the other images.
    """

    def __init__(self, failures: Dict[str, str], total: int, written: List[str]) -> None:
        self.failures = failures
        self.written = written
        super().__init__(f'{len(failures)} of {total} images failed and were skipped: ' +
                         ', '.join(failures))


#: what ends a demo script with ``error: <message>``, exit status 1, and no
#: traceback (``mmseg_cbsa.utils.config.exit_on_input_error``): images that
#: were skipped, and inputs refused before anything runs: a missing file,
#: outputs that would replace files, and the ValueErrors (a model kind a
#: demo does not serve, ``--layers``, ``--share``, a checkpoint or graph
#: that does not fit the config)
DEMO_ERRORS = (ImageFailures, OutputExistsError, FileNotFoundError, ValueError)


def demo_parser(doc: str, checkpoint_help: str = 'checkpoint') -> argparse.ArgumentParser:
    """A demo script's command line, described by the first line of its
    ``doc``: ``CONFIG CHECKPOINT IMAGE_OR_FOLDER [...] --out DIR
    [--overwrite] [--device cpu] [--precision auto]`` (``--bf16``: a
    deprecated alias of ``--precision bf16``); the script adds its own
    options and runs the model in :func:`demo_precision`."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint', help=checkpoint_help)
    p.add_argument('images', nargs='+', help='image files and/or folders')
    p.add_argument('--out', required=True, help='output folder (not an input folder)')
    p.add_argument(
        '--overwrite', action='store_true', help='replace pictures of an earlier run in --out')
    p.add_argument('--device', default='cpu')
    add_precision_arg(p, 'auto')
    return p


def demo_precision(args: argparse.Namespace) -> str:
    """The precision a demo runs its model in, resolved once from
    ``args.precision`` on ``args.device``
    (:func:`~mmseg_cbsa.utils.precision.resolve_precision`) and said in one
    line on stderr (:func:`~mmseg_cbsa.utils.precision.announce_precision`).
    An exported ``.onnx`` graph runs in onnxruntime's precisions
    (:func:`~mmseg_cbsa.deployment.announce_onnx_precision`: ``'auto'`` is the graph
    as exported, ``'fp16'`` converts it, ``'bf16'`` is refused)."""
    if osp.splitext(args.checkpoint)[1].lower() == '.onnx':
        return announce_onnx_precision(args.precision)
    return announce_precision(args.precision, args.device)


def add_block_options(p: argparse.ArgumentParser, layers_default: str, tile_help: str) -> None:
    """``--layers`` (encoder blocks, negative from the end; ``layers_default``
    says which when it is not given) and ``--tile`` (px, default 96) of the
    demos that draw per encoder block."""
    p.add_argument(
        '--layers',
        type=int,
        nargs='+',
        help=f'encoder blocks to draw (negative from the end; default {layers_default})')
    p.add_argument('--tile', type=int, default=96, help=tile_help)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """An (H, W, 3) RGB image as the contiguous BGR array mmseg's pipelines
    load from files (``LoadImageFromNDArray``)."""
    return np.ascontiguousarray(image[..., ::-1])


def unique_images(images: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Input files with distinct output names, and those names (the file stems).

    The same file named twice (a folder and a file in it, or two spellings
    of one path) is kept once, at its first place.

    Raises:
        ValueError: different files with the same stem (``a/x.jpg`` and
            ``b/x.jpg``, or ``x.jpg`` and ``x.png``), whose outputs would
            overwrite each other; the message lists them. Raised before any
            image is processed.
    """
    seen, kept = set(), []
    for path in images:
        key = osp.realpath(path)
        if key not in seen:
            seen.add(key)
            kept.append(path)
    stems = [osp.splitext(osp.basename(p))[0] for p in kept]
    by_stem: Dict[str, List[str]] = {}
    for path, stem in zip(kept, stems):
        by_stem.setdefault(stem, []).append(path)
    clashes = {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}
    if clashes:
        listed = '; '.join(f"'{stem}': {', '.join(paths)}" for stem, paths in clashes.items())
        raise ValueError(
            f'different images share a name and their outputs would overwrite each other '
            f'({listed}): rename them or run them separately')
    return kept, stems


def check_demo_outputs(out_dir: str,
                       inputs: Sequence[str],
                       images: Sequence[str],
                       names: Sequence[str],
                       overwrite: bool = False) -> None:
    """Refuse ``out_dir`` before a demo runs: it may not lie inside a folder
    given as input, no output name may be an input image, and files of
    ``names`` (relative to ``out_dir``) already there are replaced only with
    ``overwrite`` (:func:`~mmseg_cbsa.utils.outputs.check_output_dir`)."""
    folders = [p for p in inputs if osp.isdir(p)]
    check_output_dir(out_dir, names, [*folders, *images], overwrite)


def demo_inputs(
    images: Sequence[str],
    out_dir: str,
    outputs: Callable[[List[str]], List[str]],
    overwrite: bool = False,
    also_read: Sequence[str] = ()) -> Tuple[List[str], List[str]]:
    """The image files of ``images`` (files and folders) and their names
    (stems), checked before a demo runs: different files with one name are
    refused (:func:`unique_images`), and so is ``out_dir`` for the files
    ``outputs(stems)`` would write (:func:`check_demo_outputs`; ``also_read``:
    further inputs, e.g. a ground-truth folder)."""
    files, stems = unique_images(collect_images(images))
    check_demo_outputs(out_dir, [*images, *also_read], files, outputs(stems), overwrite)
    return files, stems


def image_folders(stems: Sequence[str]) -> List[str]:
    """Where a demo that writes several pictures per image puts them,
    relative to its output folder: there for one image, in
    ``<image name>/`` for several."""
    return [''] if len(stems) == 1 else list(stems)


def _attention_pictures(folder: str) -> List[str]:
    """The pictures :func:`draw_attention_maps` writes that ``folder`` holds."""
    if not osp.isdir(folder):
        return []
    return [
        n for n in os.listdir(folder)
        if n == 'cls_attention.png' or fnmatch.fnmatch(n, 'cbsa_*_layer*.png')
    ]


class Report:
    """What a demo has to say per image, held back while the progress bar
    runs: ``say`` lines for stdout, ``written`` paths (also said)."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.written: List[str] = []

    def say(self, line: str) -> None:
        self.lines.append(line)

    def wrote(self, path: str) -> None:
        self.written.append(path)
        self.say(path)

    def picture(self, canvas: np.ndarray, path: str) -> None:
        """Write an (H, W, 3) uint8 RGB ``canvas`` to ``path`` and report it."""
        import mmcv
        mmcv.imwrite(mmcv.rgb2bgr(canvas), path)
        self.wrote(path)


def _each_image(images: Sequence[str], process: Callable[[str, str], None], stems: Sequence[str],
                report: Report) -> None:
    """``process(path, stem)`` for every image under one progress bar
    (mmengine's ``ProgressBar`` on stderr); then the warnings raised
    meanwhile, the report's lines on stdout and the failures on stderr, each
    failing image by name, and :class:`ImageFailures` if any failed."""
    from mmengine.utils import ProgressBar
    failures: Dict[str, str] = {}
    # warnings would break the bar's line: they are shown once it is complete
    with warnings.catch_warnings(record=True) as caught:
        bar = ProgressBar(len(images), file=sys.stderr)
        for path, stem in zip(images, stems):
            try:
                process(path, stem)
            except Exception as e:  # report, skip, and go on with the next image
                failures[path] = str(e) if isinstance(e, UnreadableImage) else \
                    f'{path}: {type(e).__name__}: {e}'
            bar.update()
        sys.stderr.write('\n')
        sys.stderr.flush()
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    for line in report.lines:
        print(line, flush=True)
    for reason in failures.values():
        print(f'error: {reason} (skipped)', file=sys.stderr, flush=True)
    if failures:
        raise ImageFailures(failures, len(images), report.written)


def synthetic_data_note(cfg: Config) -> Optional[str]:
    """What a user of a model trained on synthetic images has to know, or
    None: the note is due when the config's training dataset (else its
    test dataset) declares its images synthetic (``METAINFO['synthetic']``,
    e.g. the quickstart's generated miniature ADE20K), whatever the config
    is called."""
    for loader in ('train_dataloader', 'test_dataloader'):
        dataset, cls = config_dataset(cfg, loader)
        if cls is not None:
            meta = {**getattr(cls, 'METAINFO', {}), **(dataset.get('metainfo') or {})}
            if not meta.get('synthetic'):
                return None
            classes = ', '.join(meta.get('classes') or ())
            return (f"note: this model was trained on {dataset['type']}, generated images of "
                    f'synthetic shapes, not photographs: it labels any image with its classes '
                    f'({classes}), so a photo of, say, a cheetah is labelled with these names '
                    'too. For real images use a checkpoint trained on real data '
                    "(docs/model_zoo.md; the authors' checkpoints: docs/converters.md).")
    return None


def say_data_limits(cfg: Optional[Config]) -> None:
    """Print :func:`synthetic_data_note` on stderr, once, where it applies."""
    note = synthetic_data_note(cfg) if cfg is not None else None
    if note:
        print(note, file=sys.stderr, flush=True)


def ground_truth_files(images: Sequence[str],
                       stems: Sequence[str],
                       gt_dir: str,
                       suffix: str = '.png') -> Dict[str, str]:
    """``{image: gt_dir/<stem><suffix>}`` for every image.

    Raises:
        FileNotFoundError: ``gt_dir`` is not a folder, or some images have no
            label file there (all of them listed); raised before anything runs.
    """
    if not osp.isdir(gt_dir):
        raise FileNotFoundError(f'--gt-dir {gt_dir}: not a folder')
    files = {path: osp.join(gt_dir, stem + suffix) for path, stem in zip(images, stems)}
    missing = [f for f in files.values() if not osp.isfile(f)]
    if missing:
        raise FileNotFoundError(f'no ground truth for {len(missing)} of {len(files)} images '
                                f'(expected <image name>{suffix} in {gt_dir}): ' +
                                ', '.join(missing))
    return files


def ground_truth_loader(cfg: Config) -> Callable[[str], np.ndarray]:
    """``load(path) -> (H, W) label map`` as the config's test pipeline loads
    annotations (its annotation-loading step, ``LoadAnnotations`` or a
    subclass, e.g. with ``reduce_zero_label``; mmseg's default
    ``LoadAnnotations`` if it has none)."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    steps = dataset.get('pipeline') or cfg.get('test_pipeline') or []
    step = next((dict(s) for s in steps if 'Annotation' in s['type']), dict(type='LoadAnnotations'))
    transform = build_in_scope(TRANSFORMS, step)
    # the step's own setting, else the dataset's (mmseg checks they agree)
    reduce_zero_label = transform.reduce_zero_label
    if reduce_zero_label is None:
        reduce_zero_label = dataset.get('reduce_zero_label', False)

    def load(path: str) -> np.ndarray:
        results = transform(
            dict(seg_map_path=path, reduce_zero_label=reduce_zero_label, seg_fields=[]))
        return results['gt_seg_map']

    return load


Predictor = Callable[[np.ndarray], 'SegDataSample']  # noqa: F821  (BGR image -> sample)


def torch_predictor(config: str, checkpoint: str, device: str,
                    precision: str) -> Tuple[Predictor, dict]:
    """mmseg's ``MMSegInferencer`` on a checkpoint (the project's
    :class:`~mmseg_cbsa.apis.SegInferencer`: weights-only, fit-checked): the
    predictor and the model's ``dataset_meta``."""
    inferencer = SegInferencer(model=config, weights=checkpoint, device=device)
    # already resolved (and warned about) once by demo_precision
    inferencer.precision = precision
    inferencer.show_progress = False  # the demo's own bar covers all images

    def predict(bgr: np.ndarray):
        return inferencer(bgr, return_datasamples=True)

    return predict, inferencer.model.dataset_meta


def onnx_predictor(config: str, onnx_file: str, device: str,
                   precision: str) -> Tuple[Predictor, dict]:
    """An exported graph run by onnxruntime
    (:class:`~mmseg_cbsa.deployment.OnnxSegmentor`: the config's pipeline,
    preprocessing, test mode and postprocessing), and the class names and
    colours of the config's dataset (:func:`dataset_meta`). ``precision``:
    'float32' (the graph as exported) or 'fp16'
    (:func:`~mmseg_cbsa.deployment.onnx_precision`)."""
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX file not found: {onnx_file}')
    cfg = Config.fromfile(config)
    return OnnxSegmentor(onnx_file, cfg, onnx_precision(precision)[0]), dataset_meta(cfg)


#: how a weights file is run, by its extension (anything else: a checkpoint)
PREDICTORS: Dict[str, Callable[..., Tuple[Predictor, dict]]] = {'.onnx': onnx_predictor}


def _one_picture_each(stems: List[str]) -> List[str]:
    """What the image demo writes: ``<image name>.png`` per image."""
    return [stem + '.png' for stem in stems]


def segment_images(config: str,
                   checkpoint: str,
                   images: Sequence[str],
                   out_dir: str,
                   device: str = 'cpu',
                   opacity: float = 0.5,
                   precision: str = 'float32',
                   gt_dir: Optional[str] = None,
                   gt_suffix: str = '.png',
                   overwrite: bool = False) -> List[str]:
    """Segment images and save ``input | prediction [| ground truth]`` pictures.

    The model is mmseg's ``MMSegInferencer`` on a checkpoint, or, for a
    ``.onnx`` file in its place, the exported graph run by onnxruntime
    (:func:`onnx_predictor`). Each picture is
    :func:`~mmseg_cbsa.visualization.input_prediction_truth` (mmseg's
    visualizer paints the maps; legend of the classes present).

    Args:
        config, checkpoint: any mmseg config and its weights, or the
            ``.onnx`` file exported from it (:mod:`mmseg_cbsa.deployment`).
        images: image files and/or folders; different files must have
            different names (stems), see :func:`unique_images`.
        out_dir: created if needed; receives ``<image name>.png`` per image.
        opacity: weight of the class colours over the image.
        precision: 'float32', or 'bf16' / 'fp16' to run a PyTorch model
            under ``torch.autocast`` to that type
            (:func:`~mmseg_cbsa.utils.precision.autocast`).
        gt_dir: a folder of label maps ``<image name><gt_suffix>``, loaded
            as the config's test pipeline loads annotations
            (:func:`ground_truth_loader`), for a third panel.
        overwrite: replace ``<image name>.png`` files already in ``out_dir``.

    Returns:
        the written paths, also printed one per line.

    Raises:
        ValueError: two different images share a name (before anything runs).
        OutputInInputError, OutputExistsError: ``out_dir`` lies in an input
            folder, would replace an input, or holds pictures of these
            images without ``overwrite`` (:func:`check_demo_outputs`, before
            anything runs).
        FileNotFoundError: ground truth is missing for some images (before
            anything runs).
        ImageFailures: some images could not be read or segmented; they were
            reported on stderr and skipped, every other image was written.
    """
    import torch
    from mmengine.structures import PixelData

    images, stems = demo_inputs(images, out_dir, _one_picture_each, overwrite,
                                [gt_dir] if gt_dir else [])
    say_data_limits(Config.fromfile(config) if osp.isfile(config) else None)
    gt_files = ground_truth_files(images, stems, gt_dir, gt_suffix) if gt_dir else None
    make = PREDICTORS.get(osp.splitext(checkpoint)[1].lower(), torch_predictor)
    predict, meta = make(config, checkpoint, device, precision)
    load_gt = ground_truth_loader(Config.fromfile(config)) if gt_files else None
    visualizer = standalone_visualizer()
    # mmseg's fallback colours where the dataset declares none
    visualizer.set_dataset_meta(meta['classes'], meta.get('palette'))
    os.makedirs(out_dir, exist_ok=True)
    report = Report()

    def segment(path: str, stem: str) -> None:
        image = read_image(path)
        # the decoded pixels, not the file again (mmseg loads images as BGR)
        sample = predict(as_bgr(image))
        if load_gt is not None:
            gt = load_gt(gt_files[path])
            if gt.shape != image.shape[:2]:
                raise ValueError(f'{gt_files[path]}: ground truth is {gt.shape[0]}x'
                                 f'{gt.shape[1]}, the image {image.shape[0]}x{image.shape[1]}')
            sample.gt_sem_seg = PixelData(data=torch.from_numpy(gt.astype(np.int64))[None])
        canvas = input_prediction_truth(visualizer, image, sample, opacity=opacity)
        report.picture(canvas, osp.join(out_dir, stem + '.png'))

    _each_image(images, segment, stems, report)
    return report.written


#: how many of a classifier's classes the image demo lists
TOP_K = 5


def class_names(model) -> Tuple[Optional[List[str]], Optional[str]]:
    """A classifier's class names, by the index its head scores them: those
    of its config's test dataset (:func:`dataset_meta`; mmpretrain's
    ``ImageNet`` names its 1000 classes) where they are as many as the
    head's classes; else None, and why (for a note)."""
    num_classes = getattr(model.head, 'num_classes', None)
    try:
        names = dataset_meta(model.cfg)['classes']
    except KeyError as e:
        return None, f'classes by number: {e.args[0]}'
    if num_classes is not None and len(names) != num_classes:
        return None, (f'classes by number: the test dataset '
                      f'({model.cfg.test_dataloader.dataset.type}) names {len(names)} classes, '
                      f'the head scores {num_classes}')
    return names, None


def top_classes_title(scores: torch.Tensor,
                      names: Optional[Sequence[str]],
                      model_name: str,
                      top_k: int = TOP_K) -> str:
    """The heading of a classifier's picture: what is listed, then one line
    per class of the ``top_k`` best ``scores`` ((num_classes,), the head's
    output, e.g. softmax probabilities): rank, name (or number), score."""
    top = scores.float().topk(min(top_k, len(scores)))
    lines = [
        f"{model_name}: its top {len(top.indices)} of {len(scores)} classes, "
        "with the head's scores"
    ]
    for rank, (c, score) in enumerate(zip(top.indices.tolist(), top.values.tolist()), 1):
        lines.append(f'{rank}. {names[c] if names is not None else f"class {c}"}  {score:.3f}')
    return '\n'.join(lines)


def classify_images(config: str,
                    checkpoint: str,
                    images: Sequence[str],
                    out_dir: str,
                    device: str = 'cpu',
                    precision: str = 'float32',
                    overwrite: bool = False,
                    top_k: int = TOP_K) -> List[str]:
    """Classify images and save each with its top classes as its heading.

    The model is an mmpretrain image classifier (configs/classification,
    configs/finetune; its own or a converted authors' checkpoint), built
    by :func:`attention_model` and run on the config's test pipeline
    (:func:`run_test_step`). Each picture is the image under
    :func:`top_classes_title`; class names are the test dataset's
    (:func:`class_names`; class numbers, with a note saying why, where the
    dataset names none or another count).

    Args:
        config, checkpoint: the classifier's config and weights.
        images, out_dir, overwrite: as for :func:`segment_images`.
        precision: 'float32', or 'bf16' / 'fp16' to run under ``torch.autocast``.
        top_k: how many classes each heading lists.

    Returns:
        the written paths, also printed one per line.

    Raises:
        ImageFailures: as for :func:`segment_images`.
    """
    images, stems = demo_inputs(images, out_dir, _one_picture_each, overwrite)
    model = attention_model(config, checkpoint, device)
    say_data_limits(model.cfg)
    names, why = class_names(model)
    report = Report()
    if why:
        report.say(f'note: {why}')
    os.makedirs(out_dir, exist_ok=True)

    def classify(path: str, stem: str) -> None:
        image = read_image(path)
        with autocast(model, precision):
            sample, _ = run_test_step(model, image)
        title = top_classes_title(sample.pred_score, names, type(model).__name__, top_k)
        report.picture(label_grid([[image]], title=title), osp.join(out_dir, stem + '.png'))

    _each_image(images, classify, stems, report)
    return report.written


#: the options of :func:`segment_images` that :func:`classify_images` takes
CLASSIFY_OPTIONS = ('device', 'precision', 'overwrite')


def predict_images(config: str, checkpoint: str, images: Sequence[str], out_dir: str,
                   **options) -> List[str]:
    """What ``demo/image_demo.py`` does, by the kind of model the config
    builds (:func:`model_class`): a segmentor's pictures
    (:func:`segment_images`, also for an ``.onnx`` graph or a model-index
    name in place of the config file), an image classifier's
    (:func:`classify_images`).

    Args:
        config, checkpoint, images, out_dir: as for :func:`segment_images`.
        options: keyword arguments of :func:`segment_images`; a classifier
            takes ``device``, ``precision`` and ``overwrite`` of them and
            draws no colours (``opacity``).

    Raises:
        NotApplicable: before anything runs, for a model that predicts
            neither pixels nor classes (the [CLS] probe, whose attention
            ``demo/zero_shot_demo.py`` and ``demo/attention_demo.py``
            draw), and for ``gt_dir`` or an ``.onnx`` graph with a classifier.
        Others: as :func:`segment_images` / :func:`classify_images`.
    """
    from mmseg.models.segmentors import BaseSegmentor
    model_type = model_class(Config.fromfile(config)) if osp.isfile(config) else None
    if model_type is None or issubclass(model_type, BaseSegmentor):
        return segment_images(config, checkpoint, images, out_dir, **options)
    from mmpretrain.models.classifiers import BaseClassifier
    name = f'{config} builds a {model_type.__name__}'
    if not issubclass(model_type, BaseClassifier):
        raise NotApplicable(
            f"{name}, which predicts neither pixels nor classes: its output is its encoder's "
            '[CLS] attention. Draw that with demo/zero_shot_demo.py (the zero-shot masks per '
            'block and head) or demo/attention_demo.py (the attention maps).')
    if options.get('gt_dir'):
        raise NotApplicable(f'--gt-dir: {name}, an image classifier; ground-truth label maps '
                            'apply to segmentors')
    if osp.splitext(checkpoint)[1].lower() in PREDICTORS:
        raise NotApplicable(f'{checkpoint}: {name}, an image classifier; this demo runs '
                            'exported graphs of segmentors only (give its checkpoint)')
    return classify_images(config, checkpoint, images, out_dir, **{
        k: v
        for k, v in options.items() if k in CLASSIFY_OPTIONS
    })


def extraction_file_name(ext: CBSAExtraction, index: int) -> str:
    """``cbsa_<where>_layer<i>[_call<j>].png``; ``index`` stands in for a
    layer number the module name does not carry."""
    layer = ext.layer if ext.layer is not None else index
    return f'cbsa_{ext.where}_layer{layer}' + (f'_call{ext.call}' if ext.call else '') + '.png'


def model_class(cfg: Config) -> Optional[type]:
    """The class ``cfg.model`` builds, asked of the registry of the config's
    scope (mmseg_cbsa's, or mmpretrain's for the classifiers), without
    building it; None for a type no registry knows."""
    with MODELS.switch_scope_and_registry(cfg.get('default_scope', SCOPE)) as registry:
        model_type = registry.get(cfg.model.type)
    return model_type if isinstance(model_type, type) else None


def _builds_segmentor(cfg: Config) -> bool:
    """Whether ``cfg.model`` is an mmseg segmentor."""
    from mmseg.models.segmentors import BaseSegmentor
    return issubclass(model_class(cfg) or object, BaseSegmentor)


def attention_model(config: str,
                    checkpoint: str,
                    device: str = 'cpu',
                    say: Callable[[str], None] = print):
    """A config's model for attention pictures, with ``cfg`` set.

    Segmentors are built by :func:`mmseg_cbsa.apis.init_model` (classes and
    palette from the checkpoint, for the web demo); a sliding-window test
    config is switched to whole-image inference (``say`` tells so), so that
    every map covers the image. Other models of the project (mmpretrain
    ``ImageClassifier`` configs, ``CLSAttentionProbe``) are built by
    :func:`mmseg_cbsa.apis.build_model`, which mmseg's ``init_model`` is not
    for (it adds ``pretrained`` / ``train_cfg`` keys the probe refuses and
    reads classes from a decode head); a converted classifier checkpoint's
    ``head.*`` is then ignored by a model without a head.
    """
    cfg = Config.fromfile(config)
    test_cfg = cfg.model.get('test_cfg') or {}
    if test_cfg.get('mode') == 'slide':
        say('note: running the whole image instead of sliding windows')
        cfg.model.test_cfg = dict(mode='whole')
    if _builds_segmentor(cfg):
        return init_model(cfg, checkpoint, device=device)
    model = build_model(cfg, checkpoint, device, seed=None).model
    model.cfg = cfg  # the test pipeline, for record_attention
    return model


def _image_pipeline_from_array(cfg: Config) -> Tuple[Callable[[np.ndarray], dict], bool]:
    """The config's test pipeline (mmseg's, mmpretrain's or the probe's, in
    the config's scope) fed an image array instead of reading a file, as
    mmseg's ``inference_model`` does with ``LoadImageFromNDArray`` (which
    mmpretrain's scope does not have).

    Returns:
        (the pipeline, whether it takes RGB): a pipeline that loads files
        takes BGR, as the file loader gives; one without a loading step
        (in-memory datasets such as mmpretrain's CIFAR) takes the RGB
        arrays such a dataset hands it.
    """
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', SCOPE)):
        steps = image_pipeline(cfg, loads_image=False).transforms
    kept = [t for t in steps if 'LoadImage' not in type(t).__name__]

    def run(img: np.ndarray) -> dict:
        results = dict(img=img, img_path=None, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        for step in kept:
            results = step(results)
        return results

    return run, len(kept) == len(steps)


def record_attention(model,
                     image: np.ndarray,
                     cls_layers: Optional[Sequence[int]] = None,
                     precision: str = 'float32',
                     cbsa: bool = True):
    """One forward of ``model`` (from :func:`attention_model`) on an (H, W, 3)
    RGB image under an
    :class:`~mmseg_cbsa.analysis.attention_maps.AttentionRecorder`.

    A segmentor runs as ``mmseg.apis.inference_model`` runs it; any other
    model (classifier, [CLS] probe) gets the image through its config's
    test pipeline and one ``test_step`` (:func:`run_test_step`). ``cbsa``:
    record the CBSA extraction maps too (the [CLS] maps always).

    Returns:
        (recorder, the model's data sample: a ``SegDataSample`` with
        ``pred_sem_seg`` for a segmentor, with ``cls_attn`` for the probe,
        mmpretrain's ``DataSample`` with ``pred_label`` for a classifier).
    """
    from mmseg.apis import inference_model
    from mmseg.models.segmentors import BaseSegmentor
    with AttentionRecorder(model, cls_layers=cls_layers, cbsa=cbsa) as rec, \
            autocast(model, precision):
        if isinstance(model, BaseSegmentor):
            sample = inference_model(model, as_bgr(image))
            outputs_to_float32([sample])
        else:
            sample, rec.input_is_rgb = run_test_step(model, image)
    return rec, sample


def run_test_step(model, image: np.ndarray):
    """A model that is no segmentor (classifier, [CLS] probe; from
    :func:`attention_model`) on an (H, W, 3) RGB image: the config's test
    pipeline (:func:`_image_pipeline_from_array`) and one ``test_step``.

    Returns:
        (the model's data sample, whether the pipeline took the RGB image:
        the drawn input is turned back to RGB only where it took BGR).
    """
    pipeline, takes_rgb = _image_pipeline_from_array(model.cfg)
    data = pipeline(np.ascontiguousarray(image) if takes_rgb else as_bgr(image))
    with torch.no_grad():
        sample = model.test_step(
            dict(inputs=[data['inputs']], data_samples=[data['data_samples']]))[0]
    return sample, takes_rgb


def extraction_title(ext: CBSAExtraction) -> str:
    """The three title lines of a representative figure: the layer, and what is shown."""
    patch_mass = 1 - ext.other_mass[0]
    m = ext.rep_grid[0] * ext.rep_grid[1]
    start = ('learned representatives (no starting patches)'
             if ext.cells() is None else 'white box: the patches j starts from (pooled)')
    return (f'{ext.name} ({ext.type}): where each of its {m} representatives extracts from\n'
            f'tile j: row j of A = softmax(Q0 W^T / sqrt p) over the image, scaled to its max\n'
            f'{start}; {ext.rep_grid[0]}x{ext.rep_grid[1]} representatives, '
            f'{ext.hw_shape[0]}x{ext.hw_shape[1]} patches, '
            f'mass on patches {patch_mass.min():.2f}-{patch_mass.max():.2f}')


#: title of the [CLS] grid
CLS_TITLE = '[CLS] attention to each patch\nrows: encoder blocks, columns: heads; ' \
            'each map scaled to its max'


def chosen_blocks(model, layers: Optional[Sequence[int]]) -> Optional[set]:
    """The encoder blocks ``layers`` names (negative from the end), as
    indices; None for all (``layers`` None).

    Raises:
        ValueError: ``layers`` names blocks the encoder does not have
            (before anything runs).
    """
    if layers is None:
        return None
    num_blocks = getattr(model.backbone, 'num_layers', None)
    if not isinstance(num_blocks, int):
        return set(layers)
    bad = [i for i in layers if not -num_blocks <= i < num_blocks]
    if bad:
        raise ValueError(f'--layers {bad}: {type(model.backbone).__name__} has '
                         f'{num_blocks} blocks (0..{num_blocks - 1}, or negative)')
    return {i % num_blocks for i in layers}


def draw_attention_maps(config: str,
                        checkpoint: str,
                        images: Sequence[str],
                        out_dir: str,
                        layers: Optional[Sequence[int]] = None,
                        tile: int = 96,
                        map_size: int = 64,
                        device: str = 'cpu',
                        precision: str = 'float32',
                        overwrite: bool = False) -> List[str]:
    """Draw a model's [CLS] attention and CBSA representatives for images.

    Each image goes once through the config's test pipeline and the model
    (:func:`record_attention`; a sliding-window test config runs on the
    whole image, so that every map covers it). Segmentors, mmpretrain
    classifiers and the [CLS] probe are all drawn; a model without a decode
    head gets the encoder's pictures and a one-line note.

    Args:
        config, checkpoint: the model.
        images: image files and/or folders; different files must have
            different names (stems), see :func:`unique_images`.
        out_dir: for one image the pictures go here, for several into
            ``out_dir/<image name>/``: ``cls_attention.png``
            (:func:`~mmseg_cbsa.visualization.cls_attention_grid` with a
            colour bar; skipped with a message for encoders without [CLS])
            and one ``cbsa_<where>_layer<i>.png`` per CBSA layer
            (:func:`~mmseg_cbsa.visualization.cbsa_extraction_figure`: each
            representative's extraction map over the image, numbered).
        layers: encoder blocks for both pictures (negative from the end;
            default all); the decode head's layers are always drawn.
        tile: long side of a [CLS] map, px.
        map_size: long side of one representative's tile, px.
        precision: 'float32', or 'bf16' / 'fp16' to run the model under
            ``torch.autocast`` to that type (the maps are drawn in float32).
        overwrite: replace pictures of an earlier run in the output folders.

    Returns:
        the written paths, also printed one per line.

    Raises:
        ValueError: two different images share a name, or ``layers`` names
            blocks the encoder does not have (before anything is written).
        ImageFailures: some images could not be read or run; they were
            reported on stderr and skipped, every other image was drawn.
    """
    images, stems = demo_inputs(
        images, out_dir, lambda stems: [
            osp.join(f, n) for f in image_folders(stems)
            for n in _attention_pictures(osp.join(out_dir, f))
        ], overwrite)
    model = attention_model(config, checkpoint, device)
    say_data_limits(model.cfg)
    wanted = chosen_blocks(model, layers)
    report = Report()
    if not hasattr(model, 'decode_head'):
        # a classifier or the [CLS] probe: what only a decode head gives is
        # left out, said once rather than per image
        report.say(f'note: {type(model).__name__} has no decode head: drawing the '
                   "encoder's [CLS] attention and CBSA maps, no decode-head maps")

    def save(canvas, folder: str, name: str) -> None:
        report.picture(canvas, osp.join(folder, name))

    def draw(path: str, stem: str) -> None:
        image = read_image(path)  # an unreadable file is named, not a cv2 error
        folder = out_dir if len(images) == 1 else osp.join(out_dir, stem)
        rec, _ = record_attention(model, image, layers, precision)
        os.makedirs(folder, exist_ok=True)
        image = rec.input_images()[0]

        if rec.cls_maps is None:
            report.say(f'skipping cls_attention.png: {rec.cls_skip_reason}')
        else:
            maps = {i: m[0].float().cpu().numpy() for i, m in rec.cls_maps.items()}
            save(
                cls_attention_grid(
                    image, maps, tile, rec.patch_size, colour_bar=True, title=CLS_TITLE), folder,
                'cls_attention.png')

        extractions = [
            e for e in rec.extractions
            if wanted is None or e.where != 'backbone' or e.layer in wanted
        ]
        if not rec.extractions:
            report.say(f'no CBSA layers in {type(model).__name__}: no extraction maps')
        for index, ext in enumerate(extractions):
            cells = ext.cells()
            canvas = cbsa_extraction_figure(image, ext.maps[0].float().cpu().numpy(),
                                            None if cells is None else cells.numpy(), ext.rep_grid,
                                            rec.patch_size, map_size, extraction_title(ext))
            save(canvas, folder, extraction_file_name(ext, index))

    _each_image(images, draw, stems, report)
    return report.written


#: what :func:`draw_zero_shot_masks` writes per image
ZERO_SHOT_PICTURES = ('zero_shot_masks.png', 'zero_shot_combined.png')
#: weight of the mask's colours over the image: kept patches bright, the rest dark
MASK_ALPHA = 0.5


def zero_shot_masks(maps: Dict[int, torch.Tensor], share: float) -> Dict[int, torch.Tensor]:
    """The zero-shot masks of one image (paper appendix C), per block: each
    head's mask, the patches holding ``share`` of its [CLS] attention mass
    (:func:`~mmseg_cbsa.evaluation.mass_share_mask`, the rule
    ``tools/zero_shot_voc.py`` scores), and last the combined mask, the
    same rule on the heads' mean attention.

    Args:
        maps: {block: (K, h, w)} [CLS]-to-patch attention of one image.
        share: attention mass kept, in (0, 1).

    Returns:
        {block: (K + 1, h, w) bool}.
    """
    return {
        i: mass_share_mask(torch.cat([m, m.mean(0, keepdim=True)]).float(), share)
        for i, m in maps.items()
    }


def mask_picture(image: np.ndarray,
                 mask: torch.Tensor,
                 long_side: int,
                 patch_size: Optional[int] = None) -> np.ndarray:
    """An (h, w) patch mask over the (H, W, 3) RGB network input, at
    ``long_side`` px (:func:`~mmseg_cbsa.visualization.attention_overlay`,
    each patch exactly placed): kept patches bright, the rest dark."""
    import cv2
    return attention_overlay(image,
                             mask.float().numpy(), long_side, patch_size, MASK_ALPHA,
                             cv2.INTER_NEAREST)


def zero_shot_titles(share: float, combined_layer: int) -> Tuple[str, str]:
    """The titles of the two zero-shot pictures (grid, combined mask)."""
    rule = f'the patches holding {share:.0%} of'
    key = 'bright: kept, dark: the rest'
    return (f"zero-shot masks (paper appendix C): per head, {rule} its [CLS] attention mass\n"
            f"rows: encoder blocks, columns: heads, 'mean': the heads' mean attention; {key}",
            f"combined zero-shot mask, layer {combined_layer}: {rule} the heads' mean [CLS] "
            f'attention\n{key}')


def draw_zero_shot_masks(config: str,
                         checkpoint: str,
                         images: Sequence[str],
                         out_dir: str,
                         share: Optional[float] = None,
                         layers: Optional[Sequence[int]] = None,
                         tile: int = 96,
                         device: str = 'cpu',
                         precision: str = 'float32',
                         overwrite: bool = False) -> List[str]:
    """Zero-shot segmentation masks from [CLS] attention (paper appendix C)
    of the user's own images.

    Each image goes once through the config's test pipeline and the model
    (:func:`record_attention`); per chosen block and head the patches that
    hold ``share`` of the head's [CLS] attention mass are kept
    (:func:`zero_shot_masks`), as ``tools/zero_shot_voc.py`` scores them
    on VOC12. The masks are drawn on the network input.

    Args:
        config: a zero-shot config (configs/zero_shot, ``CLSAttentionProbe``:
            the image resized to 480 px on its long side), or any config whose
            encoder has a [CLS] token, e.g. a classifier's (its test
            pipeline: the centre crop it classifies).
        checkpoint: its weights, or a converted classifier's
            (``backbone.*``, ``head.*``) for the probe.
        images: image files and/or folders; different files must have
            different names (stems), see :func:`unique_images`.
        out_dir: for one image the pictures go here, for several into
            ``out_dir/<image name>/``: ``zero_shot_masks.png`` (rows =
            blocks, columns = heads and the heads' mean) and
            ``zero_shot_combined.png`` (the heads' mean mask of the last
            chosen block, at the network input's size).
        share: attention mass kept per head, in (0, 1); default the
            config's (:func:`~mmseg_cbsa.analysis.zero_shot.config_share`, 0.6).
        layers: encoder blocks (negative from the end); default the
            probe's ``layers`` in the config, else all.
        tile: long side of a grid tile, px.
        precision: 'float32', or 'bf16' / 'fp16' to run under ``torch.autocast``.
        overwrite: replace pictures of an earlier run in the output folders.

    Returns:
        the written paths, also printed one per line.

    Raises:
        ValueError: ``share`` outside (0, 1), two different images share a
            name, or ``layers`` names blocks the encoder does not have
            (before anything is written).
        NotApplicable: the encoder has no [CLS] token (before anything runs).
        OutputInInputError, OutputExistsError: as for :func:`segment_images`.
        ImageFailures: some images could not be read or run; they were
            reported on stderr and skipped, every other image was drawn.
    """
    if share is not None and not 0 < share < 1:
        raise ValueError(f'--share {share}: the attention mass kept per head lies in (0, 1), '
                         'e.g. 0.6')
    images, stems = demo_inputs(
        images, out_dir,
        lambda stems: [osp.join(f, n) for f in image_folders(stems) for n in ZERO_SHOT_PICTURES],
        overwrite)
    model = attention_model(config, checkpoint, device)
    say_data_limits(model.cfg)
    backbone = getattr(model, 'backbone', None)
    if not has_cls_attention(backbone):
        raise NotApplicable(f'{config}: {no_cls_attention(backbone)}; zero-shot masks need an '
                            'encoder with a [CLS] token')
    share = config_share(model.cfg) if share is None else share
    chosen_blocks(model, layers)
    # the probe's own blocks (configs/zero_shot: None, all of them)
    layers = model.cfg.model.get('layers') if layers is None else layers
    report = Report()

    def draw(path: str, stem: str) -> None:
        image = read_image(path)
        folder = out_dir if len(images) == 1 else osp.join(out_dir, stem)
        rec, _ = record_attention(model, image, layers, precision, cbsa=False)
        image = rec.input_images()[0]
        masks = zero_shot_masks({i: m[0].float().cpu() for i, m in rec.cls_maps.items()}, share)
        blocks = sorted(masks)
        heads = len(masks[blocks[0]]) - 1
        grid_title, combined_title = zero_shot_titles(share, blocks[-1])
        grid = label_grid([[mask_picture(image, m, tile, rec.patch_size) for m in masks[i]]
                           for i in blocks], [f'layer {i}' for i in blocks],
                          [f'head {k}' for k in range(heads)] + ['mean'], grid_title)
        combined = mask_picture(image, masks[blocks[-1]][-1], max(image.shape[:2]), rec.patch_size)
        os.makedirs(folder, exist_ok=True)
        for name, canvas in zip(ZERO_SHOT_PICTURES,
                                (grid, label_grid([[combined]], title=combined_title))):
            report.picture(canvas, osp.join(folder, name))

    _each_image(images, draw, stems, report)
    return report.written
