"""A CBT classifier trains with mmpretrain through the same tools/train.py."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_one_epoch_on_a_folder_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for c, colour in enumerate(((200, 40, 40), (40, 40, 200))):
        os.makedirs(tmp_path / 'data' / f'class{c}')
        for i in range(4):
            img = np.clip(rng.normal(colour, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(tmp_path / 'data' / f'class{c}' / f'{i}.png'), img)
    res = subprocess.run([
        sys.executable, 'tools/train.py', 'tests/data/configs/cls_tiny.py', '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={tmp_path / "data"}'
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'Epoch(train) [1][2/2]' in res.stdout + res.stderr
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
