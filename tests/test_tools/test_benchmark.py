"""The benchmark tool end to end on a tiny layer (no timing assertions)."""
import csv
import math
import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _bench(tmp_path, *args):
    return subprocess.run([
        sys.executable, 'tools/analysis_tools/benchmark.py', '--dims', '32', '--heads', '2',
        '--head-dims', '8', '--rep-grid', '2', '--extra-tokens', '3', '--repeats', '1', '--warmup',
        '0', '--out-dir',
        str(tmp_path), *args
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True)


def test_isolated_case_reports_memory(tmp_path):
    res = _bench(tmp_path, '--layers', 'CBSA', '--sizes', '64', '--keep-freed-memory')
    assert res.returncode == 0, res.stderr[-3000:]
    (row, ) = csv.DictReader(open(tmp_path / 'results.csv'))
    assert float(row['peak_mem_mb']) >= 0 and float(row['latency_ms']) > 0
    # 16 patch + 3 extra tokens of width 32: at least the input-sized update
    assert float(row['peak_tensor_mb']) * 2**20 >= 19 * 32 * 4


def test_keep_freed_memory_needs_isolation(tmp_path):
    res = _bench(tmp_path, '--layers', 'CBSA', '--no-isolation', '--keep-freed-memory')
    assert res.returncode == 2 and 'drop --no-isolation' in res.stderr


def test_benchmark_writes_table_csv_and_plot(tmp_path):
    res = _bench(tmp_path, '--no-isolation', '--layers', 'CBSA', 'MSSA', '--sizes', '64', '128',
                 '--modes', 'infer', 'train', '--rounds', '2')
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'matrix-multiply rate' in res.stdout and 'scaling exponent' in res.stdout
    # 2 rounds x 1 repeat: the exponents are flagged (they were printed bare)
    assert 'from 2 timed call(s) per case' in res.stdout and 'indicative only' in res.stdout
    rows = list(csv.DictReader(open(tmp_path / 'results.csv')))
    assert len(rows) == 2 * 2 * 2
    for r in rows:
        assert int(r['tokens']) in (16, 64)
        assert float(r['latency_ms']) > 0 and float(r['gflops']) > 0
        assert int(r['rounds']) == 2
    # a training step does about three times the work of inference
    by = {(r['case'], r['mode'], r['size']): float(r['gflops']) for r in rows}
    assert by[('CBSA layer', 'train',
               '128')] == pytest.approx(3 * by[('CBSA layer', 'infer', '128')])
    # a layer has no config: its training step steps AdamW, whose state is reported
    for r in rows:
        if r['mode'] == 'train':
            assert r['optimizer'] == 'AdamW' and float(r['optimizer_state_mb']) > 0
        else:
            assert r['optimizer'] == ''
    assert 'AdamW (' in res.stdout
    assert (tmp_path / 'latency.png').stat().st_size > 0


def test_backends_and_baseline(tmp_path):
    """Every backend runs a layer case; onnxruntime only in float32 inference."""
    res = _bench(tmp_path, '--no-isolation', '--layers', 'CBSA', '--sizes', '64', '--modes',
                 'infer', 'train', '--precisions', 'float32', 'bf16', '--backends', 'eager', 'ort',
                 'ort-opt', '--baseline', 'CBSA layer')
    assert res.returncode == 0, res.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / 'results.csv')))
    combos = {(r['mode'], r['backend'], r['precision']) for r in rows}
    assert combos == {('infer', 'eager', 'float32'), ('infer', 'eager', 'bf16'),
                      ('train', 'eager', 'float32'), ('train', 'eager', 'bf16'),
                      ('infer', 'ort', 'float32'), ('infer', 'ort-opt', 'float32')}
    # the same work is counted whatever runs it
    flops = {
        r['backend']: float(r['gflops'])
        for r in rows if (r['mode'], r['precision']) == ('infer', 'float32')
    }
    assert flops['ort'] == flops['ort-opt'] == flops['eager'] > 0
    assert 'speed-up over eager float32' in res.stdout
    assert 'CBSA layer [infer, ort-opt] 64px:' in res.stdout
    assert 'CBSA layer [train, bf16] 64px:' in res.stdout.split('speed-up over CBSA layer')[1]


