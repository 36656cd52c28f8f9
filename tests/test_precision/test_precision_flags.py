"""``--precision`` (and its ``--bf16`` alias) on tools/test.py, the demos and
the web demo, resolved once through resolve_precision, and
``SegInferencer(precision=...)``: parsing, the test loop it sets, and the
dtype the model really runs in (fake hardware reports, no timing)."""
import argparse
import importlib.util
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from mmseg_cbsa.apps.demos import demo_parser, demo_precision
from mmseg_cbsa.apps.web_demo import parse_args as web_demo_args
from mmseg_cbsa.utils import hardware
from mmseg_cbsa.utils.hardware import CPU_FLAGS, HardwareReport
from mmseg_cbsa.utils.precision import add_precision_arg

TINY = 'tests/data/configs/tiny_cbt.py'


def _report(bf16_native: bool) -> HardwareReport:
    """A CPU that runs bf16 natively and 2.7x faster than float32, or one
    without native bf16 nor fp16."""
    flags = ('avx512f', 'avx512_bf16') if bf16_native else ('avx512f', )
    rates = dict(float32=150.0, bf16=400.0 if bf16_native else 20.0, fp16=2.0)
    return HardwareReport(
        'CPU', 'AVX512', {f: f in flags
                          for f in CPU_FLAGS}, 2, matmul_gflops=rates)


@pytest.fixture
def fake_hardware(monkeypatch):
    """``fake_hardware(bf16_native)``: the report resolve_precision reads."""

    def use(bf16_native: bool) -> None:
        monkeypatch.setattr(hardware, 'hardware_report', lambda device='cpu': _report(bf16_native))

    return use


