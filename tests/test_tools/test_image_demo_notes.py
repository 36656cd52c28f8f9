"""What the demos say besides their pictures: the one note for a model trained
on the quickstart's synthetic shapes (a fact its training dataset declares,
``METAINFO['synthetic']``, whatever the config is called), and no registry
scope warnings on their output."""
import pytest

from mmseg_cbsa.apps.demos import synthetic_data_note
from tests.cli import run_python
from tests.demo_runs import random_checkpoint, run_demo, write_image

SEGMENTOR = 'tests/data/configs/tiny_cbt.py'  # trains on the generated MiniADE20KDataset
CLASSIFIER = 'tests/data/configs/tiny_cbt_classifier.py'
PROBE = 'tests/data/configs/tiny_cbt_zero_shot.py'
NOTE = ('note: this model was trained on MiniADE20KDataset, generated images of synthetic '
        'shapes, not photographs: it labels any image with its classes (background, disc, box, '
        'triangle, ring, cross), so a photo of, say, a cheetah is labelled with these names too. '
        "For real images use a checkpoint trained on real data (docs/model_zoo.md; the authors' "
        'checkpoints: docs/converters.md).')


@pytest.fixture(scope='module')
def assets(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp('demo_notes')
    return dict(
        segmentor=random_checkpoint(repo_root, SEGMENTOR, tmp / 'tiny_cbt.pth'),
        classifier=random_checkpoint(repo_root, CLASSIFIER, tmp / 'classifier.pth'),
        image=write_image(tmp / 'images' / 'img.png'))


def _config(path):
    from mmengine.config import Config
    return Config.fromfile(path)


@pytest.mark.parametrize('config', [
    'configs/quickstart/cbt_vit-t8_1xb8-1k_mini-ade20k-128x128.py',
    'configs/quickstart/segmenter_vit-t8_1xb8-1k_mini-ade20k-128x128.py', SEGMENTOR
])
def test_models_trained_on_the_generated_shapes_get_the_note(repo_root, config):
    assert synthetic_data_note(_config(f'{repo_root}/{config}')) == NOTE


@pytest.mark.parametrize('config', [
    'configs/cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py',
    'configs/classification/cbt-s_8xb32-lion-150e_in1k.py',
    'configs/finetune/cbt-s_in1k-pre_1xb50-400e_cifar10.py',
    'configs/zero_shot/cbt-s_in1k_voc12-zero-shot.py'
])
def test_models_trained_on_real_images_get_none(repo_root, config):
    assert synthetic_data_note(_config(f'{repo_root}/{config}')) is None


def test_the_training_dataset_decides_not_the_config_name(repo_root, tmp_path):
    """The quickstart recipe (and name) trained on real ADE20K: no note."""
    config = tmp_path / 'cbt_vit-t8_1xb8-1k_mini-ade20k-128x128.py'
    config.write_text(
        f"_base_ = ['{repo_root}/configs/quickstart/cbt_vit-t8_1xb8-1k_mini-ade20k-128x128.py']\n"
        "train_dataloader = dict(dataset=dict(type='ADE20KDataset', _delete_=True))\n")
    assert synthetic_data_note(_config(str(config))) is None


def test_image_demo_says_it_once_on_stderr(assets, repo_root, tmp_path, monkeypatch, capsys):
    """Before: nothing told the user (a photo of a cheetah came out as 'disc')."""
    run = run_demo(repo_root, monkeypatch, capsys, 'image_demo.py', SEGMENTOR, assets['segmentor'],
                   assets['image'], '--out', tmp_path)
    assert run.code == 0, run.err[-3000:]
    assert run.err.splitlines().count(NOTE) == 1 and NOTE not in run.out
    run = run_demo(repo_root, monkeypatch, capsys, 'image_demo.py', CLASSIFIER,
                   assets['classifier'], assets['image'], '--out', tmp_path / 'classifier')
    assert run.code == 0 and 'synthetic' not in run.err + run.out


@pytest.mark.slow
@pytest.mark.parametrize('script,config,checkpoint', [
    ('image_demo.py', SEGMENTOR, 'segmentor'),
    ('image_demo.py', CLASSIFIER, 'classifier'),
    ('attention_demo.py', SEGMENTOR, 'segmentor'),
    ('zero_shot_demo.py', PROBE, 'classifier'),
])
def test_no_registry_scope_warning_on_the_output(assets, repo_root, tmp_path, script, config,
                                                 checkpoint):
    """As a user runs them (a fresh process): no mmengine fallback from a
    scope whose registry it cannot find ('Failed to search registry with
    scope ...')."""
    res = run_python(repo_root, f'demo/{script}', config, assets[checkpoint], assets['image'],
                     '--out', tmp_path / 'out')
    assert (tmp_path / 'out').is_dir()
    assert 'Failed to search registry' not in res.stdout + res.stderr