def test_compile_backend(tmp_path):
    res = _bench(tmp_path, '--no-isolation', '--layers', 'CBSA', '--sizes', '64', '--backends',
                 'compile')
    assert res.returncode == 0, res.stderr[-3000:]
    (row, ) = csv.DictReader(open(tmp_path / 'results.csv'))
    assert row['backend'] == 'compile' and float(row['latency_ms']) > 0


def test_unknown_baseline_is_named(tmp_path):
    res = _bench(tmp_path, '--no-isolation', '--layers', 'CBSA', '--sizes', '64', '--baseline',
                 'ViT')
    assert res.returncode != 0 and "--baseline 'ViT' is not a case" in res.stderr


FAKE_AUTHORS_MODELS = '''
import torch
from torch import nn


class _Encoder(nn.Module):
    # laid out for 224 px, as the authors' classifiers
    patch_size, dim = 16, 8

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 8, 16, 16)
        self.pos_embedding = nn.Parameter(torch.zeros(1, 197, 8))
        self.mlp_head = nn.Linear(8, 2)

    def forward_features(self, img):
        x = self.proj(img).flatten(2).transpose(1, 2)
        # the benchmark lays the embedding out at the input size
        assert self.pos_embedding.shape[1] == x.shape[1] + 1
        return x + self.pos_embedding[:, 1:]

    def forward(self, img):
        # training: the benchmark replaces the head by an identity
        assert isinstance(self.mlp_head, nn.Identity)
        return self.mlp_head(self.forward_features(img).mean(1))


def Ours_small():
    return _Encoder()


CRATE_small = ToST_small = Ours_small
'''


