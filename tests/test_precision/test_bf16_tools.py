"""--bf16 in tools/test.py and the demos, the precision option of the
benchmark, the agreement tool, and autocast really active (no timing
assertions)."""
import csv
import os.path as osp
import re

import pytest
import torch

from tests.cli import run_python


def _miou(stdout: str) -> float:
    return float(re.findall(r'mIoU: ([0-9.]+)', stdout)[-1])


@pytest.mark.slow
def test_test_tool_bf16(tiny_cbt_trained, repo_root, tmp_path):
    t = tiny_cbt_trained
    args = [t['config'], t['checkpoint'], '--cfg-options', *t['options']]
    fp32 = run_python(repo_root, 'tools/test.py', *args[:2], '--work-dir', tmp_path / 'a',
                      *args[2:])
    bf16 = run_python(repo_root, 'tools/test.py', *args[:2], '--work-dir', tmp_path / 'b', '--bf16',
                      *args[2:])
    out = bf16.stdout + bf16.stderr
    assert 'AutocastTestLoop' in out or 'mIoU' in out
    assert 0 <= _miou(out) <= 100 and 0 <= _miou(fp32.stdout + fp32.stderr) <= 100


@pytest.mark.slow
def test_autocast_loop_runs_the_model_in_bf16(tiny_cbt_trained, repo_root, tmp_path):
    """Inside the model the activations are bfloat16; what the evaluator and
    the hooks receive is float32."""
    from mmengine.config import Config
    from mmengine.hooks import Hook

    import mmseg_cbsa  # noqa: F401
    from mmseg_cbsa.engine import build_runner

    t = tiny_cbt_trained
    cfg = Config.fromfile(osp.join(repo_root, t['config']))
    cfg.merge_from_dict(dict(o.split('=', 1) for o in t['options']))
    cfg.work_dir = str(tmp_path)
    cfg.load_from = str(t['checkpoint'])
    cfg.test_cfg = dict(type='AutocastTestLoop', precision='bf16')
    runner = build_runner(cfg)
    seen = dict(linear=[], attention=[], logits=[])
    for m in runner.model.modules():  # encoder and decoder
        if isinstance(m, torch.nn.Linear):
            m.register_forward_hook(lambda m, i, o: seen['linear'].append(o.dtype))
    cbsa = next(m for m in runner.model.decode_head.modules() if type(m).__name__ == 'CBSA')
    cbsa.register_forward_hook(lambda m, i, o: seen['attention'].append(o.dtype))

    class Outputs(Hook):

        def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            seen['logits'] += [s.seg_logits.data.dtype for s in outputs]

    runner.register_hook(Outputs())
    metrics = runner.test()
    assert seen['linear'] and set(seen['linear']) == {torch.bfloat16}
    assert seen['attention'] and set(seen['attention']) == {torch.bfloat16}
    assert seen['logits'] and set(seen['logits']) == {torch.float32}
    assert 0 <= metrics['mIoU'] <= 100


@pytest.mark.slow
def test_agreement_tool(tiny_cbt_trained, repo_root):
    t = tiny_cbt_trained
    res = run_python(repo_root, 'tools/analysis_tools/precision_agreement.py', t['config'],
                     t['checkpoint'], t['data'] / 'images' / 'validation')
    share = float(re.search(r'argmax agreement ([0-9.]+)%', res.stdout).group(1))
    assert 50 <= share <= 100


def test_argmax_agreement_is_one_in_float32(tiny_cbt_trained, repo_root):
    from mmseg_cbsa.analysis.precision import argmax_agreement
    from mmseg_cbsa.apis import init_model
    from mmseg_cbsa.utils import collect_images
    t = tiny_cbt_trained
    model = init_model(osp.join(repo_root, t['config']), str(t['checkpoint']), device='cpu')
    images = collect_images([str(t['data'] / 'images' / 'validation')])
    res = argmax_agreement(model, images, 'float32')
    assert res['agreement'] == 1 and res['max_abs_logit_diff'] == 0
    assert res['pixels'] == 2 * 32 * 32 and res['images'] == 2
    with pytest.raises(ValueError, match='unknown precision'):
        argmax_agreement(model, images, 'int8')


@pytest.mark.slow
def test_image_demo_bf16(tiny_cbt_trained, repo_root, tmp_path):
    t = tiny_cbt_trained
    images = t['data'] / 'images' / 'validation'
    run_python(repo_root, 'demo/image_demo.py', t['config'], t['checkpoint'], images, '--out',
               tmp_path, '--bf16')
    assert len(list(tmp_path.glob('*.png'))) == 2


@pytest.mark.slow
def test_benchmark_precisions(repo_root, tmp_path):
    res = run_python(repo_root, 'tools/analysis_tools/benchmark.py', '--dims', '32', '--heads', '2',
                     '--head-dims', '8', '--rep-grid', '2', '--extra-tokens', '3', '--repeats', '1',
                     '--warmup', '0', '--out-dir', tmp_path, '--no-isolation', '--layers', 'CBSA',
                     '--sizes', '64', '--modes', 'infer', 'train', '--precisions', 'float32',
                     'bf16')
    assert re.search(r'matrix-multiply rate: float32 [0-9.]+ GFLOP/s, bf16 [0-9.]+', res.stdout)
    assert 'speed-up over eager float32' in res.stdout
    rows = list(csv.DictReader(open(tmp_path / 'results.csv')))
    assert sorted((r['mode'], r['precision']) for r in rows) == [('infer', 'bf16'),
                                                                 ('infer', 'float32'),
                                                                 ('train', 'bf16'),
                                                                 ('train', 'float32')]
    assert all(float(r['latency_ms']) > 0 and float(r['pct_matmul']) > 0 for r in rows)


@pytest.mark.slow
def test_attention_demo_bf16(tiny_cbt_trained, repo_root, tmp_path):
    t = tiny_cbt_trained
    image = sorted((t['data'] / 'images' / 'validation').iterdir())[0]
    run_python(repo_root, 'demo/attention_demo.py', t['config'], t['checkpoint'], image, '--out',
               tmp_path, '--bf16')
    assert (tmp_path / 'cls_attention.png').stat().st_size > 0
    assert list(tmp_path.glob('cbsa_decode_head_layer*.png'))
