"""Bad input named, not a raw library error: empty images to the analysis
tools, files that are not checkpoints, a folder given as the checkpoint,
sizes of zero.

Before: ``cv2.error`` naming no file from coding_rate.py, rep_rank.py and
precision_agreement.py; "Unsupported operand 149" for a plain pickle and
"Unsupported operand 8" for an ``.onnx`` given as a checkpoint; "checkpoint
not found" for a folder; ``benchmark.py --sizes 0`` printing "failed:
<omitting python frames>".
"""
import pickle

import cv2
import numpy as np
import pytest

from mmseg_cbsa.utils.checkpoint import CheckpointError, load_checkpoint_file, save_checkpoint_file
from tests.cli import run_python

CONFIG = 'tests/data/configs/tiny_cbt.py'


@pytest.fixture(scope='module')
def images_and_checkpoint(tmp_path_factory, repo_root):
    """A folder with a good and an empty image, and random tiny_cbt weights."""
    import os

    from mmseg.apis import init_model
    tmp = tmp_path_factory.mktemp('messages')
    folder = tmp / 'images'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a_good.png'), np.zeros((32, 32, 3), np.uint8))
    (folder / 'b_empty.png').write_bytes(b'')
    ckpt = tmp / 'tiny.pth'
    model = init_model(os.path.join(repo_root, CONFIG), None, device='cpu')
    save_checkpoint_file(model.state_dict(), str(ckpt))
    return folder, ckpt


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['coding_rate', 'rep_rank', 'precision_agreement'])
def test_an_empty_image_is_named(tool, images_and_checkpoint, repo_root, tmp_path):
    folder, ckpt = images_and_checkpoint
    args = [CONFIG, ckpt, folder] if tool == 'precision_agreement' else \
        [CONFIG, ckpt, '--images' if tool == 'coding_rate' else '--img-dir', folder,
         '--out-dir', tmp_path]
    res = run_python(repo_root, f'tools/analysis_tools/{tool}.py', *args, check=False)
    assert res.returncode == 1, res.stderr[-2000:]
    assert f'error: {folder / "b_empty.png"}: empty file (0 bytes)' in res.stderr
    assert 'cv2.error' not in res.stderr and 'Traceback' not in res.stderr


def test_files_that_are_not_checkpoints_say_what_they_are(tmp_path):
    raw = tmp_path / 'raw.pth'
    with open(raw, 'wb') as f:
        pickle.dump({'state_dict': {'w': np.zeros(2)}}, f, protocol=4)
    with pytest.raises(CheckpointError, match=f'{raw}: .*a plain pickle'):
        load_checkpoint_file(str(raw))
    graph = tmp_path / 'model.onnx'
    # an ONNX ModelProto begins with ir_version (field 1) and the producer name
    graph.write_bytes(b'\x08\x0a\x12\x07pytorch\x1a\x062.14.1' + bytes(64))
    with pytest.raises(CheckpointError, match=f'{graph}: .*an ONNX graph'):
        load_checkpoint_file(str(graph))


def test_a_folder_given_as_the_checkpoint_is_named_as_one(tmp_path):
    (tmp_path / 'iter_4.pth').write_bytes(b'x')
    with pytest.raises(CheckpointError, match=f'{tmp_path} is a folder.*holds iter_4.pth'):
        load_checkpoint_file(str(tmp_path))


@pytest.mark.slow
def test_test_tool_names_a_folder_given_as_the_checkpoint(repo_root, tmp_path):
    res = run_python(repo_root, 'tools/test.py', CONFIG, tmp_path, check=False)
    assert res.returncode == 1
    assert f'error: {tmp_path} is a folder, not a checkpoint file' in res.stderr


@pytest.mark.slow
@pytest.mark.parametrize('tool, args, message', [
    ('benchmark.py', ['--sizes', '0'], '--sizes must be image sizes >= 1 pixel'),
    ('get_flops.py', [CONFIG, '--shape', '0', '0'], '--shape 0 0: expected a height'),
    ('get_flops.py', [CONFIG, '--shape', '-5', '32'], '--shape -5 32: expected a height'),
])
def test_sizes_of_zero_are_refused(tool, args, message, repo_root):
    res = run_python(repo_root, f'tools/analysis_tools/{tool}', *args, check=False)
    assert res.returncode == 2 and message in res.stderr, res.stderr[-2000:]
