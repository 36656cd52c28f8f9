"""ONNX export of the project's segmentors (tools/deployment/pytorch2onnx.py):
dynamic graphs run by onnxruntime at any input size match PyTorch."""
import os
import runpy
import sys

import numpy as np
import onnxruntime  # noqa: F401  (a test requirement: missing fails)
import onnxscript  # noqa: F401  (a test requirement: missing fails)
import pytest
import torch
from mmengine.config import Config

from mmseg_cbsa.apis.loading import build_model
from mmseg_cbsa.deployment import OnnxSegmentor, SegmentorLogits, export_onnx, verify_onnx

TOOL = 'tools/deployment/pytorch2onnx.py'
TINY = 'tests/data/configs/'
LOSS = dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
HEAD = dict(in_channels=16, num_layers=1, num_heads=2, head_dims=8, num_classes=6, loss_decode=LOSS)
#: tiny versions of every decoder and encoder kind: name -> (base config, overrides)
VARIANTS = {
    'vit_cbt': ('tiny_cbt.py', {}),
    'vit_segmenter': ('tiny_segmenter.py', {}),
    # CBT encoder (conv stem, CBSA + ISTA) under a DEPICT-CA head
    'cbt_depict-ca': ('tiny_cbt_backbone.py',
                      dict(
                          decode_head=dict(
                              _delete_=True,
                              type='DEPICTHead',
                              mode='ca',
                              num_cross_layers=1,
                              cross_head_dims=8,
                              **HEAD))),
    # CRATE encoder (linear stem, MSSA) under a DEPICT-SA head
    'crate_depict-sa':
    ('tiny_cbt.py',
     dict(
         backbone=dict(_delete_=True, type='CRATE', arch=(16, 1, 2), img_size=32, patch_size=8),
         decode_head=dict(_delete_=True, type='DEPICTHead', mode='sa', **HEAD))),
}
#: the issue's sizes, and a non-square grid (37x100 -> 5x13 patches) that the
#: 2x2 representative grid does not divide, with partial patches
SIZES = [(512, 512), (384, 640), (1024, 1024), (37, 100), (2, 3, 40, 72)]
QUICK_SIZES = [(37, 100), (2, 3, 40, 72), (8, 16)]


def _config(name: str) -> Config:
    base, overrides = VARIANTS[name]
    cfg = Config.fromfile(TINY + base)
    cfg.merge_from_dict(overrides)
    return cfg


def _run_tool(repo_root, monkeypatch, capsys, *argv):
    """The tool as from the command line, in this process; (exit code, stdout, stderr)."""
    monkeypatch.chdir(repo_root)
    monkeypatch.setattr(sys, 'argv', [TOOL, *map(str, argv)])
    code = 0
    try:
        runpy.run_path(os.path.join(repo_root, TOOL), run_name='__main__')
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Each variant with a random checkpoint, exported with dynamic sizes:
    name -> (PyTorch model, onnx file, checkpoint, config)."""
    tmp = tmp_path_factory.mktemp('onnx')
    out = {}
    for name in VARIANTS:
        cfg = _config(name)
        model = build_model(cfg, seed=1).model
        ckpt = tmp / f'{name}.pth'
        torch.save({'state_dict': model.state_dict()}, ckpt)
        onnx_file = tmp / f'{name}.onnx'
        export_onnx(cfg, str(onnx_file), str(ckpt), dynamic=True, shape=(40, 56))
        out[name] = (model, str(onnx_file), ckpt, cfg)
    return out


@pytest.mark.slow
@pytest.mark.parametrize('name', list(VARIANTS))
def test_dynamic_export_matches_pytorch_at_any_size(name, exported):
    model, onnx_file, _, _ = exported[name]
    sizes = SIZES if name in ('vit_cbt', 'cbt_depict-ca') else QUICK_SIZES
    for result in verify_onnx(model, onnx_file, sizes):
        assert result.max_abs_diff <= 1e-4, str(result)
        # identical argmax except where the two best logits tie within the
        # measured difference (a random model has a few such pixels per million)
        assert result.disagreements == result.near_ties <= 1e-5 * np.prod(result.shape[-2:]), \
            str(result)


@pytest.mark.slow
def test_graph_input_and_output(exported):
    import onnx
    graph = onnx.load(exported['vit_cbt'][1]).graph
    (inp, ), (out, ) = graph.input, graph.output
    assert inp.name == 'img' and out.name == 'seg_logits'
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))


@pytest.mark.slow
def test_onnx_segmentor_equals_segmentor_predict(exported, tmp_path):
    """Whole and sliding-window inference from an image: the same labels as mmseg."""
    from mmseg.apis import inference_model
    model, onnx_file, _, cfg = exported['vit_cbt']
    img = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    # inference_model reads test_pipeline, OnnxSegmentor the test dataloader's
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(64, 48), keep_ratio=True),
        dict(type='PackSegInputs')
    ]
    cfg.test_pipeline = pipeline
    cfg.test_dataloader.dataset.pipeline = pipeline
    for test_cfg in (dict(mode='whole'), dict(mode='slide', crop_size=(32, 32), stride=(24, 24))):
        cfg.model.test_cfg = test_cfg
        model.test_cfg = cfg.model.test_cfg
        model.cfg = cfg
        expected = inference_model(model, img)
        got = OnnxSegmentor(onnx_file, cfg)(img)
        assert got.pred_sem_seg.data.shape == (1, 45, 70)
        assert torch.equal(got.pred_sem_seg.data, expected.pred_sem_seg.data), test_cfg
        assert (got.seg_logits.data - expected.seg_logits.data).abs().max() <= 1e-4


@pytest.mark.slow
def test_tool_verify_and_overwrite(exported, repo_root, monkeypatch, capsys, tmp_path):
    out = tmp_path / 'tiny.onnx'
    code, stdout, _ = _run_tool(repo_root, monkeypatch, capsys, TINY + 'tiny_cbt.py',
                                exported['vit_cbt'][2], out, '--shape', 32, 32, '--verify')
    assert code == 0, stdout
    assert f'wrote {out}' in stdout and '1 x 3 x 32 x 32 (fixed)' in stdout
    lines = [ln for ln in stdout.splitlines() if ln.startswith('verify input 1x3x32x32')]
    assert len(lines) == 1 and 'max |onnx - torch| logit' in lines[0] and '[ok]' in lines[0]
    before = out.read_bytes()
    # never overwritten without --overwrite, whatever the other options
    code, _, _ = _run_tool(repo_root, monkeypatch, capsys, TINY + 'tiny_cbt.py', out, '--dynamic')
    assert code != 0 and 'pass --overwrite' in str(code)
    assert out.read_bytes() == before
    with pytest.raises(FileExistsError):
        export_onnx(TINY + 'tiny_cbt.py', str(out))


def test_non_segmentor_is_refused():
    with pytest.raises(TypeError, match='segmentors'):
        SegmentorLogits(torch.nn.Linear(2, 2))
