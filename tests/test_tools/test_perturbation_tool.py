"""tools/analysis_tools/perturbation.py end to end (paper Fig. 8)."""
import csv
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys

import cv2
import pytest
from mmengine.config import Config

from mmseg_cbsa.utils.checkpoint import save_checkpoint_file

TOOL = 'tools/analysis_tools/perturbation.py'
TINY_SEGMENTER = 'tests/data/configs/tiny_segmenter.py'


def _tool_module():
    spec = importlib.util.spec_from_file_location('perturbation_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('argv, message', [
    (['--configs', 'a.py', 'b.py', '--checkpoints', 'x.pth'], '2 configs but 1 checkpoints'),
    (['--configs', TINY_SEGMENTER, '--checkpoints', 'missing.pth'], 'checkpoint not found'),
    (['--configs', TINY_SEGMENTER, '--checkpoints', TOOL, '--noise', '-1'], 'finite and >= 0'),
])
def test_tool_rejects_bad_arguments(argv, message, monkeypatch, capsys, repo_root):
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv('LOCAL_RANK', '0')  # parse_runner_args exports it; undone after
    monkeypatch.setattr(sys, 'argv', [TOOL, *argv, '--out-dir', 'unused'])
    with pytest.raises(SystemExit):
        _tool_module().parse_args()
    assert message in capsys.readouterr().err


def _test_tool_metrics(output: str) -> dict:
    """The metrics line mmengine logs at the end of tools/test.py."""
    line = [ln for ln in output.splitlines() if 'Iter(test)' in ln and 'mIoU:' in ln][-1]
    return {k: float(v) for k, v in re.findall(r'(aAcc|mIoU|mAcc): ([\d.]+)', line)}


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_tool_end_to_end(tiny_cbt_trained, repo_root, tmp_path, cbsa_scope):
    t = tiny_cbt_trained
    cbt_ckpt = t['checkpoint']
    # the black box beside it: the same encoder with mmseg's Segmenter head
    from mmseg_cbsa.registry import MODELS
    seg = MODELS.build(Config.fromfile(os.path.join(repo_root, TINY_SEGMENTER)).model)
    seg.init_weights()
    seg_ckpt = tmp_path / 'segmenter.pth'
    save_checkpoint_file(seg.state_dict(), str(seg_ckpt))
    hashes = {p: _sha256(p) for p in (cbt_ckpt, seg_ckpt)}

    # tools/test.py's number for the clean checkpoint, and the tool; side by
    # side, they are independent
    out = tmp_path / 'out'
    cmds = {
        'ref': [
            'tools/test.py', t['config'],
            str(cbt_ckpt), '--work-dir',
            str(tmp_path / 'test'), '--cfg-options', *t['options']
        ],
        'tool': [
            TOOL, '--configs', t['config'], TINY_SEGMENTER, '--checkpoints',
            str(cbt_ckpt),
            str(seg_ckpt), '--labels', 'CBT', 'Segmenter', '--noise', '0', '1000', '--repeats', '2',
            '--out-dir',
            str(out), '--cfg-options', *t['options']
        ]
    }
    procs = {}
    for name, cmd in cmds.items():
        with open(tmp_path / f'{name}.log', 'w') as f:  # files: pipes could fill and block
            procs[name] = subprocess.Popen([sys.executable, *cmd],
                                           cwd=repo_root,
                                           stdout=f,
                                           stderr=subprocess.STDOUT)
    for name, proc in procs.items():
        proc.wait()
        assert proc.returncode == 0, (tmp_path / f'{name}.log').read_text()[-3000:]
    ref_log, log = ((tmp_path / f'{n}.log').read_text() for n in cmds)
    clean = _test_tool_metrics(ref_log)
    assert '| noise | CBT | Segmenter |' in log

    report = json.loads((out / 'perturbation.json').read_text())
    assert report['settings']['scope'] == 'head' and report['settings']['mode'] == 'relative'
    cbt, segmenter = report['models']
    assert set(cbt['weights']) == {
        'decode_head.layers.0.attn.proj.weight', 'decode_head.layers.0.attn.to_out.weight'
    }
    assert set(segmenter['weights']) == {
        'decode_head.layers.0.attn.attn.in_proj_weight',
        'decode_head.layers.0.attn.attn.out_proj.weight'
    }
    # noise 0 is the clean model: exactly what tools/test.py reports
    zero, huge = cbt['results']
    assert len(zero['values']) == 1 and len(huge['values']) == 2
    assert {k: zero[k]['mean'] for k in clean} == clean
    # a huge noise level changes what the models predict
    for model in (cbt, segmenter):
        zero, huge = model['results']
        assert any(v != zero['values'][0] for v in huge['values']), model['label']

    with open(out / 'perturbation.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['model'], float(r['noise'])) for r in rows] == [('CBT', 0), ('CBT', 1000),
                                                               ('Segmenter', 0),
                                                               ('Segmenter', 1000)]
    assert float(rows[0]['mIoU_mean']) == clean['mIoU']
    # prediction overlays of the first draw, one folder per level
    overlays = [
        cv2.imread(str(out / 'runs' / 'CBT' / 'overlays' / level / 'mini_000000.png'))
        for level in ('noise_0', 'noise_1000')
    ]
    assert all(o is not None for o in overlays) and overlays[0].shape == overlays[1].shape
    assert not (overlays[0] == overlays[1]).all()
    img = cv2.imread(str(out / 'perturbation.png'))
    assert img is not None and img.shape == (480, 720, 3)
    assert {p: _sha256(p) for p in hashes} == hashes  # checkpoints only read
