"""tools/zero_shot_voc.py end to end on a miniature VOC layout the test makes."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from mmseg_cbsa.models import CBT
from mmseg_cbsa.utils.checkpoint import save_checkpoint_file
from tests.cli import free_port, launcher_env

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_mini_voc(root, n=3, size=64):
    """VOC2012 layout: objects of classes 1-20 with a 255 void band around them."""
    rng = np.random.default_rng(0)
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    names = []
    for i in range(n):
        img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
        label = np.zeros((size, size), np.uint8)
        c = tuple(int(v) for v in rng.integers(20, 44, 2))
        r = int(rng.integers(8, 14))
        cv2.circle(label, c, r + 2, 255, -1)  # void band ...
        cv2.circle(label, c, r, int(rng.integers(1, 21)), -1)  # ... around the object
        img[label > 0] = (200, 60, 60)
        name = f'2007_{i:06d}'
        cv2.imwrite(os.path.join(root, 'JPEGImages', name + '.jpg'), img)
        cv2.imwrite(os.path.join(root, 'SegmentationClass', name + '.png'), label)
        names.append(name)
    with open(os.path.join(root, 'ImageSets/Segmentation/val.txt'), 'w') as f:
        f.write('\n'.join(names) + '\n')


# 80: larger than the pipeline's 64 px resize, which shrinks the image and not
# its label map (as the real configs do with most VOC images, 500 px > 480)
def _classifier_checkpoint(tmp_path):
    model = CBT(
        arch=(32, 2, 2),
        img_size=64,
        attn_cfg=dict(type='CBSA', rep_grid=2),
        legacy_cls_pooling=True)
    model.init_weights()
    ckpt = tmp_path / 'cbt_in1k.pth'
    save_checkpoint_file({
        f'backbone.{k}': v
        for k, v in model.state_dict().items()
    } | {
        'head.fc.weight': torch.zeros(10, 32),
        'head.fc.bias': torch.zeros(10)
    }, str(ckpt))
    return ckpt


@pytest.mark.parametrize('size', [64, 80])
def test_zero_shot_tool(tmp_path, size):
    root = tmp_path / 'VOC2012'
    make_mini_voc(str(root), size=size)
    ckpt = _classifier_checkpoint(tmp_path)
    res = subprocess.run([
        sys.executable, 'tools/zero_shot_voc.py', 'tests/data/configs/zero_shot_tiny.py',
        str(ckpt), '--work-dir',
        str(tmp_path / 'out'), '--cfg-options', f'test_dataloader.dataset.data_root={root}'
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'best layer (as Table 5)' in res.stdout and '| foreground |' in res.stdout
    assert '3/3' in res.stdout  # the progress bar
    out = json.loads((tmp_path / 'out' / 'zero_shot.json').read_text())
    for target in ('foreground', 'background', 'boundary'):
        values = out['per_layer'][target]
        assert sorted(values) == ['1', '2']  # both layers
        assert all(0 <= v <= 1 for v in values.values())
        assert out['best'][target] == max(values.values())
    assert (tmp_path / 'out' / 'zero_shot_layers.png').stat().st_size > 0


def test_two_processes_write_once_and_exit_0_whatever_the_teardown(tmp_path):
    # each worker's interpreter teardown aborts it, standing in for gloo's
    # threads at exit (mmseg_cbsa/utils/distributed_exit.py): the finished run
    # still exits 0; rank 0 alone prints the tables and writes the files
    root = tmp_path / 'VOC2012'
    make_mini_voc(str(root), n=4)
    ckpt = _classifier_checkpoint(tmp_path)
    res = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port',
        free_port(), 'tools/zero_shot_voc.py', 'tests/data/configs/zero_shot_tiny.py',
        str(ckpt), '--launcher', 'pytorch', '--work-dir',
        str(tmp_path / 'out'), '--cfg-options', f'test_dataloader.dataset.data_root={root}'
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True,
                         env=launcher_env(str(tmp_path / 'site')))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert res.stdout.count('best layer (as Table 5)') == 1, res.stdout
    out = json.loads((tmp_path / 'out' / 'zero_shot.json').read_text())
    assert set(out['best']) == {'foreground', 'background', 'boundary'}
