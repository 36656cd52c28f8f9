"""What the demos do: run a model on image files and write pictures.

* :func:`segment_images` (``demo/image_demo.py``): prediction overlays
  with a class legend, for any mmseg model;
* :func:`draw_attention_maps` (``demo/attention_demo.py``): [CLS] attention
  grids and CBSA extraction maps.

Both take files and folders and keep going past a bad input: an image that
cannot be read or processed is reported on stderr by name and skipped, and
once every other image is done :class:`ImageFailures` lists the skipped
ones (the scripts then exit with status 1). Inputs whose outputs would have
the same name (``a/x.jpg`` and ``b/x.jpg``) are refused before anything runs
(:func:`unique_images`); the same file named twice is processed once.
"""
import os
import os.path as osp
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..utils import collect_images
from ..utils.precision import autocast, outputs_to_float32
from .attention_maps import AttentionRecorder, CBSAExtraction


class UnreadableImage(ValueError):
    """An input file that is empty or does not decode as an image."""


class ImageFailures(RuntimeError):
    """Some images were skipped; every other one was processed.

    Attributes:
        failures: ``{path: reason}`` of the skipped images, in input order.
        written: the paths written for the other images.
    """

    def __init__(self, failures: Dict[str, str], total: int, written: List[str]) -> None:
        self.failures = failures
        self.written = written
        super().__init__(f'{len(failures)} of {total} images failed and were skipped: '
                         + ', '.join(failures))


def read_image(path: str) -> np.ndarray:
    """The (H, W, 3) uint8 RGB image in ``path``, as ``mmcv.imread(path,
    channel_order='rgb')`` reads it.

    Raises:
        UnreadableImage: an empty file, or one that does not decode, with
            the file's name (where OpenCV would fail with ``!buf.empty()`` or
            return nothing).
    """
    import mmcv
    from mmengine import fileio
    data = fileio.get(path)
    if not data:
        raise UnreadableImage(f'{path}: empty file (0 bytes), not an image')
    try:
        image = mmcv.imfrombytes(data, channel_order='rgb')
    except Exception as e:  # decoders raise many types; the file is what matters
        raise UnreadableImage(f'{path}: cannot be decoded as an image '
                              f'({type(e).__name__}: {e})') from e
    if image is None:
        raise UnreadableImage(f'{path}: cannot be decoded as an image ({len(data)} bytes)')
    return image


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


def _each_image(images: Sequence[str], process: Callable[[str, str], None],
                stems: Sequence[str], written: List[str]) -> None:
    """``process(path, stem)`` for every image; a failing image is reported
    by name on stderr and skipped, and :class:`ImageFailures` is raised at
    the end if any was."""
    failures: Dict[str, str] = {}
    for path, stem in zip(images, stems):
        try:
            process(path, stem)
        except Exception as e:  # report, skip, and go on with the next image
            reason = str(e) if isinstance(e, UnreadableImage) else \
                f'{path}: {type(e).__name__}: {e}'
            failures[path] = reason
            print(f'error: {reason} (skipped)', file=sys.stderr, flush=True)
    if failures:
        raise ImageFailures(failures, len(images), written)


def segment_images(config: str, checkpoint: str, images: Sequence[str], out_dir: str,
                   device: str = 'cpu', opacity: float = 0.5,
                   precision: str = 'float32') -> List[str]:
    """Segment images with mmseg's ``MMSegInferencer`` and save overlays.

    Each prediction is painted by the package's one renderer
    (:func:`~mmseg_cbsa.visualization.draw_segmentation`, with the
    inferencer's visualizer and a legend of the classes present).

    Args:
        config, checkpoint: any mmseg config and its weights.
        images: image files and/or folders; different files must have
            different names (stems), see :func:`unique_images`.
        out_dir: created if needed; receives ``<image name>.png`` per image.
        opacity: weight of the class colours over the image.
        precision: 'float32', or 'bf16' / 'fp16' to run the model under
            ``torch.autocast`` to that type
            (:func:`~mmseg_cbsa.utils.precision.autocast`).

    Returns:
        the written paths, also printed one per line.

    Raises:
        ValueError: two different images share a name (before anything runs).
        ImageFailures: some images could not be read or segmented; they were
            reported on stderr as they came and skipped, every other image
            was written.
    """
    import mmcv
    from mmseg.apis import MMSegInferencer

    from ..visualization import draw_segmentation

    images, stems = unique_images(collect_images(images))
    inferencer = MMSegInferencer(model=config, weights=checkpoint, device=device)
    meta = inferencer.model.dataset_meta
    visualizer = inferencer.visualizer
    # the inferencer sets its visualizer's classes only when it draws itself
    visualizer.dataset_meta = dict(classes=meta['classes'], palette=meta['palette'])
    os.makedirs(out_dir, exist_ok=True)
    written: List[str] = []

    def segment(path: str, stem: str) -> None:
        image = read_image(path)
        # the decoded pixels, not the file again (mmseg loads images as BGR)
        with autocast(inferencer.model, precision):
            sample = inferencer(as_bgr(image), return_datasamples=True)
        outputs_to_float32([sample])
        canvas = draw_segmentation(visualizer, image, sample, draw_gt=False, with_labels=False,
                                   legend=True, opacity=opacity)
        out = osp.join(out_dir, stem + '.png')
        mmcv.imwrite(mmcv.rgb2bgr(canvas), out)
        print(out, flush=True)
        written.append(out)

    _each_image(images, segment, stems, written)
    return written


