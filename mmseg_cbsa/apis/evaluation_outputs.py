"""What an evaluation writes besides its metrics, checked before it runs.

mmseg's ``IoUMetric(output_dir=...)`` (``tools/test.py --out``) writes one
``<image name>.png`` label map per test image, and the visualizer
(``--show-dir``) ``vis_data/vis_image/test_<image file>_<step>.png``, both over
whatever is there. Given the dataset's own annotation folder, the next
evaluation on that data measures the model against its own predictions
(mIoU 100). :func:`check_evaluation_outputs` refuses that first.
"""
import os
import os.path as osp
import re
from typing import List, Optional

from mmengine.config import Config

from ..registry import DATASETS, build_in_scope
from ..utils.outputs import check_output_dir


def dataset_folders(dataset_cfg: dict) -> List[str]:
    """The folders a dataset config reads: ``data_root`` and each
    ``data_prefix`` folder under it (absolute paths; missing ones left out)."""
    root = dataset_cfg.get('data_root') or ''
    folders = [root] if root else []
    for prefix in (dataset_cfg.get('data_prefix') or {}).values():
        if prefix:
            folders.append(osp.join(root, prefix))
    return [osp.abspath(f) for f in folders if f and osp.isdir(f)]


def evaluated_image_paths(cfg: Config) -> List[str]:
    """The ``img_path`` of every sample of the config's test dataset (the
    dataset is built in the ``mmseg_cbsa`` scope, as the runner builds it)."""
    dataset = build_in_scope(DATASETS, dict(cfg.test_dataloader.dataset))
    return [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]


def check_evaluation_outputs(cfg: Config,
                             out: Optional[str] = None,
                             show_dir: Optional[str] = None,
                             overwrite: bool = False) -> None:
    """Refuse ``--out`` / ``--show-dir`` before the evaluation runs when they
    lie in the dataset's folders (always), or hold files this evaluation
    would write (unless ``overwrite``).

    Raises:
        mmseg_cbsa.utils.outputs.OutputInInputError: a folder inside the
            dataset's ``data_root`` (or one of its ``data_prefix`` folders).
        mmseg_cbsa.utils.outputs.OutputExistsError: files this run would
            replace (named, with the count).
    """
    if not (out or show_dir):
        return
    read_from = dataset_folders(cfg.test_dataloader.dataset)
    images = evaluated_image_paths(cfg)
    if out:
        names = [osp.splitext(osp.basename(p))[0] + '.png' for p in images]
        check_output_dir(out, names, read_from, overwrite, what='--out')
    if show_dir:
        # '<mode>_<image file>_<step>.png': the step depends on the loop, so
        # any picture of these images counts
        vis = osp.join(show_dir, 'vis_data', 'vis_image')
        present = os.listdir(vis) if osp.isdir(vis) else []
        picture = re.compile(r'(?:[a-z]+_)?(%s)_\d+\.png' %
                             '|'.join(re.escape(osp.basename(p)) for p in images))
        names = [osp.join('vis_data', 'vis_image', n) for n in present if picture.fullmatch(n)]
        check_output_dir(show_dir, names, read_from, overwrite, what='--show-dir')


__all__ = ['check_evaluation_outputs', 'dataset_folders', 'evaluated_image_paths']
