"""Checkpoint loading on every path: weights-only whatever the environment,
refused unless it fits the model, errors that name the file.

The tools run in process (``main()`` with ``sys.argv``: the same Runner
paths as from the shell) except the payload test, which runs tools/test.py
as a user would, with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` exported.
"""
import importlib.util
import os
import re
import sys

import pytest
import torch

import mmseg_cbsa  # noqa: F401  (registers the modules)
from mmseg_cbsa.utils.checkpoint import CheckpointError, load_checkpoint_file, save_checkpoint_file
from mmseg_cbsa.utils.checkpoint_fit import (CheckpointMismatchError, load_checkpoint,
                                             partial_loading)
from tests.cli import data_root_options, run_python

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = 'tests/data/configs/tiny_cbt.py'  # 1-layer ViT (16 wide) + CBT head, 6 classes


def _tool(name):
    spec = importlib.util.spec_from_file_location(f'_{name}_tool_ckpt',
                                                  os.path.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cfg(**backbone):
    from mmengine.config import Config
    cfg = Config.fromfile(os.path.join(REPO, CONFIG))
    cfg.model.backbone.update(backbone)
    return cfg


def _build(model_cfg):
    from mmengine.registry import init_default_scope

    from mmseg_cbsa.registry import MODELS
    init_default_scope('mmseg_cbsa')
    return MODELS.build(model_cfg)


class _Payload:
    """Creates a folder when unpickled by a full (not weights-only) load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker, ))


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Random-weight checkpoints of tiny_cbt and misfits of it."""
    tmp = tmp_path_factory.mktemp('ckpts')
    torch.manual_seed(0)
    model = _build(_cfg().model)
    state = model.state_dict()
    out = dict(dir=tmp, state=state, data=tmp / 'data')
    for name, sd in [
        ('model', state),
        ('one_tensor', {
            'unrelated.weight': torch.zeros(3, 3)
        }),
            # the model's encoder alone, keys relative to it (as a converted timm ViT)
        ('backbone_only', {
            k[len('backbone.'):]: v
            for k, v in state.items() if k.startswith('backbone.')
        }),
        ('backbone_prefixed', {
            k: v
            for k, v in state.items() if k.startswith('backbone.')
        })
    ]:
        save_checkpoint_file(sd, str(tmp / f'{name}.pth'))
        out[name] = tmp / f'{name}.pth'
    out['empty'] = tmp / 'empty.pth'
    out['empty'].write_bytes(b'')
    # an encoder trained at 48x48 (6x6 position grid; the model's is 4x4)
    torch.manual_seed(1)
    big = _build(_cfg(img_size=48).model.backbone).state_dict()
    save_checkpoint_file(big, str(tmp / 'backbone_48px.pth'))
    out['backbone_48px'], out['backbone_48px_state'] = tmp / 'backbone_48px.pth', big
    wide = _build(_cfg(arch=(24, 1, 2)).model.backbone).state_dict()
    save_checkpoint_file(wide, str(tmp / 'backbone_wide.pth'))
    out['backbone_wide'] = tmp / 'backbone_wide.pth'
    return out


# --- tools/test.py ---------------------------------------------------------------------------


@pytest.fixture(scope='module')
def test_tool():
    return _tool('test')


def _run_test_tool(tool, monkeypatch, tmp_path, files, ckpt, *options):
    monkeypatch.setattr(sys, 'argv', [
        'tools/test.py',
        os.path.join(REPO, CONFIG),
        str(ckpt), '--work-dir',
        str(tmp_path), '--cfg-options', *data_root_options(files['data']), *options
    ])
    with pytest.raises(SystemExit) as exc:
        tool.main()
    return str(exc.value.code)


@pytest.mark.parametrize('case, options, expected', [
    ('model', ['model.decode_head.num_classes=7'
               ], r'3 tensors of the wrong shape: decode_head\.cls_emb \(checkpoint \[1, 6, 16\], '
     r'model \[1, 7, 16\]\)'),
    ('one_tensor', [], r'30 model weights missing .*backbone\.cls_token.*\n.*'
     r'1 checkpoint tensors the model has no place for: unrelated\.weight'),
    ('backbone_only', [], r'model weights missing .*backbone\.cls_token.*\n.*'
     r'no place for: cls_token'),
    ('empty', [], r'the checkpoint file is empty \(0 bytes\)'),
])
def test_test_tool_refuses_a_checkpoint_that_does_not_fit(test_tool, monkeypatch, tmp_path, files,
                                                          case, options, expected):
    """Before: mmengine loaded these non-strictly and the tool reported an
    mIoU with exit status 0 (the empty file: a bare EOFError)."""
    message = _run_test_tool(test_tool, monkeypatch, tmp_path, files, files[case], *options)
    assert message.startswith(f'error: {files[case]}: ')
    assert re.search(expected, message), message


@pytest.mark.slow
def test_test_tool_does_not_run_a_payload_even_when_forced(files, repo_root, tmp_path):
    """With TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 mmengine's bare torch.load
    unpickled anything; the project's loader passes weights_only=True."""
    marker = tmp_path / 'PAYLOAD_RAN'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': files['state'], 'meta': {'x': _Payload(str(marker))}}, evil)
    res = run_python(
        repo_root,
        'tools/test.py',
        CONFIG,
        str(evil),
        '--work-dir',
        str(tmp_path / 'work'),
        '--cfg-options',
        *data_root_options(files['data']),
        env={'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD': '1'},
        check=False)
    assert not marker.exists()
    assert res.returncode == 1
    assert f'error: {evil}: cannot be loaded as a weights-only checkpoint' in res.stderr
    assert 'posix.mkdir' in res.stderr or 'os.mkdir' in res.stderr
    assert not re.search(r'mIoU: \d', res.stdout + res.stderr)  # nothing evaluated


def test_test_tool_evaluates_a_fitting_checkpoint(test_tool, monkeypatch, tmp_path, files):
    monkeypatch.setattr(sys, 'argv', [
        'tools/test.py',
        os.path.join(REPO, CONFIG),
        str(files['model']), '--work-dir',
        str(tmp_path), '--cfg-options', *data_root_options(files['data'])
    ])
    test_tool.main()


# --- load_from, init_model, MMSegInferencer --------------------------------------------------


def test_load_from_in_train_refuses_a_misfit(monkeypatch, tmp_path, files):
    train_tool = _tool('train')
    monkeypatch.setattr(sys, 'argv', [
        'tools/train.py',
        os.path.join(REPO, CONFIG), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *data_root_options(files['data']),
        'train_cfg.max_iters=1', f'load_from={files["backbone_only"]}'
    ])
    # the error itself, or the tool's SystemExit with its message
    with pytest.raises((CheckpointMismatchError, SystemExit)) as exc:
        train_tool.main()
    assert re.search(
        r'backbone_only\.pth: the checkpoint does not fit the model '
        r'\(EncoderDecoder\); refused:\n.*missing', str(exc.value)), str(exc.value)
    assert not list((tmp_path / 'work').rglob('*.pth'))  # no training happened


@pytest.mark.slow
@pytest.mark.slow
def test_our_config_stays_strict_under_mmsegs_own_train_py(files, repo_root, tmp_path):
    """mmseg's tools/train.py builds the runner our config names
    (CheckedRunner): a misfit load_from is refused there too, before training."""
    import mmseg
    train_py = os.path.join(os.path.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    work = tmp_path / 'work'
    res = run_python(
        repo_root,
        train_py,
        CONFIG,
        '--work-dir',
        str(work),
        '--cfg-options',
        *data_root_options(files['data']),
        'train_cfg.max_iters=1',
        f'load_from={files["backbone_only"]}',
        check=False)
    assert res.returncode != 0
    assert 'CheckpointMismatchError' in res.stderr
    assert 'backbone_only.pth: the checkpoint does not fit the model' in res.stderr
    assert not list(work.rglob('*.pth'))  # no training happened


def test_init_model_and_inferencer_refuse(files):
    """The project's init_model and SegInferencer (mmseg's, with our loading)."""
    from mmseg_cbsa.apis import SegInferencer, init_model
    cfg = os.path.join(REPO, CONFIG)
    with pytest.raises(CheckpointMismatchError, match=r'one_tensor\.pth: .*\n.*missing'):
        init_model(cfg, str(files['one_tensor']), device='cpu')
    with pytest.raises(CheckpointError, match=r'empty\.pth: the checkpoint file is empty'):
        init_model(cfg, str(files['empty']), device='cpu')
    with pytest.raises(CheckpointMismatchError, match=r'backbone_only\.pth: '):
        SegInferencer(model=cfg, weights=str(files['backbone_only']), device='cpu')
    model = init_model(cfg, str(files['model']), device='cpu')
    torch.testing.assert_close(model.state_dict(), files['state'], rtol=0, atol=0)
    inferencer = SegInferencer(model=cfg, weights=str(files['model']), device='cpu')
    torch.testing.assert_close(inferencer.model.state_dict(), files['state'], rtol=0, atol=0)


# --- Pretrained and the opt-out --------------------------------------------------------------


def _pretrained_backbone(checkpoint, **init):
    backbone = _build(
        _cfg(init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint), **init)).model.backbone)
    backbone.init_weights()
    return backbone


