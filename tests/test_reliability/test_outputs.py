"""No tool writes over a file it did not create in this run without
``--overwrite``, and none writes into its own input or the dataset's folders:
``tools/test.py --out / --show-dir``, the image and attention demos.

Before: ``tools/test.py --out DATA/annotations/validation`` replaced the
dataset's label maps with the predictions (the next evaluation reported mIoU
100.00); ``image_demo.py --out`` given the input folder replaced ``photo.png``
with its picture, and any unrelated ``<name>.png`` there.
"""
import os

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from mmseg_cbsa.apis import check_evaluation_outputs
from mmseg_cbsa.datasets.mini_ade import ensure_mini_ade20k
from mmseg_cbsa.utils.outputs import OutputExistsError, OutputInInputError, check_output_dir
from tests.cli import data_root_options, run_python

CONFIG = 'tests/data/configs/tiny_cbt.py'
TINY = dict(num_train=8, num_val=2, size=32, seed=0)  # tiny_cbt's generator


@pytest.fixture
def tiny_cfg(tmp_path):
    data = tmp_path / 'data'
    ensure_mini_ade20k(str(data), **TINY)
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(dict(o.split('=') for o in data_root_options(data)))
    return cfg, data


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_out_inside_the_dataset_is_refused(tiny_cfg):
    cfg, data = tiny_cfg
    for folder in (data / 'annotations' / 'validation', data, data / 'new'):
        with pytest.raises(OutputInInputError, match=f'--out {folder} is inside {data}'):
            check_evaluation_outputs(cfg, out=str(folder), overwrite=True)
    with pytest.raises(OutputInInputError, match='--show-dir'):
        check_evaluation_outputs(cfg, show_dir=str(data / 'images'))


def test_label_maps_of_an_earlier_run_are_kept_without_overwrite(tiny_cfg, tmp_path):
    cfg, _ = tiny_cfg
    out = tmp_path / 'pred'
    check_evaluation_outputs(cfg, out=str(out))  # nothing there yet
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    check_evaluation_outputs(cfg, out=str(out))  # not a file the evaluation writes
    (out / 'mini_000001.png').write_bytes(b'an earlier prediction')
    with pytest.raises(OutputExistsError, match=r'1 of the files.*mini_000001.png.*--overwrite'):
        check_evaluation_outputs(cfg, out=str(out))
    check_evaluation_outputs(cfg, out=str(out), overwrite=True)
    vis = tmp_path / 'show' / 'vis_data' / 'vis_image'
    vis.mkdir(parents=True)
    (vis / 'test_mini_000000.jpg_4.png').write_bytes(b'x')
    with pytest.raises(OutputExistsError, match='--show-dir'):
        check_evaluation_outputs(cfg, show_dir=str(tmp_path / 'show'))


def test_an_output_may_not_replace_an_input_file(tmp_path):
    photo = tmp_path / 'photo.png'
    photo.write_bytes(b'x')
    with pytest.raises(OutputInInputError, match='would replace the input'):
        check_output_dir(str(tmp_path), ['photo.png'], [str(photo)], overwrite=True)


@pytest.mark.slow
def test_test_tool_leaves_the_annotations_alone(tiny_cbt_trained, repo_root, tmp_path):
    """End to end: refused with exit 1 before the model runs, the label maps
    unchanged; the same evaluation into a fresh folder writes its maps, and a
    second one there needs --overwrite."""
    ann = tiny_cbt_trained['data'] / 'annotations' / 'validation'
    before = _files(ann)
    args = [
        'tools/test.py', tiny_cbt_trained['config'], tiny_cbt_trained['checkpoint'], '--work-dir',
        tmp_path / 'work'
    ]
    options = ['--cfg-options', *tiny_cbt_trained['options']]
    res = run_python(repo_root, *args, '--out', ann, *options, check=False)
    assert res.returncode == 1
    assert f'--out {ann} is inside' in res.stderr and 'mIoU' not in res.stdout + res.stderr
    assert _files(ann) == before
    run_python(repo_root, *args, '--out', tmp_path / 'pred', *options)
    assert sorted(os.listdir(tmp_path / 'pred')) == ['mini_000000.png', 'mini_000001.png']
    res = run_python(repo_root, *args, '--out', tmp_path / 'pred', *options, check=False)
    assert res.returncode == 1 and 'pass --overwrite' in res.stderr
    run_python(repo_root, *args, '--out', tmp_path / 'pred', '--overwrite', *options)