def _load_test_tool(repo_root):
    spec = importlib.util.spec_from_file_location('tools_test_tool',
                                                  osp.join(repo_root, 'tools', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _test_tool_args(repo_root, monkeypatch, *options):
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setattr(sys, 'argv', ['test.py', osp.join(repo_root, TINY), 'ckpt.pth', *options])
    return _load_test_tool(repo_root).parse_args()


def test_helper_alias_default_and_refusal(capsys):
    p = argparse.ArgumentParser()
    add_precision_arg(p, 'float32')
    assert p.parse_args([]).precision == 'float32'
    assert p.parse_args(['--bf16']).precision == 'bf16'
    assert p.parse_args(['--precision', 'fp16']).precision == 'fp16'
    assert p.parse_args(['--precision', 'auto']).precision == 'auto'
    with pytest.raises(SystemExit) as e:
        p.parse_args(['--precision', 'int8'])
    assert e.value.code == 2
    assert "invalid choice: 'int8'" in capsys.readouterr().err


def test_defaults_per_tool(repo_root, monkeypatch):
    # evaluation stays float32, the demos and the web demo default to auto
    assert _test_tool_args(repo_root, monkeypatch).precision == 'float32'
    assert _test_tool_args(repo_root, monkeypatch, '--bf16').precision == 'bf16'
    assert demo_parser('demo').parse_args(['c', 'k', 'i', '--out', 'o']).precision == 'auto'
    assert demo_parser('demo').parse_args(['c', 'k', 'i', '--out', 'o',
                                           '--bf16']).precision == 'bf16'
    assert web_demo_args(['c', 'k']).precision == 'auto'
    assert web_demo_args(['c', 'k', '--precision', 'float32']).precision == 'float32'


@pytest.mark.parametrize('option', [['--bf16'], ['--precision', 'bf16']])
def test_test_tool_bf16_uses_autocast_loop(repo_root, monkeypatch, fake_hardware, option):
    fake_hardware(True)
    tool = _load_test_tool(repo_root)
    args = _test_tool_args(repo_root, monkeypatch, *option)
    cfg = Config(dict(test_cfg=dict(type='TestLoop', fp16=True)))
    assert tool.set_test_precision(cfg, args.precision) == 'bf16'
    assert cfg.test_cfg == dict(_scope_='mmseg_cbsa', type='AutocastTestLoop', precision='bf16')


def test_test_tool_float32_and_auto(repo_root, fake_hardware):
    tool = _load_test_tool(repo_root)
    cfg = Config(dict(test_cfg=dict(type='TestLoop')))
    assert tool.set_test_precision(cfg, 'float32') == 'float32'
    assert cfg.test_cfg == dict(type='TestLoop')
    fake_hardware(False)
    assert tool.set_test_precision(cfg, 'auto') == 'float32'
    assert cfg.test_cfg == dict(type='TestLoop')
    fake_hardware(True)
    assert tool.set_test_precision(cfg, 'auto') == 'bf16'
    assert cfg.test_cfg.type == 'AutocastTestLoop' and cfg.test_cfg.precision == 'bf16'


@pytest.mark.parametrize('native, expected', [(True, 'bf16'), (False, 'float32')])
def test_demo_auto_resolves_and_says_it(fake_hardware, capsys, native, expected):
    fake_hardware(native)
    args = demo_parser('demo').parse_args(['c', 'model.pth', 'i', '--out', 'o'])
    assert demo_precision(args) == expected
    assert f'precision: {expected} (asked: auto)' in capsys.readouterr().err


def test_demo_onnx_graph_runs_float32_under_auto(fake_hardware):
    fake_hardware(True)
    args = demo_parser('demo').parse_args(['c', 'model.onnx', 'i', '--out', 'o'])
    assert demo_precision(args) == 'float32'


@pytest.fixture
def linear_dtypes():
    """The output dtypes of every nn.Linear run while the fixture is active."""
    seen = []

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Linear):
            seen.append(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    yield seen
    handle.remove()


@pytest.mark.parametrize('native, expected, dtype', [(True, 'bf16', torch.bfloat16),
                                                     (False, 'float32', torch.float32)])
def test_inferencer_auto_runs_in_resolved_precision(repo_root, monkeypatch, fake_hardware,
                                                    linear_dtypes, native, expected, dtype):
    from mmseg_cbsa.apis import SegInferencer

    monkeypatch.chdir(repo_root)
    fake_hardware(native)
    inferencer = SegInferencer(TINY, device='cpu', precision='auto')
    assert inferencer.precision == expected
    image = (torch.rand(32, 32, 3) * 255).to(torch.uint8).numpy()
    sample = inferencer(image, return_datasamples=True)
    assert linear_dtypes and set(linear_dtypes) == {dtype}
    assert sample.seg_logits.data.dtype == torch.float32


def test_inferencer_default_is_float32(repo_root, monkeypatch, linear_dtypes):
    from mmseg_cbsa.apis import SegInferencer

    monkeypatch.chdir(repo_root)
    inferencer = SegInferencer(TINY, device='cpu')
    assert inferencer.precision == 'float32'
    inferencer((torch.rand(32, 32, 3) * 255).to(torch.uint8).numpy(), return_datasamples=True)
    assert linear_dtypes and set(linear_dtypes) == {torch.float32}


def test_inferencer_refuses_unknown_precision(repo_root, monkeypatch):
    from mmseg_cbsa.apis import SegInferencer

    monkeypatch.chdir(repo_root)
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        SegInferencer(TINY, device='cpu', precision='int8')


@pytest.mark.parametrize('native, dtype', [(True, torch.bfloat16), (False, torch.float32)])
def test_web_demo_auto_runs_in_resolved_precision(repo_root, tmp_path, fake_hardware, linear_dtypes,
                                                  native, dtype):
    from mmseg.apis import init_model

    from mmseg_cbsa.apps.web_demo import WebDemo
    from mmseg_cbsa.utils import save_checkpoint_file

    config, checkpoint = osp.join(repo_root, TINY), str(tmp_path / 'tiny.pth')
    save_checkpoint_file(init_model(config, None, device='cpu').state_dict(), checkpoint, meta={})
    fake_hardware(native)
    demo = WebDemo(config, checkpoint, precision='auto')
    assert demo.precision == ('bf16' if native else 'float32')
    linear_dtypes.clear()
    demo.analyse((torch.rand(24, 40, 3) * 255).to(torch.uint8).numpy())
    assert linear_dtypes and set(linear_dtypes) == {dtype}