def test_backbones_alone_with_the_authors_classifiers(tmp_path):
    """``--part backbone``: our encoders from classifier configs and, from a
    checkout laid out as the authors' repository, their classifiers' encoders."""
    root = tmp_path / 'CBSA'
    (root / 'CBSA_image_classification').mkdir(parents=True)
    (root / 'CBSA_image_classification' / 'models.py').write_text(FAKE_AUTHORS_MODELS)
    out = tmp_path / 'out'
    res = subprocess.run([
        sys.executable, 'tools/analysis_tools/benchmark.py', '--configs',
        'tests/data/configs/cls_tiny.py', '--part', 'backbone', '--authors-root',
        str(root), '--authors-encoders', 'CBT-S', 'CRATE-S', '--sizes', '32', '64', '--batch', '2',
        '--no-isolation', '--repeats', '1', '--warmup', '0', '--out-dir',
        str(out), '--baseline', 'cls_tiny [encoder]', '--modes', 'infer', 'train'
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = list(csv.DictReader(open(out / 'results.csv')))
    assert {r['case']
            for r in rows
            } == {'cls_tiny [encoder]', "authors' CBT-S [encoder]", "authors' CRATE-S [encoder]"}
    for r in rows:
        assert int(r['tokens']) == (int(r['size']) // 16)**2 and float(r['gflops']) > 0
        if r['mode'] == 'train':
            # ours: the classifier config's Lion; theirs (no config): AdamW
            assert r['optimizer'] == ('Lion' if r['case'] == 'cls_tiny [encoder]' else 'AdamW')
            assert float(r['peak_tensor_mb']) >= float(r['optimizer_state_mb']) > 0
    assert len(rows) == 3 * 2 * 2
    assert "authors' CBT-S [encoder] [infer] 64px:" in res.stdout
    assert "authors' CBT-S [encoder] [train] 64px:" in res.stdout


def test_authors_root_must_be_their_checkout(tmp_path):
    res = subprocess.run([
        sys.executable, 'tools/analysis_tools/benchmark.py', '--part', 'backbone', '--authors-root',
        str(tmp_path), '--sizes', '32', '--repeats', '1', '--warmup', '0', '--no-isolation',
        '--out-dir',
        str(tmp_path / 'out')
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True)
    assert res.returncode != 0
    assert 'no CBSA_image_classification folder' in res.stderr


def test_out_of_memory_is_reported_not_fatal(tmp_path):
    """A case that does not fit in --memory-limit-gb is a row, not a crash."""
    res = _bench(tmp_path, '--layers', 'CBSA', '--sizes', '64', '65536', '--memory-limit-gb', '6')
    assert res.returncode == 0, res.stderr[-3000:]
    rows = {r['size']: r for r in csv.DictReader(open(tmp_path / 'results.csv'))}
    assert rows['64']['status'] == 'ok' and float(rows['64']['latency_ms']) > 0
    # 65536 px: 16.8M tokens of width 32, 2 GiB per activation, beyond the
    # ~2 GiB a PyTorch process has left of 6 GiB of address space
    assert rows['65536']['status'] == 'out of memory (limit 6.0 GB)'
    assert 'out of memory (limit 6.0 GB)' in res.stdout


def test_a_failing_case_is_reported_and_fails_the_run(tmp_path):
    """The other cases are still measured and tabled; the exit status says the table has a hole."""
    root = tmp_path / 'CBSA'
    (root / 'CBSA_image_classification').mkdir(parents=True)
    (root / 'CBSA_image_classification' /
     'models.py').write_text(FAKE_AUTHORS_MODELS +
                             '\n\ndef Ours_small():\n    raise RuntimeError("no such model")\n')
    out = tmp_path / 'out'
    res = subprocess.run([
        sys.executable, 'tools/analysis_tools/benchmark.py', '--configs',
        'tests/data/configs/cls_tiny.py', '--part', 'backbone', '--authors-root',
        str(root), '--authors-encoders', 'CBT-S', 'CRATE-S', '--sizes', '32', '--repeats', '1',
        '--warmup', '0', '--out-dir',
        str(out)
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True)
    assert res.returncode == 1
    rows = {r['case']: r for r in csv.DictReader(open(out / 'results.csv'))}
    assert rows['cls_tiny [encoder]']['status'] == 'ok'
    assert rows["authors' CRATE-S [encoder]"]['status'] == 'ok'
    assert rows["authors' CBT-S [encoder]"]['status'] == 'failed: RuntimeError: no such model'
    assert "1 case(s) failed: authors' CBT-S [encoder] eager float32 32px" in res.stderr


def test_an_exported_model_beside_its_config(tmp_path):
    """``--onnx``: the file from pytorch2onnx.py timed in onnxruntime next to the config."""
    onnx_file = tmp_path / 'tiny.onnx'
    exp = subprocess.run([
        sys.executable, 'tools/deployment/pytorch2onnx.py', 'tests/data/configs/tiny_cbt.py',
        str(onnx_file), '--dynamic'
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True)
    assert exp.returncode == 0, exp.stderr[-3000:]
    out = tmp_path / 'out'
    res = subprocess.run([
        sys.executable, 'tools/analysis_tools/benchmark.py', '--configs',
        'tests/data/configs/tiny_cbt.py', '--part', 'model', '--onnx',
        str(onnx_file), '--sizes', '64', '96', '--repeats', '1', '--warmup', '0', '--no-isolation',
        '--precisions', 'float32', 'bf16', '--out-dir',
        str(out)
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = list(csv.DictReader(open(out / 'results.csv')))
    onnx_rows = [r for r in rows if r['case'] == 'tiny.onnx [onnxruntime]']
    # float32 inference only, at each size (a dynamic graph)
    assert sorted(r['size'] for r in onnx_rows) == ['64', '96']
    assert {r['precision'] for r in onnx_rows} == {'float32'}
    for r in onnx_rows:
        assert r['status'] == 'ok' and float(r['latency_ms']) > 0
    assert len(rows) == 2 * 2 + 2


def _config_case(config, part, **kw):
    return dict(kind='config', config=config, part=part, size=32, batch=2, **kw)


@pytest.mark.parametrize('config,part,prefix',
                         [('tests/data/configs/tiny_cbt.py', 'model', ''),
                          ('tests/data/configs/tiny_cbt.py', 'head', 'decode_head.'),
                          ('tests/data/configs/cls_tiny.py', 'backbone', 'backbone.')])
def test_training_step_steps_the_configs_optimiser(config, part, prefix):
    """A training step updates the timed part's parameters with the optimiser its
    config trains with (the quickstart's AdamW, the classifiers' Lion), and only
    those: the rest of the model is not in the optimiser."""
    from mmengine.config import Config

    from mmseg_cbsa.apis import build_model
    from mmseg_cbsa.apps.benchmark import build_case, build_train_optimizer, training_step

    case = _config_case(config, part)
    torch.manual_seed(0)
    module, inputs, _ = build_case(case)
    module.train()
    optim_wrapper = build_train_optimizer(case, module)
    assert type(
        optim_wrapper.optimizer).__name__ == Config.fromfile(config).optim_wrapper.optimizer.type
    stepped = [p for g in optim_wrapper.optimizer.param_groups for p in g['params']]
    assert {id(p) for p in stepped} == {id(p) for p in module.parameters()}
    # the config's parameter names reach mmengine (paramwise_cfg keys match as in training)
    whole = dict(build_model(config, seed=None, init_weights=False).model.named_parameters())
    own = getattr(module, 'model', None) or getattr(module, 'head', None) or module
    assert {prefix + n for n, _ in own.named_parameters()} <= set(whole)

    before = [p.detach().clone() for p in stepped]
    training_step(optim_wrapper, lambda: module(*inputs))
    changed = [not torch.equal(b, p) for b, p in zip(before, stepped)]
    assert all(changed), f'{sum(changed)} of {len(stepped)} updated'
    # gradients zeroed for the next step; the optimiser's state exists
    assert all(p.grad is None for p in stepped)
    assert optim_wrapper.optimizer.state


def test_training_measurement_reports_the_optimisers_memory():
    """``measure`` in training mode: the config's optimiser, its state's bytes
    (AdamW: two float32 moments per weight) and a peak that includes them."""
    from mmseg_cbsa.apps.benchmark import build_case, measure

    case = _config_case(
        'tests/data/configs/tiny_cbt.py', 'model', mode='train', repeats=1, warmup=0)
    res = measure(case)
    module, _, _ = build_case(case)
    weights = sum(p.numel() * 4 for p in module.parameters())
    assert res['optimizer'] == 'AdamW'
    assert res['optimizer_state_mb'] * 2**20 >= 2 * weights
    # activations, gradients and the state: more than the state alone
    assert res['peak_tensor_mb'] > res['optimizer_state_mb'] + weights / 2**20
    assert res['peak_mem_mb'] >= 0 and res['latency_ms'] > 0


@pytest.mark.parametrize(
    'error',
    [MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory")])
def test_a_flop_count_out_of_memory_keeps_the_timing(monkeypatch, capsys, error):
    # the FLOP trace holds every intermediate of the model (several times the
    # forward's memory): MiTA's ViT-S at 2048 px lost its timing to it
    from mmseg_cbsa.apps import benchmark

    def trace_out_of_memory(*args):
        raise error

    monkeypatch.setattr(benchmark, 'count_flops', trace_out_of_memory)
    case = _config_case('tests/data/configs/tiny_cbt.py', 'model', repeats=1, warmup=0)
    res = benchmark.measure(case)
    assert res['latency_ms'] > 0 and math.isnan(res['gflops'])
    assert 'FLOPs not counted' in capsys.readouterr().err


def test_other_errors_of_the_flop_count_are_raised(monkeypatch):
    from mmseg_cbsa.apps import benchmark

    def broken(*args):
        raise RuntimeError('shape mismatch')

    monkeypatch.setattr(benchmark, 'count_flops', broken)
    case = _config_case('tests/data/configs/tiny_cbt.py', 'model', repeats=1, warmup=0)
    with pytest.raises(RuntimeError, match='shape mismatch'):
        benchmark.measure(case)