def test_pretrained_backbone_loads_a_fitting_encoder(files):
    # a bare encoder trained at another size: pos_embed resampled on load
    loaded = _pretrained_backbone(files['backbone_48px']).state_dict()
    src = files['backbone_48px_state']
    assert loaded['pos_embed'].shape == (1, 17, 16) and src['pos_embed'].shape == (1, 37, 16)
    for k in loaded:
        if k != 'pos_embed':
            torch.testing.assert_close(loaded[k], src[k], rtol=0, atol=0, msg=k)
    # a whole model's checkpoint, its encoder picked by prefix
    loaded = _pretrained_backbone(files['model'], prefix='backbone.').state_dict()
    for k, v in loaded.items():
        torch.testing.assert_close(v, files['state'][f'backbone.{k}'], rtol=0, atol=0, msg=k)


@pytest.mark.slow
def test_pretrained_backbone_refuses_a_misfit(files):
    with pytest.raises(
            CheckpointMismatchError,
            match=r'backbone_wide\.pth: .*\n.*tensors of the wrong shape: cls_token '
            r'\(checkpoint \[1, 1, 24\], model \[1, 1, 16\]\)'):
        _pretrained_backbone(files['backbone_wide'])
    with pytest.raises(CheckpointMismatchError, match=r'one_tensor\.pth: .*\n.*missing'):
        _pretrained_backbone(files['one_tensor'])
    with pytest.raises(
            CheckpointError,
            match=r"backbone_only\.pth: no tensors under prefix "
            r"'backbone\.'; its keys start with"):
        _pretrained_backbone(files['backbone_only'], prefix='backbone.')


