import hashlib
import os

import cv2
import numpy as np
import pytest

from mmseg_cbsa.datasets import MiniADE20KDataset, ensure_mini_ade20k, generate_mini_ade20k
from mmseg_cbsa.datasets.mini_ade import CLASSES


def _digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            h.update(f.encode())
            with open(os.path.join(dirpath, f), 'rb') as fh:
                h.update(fh.read())
    return h.hexdigest()


def test_layout_labels_and_determinism(tmp_path):
    a = generate_mini_ade20k(str(tmp_path / 'a'), num_train=6, num_val=3, size=64, seed=3)
    b = generate_mini_ade20k(str(tmp_path / 'b'), num_train=6, num_val=3, size=64, seed=3)
    c = generate_mini_ade20k(str(tmp_path / 'c'), num_train=6, num_val=3, size=64, seed=4)
    assert _digest(a) == _digest(b) != _digest(c)
    for split, n in (('training', 6), ('validation', 3)):
        imgs = sorted(os.listdir(os.path.join(a, 'images', split)))
        anns = sorted(os.listdir(os.path.join(a, 'annotations', split)))
        assert len(imgs) == len(anns) == n
        assert [i[:-4] for i in imgs] == [x[:-4] for x in anns]
    labels = np.stack([
        cv2.imread(os.path.join(a, 'annotations', 'training', f), 0)
        for f in sorted(os.listdir(os.path.join(a, 'annotations', 'training')))
    ])
    # ADE20K convention: 0 unlabelled (unused here), classes stored as 1..6
    assert labels.min() >= 1 and labels.max() <= len(CLASSES)
    assert len(np.unique(labels)) >= 4  # several classes appear


def test_images_carry_class_structure(tmp_path):
    """The classes differ in appearance, so a pixel colour/texture statistic
    separates them better than chance."""
    root = generate_mini_ade20k(str(tmp_path / 'd'), num_train=30, num_val=0, size=64)
    hues = {c: [] for c in range(2, 7)}
    for f in sorted(os.listdir(os.path.join(root, 'images', 'training'))):
        img = cv2.imread(os.path.join(root, 'images', 'training', f))
        lab = cv2.imread(os.path.join(root, 'annotations', 'training', f[:-4] + '.png'), 0)
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        for c in hues:
            if (lab == c).sum() > 50:
                hues[c].append(np.median(hsv[..., 0][lab == c]))
    medians = [np.median(v) for v in hues.values() if v]
    assert len(medians) == 5 and len(set(int(m) // 10 for m in medians)) >= 4


def test_existing_folders_are_never_overwritten(tmp_path):
    root = tmp_path / 'user_data'
    root.mkdir()
    (root / 'precious.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='not a generated miniature dataset'):
        ensure_mini_ade20k(str(root))
    with pytest.raises(FileExistsError):
        generate_mini_ade20k(str(root))
    assert (root / 'precious.txt').read_text() == 'keep me'


def test_ensure_reuses_and_checks_parameters(tmp_path):
    root = str(tmp_path / 'm')
    ensure_mini_ade20k(root, num_train=2, num_val=1, size=32)
    before = _digest(root)
    ensure_mini_ade20k(root, num_train=2, num_val=1, size=32)
    assert _digest(root) == before
    with pytest.raises(ValueError, match="'size': \\(32, 64\\)"):
        ensure_mini_ade20k(root, num_train=2, num_val=1, size=64)


def test_dataset_class_generates_and_lists(tmp_path, cbsa_scope):
    root = str(tmp_path / 'gen')
    ds = MiniADE20KDataset(
        data_root=root,
        generate=True,
        generator=dict(num_train=3, num_val=2, size=32),
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=[])
    assert len(ds) == 2
    assert ds.metainfo['classes'] == CLASSES
    assert ds[0]['reduce_zero_label'] is True
