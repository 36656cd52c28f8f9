"""Converted authors' checkpoints compute what the authors' models compute.

Random weights are laid out as the authors' modules name them, saved as their
training scripts save them, converted with the command-line converters, and
loaded into this project's configs; outputs are compared with the
independent reference in ``tests/reference/authors_layout.py``.
"""
import os
import subprocess
import sys

import pytest
import torch

from mmseg_cbsa.converters import convert_classifier
from tests.reference import authors_layout as ref

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = dict(rtol=1e-4, atol=1e-4)


def _r(*shape, scale=0.05):
    return torch.randn(*shape) * scale


def _ln(sd, key, d):
    sd[key + '.weight'] = 1 + _r(d, scale=0.1)
    sd[key + '.bias'] = _r(d, scale=0.1)


def segmenter_encoder(d=192, depth=12, grid=32, patch=16):
    sd = {
        'patch_embed.proj.weight': _r(d, 3, patch, patch),
        'patch_embed.proj.bias': _r(d),
        'cls_token': _r(1, 1, d, scale=1),
        'pos_embed': _r(1, 1 + grid * grid, d, scale=0.5),
        'head.weight': _r(1000, d),
        'head.bias': _r(1000)
    }
    for i in range(depth):
        b = f'blocks.{i}.'
        _ln(sd, b + 'norm1', d), _ln(sd, b + 'norm2', d)
        sd.update({
            b + 'attn.qkv.weight': _r(3 * d, d),
            b + 'attn.qkv.bias': _r(3 * d),
            b + 'attn.proj.weight': _r(d, d),
            b + 'attn.proj.bias': _r(d),
            b + 'mlp.fc1.weight': _r(4 * d, d),
            b + 'mlp.fc1.bias': _r(4 * d),
            b + 'mlp.fc2.weight': _r(d, 4 * d),
            b + 'mlp.fc2.bias': _r(d)
        })
    _ln(sd, 'norm', d)
    return sd


def cbt_decoder(d=192, n_cls=150, layers=3, heads=3, p=100):
    sd = {'cls_emb': _r(1, n_cls, d, scale=0.5)}
    for i in range(layers):
        pre = f'net.layers.{i}.'
        _ln(sd, pre + 'norm', d)
        sd.update({
            pre + 'fn.proj.weight': _r(heads * p, d, scale=0.1),
            pre + 'fn.step_x': torch.randn(heads, 1, 1),
            pre + 'fn.step_rep': torch.randn(heads, 1, 1),
            pre + 'fn.to_out.weight': _r(d, heads * p),
            pre + 'fn.to_out.bias': _r(d)
        })
    _ln(sd, 'decoder_norm', d), _ln(sd, 'mask_norm', n_cls)
    return sd


def depict_decoder(mode, d=192, n_cls=150, heads=3):
    sd = {'cls_emb': _r(1, n_cls, d, scale=0.5)}
    stacks = [('net', 100)] if mode == 'sa' else [('snet', 100), ('cnet', 50)]
    for name, p in stacks:
        for i in range(3):
            pre = f'{name}.layers.{i}.'
            _ln(sd, pre + 'norm', d)
            sd[pre + 'fn.proj'] = torch.randn(heads * p, d) * d**-0.5
            sd[pre + 'fn.step_size'] = torch.randn(1)
    for key in (['decoder_norm'] if mode == 'sa' else ['snorm', 'cnorm']):
        _ln(sd, key, d)
    _ln(sd, 'mask_norm', n_cls)
    return sd


def _convert(tool, src, dst):
    res = subprocess.run(
        [sys.executable,
         os.path.join(REPO, 'tools/model_converters', tool),
         str(src),
         str(dst)],
        capture_output=True,
        text=True,
        cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def _segmentor(config, ckpt):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    from mmseg_cbsa.registry import MODELS
    init_default_scope('mmseg_cbsa')
    cfg = Config.fromfile(os.path.join(REPO, config))
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model).eval()
    load_checkpoint(model, str(ckpt), map_location='cpu', strict=True)
    return model


@pytest.mark.slow
@pytest.mark.parametrize('decoder', ['cbt', 'depict-sa', 'depict-ca'])
def test_segmentation_checkpoint(tmp_path, decoder):
    torch.manual_seed(1)
    enc = segmenter_encoder()
    dec = cbt_decoder() if decoder == 'cbt' else depict_decoder(decoder[-2:])
    model = {f'encoder.{k}': v for k, v in enc.items()}
    model.update({f'decoder.{k}': v for k, v in dec.items()})
    src = tmp_path / 'checkpoint.pth'
    torch.save({'model': model, 'optimizer': {'state': {}}, 'n_cls': 150, 'epoch': 63}, src)
    out = _convert('cbsa2mmseg.py', src, tmp_path / 'converted.pth')
    config = next(line.split(': ')[1] for line in out.splitlines() if line.startswith('config:'))
    assert config.startswith(f'configs/{"cbt" if decoder == "cbt" else "depict"}/')
    assert '_vit-t16_' in config
    segmentor = _segmentor(config, tmp_path / 'converted.pth')

    img = torch.randn(3, 512, 512)
    with torch.no_grad():
        ours = segmentor._forward(img[None])[0]  # (150, 32, 32)
        tokens = ref.segmenter_vit(img, enc, heads=3)
        decode = ref.cbt_decoder if decoder == 'cbt' else ref.depict_decoder
        theirs = decode(tokens[1:], dec, (32, 32))
    assert ours.shape == theirs.shape == (150, 32, 32)
    torch.testing.assert_close(ours, theirs, **TOL)