def _segmentor(init_cfg):
    cfg = _cfg()
    cfg.model.init_cfg = init_cfg
    model = _build(cfg.model)
    model.init_weights()
    return model


@pytest.mark.slow
def test_partial_loading_is_explicit_and_still_checks_shapes(files):
    """A whole segmentor from an encoder-only file: refused unless the
    missing head is declared; a declared partial load still refuses shapes."""
    pretrained = dict(type='Pretrained', checkpoint=str(files['backbone_prefixed']))
    with pytest.raises(CheckpointMismatchError, match=r'missing .*decode_head\.'):
        _segmentor(pretrained)
    model = _segmentor(dict(pretrained, allow_missing=['decode_head.']))
    for k, v in model.state_dict().items():
        if k.startswith('backbone.'):
            torch.testing.assert_close(v, files['state'][k], rtol=0, atol=0, msg=k)
    # anything may be missing or extra, but shapes must match
    cfg = _cfg()
    cfg.model.decode_head.num_classes = 7
    model = _build(cfg.model)
    with partial_loading(allow_missing=True, allow_unexpected=True):
        with pytest.raises(
                CheckpointMismatchError,
                match=r'model\.pth: .*\n.*wrong shape: '
                r'decode_head\.cls_emb'):
            load_checkpoint(model, str(files['model']))
        load_checkpoint(model.backbone, str(files['model']))  # all keys unexpected
    with pytest.raises(CheckpointMismatchError):  # the opt-out has ended
        load_checkpoint(model.backbone, str(files['backbone_prefixed']))


# --- refused loads change nothing; fine-tuning declares itself ------------------------------


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_a_refused_load_leaves_the_model_untouched(files):
    """Before: the fit was judged after loading non-strictly, so a refused
    file's fitting tensors were already in the model."""
    cfg = _cfg()
    cfg.model.decode_head.num_classes = 7  # the head misfits, the encoder fits
    torch.manual_seed(123)  # weights other than the file's
    model = _build(cfg.model)
    before = _snapshot(model)
    with pytest.raises(CheckpointMismatchError):
        load_checkpoint(model, str(files['model']))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the encoder's tensors, which fit, would have been copied by a load-then-judge
    assert any(not torch.equal(before[k], files['state'][k]) for k in before
               if k.startswith('backbone.'))
    with pytest.raises(CheckpointMismatchError):
        _pretrained_backbone(files['backbone_wide'])  # Pretrained: same rule


