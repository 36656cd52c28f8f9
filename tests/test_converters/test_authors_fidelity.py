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
from tests.test_converters.sources import (cbt_decoder, classifier, classifier_checkpoint,
                                           depict_decoder, segmentation_checkpoint,
                                           segmenter_encoder)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = dict(rtol=1e-4, atol=1e-4)


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
    src = tmp_path / 'checkpoint.pth'
    torch.save(segmentation_checkpoint(enc, dec), src)
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
    torch.save(classifier_checkpoint(sd, name), src)
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