# ------------------------------------------------------------------ the demos


def _photo(path, seed=0):
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory, repo_root):
    """Random weights of tiny_cbt, with the miniature dataset's classes."""
    from mmseg.apis import init_model

    from mmseg_cbsa.datasets.mini_ade import CLASSES, PALETTE
    from mmseg_cbsa.utils import save_checkpoint_file
    ckpt = str(tmp_path_factory.mktemp('tiny') / 'tiny_cbt.pth')
    model = init_model(os.path.join(repo_root, CONFIG), None, device='cpu')
    save_checkpoint_file(
        model.state_dict(), ckpt, meta=dict(dataset_meta=dict(classes=CLASSES, palette=PALETTE)))
    return ckpt


def test_image_demo_never_writes_over_its_inputs(tiny_checkpoint, tmp_path, monkeypatch, repo_root):
    """The issue's case: the input folder given as --out, holding photo.png and
    an unrelated photo2.png; then a single input file whose folder is --out."""
    from mmseg_cbsa.apps.demos import segment_images
    monkeypatch.chdir(repo_root)
    photos = tmp_path / 'photos'
    photos.mkdir()
    _photo(photos / 'photo.png')
    _photo(photos / 'photo2.png', seed=1)
    before = _files(photos)
    with pytest.raises(OutputInInputError, match=f'--out {photos} is inside {photos}'):
        segment_images(CONFIG, tiny_checkpoint, [str(photos)], str(photos))
    with pytest.raises(OutputInInputError, match=f'would replace the input {photos / "photo.png"}'):
        segment_images(
            CONFIG, tiny_checkpoint, [str(photos / 'photo.png')], str(photos), overwrite=True)
    assert _files(photos) == before

    out = tmp_path / 'out'
    out.mkdir()
    (out / 'photo2.png').write_bytes(b'a picture of the user')
    with pytest.raises(OutputExistsError, match=r'1 of the files.*photo2.png'):
        segment_images(CONFIG, tiny_checkpoint, [str(photos)], str(out))
    assert (out / 'photo2.png').read_bytes() == b'a picture of the user'
    assert os.listdir(out) == ['photo2.png']  # refused before anything was written
    segment_images(CONFIG, tiny_checkpoint, [str(photos)], str(out), overwrite=True)
    assert sorted(os.listdir(out)) == ['photo.png', 'photo2.png']
    assert cv2.imread(str(out / 'photo2.png')).shape[1] > 32  # the demo picture now


def test_image_demo_script_exits_1_naming_the_folder(tiny_checkpoint, tmp_path, repo_root):
    photos = tmp_path / 'photos'
    photos.mkdir()
    _photo(photos / 'photo.png')
    res = run_python(
        repo_root,
        'demo/image_demo.py',
        CONFIG,
        tiny_checkpoint,
        photos,
        '--out',
        photos / 'pictures',
        check=False)
    assert res.returncode == 1
    assert f'error: --out {photos / "pictures"} is inside {photos}' in res.stderr
    assert 'Traceback' not in res.stderr and not (photos / 'pictures').exists()


def test_attention_demo_keeps_an_earlier_runs_pictures(tiny_checkpoint, tmp_path, monkeypatch,
                                                       repo_root):
    from mmseg_cbsa.apps.demos import draw_attention_maps
    monkeypatch.chdir(repo_root)
    _photo(tmp_path / 'photo.png')
    out = tmp_path / 'maps'
    written = draw_attention_maps(CONFIG, tiny_checkpoint, [str(tmp_path / 'photo.png')], str(out))
    assert str(out / 'cls_attention.png') in written
    first = _files(out)
    with pytest.raises(OutputExistsError, match='cls_attention.png'):
        draw_attention_maps(CONFIG, tiny_checkpoint, [str(tmp_path / 'photo.png')], str(out))
    assert _files(out) == first
    draw_attention_maps(
        CONFIG, tiny_checkpoint, [str(tmp_path / 'photo.png')], str(out), overwrite=True)
    with pytest.raises(OutputInInputError):
        draw_attention_maps(CONFIG, tiny_checkpoint, [str(tmp_path)], str(tmp_path / 'maps2'))
