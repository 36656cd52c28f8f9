"""tools/analysis_tools/coding_rate.py and synthetic_compression.py end to end."""
import csv
import importlib.util
import json
import math
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.utils.checkpoint import save_checkpoint_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_CBT = 'tests/data/configs/tiny_cbt.py'  # 1-layer ViT (MHSA) + 1-layer CBT head
ZERO_SHOT = 'tests/data/configs/zero_shot_tiny.py'  # 2-layer CBT encoder, CLSAttentionProbe
LAYERS = ['backbone.blocks.0.attn', 'decode_head.layers.0.attn']


def _tool(name):
    path = os.path.join(REPO, 'tools', 'analysis_tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_{name}_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def coding_rate_tool():
    return _tool('coding_rate')


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    """Three 32x32 images and one 40x56 image in a folder (plus a non-image)."""
    folder = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(32, 32)] * 3 + [(40, 56)]):
        cv2.imwrite(str(folder / f'img{i}.png'), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    (folder / 'notes.txt').write_text('not an image')
    return folder


def _png_size(path):
    img = cv2.imread(str(path))
    assert img is not None, f'{path} does not decode as an image'
    return img.shape


@pytest.mark.slow
def test_cli_random_init_writes_table_json_csv_png(images, tmp_path):
    out = tmp_path / 'out'
    res = subprocess.run([
        sys.executable, 'tools/analysis_tools/coding_rate.py', TINY_CBT, '--images',
        str(images), '--out-dir',
        str(out)
    ],
                         cwd=REPO,
                         capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'random initialisation' in res.stdout
    rows = [
        line for line in res.stdout.splitlines()
        if line.startswith('| 0 ') or line.startswith('| 1 ')
    ]
    assert [r.split('|')[3].strip() for r in rows] == LAYERS  # encoder, then decoder

    result = json.loads((out / 'coding_rate.json').read_text())
    assert result['random_init'] and result['checkpoint'] is None and len(result['images']) == 4
    layers = result['layers']
    assert [(x['name'], x['type']) for x in layers] == [(LAYERS[0], 'MHSA'), (LAYERS[1], 'CBSA')]
    for layer in layers:
        assert layer['samples'] == 4 and len(layer['Rc']) == 4
        assert layer['num_heads'] == 2 and layer['head_dims'] == 8
        values = layer['Rc'] + layer['Rc_normalized'] + layer['Rc_per_head']
        assert all(math.isfinite(v) and v > 0 for v in values)
        assert layer['Rc_mean'] == pytest.approx(np.mean(layer['Rc']))
        assert layer['Rc_mean'] == pytest.approx(sum(layer['Rc_per_head']))
    # the 40x56 image has a 5x7 patch grid: 1 + 35 tokens in the encoder,
    # plus the 6 class embeddings in the decoder
    assert layers[0]['num_tokens'] == [17, 36] and layers[1]['num_tokens'] == [22, 41]

    with open(out / 'coding_rate.csv') as f:
        table = list(csv.DictReader(f))
    assert [r['name'] for r in table] == LAYERS
    assert float(table[1]['Rc_mean']) == pytest.approx(layers[1]['Rc_mean'])
    assert _png_size(out / 'coding_rate.png') == (480, 1320, 3)


def test_checkpoint_weights_are_measured(coding_rate_tool, images, tmp_path):
    """A checkpoint whose decoder bases are zero gives that layer Rc = 0 exactly."""
    from mmengine.config import Config

    from mmseg_cbsa.apis.loading import build_model
    model, _, _ = build_model(Config.fromfile(os.path.join(REPO, TINY_CBT)), None, 'cpu', seed=3)
    state = model.state_dict()
    state['decode_head.layers.0.attn.proj.weight'].zero_()
    ckpt = tmp_path / 'zeroed.pth'
    save_checkpoint_file(state, str(ckpt))
    out = tmp_path / 'out'
    result = coding_rate_tool.main([
        os.path.join(REPO, TINY_CBT),
        str(ckpt), '--images',
        str(images / 'img0.png'),
        str(images / 'img1.png'), '--out-dir',
        str(out), '--eps', '0.1'
    ])
    assert not result['random_init'] and result['eps'] == 0.1
    enc, dec = result['layers']
    assert dec['Rc'] == [0.0, 0.0] and dec['Rc_normalized'] == [0.0, 0.0]
    assert all(v > 0 for v in enc['Rc'])
    assert (out / 'coding_rate.png').is_file()


def test_classifier_checkpoint_and_max_images(coding_rate_tool, images, tmp_path):
    """A converted classifier (backbone.* + head.fc.*) in the zero-shot config:
    the head is ignored and said so; --max-images caps the images."""
    from mmseg_cbsa.models import CBT
    model = CBT(
        arch=(32, 2, 2),
        img_size=64,
        attn_cfg=dict(type='CBSA', rep_grid=2),
        legacy_cls_pooling=True)
    model.init_weights()
    ckpt = tmp_path / 'cls.pth'
    save_checkpoint_file({
        f'backbone.{k}': v
        for k, v in model.state_dict().items()
    } | {
        'head.fc.weight': torch.zeros(10, 32),
        'head.fc.bias': torch.zeros(10)
    }, str(ckpt))
    result = coding_rate_tool.main([
        os.path.join(REPO, ZERO_SHOT),
        str(ckpt), '--images',
        str(images), '--max-images', '2', '--out-dir',
        str(tmp_path / 'out')
    ])
    assert result['ignored_checkpoint_keys'] == ['head.fc.weight', 'head.fc.bias']
    assert [x['name']
            for x in result['layers']] == ['backbone.blocks.0.attn', 'backbone.blocks.1.attn']
    assert all(x['type'] == 'CBSA' and x['samples'] == 2 for x in result['layers'])


def test_bad_inputs_give_clear_errors(coding_rate_tool, images, tmp_path):
    ckpt = tmp_path / 'partial.pth'
    save_checkpoint_file({'backbone.cls_token': torch.zeros(1, 1, 16)}, str(ckpt))
    cfg = os.path.join(REPO, TINY_CBT)
    # the tool exits 1 with the message (no traceback)
    with pytest.raises(
            SystemExit,
            match=r'error: .*partial\.pth: the checkpoint does not fit.*\n.*29 model weights '
            'missing'):
        coding_rate_tool.main(
            [cfg, str(ckpt), '--images',
             str(images), '--out-dir',
             str(tmp_path / 'o')])
    with pytest.raises(FileNotFoundError, match='no such image or folder'):
        coding_rate_tool.main(
            [cfg, '--images',
             str(tmp_path / 'nothing'), '--out-dir',
             str(tmp_path / 'o')])
    with pytest.raises(SystemExit):  # argparse: checkpoint not found
        coding_rate_tool.main([
            cfg,
            str(tmp_path / 'missing.pth'), '--images',
            str(images), '--out-dir',
            str(tmp_path / 'o')
        ])
    assert not (tmp_path / 'o').exists()


@pytest.mark.slow
def test_synthetic_compression_lowers_the_coding_rate(tmp_path):
    tool = _tool('synthetic_compression')
    result = tool.main(
        ['--out-dir',
         str(tmp_path), '--num-points', '150', '--iters', '30', '--seed', '2'])
    rc = result['Rc']
    assert len(rc) == 31 and all(b < a for a, b in zip(rc, rc[1:]))
    assert result['R_all'][-1] < result['R_all'][0]
    # every component ends up (nearly) on a line
    assert all(s > 0.98 for s in result['principal_share']['after'])
    assert all(s < 0.95 for s in result['principal_share']['before'])
    saved = json.loads((tmp_path / 'synthetic_compression.json').read_text())
    assert saved['Rc'] == rc and saved['settings']['num_subspaces'] == 3
    assert _png_size(tmp_path / 'synthetic_compression.png') == (506, 1540, 3)
    with pytest.raises(SystemExit):
        tool.main(['--out-dir', str(tmp_path), '--step', '1.5'])


def test_per_subspace_on_the_trained_model(coding_rate_tool, images, tiny_cbt_trained, tmp_path):
    """--per-subspace (Fig. 6) adds its table, CSV, plot and JSON keys; the
    per-layer outputs are the same bytes as without the flag."""
    cfg = os.path.join(REPO, tiny_cbt_trained['config'])
    ckpt = str(tiny_cbt_trained['checkpoint'])
    two = [str(images / 'img0.png'), str(images / 'img3.png')]
    plain, flagged = tmp_path / 'plain', tmp_path / 'flagged'
    coding_rate_tool.main([cfg, ckpt, '--images', *two, '--out-dir', str(plain)])
    result = coding_rate_tool.main(
        [cfg, ckpt, '--images', *two, '--out-dir',
         str(flagged), '--per-subspace'])
    assert sorted(os.listdir(plain)) == ['coding_rate.csv', 'coding_rate.json', 'coding_rate.png']
    assert (plain / 'coding_rate.csv').read_bytes() == (flagged / 'coding_rate.csv').read_bytes()
    saved = json.loads((flagged / 'coding_rate.json').read_text())
    subspaces, corr = saved.pop('subspaces'), saved.pop('subspace_correlation')
    assert saved == json.loads((plain / 'coding_rate.json').read_text())

    (layer, ) = subspaces  # the decoder's one CBSA layer; the encoder is MHSA
    assert layer['name'] == LAYERS[1] and layer['samples'] == 2 and layer['num_heads'] == 2
    assert layer['num_representatives'] == [4] and layer['num_tokens'] == [22, 41]
    assert corr is None  # 2 subspaces: no correlation
    for key in ('tokens', 'reps'):
        mean, before, after = (layer[f'{key}_reduction_mean'], layer[f'{key}_before'],
                               layer[f'{key}_after'])
        assert len(mean) == 2 and len(layer[f'{key}_reduction_std']) == 2
        assert mean == pytest.approx([b - a for b, a in zip(before, after)])
        assert all(math.isfinite(v) for v in mean)
    # the tokens' rate before the layer is its per-head Rc of the per-layer table
    assert layer['tokens_before'] == pytest.approx(saved['layers'][1]['Rc_per_head'])
    assert result['subspaces'] == subspaces

    with open(flagged / 'coding_rate_subspaces.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['name'], r['head']) for r in rows] == [(LAYERS[1], '0'), (LAYERS[1], '1')]
    assert float(rows[1]['reps_reduction_mean']) == pytest.approx(layer['reps_reduction_mean'][1])
    assert _png_size(flagged / 'coding_rate_subspaces.png') == (480, 1320, 3)


def test_per_subspace_needs_a_cbsa_layer(coding_rate_tool, images, tmp_path):
    # does not apply: one line, exit status 1 (was a ValueError's traceback)
    with pytest.raises(
            SystemExit,
            match=r'^error: EncoderDecoder \(ViT encoder\) holds no '
            r'layer that extracts representatives .*: the measurement does not apply$'):
        coding_rate_tool.main([
            os.path.join(REPO, 'tests/data/configs/tiny_segmenter.py'), '--images',
            str(images), '--out-dir',
            str(tmp_path), '--per-subspace'
        ])
