"""demo/image_demo.py on models that are no segmentor: an image classifier's
picture is the image under a heading of its top 5 classes and their scores;
the zero-shot [CLS] probe, which predicts neither pixels nor classes, is
refused in one line that says where its attention is drawn. Random weights
on the tests' tiny configs and, marked slow, on the shipped ones."""
import numpy as np
import pytest

from mmseg_cbsa.visualization import GRID_PAD, GRID_TITLE_H, label_grid
from tests.demo_runs import random_checkpoint, read_rgb, run_demo, write_image

CLASSIFIER = 'tests/data/configs/tiny_cbt_classifier.py'  # 10 classes, ImageNet's test set
PROBE = 'tests/data/configs/tiny_cbt_zero_shot.py'
# tiny_cbt_classifier with ImageNet's 1000 classes, so that the names apply
IN1K = '''_base_ = ['{repo}/tests/data/configs/tiny_cbt_classifier.py']
model = dict(head=dict(num_classes=1000))
data_preprocessor = dict(num_classes=1000)
'''


@pytest.fixture(scope='module')
def assets(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp('image_demo_classifier')
    in1k = tmp / 'tiny_cbt_classifier_in1k.py'
    in1k.write_text(IN1K.format(repo=repo_root))
    return dict(
        ckpt=random_checkpoint(repo_root, CLASSIFIER, tmp / 'tiny_cbt_classifier.pth'),
        in1k=str(in1k),
        in1k_ckpt=random_checkpoint(repo_root, str(in1k), tmp / 'tiny_in1k.pth'),
        images=[write_image(tmp / 'images' / f'img{i}.png', seed=i) for i in range(2)])


def _expected_title(config, checkpoint, image_path):
    """The heading the demo should write, from the model's own scores."""
    from mmseg_cbsa.apps.demos import (attention_model, class_names, read_image, run_test_step,
                                       top_classes_title)
    model = attention_model(config, checkpoint)
    sample, _ = run_test_step(model, read_image(image_path))
    names, _ = class_names(model)
    return top_classes_title(sample.pred_score, names, 'ImageClassifier'), sample.pred_score


def test_classifier_picture_is_the_image_under_its_top_5_imagenet_classes(
        assets, repo_root, tmp_path, monkeypatch, capsys):
    """Before: KeyError, ImageClassifier is not in the mmseg_cbsa::model registry."""
    from mmpretrain.datasets import ImageNet
    run = run_demo(repo_root, monkeypatch, capsys, 'image_demo.py', assets['in1k'],
                   assets['in1k_ckpt'], *assets['images'], '--out', tmp_path, '--precision',
                   'float32')  # compared with float32 expectations
    assert run.code == 0, run.err[-3000:]
    assert run.written() == [str(tmp_path / f'img{i}.png') for i in range(2)]
    assert 'note' not in run.out  # every class has its name
    for image_path, picture_path in zip(assets['images'], run.written()):
        title, scores = _expected_title(assets['in1k'], assets['in1k_ckpt'], image_path)
        lines = title.split('\n')
        assert lines[0] == "ImageClassifier: its top 5 of 1000 classes, with the head's scores"
        top = scores.topk(5)
        for rank, (line, c, score) in enumerate(zip(lines[1:], top.indices, top.values), 1):
            assert line == f'{rank}. {ImageNet.METAINFO["classes"][c]}  {score:.3f}'
        picture, image = read_rgb(picture_path), read_rgb(image_path)
        # the whole input image (not the 32x32 crop the model sees) under the heading
        np.testing.assert_array_equal(picture, label_grid([[image]], title=title))
        top_h = GRID_TITLE_H * 6 + GRID_PAD
        np.testing.assert_array_equal(picture[top_h:top_h + 32, GRID_PAD:GRID_PAD + 48], image)


def test_class_numbers_with_a_note_where_the_dataset_names_another_count(
        assets, repo_root, tmp_path, monkeypatch, capsys):
    run = run_demo(repo_root, monkeypatch, capsys, 'image_demo.py', CLASSIFIER, assets['ckpt'],
                   assets['images'][0], '--out', tmp_path, '--precision', 'float32')
    assert run.code == 0, run.err[-3000:]
    assert ('note: classes by number: the test dataset (ImageNet) names 1000 classes, the head '
            'scores 10') in run.out.splitlines()
    title, _ = _expected_title(CLASSIFIER, assets['ckpt'], assets['images'][0])
    assert title.split('\n')[1].startswith('1. class ')
    np.testing.assert_array_equal(
        read_rgb(tmp_path / 'img0.png'), label_grid([[read_rgb(assets['images'][0])]], title=title))


def test_cls_probe_is_refused_in_one_line_naming_its_demos(assets, repo_root, tmp_path, monkeypatch,
                                                           capsys):
    """Before: CheckpointMismatchError (the classifier's head.fc) or, with its
    own weights, a crash in mmseg's inferencer."""
    run = run_demo(repo_root, monkeypatch, capsys, 'image_demo.py', PROBE, assets['ckpt'],
                   assets['images'][0], '--out', tmp_path / 'out')
    assert run.code == 1
    assert (f'error: {PROBE} builds a CLSAttentionProbe, which predicts neither pixels nor '
            "classes: its output is its encoder's [CLS] attention. Draw that with "
            'demo/zero_shot_demo.py') in run.err
    assert 'Traceback' not in run.err
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('option,message', [('--gt-dir', 'ground-truth label maps apply to '
                                             'segmentors'),
                                            ('onnx', 'exported graphs of segmentors only')])
def test_segmentor_only_options_are_refused_for_a_classifier(assets, repo_root, tmp_path,
                                                             monkeypatch, capsys, option, message):
    ckpt, extra = assets['ckpt'], []
    if option == 'onnx':
        ckpt = tmp_path / 'model.onnx'
        ckpt.write_bytes(b'not run')
    else:
        extra = [option, tmp_path]
    run = run_demo(repo_root, monkeypatch, capsys, 'image_demo.py', CLASSIFIER, ckpt,
                   assets['images'][0], '--out', tmp_path / 'out', *extra)
    assert run.code == 1 and message in run.err and 'ImageClassifier' in run.err
    assert not (tmp_path / 'out').exists()


@pytest.mark.slow
@pytest.mark.parametrize('config,dataset_classes', [
    ('configs/classification/cbt-s_8xb32-lion-150e_in1k.py', 1000),
    ('configs/finetune/cbt-s_in1k-pre_1xb50-400e_cifar10.py', 10),
])
def test_shipped_classifiers(repo_root, tmp_path, monkeypatch, capsys, config, dataset_classes):
    """The shipped CBT-S ImageNet and CIFAR-10 classifiers with random weights
    on one 64x64 image: their dataset's class names in the heading."""
    ckpt = random_checkpoint(repo_root, config, tmp_path / 'cbt-s.pth')
    image = write_image(tmp_path / 'images' / 'img.png', (64, 64))
    run = run_demo(repo_root, monkeypatch, capsys, 'image_demo.py', config, ckpt, image, '--out',
                   tmp_path / 'out', '--precision', 'float32')
    assert run.code == 0, run.err[-3000:]
    assert run.written() == [str(tmp_path / 'out' / 'img.png')] and 'note' not in run.out
    title, _ = _expected_title(config, ckpt, image)
    assert f'of {dataset_classes} classes' in title and 'class ' not in title.split('\n')[1]
    np.testing.assert_array_equal(
        read_rgb(tmp_path / 'out' / 'img.png'), label_grid([[read_rgb(image)]], title=title))
