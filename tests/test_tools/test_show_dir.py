"""``tools/test.py --show-dir`` paints predictions as mmseg's tools/test.py does,
and training and testing run with mmseg's own SegVisualizationHook."""
import pytest

from tests.cli import run_python

pytestmark = pytest.mark.slow


def _pictures(folder):
    return sorted(p.name for p in folder.glob('vis_data/vis_image/*.png') if p.stat().st_size)


def test_show_dir_receives_the_painted_predictions(tiny_cbt_trained, repo_root, tmp_path):
    """The config's OverlayHook draws as SegVisualizationHook into DIR/vis_data
    (every ``interval``-th image; 1 draws the two test images) besides its overlays."""
    show = tmp_path / 'show'
    run_python(repo_root, 'tools/test.py', tiny_cbt_trained['config'],
               tiny_cbt_trained['checkpoint'], '--work-dir', tmp_path / 'work', '--show-dir', show,
               '--cfg-options', *tiny_cbt_trained['options'],
               'default_hooks.visualization.interval=1')
    assert _pictures(show) == ['test_mini_000000.jpg_0.png', 'test_mini_000001.jpg_0.png']
    assert len(list((tmp_path / 'work' / 'overlays').glob('*.png'))) == 1


def test_show_dir_follows_the_hook_interval(tiny_cbt_trained, repo_root, tmp_path):
    """As in mmseg: with interval 2 only every second test image is drawn."""
    show = tmp_path / 'show'
    run_python(repo_root, 'tools/test.py', tiny_cbt_trained['config'],
               tiny_cbt_trained['checkpoint'], '--work-dir', tmp_path / 'work', '--show-dir', show,
               '--cfg-options', *tiny_cbt_trained['options'],
               'default_hooks.visualization.interval=2')
    assert _pictures(show) == ['test_mini_000001.jpg_0.png']


def test_train_and_test_with_mmseg_visualization_hook(tiny_cbt_trained, repo_root, tmp_path):
    config = tmp_path / 'tiny_cbt_segvis.py'
    config.write_text(f"_base_ = ['{repo_root}/{tiny_cbt_trained['config']}']\n"
                      "default_hooks = dict(visualization=dict(\n"
                      "    _delete_=True, type='SegVisualizationHook', draw=True, interval=1))\n"
                      "train_cfg = dict(max_iters=2, val_interval=2)\n")
    work = tmp_path / 'work'
    run_python(repo_root, 'tools/train.py', config, '--work-dir', work, '--cfg-options',
               *tiny_cbt_trained['options'])
    run_dirs = [p for p in work.iterdir() if p.is_dir() and (p / 'vis_data').is_dir()]
    assert len(run_dirs) == 1
    # validation at iteration 2 drew both validation images
    assert _pictures(run_dirs[0]) == ['val_mini_000000.jpg_2.png', 'val_mini_000001.jpg_2.png']

    show = tmp_path / 'show'
    run_python(repo_root, 'tools/test.py', config, work / 'iter_2.pth', '--work-dir',
               tmp_path / 'test', '--show-dir', show, '--cfg-options', *tiny_cbt_trained['options'])
    assert _pictures(show) == ['test_mini_000000.jpg_0.png', 'test_mini_000001.jpg_0.png']
