"""End to end through tools/train.py and tools/test.py on a generated dataset."""
import json
import os
import subprocess

import pytest
import torch

from mmseg_cbsa.utils.checkpoint import load_checkpoint_file
from tests.cli import data_root_options, free_port, run_python

CONFIG = 'tests/data/configs/tiny_cbt.py'


def _weights(path):
    return load_checkpoint_file(str(path))['state_dict']


@pytest.fixture(scope='module')
def trained(tiny_cbt_trained):
    """The session's tiny_cbt run (conftest): its dataset root and work dir."""
    return dict(
        data=tiny_cbt_trained['data'],
        work=tiny_cbt_trained['checkpoint'].parent,
        published=tiny_cbt_trained['published'])


def test_train_writes_checkpoints_metrics_and_overlay(trained):
    work = trained['work']
    assert (work / 'iter_2.pth').is_file() and (work / 'iter_4.pth').is_file()
    assert (trained['data'] / 'mini_ade20k.json').is_file()  # generated on first use
    overlays = list((work / 'overlays').glob('*.png'))
    assert len(overlays) == 1 and overlays[0].stat().st_size > 0
    scalars = [
        json.loads(line) for p in work.glob('*/vis_data/scalars.json')
        for line in p.read_text().splitlines()
    ]
    assert any('mIoU' in s for s in scalars)
    # the checkpoint mmengine wrote loads weights-only (allow-listed types)
    ckpt = load_checkpoint_file(str(work / 'iter_4.pth'))
    assert ckpt['meta']['iter'] == 4


@pytest.mark.slow
def test_test_tool_evaluates_a_checkpoint(trained, repo_root, tmp_path):
    res = run_python(repo_root, 'tools/test.py', CONFIG, str(trained['work'] / 'iter_4.pth'),
                     '--work-dir', str(tmp_path), '--out', str(tmp_path / 'pred'), '--cfg-options',
                     *data_root_options(trained['data']))
    assert 'mIoU' in res.stdout + res.stderr
    assert len(list((tmp_path / 'pred').glob('*.png'))) == 2


@pytest.mark.slow
def test_load_from_uses_the_checkpoint(trained, repo_root, tmp_path):
    """load_from (weights-only, allow-listed) starts training from the file."""
    res = run_python(repo_root, 'tools/train.py', CONFIG, '--work-dir', str(tmp_path),
                     '--cfg-options', *data_root_options(trained['data']), 'train_cfg.max_iters=1',
                     f'load_from={trained["work"] / "iter_4.pth"}')
    assert 'Load checkpoint from' in res.stdout + res.stderr


@pytest.mark.slow
def test_resume_after_interruption_continues_identically(trained, repo_root, tmp_path):
    env = {'PYTHONPATH': os.path.join(repo_root, 'tests', 'data')}
    res = run_python(
        repo_root,
        'tools/train.py',
        'tests/data/configs/tiny_cbt_interrupted.py',
        '--work-dir',
        str(tmp_path),
        '--cfg-options',
        *data_root_options(trained['data']),
        env=env,
        check=False)
    assert res.returncode != 0 and 'interrupted after iteration 3' in res.stderr
    assert (tmp_path / 'iter_2.pth').is_file() and not (tmp_path / 'iter_4.pth').exists()

    res = run_python(repo_root, 'tools/train.py', CONFIG, '--work-dir', str(tmp_path), '--resume',
                     '--cfg-options', *data_root_options(trained['data']))
    log = res.stdout + res.stderr
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Iter(train) [3/4]' in log and 'Iter(train) [1/4]' not in log
    resumed, straight = _weights(tmp_path / 'iter_4.pth'), _weights(trained['work'] / 'iter_4.pth')
    assert resumed.keys() == straight.keys()
    for k in straight:
        torch.testing.assert_close(resumed[k], straight[k], rtol=0, atol=0, msg=k)


@pytest.mark.slow
def test_mmseg_apis_work_with_plugin_config(trained, repo_root, tmp_path):
    code = f'''
import os, numpy as np
os.chdir({str(repo_root)!r})
from mmseg.apis import init_model, inference_model, MMSegInferencer
cfg = {CONFIG!r}
ckpt = {str(trained["published"])!r}
img = np.random.RandomState(0).randint(0, 255, (40, 56, 3), dtype=np.uint8)
model = init_model(cfg, ckpt, device='cpu')
res = inference_model(model, img)
assert res.pred_sem_seg.data.shape == (1, 40, 56), res.pred_sem_seg.data.shape
# an inferencer builds in its own scope (mmseg's by default), not the config's
out = MMSegInferencer(model=cfg, weights=ckpt, device='cpu', scope='mmseg_cbsa')(
    img, return_datasamples=True)
assert out.pred_sem_seg.data.shape == (1, 40, 56)
print('APIS-OK')
'''
    # no `import mmseg_cbsa` here: custom_imports in the config registers it
    res = run_python(repo_root, '-c', code)
    assert 'APIS-OK' in res.stdout


@pytest.mark.slow
def test_distributed_launch_on_two_processes(trained, repo_root, tmp_path):
    """dist_train.sh / dist_test.sh through torchrun (gloo without CUDA)."""
    port = free_port()
    env = {**os.environ, 'PORT': port}
    opts = ['--cfg-options', *data_root_options(trained['data'])]
    for cmd in (['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir',
                 str(tmp_path)], [
                     'bash', 'tools/dist_test.sh', CONFIG,
                     str(tmp_path / 'iter_4.pth'), '2', '--work-dir',
                     str(tmp_path / 'test')
                 ]):
        res = subprocess.run(cmd + opts, cwd=repo_root, capture_output=True, text=True, env=env)
        assert res.returncode == 0, res.stderr[-3000:]
        assert 'mIoU' in res.stdout + res.stderr
    assert (tmp_path / 'iter_4.pth').is_file()


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only message')
def test_amp_without_gpu_is_a_clear_error(repo_root, tmp_path):
    res = run_python(
        repo_root, 'tools/train.py', CONFIG, '--amp', '--work-dir', str(tmp_path), check=False)
    assert res.returncode != 0
    assert 'no CUDA device is available' in res.stderr
    assert not any(tmp_path.iterdir())  # nothing written before the refusal


@pytest.mark.slow
def test_image_demo_on_files_and_folders(trained, repo_root, tmp_path):
    import cv2
    folder = trained['data'] / 'images' / 'validation'
    res = run_python(repo_root, 'demo/image_demo.py', CONFIG, str(trained['work'] / 'iter_4.pth'),
                     str(folder), str(folder / 'mini_000000.jpg'), '--out', str(tmp_path))
    outs = sorted(tmp_path.glob('*.png'))
    assert [p.name for p in outs] == ['mini_000000.png', 'mini_000001.png']
    canvas = cv2.imread(str(outs[0]))
    assert canvas.shape[0] > 32 and canvas.shape[1] >= 32  # image plus legend rows
    res = run_python(
        repo_root,
        'demo/image_demo.py',
        CONFIG,
        str(trained['work'] / 'iter_4.pth'),
        str(tmp_path / 'missing.jpg'),
        '--out',
        str(tmp_path),
        check=False)
    assert res.returncode != 0 and 'no such image or folder' in res.stderr
