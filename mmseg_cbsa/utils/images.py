"""Image inputs of the demos and analysis tools."""
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.utils import scandir

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def collect_images(paths: Sequence[str], max_images: Optional[int] = None) -> List[str]:
    """Files as given, folders expanded to their images (sorted, not recursive).

    Raises:
        FileNotFoundError: a path that does not exist, or no image at all.
    """
    images = []
    for path in paths:
        if osp.isdir(path):
            names = scandir(path, IMAGE_EXTS, case_sensitive=False)
            images += sorted(osp.join(path, f) for f in names)
        elif osp.isfile(path):
            images.append(path)
        else:
            raise FileNotFoundError(f'no such image or folder: {path}')
    if not images:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTS)}) in {list(paths)}')
    return images[:max_images]


class UnreadableImage(ValueError):
    """An input file that is empty or does not decode as an image."""


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
