"""What the demos do: run a model on image files and write pictures.

* :func:`segment_images` (``demo/image_demo.py``): ``input | prediction
  [| ground truth]`` with a class legend, for any mmseg model, or for an
  exported ONNX graph run by onnxruntime;
* :func:`draw_attention_maps` (``demo/attention_demo.py``): [CLS] attention
  grids and CBSA representative figures.

Both take files and folders, show one progress bar (mmengine's, on stderr)
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

from ..analysis.attention_maps import AttentionRecorder, CBSAExtraction
from ..apis import SegInferencer, build_model, image_pipeline, init_model
from ..deployment import OnnxSegmentor
from ..registry import DATASETS, MODELS, SCOPE, TRANSFORMS, build_in_scope
from ..utils import collect_images
from ..utils.images import UnreadableImage, read_image
from ..utils.outputs import check_output_dir
from ..utils.precision import autocast, outputs_to_float32
from ..visualization import (cbsa_extraction_figure, cls_attention_grid, input_prediction_truth,
                             standalone_visualizer)


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


def dataset_meta(cfg: Config) -> dict:
    """``classes`` and ``palette`` of a config's test dataset, as the dataset
    class declares them (its ``METAINFO`` merged with the config's
    ``metainfo``), without building the dataset (no data needed)."""
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = cfg.get('test_dataloader', {}).get('dataset')
    if not dataset or 'type' not in dataset:
        raise KeyError('the config has no test_dataloader.dataset.type to take the class '
                       'names and colours from')
    cls = DATASETS.get(dataset['type'])
    if cls is None:
        raise KeyError(f"test_dataloader.dataset.type '{dataset['type']}' is not registered")
    meta = cls._load_metainfo(dataset.get('metainfo'))
    if 'classes' not in meta:
        raise KeyError(f"{dataset['type']} declares no classes (METAINFO['classes'])")
    return dict(classes=list(meta['classes']), palette=meta.get('palette'))


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
    inferencer.show_progress = False  # the demo's own bar covers all images

    def predict(bgr: np.ndarray):
        with autocast(inferencer.model, precision):
            sample = inferencer(bgr, return_datasamples=True)
        outputs_to_float32([sample])
        return sample

    return predict, inferencer.model.dataset_meta


def onnx_predictor(config: str, onnx_file: str, device: str,
                   precision: str) -> Tuple[Predictor, dict]:
    """An exported graph run by onnxruntime
    (:class:`~mmseg_cbsa.deployment.OnnxSegmentor`: the config's pipeline,
    preprocessing, test mode and postprocessing), and the class names and
    colours of the config's dataset (:func:`dataset_meta`)."""
    if precision != 'float32':
        raise ValueError(f'{onnx_file}: an ONNX graph runs in the precision it was exported '
                         f'in; --bf16 applies to PyTorch checkpoints only')
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX file not found: {onnx_file}')
    cfg = Config.fromfile(config)
    return OnnxSegmentor(onnx_file, cfg), dataset_meta(cfg)


#: how a weights file is run, by its extension (anything else: a checkpoint)
PREDICTORS: Dict[str, Callable[..., Tuple[Predictor, dict]]] = {'.onnx': onnx_predictor}


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
    import mmcv
    import torch
    from mmengine.structures import PixelData

    inputs = images
    images, stems = unique_images(collect_images(images))
    check_demo_outputs(out_dir, [*inputs, *([gt_dir] if gt_dir else [])], images,
                       [stem + '.png' for stem in stems], overwrite)
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
        out = osp.join(out_dir, stem + '.png')
        mmcv.imwrite(mmcv.rgb2bgr(canvas), out)
        report.wrote(out)

    _each_image(images, segment, stems, report)
    return report.written


def extraction_file_name(ext: CBSAExtraction, index: int) -> str:
    """``cbsa_<where>_layer<i>[_call<j>].png``; ``index`` stands in for a
    layer number the module name does not carry."""
    layer = ext.layer if ext.layer is not None else index
    return f'cbsa_{ext.where}_layer{layer}' + (f'_call{ext.call}' if ext.call else '') + '.png'


def _builds_segmentor(cfg: Config) -> bool:
    """Whether ``cfg.model`` is an mmseg segmentor, asked of the registry of
    the config's scope (mmseg_cbsa's, or mmpretrain's for the classifiers)."""
    from mmseg.models.segmentors import BaseSegmentor
    with MODELS.switch_scope_and_registry(cfg.get('default_scope', SCOPE)) as registry:
        model_type = registry.get(cfg.model.type)
    return isinstance(model_type, type) and issubclass(model_type, BaseSegmentor)


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
                     precision: str = 'float32'):
    """One forward of ``model`` (from :func:`attention_model`) on an (H, W, 3)
    RGB image under an
    :class:`~mmseg_cbsa.analysis.attention_maps.AttentionRecorder`.

    A segmentor runs as ``mmseg.apis.inference_model`` runs it; any other
    model (classifier, [CLS] probe) gets the image through its config's
    test pipeline and one ``test_step``.

    Returns:
        (recorder, the model's data sample: a ``SegDataSample`` with
        ``pred_sem_seg`` for a segmentor, with ``cls_attn`` for the probe,
        mmpretrain's ``DataSample`` with ``pred_label`` for a classifier).
    """
    from mmseg.apis import inference_model
    from mmseg.models.segmentors import BaseSegmentor
    with AttentionRecorder(model, cls_layers=cls_layers) as rec, autocast(model, precision):
        if isinstance(model, BaseSegmentor):
            sample = inference_model(model, as_bgr(image))
            outputs_to_float32([sample])
        else:
            pipeline, takes_rgb = _image_pipeline_from_array(model.cfg)
            data = pipeline(np.ascontiguousarray(image) if takes_rgb else as_bgr(image))
            # the drawn input is turned back to RGB only where the file was BGR
            rec.input_is_rgb = takes_rgb
            with torch.no_grad():
                sample = model.test_step(
                    dict(inputs=[data['inputs']], data_samples=[data['data_samples']]))[0]
    return rec, sample


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
    import mmcv

    inputs = images
    images, stems = unique_images(collect_images(images))
    folders = [''] if len(images) == 1 else list(stems)
    check_demo_outputs(
        out_dir, inputs, images,
        [osp.join(f, n) for f in folders
         for n in _attention_pictures(osp.join(out_dir, f))], overwrite)
    model = attention_model(config, checkpoint, device)
    num_blocks = getattr(model.backbone, 'num_layers', None)
    wanted = None
    if layers is not None:
        if isinstance(num_blocks, int):
            bad = [i for i in layers if not -num_blocks <= i < num_blocks]
            if bad:
                raise ValueError(f'--layers {bad}: {type(model.backbone).__name__} has '
                                 f'{num_blocks} blocks (0..{num_blocks - 1}, or negative)')
            wanted = {i % num_blocks for i in layers}
        else:
            wanted = set(layers)
    report = Report()
    if not hasattr(model, 'decode_head'):
        # a classifier or the [CLS] probe: what only a decode head gives is
        # left out, said once rather than per image
        report.say(f'note: {type(model).__name__} has no decode head: drawing the '
                   "encoder's [CLS] attention and CBSA maps, no decode-head maps")

    def save(canvas, folder: str, name: str) -> None:
        out = osp.join(folder, name)
        mmcv.imwrite(mmcv.rgb2bgr(canvas), out)
        report.wrote(out)

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
