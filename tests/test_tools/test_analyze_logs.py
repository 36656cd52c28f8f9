"""tools/analysis_tools/analyze_logs.py on work dirs laid out as mmengine
writes them (``<work_dir>/<timestamp>/<timestamp>.log`` and
``<timestamp>/vis_data/scalars.json``, one JSON object a line, appended
from the first logged iteration on), interrupted runs included."""
import glob
import json
import os
import runpy
import sys

import matplotlib
import pytest
from PIL import Image

from tests.cli import run_python

TOOL = 'tools/analysis_tools/analyze_logs.py'


def _run(work_dir, stamp, records=None, tail=''):
    """A run folder with its log; ``records`` (None: no scalars.json yet)
    written to vis_data/scalars.json as mmengine does, then ``tail`` (a line
    cut short)."""
    run = work_dir / stamp
    (run / 'vis_data').mkdir(parents=True)
    (run / f'{stamp}.log').write_text('... Iter(train) ...\n')
    (run / 'vis_data' / 'config.py').write_text('model = dict()\n')
    if records is not None:
        text = ''.join(json.dumps(r) + '\n' for r in records) + tail
        (run / 'vis_data' / 'scalars.json').write_text(text)
        (run / 'vis_data' / f'{stamp}.json').write_text(text)
    return run


def _losses(steps, start=1.0):
    return [dict(loss=start / s, lr=0.001, step=s, iter=s) for s in steps]


@pytest.fixture
def work_dir(tmp_path):
    """One finished run, one resumed then killed (loss only, last line cut
    short), one killed before its first log line, one with an empty log."""
    work = tmp_path / 'work_dirs' / 'cbt_tiny'
    _run(
        work, '20240101_000000',
        _losses([10, 20]) + [dict(mIoU=40.0, aAcc=80.0, step=20)] + _losses([30, 40]) +
        [dict(mIoU=45.0, aAcc=82.0, step=40)])
    _run(work, '20240102_000000', _losses([50, 60], 0.5), tail='{"loss": 0.3, "st')
    _run(work, '20240103_000000')
    _run(work, '20240104_000000', [])
    (work / 'iter_40.pth').write_bytes(b'')
    (work / 'cbt_tiny.py').write_text('model = dict()\n')
    return work


def _main(repo_root, monkeypatch, *args):
    """The tool in this process (Agg backend): its figure, left open."""
    import matplotlib.pyplot as plt
    plt.close('all')
    monkeypatch.setattr(sys, 'argv', [TOOL, *map(str, args), '--backend', 'Agg'])
    runpy.run_path(os.path.join(repo_root, TOOL), run_name='__main__')
    return plt.gcf()


def _refused(repo_root, monkeypatch, *args):
    """The message the tool exits with (status 1: ``sys.exit(message)``)."""
    with pytest.raises(SystemExit) as e:
        _main(repo_root, monkeypatch, *args)
    assert isinstance(e.value.code, str) and e.value.code.startswith('error: ')
    return e.value.code


