"""A miniature, generated dataset in ADE20K's folder layout.

``generate_mini_ade20k(root)`` writes::

    root/images/{training,validation}/mini_XXXXXX.jpg
    root/annotations/{training,validation}/mini_XXXXXX.png
    root/mini_ade20k.json          # the generator's parameters

Annotations follow ADE20K: 0 is "unlabelled" and class ``i`` is stored as
``i + 1`` (``reduce_zero_label=True``). Each image holds one to three shapes
of different classes on a smooth random background; each class has its own
outline, texture and hue family, so the task is learnable but not trivial
(colours are jittered, shapes overlap, backgrounds vary).
"""
import contextlib
import fcntl
import inspect
import json
import logging
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log
from mmseg.datasets import BaseSegDataset

from ..registry import DATASETS

CLASSES = ('background', 'disc', 'box', 'triangle', 'ring', 'cross')
PALETTE = [[120, 120, 120], [220, 20, 60], [0, 130, 200], [255, 200, 0], [60, 180, 75],
           [145, 30, 180]]
#: base hue (OpenCV 0..180) and texture of each foreground class
_STYLE = {
    1: (0, 'hstripes'),
    2: (105, 'checker'),
    3: (25, 'dots'),
    4: (60, 'noise'),
    5: (140, 'dstripes')
}
GENERATOR_VERSION = 1