def classifier(kinds, d=192, heads=3, n_cls=1000):
    sd = {
        'cls_token': _r(1, 1, d, scale=1),
        'pos_embedding': _r(1, 197, d, scale=0.5),
        'mlp_head.1.weight': _r(n_cls, d),
        'mlp_head.1.bias': _r(n_cls)
    }
    widths = [3, d // 8, d // 4, d // 2, d]
    for j in range(4):
        pre = f'to_patch_embedding.proj.{2 * j}.'
        sd[pre + '0.weight'] = _r(widths[j + 1], widths[j], 3, 3, scale=0.3)
        sd[pre + '1.weight'] = 1 + _r(widths[j + 1], scale=0.1)
        sd[pre + '1.bias'] = _r(widths[j + 1], scale=0.1)
        sd[pre + '1.running_mean'] = _r(widths[j + 1], scale=0.1)
        sd[pre + '1.running_var'] = 1 + torch.rand(widths[j + 1])
        sd[pre + '1.num_batches_tracked'] = torch.tensor(1000)
    for i, kind in enumerate(kinds):
        pre = f'transformer.layers.{i}.'
        _ln(sd, pre + '0.norm', d), _ln(sd, pre + '1.norm', d)
        sd[pre + '1.fn.weight'] = _r(d, d, scale=0.1)
        sd[pre + '0.fn.to_out.weight'] = _r(d, d)
        sd[pre + '0.fn.to_out.bias'] = _r(d)
        if kind == 'CBSA':
            sd[pre + '0.fn.proj.weight'] = _r(d, d, scale=0.1)
            sd[pre + '0.fn.step_x'] = torch.randn(heads, 1, 1)
            sd[pre + '0.fn.step_rep'] = torch.randn(heads, 1, 1)
        else:
            sd[pre + '0.fn.qkv.weight'] = _r(d, d, scale=0.1)
            if kind == 'TSSA':
                sd[pre + '0.fn.temp'] = 1 + _r(heads, 1, scale=0.3)
    _ln(sd, 'mlp_head.0', d)
    return sd


@pytest.mark.parametrize('name,kinds,d,heads', [
    ('CBT-S', ['CBSA'] * 12, 384, 6),
    ('ToST-T', ['TSSA'] * 12, 192, 3),
    ('CRATE+CBT-T', ['MSSA'] * 6 + ['CBSA'] * 6, 192, 3),
])
@pytest.mark.slow
def test_classifier_checkpoint(tmp_path, name, kinds, d, heads):
    from mmpretrain.registry import MODELS as PRETRAIN
    torch.manual_seed(2)
    sd = classifier(kinds, d, heads)
    src = tmp_path / 'model_best.pth.tar'
    torch.save(
        {
            'epoch': 150,
            'arch': name,
            'best_acc1': torch.tensor(71.4),
            'state_dict': {
                f'module.{k}': v
                for k, v in sd.items()
            }
        }, src)
    out = _convert('cbt_cls2mmseg.py', src, tmp_path / 'converted.pth')
    assert ('legacy_cls_pooling' in out) == ('CBSA' in kinds)
    converted = torch.load(tmp_path / 'converted.pth', weights_only=True)['state_dict']
    info = convert_classifier(sd)[1]
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier_model = PRETRAIN.build(
            dict(
                type='ImageClassifier',
                backbone=dict(info['backbone'], out_type='cls_token'),
                head=dict(type='LinearClsHead', num_classes=1000, in_channels=d))).eval()
    classifier_model.load_state_dict(converted, strict=True)
    backbone = classifier_model.backbone

    # float64 on both sides: twelve layers with random step sizes amplify
    # float32 round-off (about 4e-3 on activations of 14 for CBT-S), which
    # would hide a wrong mapping behind a loose tolerance
    classifier_model.double()
    sd = {k: v.double() if v.is_floating_point() else v for k, v in sd.items()}
    img = torch.randn(3, 224, 224, dtype=torch.float64)
    with torch.no_grad():
        theirs = ref.classifier_features(img, sd, heads, kinds)
        backbone.out_type = 'featmap'
        feat_map = backbone(img[None])[0][0]
        backbone.out_type = 'cls_token'
        logits = classifier_model(img[None], mode='tensor')[0]
    torch.testing.assert_close(feat_map.flatten(1).T, theirs[1:], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(
        logits, theirs[0] @ sd['mlp_head.1.weight'].T + sd['mlp_head.1.bias'], rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_converters_refuse_foreign_files_by_key(tmp_path):
    sd = cbt_decoder()
    sd['net.layers.0.fn.extra_gate'] = torch.zeros(3)
    model = {f'encoder.{k}': v for k, v in segmenter_encoder(depth=1, grid=4).items()}
    model.update({f'decoder.{k}': v for k, v in sd.items()})
    torch.save({'model': model}, tmp_path / 'odd.pth')
    res = subprocess.run([
        sys.executable, 'tools/model_converters/cbsa2mmseg.py',
        str(tmp_path / 'odd.pth'),
        str(tmp_path / 'out.pth')
    ],
                         capture_output=True,
                         text=True,
                         cwd=REPO)
    assert res.returncode != 0
    assert "unexpected keys for a cbt decoder: ['decoder.net.layers.0.fn.extra_gate']" in res.stderr
    assert not (tmp_path / 'out.pth').exists()

    torch.save({'state_dict': {'features.0.weight': torch.zeros(1)}}, tmp_path / 'resnet.pth')
    res = subprocess.run([
        sys.executable, 'tools/model_converters/cbt_cls2mmseg.py',
        str(tmp_path / 'resnet.pth'),
        str(tmp_path / 'out.pth')
    ],
                         capture_output=True,
                         text=True,
                         cwd=REPO)
    assert res.returncode != 0 and "['features.0.weight']" in res.stderr