def test_documented_glob_plots_the_runs_beside_interrupted_ones(work_dir, repo_root, tmp_path):
    """The shell expands the pattern to every run with a scalars.json,
    interrupted ones included: those are plotted as far as they got."""
    logs = sorted(glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json')))
    assert len(logs) == 3
    res = run_python(repo_root, TOOL, *logs, '--keys', 'loss', 'mIoU', '--backend', 'Agg', '--out',
                     tmp_path / 'curves.png')
    assert 'save curve to' in res.stdout
    assert Image.open(tmp_path / 'curves.png').size == (640, 480)
    assert "20240102_000000: no 'mIoU'" in res.stderr
    assert 'skipped 20240104_000000' in res.stderr and 'holds no values' in res.stderr


def test_work_dir_reports_a_run_without_scalars(work_dir, repo_root, monkeypatch, capsys, tmp_path):
    fig = _main(repo_root, monkeypatch, work_dir, '--keys', 'loss', 'mIoU', '--out',
                tmp_path / 'curves.png')
    assert (tmp_path / 'curves.png').is_file()
    assert ('skipped 20240103_000000: no vis_data/scalars.json (interrupted before its first '
            'log line)') in capsys.readouterr().err
    loss = fig.axes[0]
    assert len(loss.lines) == 2  # the two runs that logged a loss
    # the interrupted run's curve stops at its last whole line
    assert list(loss.lines[1].get_xdata()) == [50, 60]
    matplotlib.pyplot.close('all')


def test_loss_and_miou_on_separate_panels_named_by_run(work_dir, repo_root, monkeypatch, tmp_path):
    finished = work_dir.parent / 'cbt_tiny_again'
    _run(finished, '20240105_000000', _losses([10, 20], 2.0) + [dict(mIoU=20.0, step=20)])
    logs = [
        run / 'vis_data' / 'scalars.json'
        for run in (work_dir / '20240101_000000', finished / '20240105_000000')
    ]
    fig = _main(repo_root, monkeypatch, *logs, '--keys', 'loss', 'mIoU', '--out',
                tmp_path / 'curves.png')
    axes = [ax for ax in fig.axes if ax.lines]
    assert [ax.get_ylabel() for ax in axes] == ['loss', 'mIoU']
    names = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in axes]
    assert names == [['cbt_tiny/20240101_000000', 'cbt_tiny_again/20240105_000000']] * 2
    # a run has one colour in both panels
    assert [line.get_color()
            for line in axes[0].lines] == [line.get_color() for line in axes[1].lines]
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    for ax in axes:
        for text in ax.get_legend().get_texts():
            extent = text.get_window_extent(renderer)
            assert box.x0 <= extent.x0 and extent.x1 <= box.x1, text.get_text()
            assert box.y0 <= extent.y0 and extent.y1 <= box.y1, text.get_text()
    matplotlib.pyplot.close('all')


def test_runs_of_several_work_dirs_are_named_by_work_dir(work_dir, repo_root, monkeypatch,
                                                         tmp_path):
    other = tmp_path / 'work_dirs' / 'cbt_other'
    _run(other, '20240101_000000', _losses([10]) + [dict(mIoU=30.0, step=10)])
    fig = _main(repo_root, monkeypatch, work_dir, other, '--out', tmp_path / 'miou.png')
    (ax, ) = [ax for ax in fig.axes if ax.lines]
    assert [t.get_text() for t in ax.get_legend().get_texts()
            ] == ['cbt_tiny/20240101_000000', 'cbt_other/20240101_000000']
    matplotlib.pyplot.close('all')


def test_bad_inputs_are_named_errors(work_dir, repo_root, monkeypatch, tmp_path):
    out = tmp_path / 'x.png'
    # a pattern that matched nothing reaches the tool as written
    pattern = tmp_path / 'nowhere' / '*' / 'vis_data' / 'scalars.json'
    assert 'a shell pattern that matched nothing' in _refused(repo_root, monkeypatch, pattern)
    message = _refused(repo_root, monkeypatch, work_dir, '--keys', 'mIoUU', '--out', out)
    assert "no 'mIoUU'; it holds" in message and 'aAcc' in message
    message = _refused(repo_root, monkeypatch, work_dir / '20240103_000000', '--out', out)
    assert 'no run has logged anything yet' in message
    message = _refused(repo_root, monkeypatch, work_dir, '--legend', 'a', '--out', out)
    assert '--legend: 1 labels for 4 runs' in message
    assert not out.exists()
    out.write_bytes(b'mine')
    assert '--overwrite' in _refused(repo_root, monkeypatch, work_dir, '--out', out)
    assert out.read_bytes() == b'mine'
    _main(repo_root, monkeypatch, work_dir, '--out', out, '--overwrite')
    assert Image.open(out).size == (640, 480)
    matplotlib.pyplot.close('all')
