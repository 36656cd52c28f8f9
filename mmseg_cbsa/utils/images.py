"""Image inputs of the demos and analysis tools."""
import os.path as osp
from typing import List, Optional, Sequence

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