def _texture(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) float texture in [0, 1]."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    period = rng.uniform(5, 9)
    phase = rng.uniform(0, 2 * np.pi)
    if kind == 'hstripes':
        return 0.5 + 0.5 * np.sin(2 * np.pi * yy / period + phase)
    if kind == 'dstripes':
        return 0.5 + 0.5 * np.sin(2 * np.pi * (xx + yy) / (1.4 * period) + phase)
    if kind == 'checker':
        cell = int(period)
        return (((xx // cell) + (yy // cell)) % 2).astype(np.float32)
    if kind == 'dots':
        return ((np.sin(2 * np.pi * xx / period + phase) * np.sin(2 * np.pi * yy / period + phase))
                > 0.5).astype(np.float32)
    return rng.uniform(0, 1, (size, size)).astype(np.float32)


def _shape_mask(cls: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of one shape of class ``cls`` somewhere in the image."""
    mask = np.zeros((size, size), np.uint8)
    r = int(rng.uniform(0.14, 0.28) * size)
    cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
    if cls == 1:
        cv2.circle(mask, (cx, cy), r, 1, -1)
    elif cls == 2:
        box = cv2.boxPoints(((cx, cy), (1.6 * r, 1.6 * r), float(rng.uniform(0, 90))))
        cv2.fillPoly(mask, [box.astype(np.int32)], 1)
    elif cls == 3:
        angles = rng.uniform(0, 2 * np.pi) + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
        pts = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
    elif cls == 4:
        cv2.circle(mask, (cx, cy), r, 1, -1)
        cv2.circle(mask, (cx, cy), max(r // 2, 2), 0, -1)
    else:
        t = max(r // 3, 2)
        cv2.rectangle(mask, (cx - r, cy - t), (cx + r, cy + t), 1, -1)
        cv2.rectangle(mask, (cx - t, cy - r), (cx + t, cy + r), 1, -1)
    return mask.astype(bool)


def _hsv_fill(hue: float, tex: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour a texture in one hue family: (H, W) in [0,1] -> (H, W, 3) BGR uint8."""
    hsv = np.empty(tex.shape + (3, ), np.float32)
    hsv[..., 0] = (hue + rng.uniform(-8, 8)) % 180
    hsv[..., 1] = rng.uniform(150, 255)
    hsv[..., 2] = rng.uniform(90, 150) + 100 * tex
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)


def render_sample(size: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """One (image BGR uint8 (size, size, 3), label uint8 (size, size)) pair."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32) / size
    a, b = rng.uniform(-1, 1, 2)
    grad = 0.5 + 0.25 * (a * xx + b * yy)
    noise = cv2.GaussianBlur(rng.uniform(0, 1, (size, size)).astype(np.float32), (0, 0), 4)
    bg_tex = np.clip(grad + 0.8 * (noise - 0.5), 0, 1)
    hsv = np.empty((size, size, 3), np.float32)
    hsv[..., 0] = rng.uniform(0, 180)
    hsv[..., 1] = rng.uniform(0, 90)
    hsv[..., 2] = 60 + 150 * bg_tex
    img = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
    label = np.ones((size, size), np.uint8)  # class 0 ('background') stored as 1
    for cls in rng.choice(np.arange(1, len(CLASSES)), size=int(rng.integers(1, 4)), replace=False):
        hue, kind = _STYLE[int(cls)]
        mask = _shape_mask(int(cls), size, rng)
        img[mask] = _hsv_fill(hue, _texture(kind, size, rng), rng)[mask]
        label[mask] = cls + 1
    img = np.clip(img.astype(np.int16) + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    return img, label


def generate_mini_ade20k(root: str,
                         num_train: int = 400,
                         num_val: int = 50,
                         size: int = 128,
                         seed: int = 0) -> str:
    """Write the miniature dataset under ``root`` (deterministic in ``seed``).

    The folder is written to a temporary sibling and renamed into place, so
    an interrupted run never leaves a half-written dataset, and an existing
    folder is never overwritten.

    Returns:
        ``root``.
    """
    params = dict(
        version=GENERATOR_VERSION, num_train=num_train, num_val=num_val, size=size, seed=seed)
    if osp.exists(root):
        raise FileExistsError(f'{root} exists; remove it first or use ensure_mini_ade20k()')
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.mini_ade20k-', dir=parent)
    try:
        for split_id, (split, count) in enumerate(
            (('training', num_train), ('validation', num_val))):
            os.makedirs(osp.join(tmp, 'images', split))
            os.makedirs(osp.join(tmp, 'annotations', split))
            for i in range(count):
                rng = np.random.default_rng([seed, split_id, i])
                img, label = render_sample(size, rng)
                name = f'mini_{i:06d}'
                cv2.imwrite(
                    osp.join(tmp, 'images', split, name + '.jpg'), img,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
                cv2.imwrite(osp.join(tmp, 'annotations', split, name + '.png'), label)
        with open(osp.join(tmp, 'mini_ade20k.json'), 'w') as f:
            json.dump(dict(params, classes=CLASSES), f, indent=1)
        os.rename(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _log(msg: str, level: int = logging.INFO) -> None:
    print_log(msg, logger='current', level=level)


def _repo_root() -> str:
    """The checkout this package is imported from (for hints only)."""
    return osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def describe_root(root: str) -> str:
    """``root`` as an absolute path, saying how a relative one resolved."""
    absolute = osp.abspath(root)
    if osp.isabs(root):
        return absolute
    return (f'{absolute} (the relative data_root {root!r} resolves against the current '
            f'directory {os.getcwd()})')


@contextlib.contextmanager
def _generation_lock(root: str):
    """An exclusive ``flock`` on ``.<name>.lock`` beside ``root``, so that one
    process generates and the others (ranks of a distributed run, parallel
    jobs) wait for it."""
    parent, name = osp.split(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    path = osp.join(parent, f'.{name}.lock')
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log(f'waiting for another process to finish generating {osp.abspath(root)} '
                 f'(it holds {path})')
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:  # a file system without flock: the rename check remains
            _log(f'cannot lock {path} ({e}); generating without the lock', logging.WARNING)
        yield
    finally:
        os.close(fd)  # releases the lock


def ensure_mini_ade20k(root: str, **params) -> str:
    """Generate the dataset at ``root`` unless a complete one is there.

    Safe to call from any number of processes at once: generation holds a
    file lock beside ``root`` (:func:`_generation_lock`), so exactly one
    process writes the dataset and the others wait, then use it. A relative
    ``root`` resolves against the current directory; the log says where it
    went. An existing folder that was not written by this generator, or with
    other parameters, is left untouched and reported, never overwritten.
    """
    marker = osp.join(root, 'mini_ade20k.json')
    if not osp.exists(marker) and not osp.exists(root):
        with _generation_lock(root):
            if not osp.exists(root):  # not generated while this process waited
                _log(f'generating the miniature ADE20K at {describe_root(root)}')
                in_repo = osp.join(_repo_root(), root)
                if (not osp.isabs(root) and osp.abspath(root) != osp.abspath(in_repo)
                        and osp.isfile(osp.join(in_repo, 'mini_ade20k.json'))):
                    _log(
                        f'a generated dataset already exists at {in_repo}: run from '
                        f'{_repo_root()} or give an absolute data_root to use it', logging.WARNING)
                try:
                    generate_mini_ade20k(root, **params)
                except OSError:
                    # only without a working lock: another process renamed
                    # its complete copy into place first
                    if not osp.exists(marker):
                        raise
    if not osp.exists(marker):
        raise FileExistsError(
            f'{root} exists but has no mini_ade20k.json: not a generated miniature '
            'dataset; point data_root elsewhere or remove the folder')
    with open(marker) as f:
        found: Dict = json.load(f)
    defaults = {
        k: v.default
        for k, v in inspect.signature(generate_mini_ade20k).parameters.items()
        if v.default is not inspect.Parameter.empty
    }
    wanted = dict(defaults, version=GENERATOR_VERSION, **params)
    diff = {k: (found.get(k), v) for k, v in wanted.items() if found.get(k) != v}
    if diff:
        raise ValueError(f'{marker} was generated with other parameters '
                         f'(found, wanted): {diff}; remove {root} to regenerate')
    return root


@DATASETS.register_module()
class MiniADE20KDataset(BaseSegDataset):
    """The generated miniature ADE20K (6 classes, ``.jpg`` / ``.png``).

    Args:
        generate: write the dataset at ``data_root`` if it is missing
            (``generator`` holds the parameters of :func:`generate_mini_ade20k`).
    """

    # synthetic: its images are generated shapes, not photographs; the demos
    # tell users of a model trained on it (mmseg_cbsa.apps.demos.synthetic_data_note)
    METAINFO = dict(classes=CLASSES, palette=PALETTE, synthetic=True)

    def __init__(self, generate: bool = False, generator: dict = None, **kwargs) -> None:
        if generate:
            ensure_mini_ade20k(kwargs['data_root'], **(generator or {}))
            _log(f'miniature ADE20K at {describe_root(kwargs["data_root"])}')
        kwargs.setdefault('img_suffix', '.jpg')
        kwargs.setdefault('seg_map_suffix', '.png')
        kwargs.setdefault('reduce_zero_label', True)
        super().__init__(**kwargs)
