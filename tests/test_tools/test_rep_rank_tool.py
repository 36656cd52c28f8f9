"""tools/analysis_tools/rep_rank.py end to end on the tiny trained model."""
import importlib.util
import json
import os

import cv2
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAYER = 'decode_head.layers.0.attn'  # the tiny model's one CBSA layer (2 heads, 2x2 grid)


@pytest.fixture(scope='module')
def tool():
    path = os.path.join(REPO, 'tools', 'analysis_tools', 'rep_rank.py')
    spec = importlib.util.spec_from_file_location('_rep_rank_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    """A 32x32 and a 24x40 image (4x4 and 3x5 patches)."""
    folder = tmp_path_factory.mktemp('rank_images')
    rng = np.random.default_rng(1)
    for i, (h, w) in enumerate([(32, 32), (24, 40)]):
        cv2.imwrite(str(folder / f'img{i}.png'), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return folder


def test_trained_model_table_json_plot(tool, images, tiny_cbt_trained, tmp_path, capsys):
    out = tmp_path / 'out'
    result = tool.main([
        os.path.join(REPO, tiny_cbt_trained['config']),
        str(tiny_cbt_trained['checkpoint']), '--img-dir',
        str(images), '--out-dir',
        str(out)
    ])
    stdout = capsys.readouterr().out
    assert 'rank of the extraction matrix A' in stdout
    assert any(
        line.startswith(f'| 0 | decode_head | {LAYER} | CBSA | pool | 4 |')
        for line in stdout.splitlines())
    saved = json.loads((out / 'rep_rank.json').read_text())
    assert saved == json.loads(json.dumps(result))
    assert not saved['random_init'] and saved['rtol'] is None and len(saved['images']) == 2
    (layer, ) = saved['layers']
    assert layer['name'] == LAYER and layer['rep_init'] == 'pool'
    assert layer['num_representatives'] == [4] and layer['samples'] == 2
    # patches + 6 class embeddings: 16 + 6 and 15 + 6 tokens
    assert layer['num_tokens'] == [21, 22] and layer['max_rank'] == [4]
    assert len(layer['rtol']) == 2 and all(0 < t < 1e-4 for t in layer['rtol'])
    assert len(layer['rank']) == 2 and all(len(row) == 2 for row in layer['rank'])
    assert all(1 <= r <= 4 for row in layer['rank'] for r in row)
    for key in ('rank_mean', 'rank_over_m', 'effective_rank', 'stable_rank'):
        assert len(layer[key]) == 2
    assert all(1 <= e <= 4 for e in layer['effective_rank'] + layer['stable_rank'])
    img = cv2.imread(str(out / 'rep_rank.png'))
    assert img is not None and img.shape == (480, 1320, 3)


def test_learned_representatives_and_tolerance(tool, images, tmp_path):
    """Random init of a learned-representative head through --cfg-options,
    with an explicit tolerance; the pooled checkpoint does not fit it."""
    cfg = os.path.join(REPO, 'tests/data/configs/tiny_cbt.py')
    learned = [
        'model.decode_head.attn_cfg.type=CBSA', 'model.decode_head.attn_cfg.rep_init=learned',
        'model.decode_head.attn_cfg.rep_grid=3'
    ]
    result = tool.main([
        cfg, '--images',
        str(images / 'img0.png'), '--out-dir',
        str(tmp_path / 'o'), '--rtol', '1e-3', '--cfg-options', *learned
    ])
    (layer, ) = result['layers']
    assert result['random_init'] and layer['rep_init'] == 'learned'
    assert layer['num_representatives'] == [9] and layer['rtol'] == [1e-3]
    assert all(1 <= r <= 9 for r in layer['rank'][0])


def test_bad_inputs(tool, images, tiny_cbt_trained, tmp_path):
    cfg = os.path.join(REPO, tiny_cbt_trained['config'])
    with pytest.raises(SystemExit):
        tool.main([cfg, '--img-dir', str(images), '--out-dir', str(tmp_path), '--rtol', '1'])
    with pytest.raises(SystemExit, match='^error: .* no layer that extracts representatives'):
        tool.main([
            os.path.join(REPO, 'tests/data/configs/tiny_segmenter.py'), '--img-dir',
            str(images), '--out-dir',
            str(tmp_path / 'seg')
        ])
    learned = [
        'model.decode_head.attn_cfg.type=CBSA', 'model.decode_head.attn_cfg.rep_init=learned'
    ]
    with pytest.raises(SystemExit, match=r'(?s)error: .*missing.*attn\.representatives'):
        tool.main([
            cfg,
            str(tiny_cbt_trained['checkpoint']), '--img-dir',
            str(images), '--out-dir',
            str(tmp_path / 'x'), '--cfg-options', *learned
        ])