def extraction_file_name(ext: CBSAExtraction, index: int) -> str:
    """``cbsa_<where>_layer<i>[_call<j>].png``; ``index`` stands in for a
    layer number the module name does not carry."""
    layer = ext.layer if ext.layer is not None else index
    return f'cbsa_{ext.where}_layer{layer}' + (f'_call{ext.call}' if ext.call else '') + '.png'


def draw_attention_maps(config: str, checkpoint: str, images: Sequence[str], out_dir: str,
                        layers: Optional[Sequence[int]] = None, tile: int = 96,
                        map_size: int = 32, device: str = 'cpu',
                        precision: str = 'float32') -> List[str]:
    """Draw a model's [CLS] attention and CBSA extraction maps for images.

    Each image goes once through mmseg's test pipeline and the model
    (``mmseg.apis.inference_model``; a sliding-window test config runs on
    the whole image, so that every map covers it) while an
    :class:`~mmseg_cbsa.analysis.attention_maps.AttentionRecorder` records.

    Args:
        config, checkpoint: the model.
        images: image files and/or folders; different files must have
            different names (stems), see :func:`unique_images`.
        out_dir: for one image the pictures go here, for several into
            ``out_dir/<image name>/``: ``cls_attention.png`` (rows = encoder
            blocks, columns = heads; skipped with a message for encoders
            without [CLS]) and one ``cbsa_<where>_layer<i>.png`` per CBSA
            layer (:func:`~mmseg_cbsa.visualization.cbsa_extraction_figure`).
        layers: encoder blocks for both pictures (negative from the end;
            default all); the decode head's layers are always drawn.
        tile: long side of a [CLS] map, px.
        map_size: long side of one extraction map, px.
        precision: 'float32', or 'bf16' / 'fp16' to run the model under
            ``torch.autocast`` to that type (the maps are drawn in float32).

    Returns:
        the written paths, also printed one per line.

    Raises:
        ValueError: two different images share a name, or ``layers`` names
            blocks the encoder does not have (before anything is written).
        ImageFailures: some images could not be read or run; they were
            reported on stderr as they came and skipped, every other image
            was drawn.
    """
    import mmcv
    from mmengine.config import Config
    from mmseg.apis import inference_model, init_model

    from ..visualization import cbsa_extraction_figure, cls_attention_grid

    images, stems = unique_images(collect_images(images))
    cfg = Config.fromfile(config)
    test_cfg = cfg.model.get('test_cfg') or {}
    if test_cfg.get('mode') == 'slide':
        print('note: running the whole image instead of sliding windows')
        cfg.model.test_cfg = dict(mode='whole')
    model = init_model(cfg, checkpoint, device=device)
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

    written: List[str] = []

    def save(canvas, folder: str, name: str) -> None:
        out = osp.join(folder, name)
        mmcv.imwrite(mmcv.rgb2bgr(canvas), out)
        print(out, flush=True)
        written.append(out)

    def draw(path: str, stem: str) -> None:
        image = read_image(path)   # an unreadable file is named, not a cv2 error
        folder = out_dir if len(images) == 1 else osp.join(out_dir, stem)
        with AttentionRecorder(model, cls_layers=layers) as rec, autocast(model, precision):
            inference_model(model, as_bgr(image))
        os.makedirs(folder, exist_ok=True)
        image = rec.input_images()[0]

        if rec.cls_maps is None:
            print(f'skipping cls_attention.png: {rec.cls_skip_reason}')
        else:
            maps = {i: m[0].float().cpu().numpy() for i, m in rec.cls_maps.items()}
            save(cls_attention_grid(image, maps, tile, rec.patch_size), folder,
                 'cls_attention.png')

        extractions = [e for e in rec.extractions
                       if wanted is None or e.where != 'backbone' or e.layer in wanted]
        if not rec.extractions:
            print(f'no CBSA layers in {type(model).__name__}: no extraction maps')
        for index, ext in enumerate(extractions):
            patch_mass = 1 - ext.other_mass[0]
            title = (f'{ext.name} ({ext.type}): {ext.hw_shape[0]}x{ext.hw_shape[1]} patches, '
                     f'{ext.rep_grid[0]}x{ext.rep_grid[1]} representatives, mass on patches '
                     f'{patch_mass.min():.2f}-{patch_mass.max():.2f}')
            canvas = cbsa_extraction_figure(
                image, ext.maps[0].float().cpu().numpy(), ext.cells().numpy(),
                ext.centroids()[0].float().cpu().numpy(), ext.rep_grid,
                rec.patch_size, map_size, title)
            save(canvas, folder, extraction_file_name(ext, index))

    _each_image(images, draw, stems, written)
    return written