def test_keep_init_fine_tunes_to_another_class_count(files):
    """keep_init: the head keeps its own initialisation, everything else loads."""
    cfg = _cfg()
    cfg.model.decode_head.num_classes = 7
    torch.manual_seed(123)
    model = _build(cfg.model)
    before = _snapshot(model)
    with partial_loading(keep_init=['decode_head.cls_emb']):
        with pytest.raises(CheckpointMismatchError, match='wrong shape: decode_head.mask_norm'):
            load_checkpoint(model, str(files['model']))  # not every misfit declared
    kept = ['decode_head.cls_emb', 'decode_head.mask_norm.']
    with partial_loading(keep_init=kept):
        load_checkpoint(model, str(files['model']))
    for k, v in model.state_dict().items():
        expected = before[k] if any(k.startswith(p) for p in kept) else files['state'][k]
        assert torch.equal(v, expected), k


def test_runner_load_from_is_checked_and_declares_fine_tuning(monkeypatch, tmp_path, files):
    """The project's configs name CheckedRunner: load_from refused unless it
    fits, ``load_from_fit`` the per-key opt-out."""
    from mmengine.config import Config
    from mmengine.registry import RUNNERS

    cfg = Config.fromfile(os.path.join(REPO, CONFIG))
    assert cfg.runner_type == 'mmseg_cbsa.engine.CheckedRunner'
    cfg.merge_from_dict(dict(a.split('=', 1) for a in data_root_options(files['data'])))
    cfg.model.decode_head.num_classes = 7
    cfg.work_dir = str(tmp_path / 'work')
    runner = RUNNERS.build(cfg)
    before = _snapshot(runner.model)
    with pytest.raises(CheckpointMismatchError, match=r'model\.pth: .*\n.*wrong shape'):
        runner.load_checkpoint(str(files['model']))
    assert all(torch.equal(v, before[k]) for k, v in runner.model.state_dict().items())
    runner.load_from_fit = dict(keep_init=['decode_head.'])
    runner.load_checkpoint(str(files['model']))
    loaded = runner.model.state_dict()
    assert torch.equal(loaded['backbone.cls_token'], files['state']['backbone.cls_token'])
    assert torch.equal(loaded['decode_head.cls_emb'], before['decode_head.cls_emb'])


# --- the mechanism ---------------------------------------------------------------------------


def test_every_mmengine_scheme_has_a_weights_only_reader():
    """read_checkpoint knows every scheme mmengine's CheckpointLoader knows
    (mmengine's own table is left as it is: tests/test_compat)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from mmseg_cbsa.utils import checkpoint_sources as ours
    for path in ('x.pth', '/a/b.pth', 'https://host/c.pth', 'torchvision://resnet50',
                 'open-mmlab://x', 'mmcls://x', 's3://b/c.pth', 'pavi://x', 'modelzoo://x',
                 'openmmlab://x', 'petrel://b/c.pth', 'http://host/c.pth'):
        theirs = CheckpointLoader._get_checkpoint_loader(path).__name__
        mine = ours.reader_for(path)
        assert (theirs == 'load_from_local') == (mine is ours.read_local), path
    assert len(ours.SCHEMES) + 1 == len(set(CheckpointLoader._schemes.values()))


def test_http_checkpoint_is_read_weights_only(files, tmp_path, monkeypatch):
    """mmengine's http loader passed weights_only=False to torch.hub."""
    import torch.hub
    marker = tmp_path / 'PAYLOAD_RAN'
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    monkeypatch.setattr(
        torch.hub, 'download_url_to_file',
        lambda url, dst, **kw: torch.save({
            'state_dict': {},
            'x': _Payload(str(marker))
        }, dst))
    model = _build(_cfg().model)
    url = 'https://example.com/ckpts/evil.pth'
    with pytest.raises(
            CheckpointError,
            match=r'https://example\.com/ckpts/evil\.pth: cannot be '
            r'loaded as a weights-only checkpoint'):
        load_checkpoint(model, url)
    assert not marker.exists() and (tmp_path / 'hub' / 'checkpoints' / 'evil.pth').is_file()


def test_errors_name_the_file(files, tmp_path):
    with pytest.raises(CheckpointError, match=r'empty\.pth: the checkpoint file is empty'):
        load_checkpoint_file(str(files['empty']))
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(files['model'].read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r'truncated\.pth: cannot be loaded'):
        load_checkpoint_file(str(truncated))
