"""The analysis tools on every kind of model we ship configs for (issue 21):
an mmpretrain ImageClassifier (configs/classification, configs/finetune),
the zero-shot [CLS] probe (configs/zero_shot) and a converted classifier
checkpoint (``backbone.*``, ``head.fc.*``, the layout of
tools/model_converters/cbt_cls2mmseg.py), with random weights on the shipped
CBT-S / ViT-S configs and tiny images; where a measurement does not apply,
one line and a non-zero exit status.

Before: coding_rate.py / rep_rank.py stopped on the CIFAR fine-tuning
configs with a traceback (``ValueError: the test pipeline loads no image``);
rep_rank.py on an encoder without CBSA layers with a traceback;
precision_agreement.py crashed on a classifier (``AttributeError: 'DataSample'
object has no attribute 'pred_sem_seg'``) and on the probe (``TypeError: ...
unexpected keyword argument 'pretrained'``); perturbation.py stopped on a
classifier and on the probe with a traceback (``--scope head needs a model
with a decode_head``; with ``--scope all``, no ``mIoU`` from the classifier's
evaluator and the converted checkpoint's ``head.fc`` refused by the probe).
"""
import json
import os
import runpy
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config

import mmseg_cbsa  # noqa: F401  (registers modules)
from mmseg_cbsa.apis import build_model
from mmseg_cbsa.utils import save_checkpoint_file
from tests.cli import run_python
from tests.test_tools.test_coding_rate_tools import _tool
from tests.test_tools.test_zero_shot_voc import make_mini_voc

CLASSIFIER = 'configs/classification/cbt-s_8xb32-lion-150e_in1k.py'
CIFAR = 'configs/finetune/cbt-s_in1k-pre_1xb50-400e_cifar10.py'
PROBE = 'configs/zero_shot/cbt-s_in1k_voc12-zero-shot.py'
VIT_PROBE = 'configs/zero_shot/vit-s_in1k_voc12-zero-shot.py'
#: CBT-S: 12 encoder blocks of CBSA, 6 heads of 64 dimensions
CBT_S_LAYERS = [f'backbone.blocks.{i}.attn' for i in range(12)]


@pytest.fixture(scope='module')
def classifier_ckpt(tmp_path_factory, repo_root):
    """Random weights of the CBT-S ImageNet classifier: what the converter
    writes for the authors' checkpoint (``backbone.*``, ``head.fc.*``)."""
    path = tmp_path_factory.mktemp('kinds') / 'cbt-s_in1k.pth'
    model = build_model(os.path.join(repo_root, CLASSIFIER)).model
    save_checkpoint_file(model.state_dict(), str(path), meta={})
    return str(path)


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    """Two random 32x32 images (CIFAR's size)."""
    folder = tmp_path_factory.mktemp('kinds_images')
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(folder / f'img{i}.png'), rng.integers(0, 256, (32, 32, 3), np.uint8))
    return folder


def _preprocessed(config: str, path: str):
    """What the config's model receives for ``path``: the file through
    the config's test pipeline and the model's data preprocessor."""
    from mmseg_cbsa.analysis.model_coding_rate import file_pipeline
    cfg = Config.fromfile(config)
    model = build_model(cfg, init_weights=False).model
    data = file_pipeline(cfg)(path)
    return model.data_preprocessor(dict(inputs=[data['inputs']], data_samples=None))['inputs']


def test_in_memory_dataset_configs_get_the_file_in_rgb(repo_root, tmp_path):
    """CIFAR's test pipeline has no loading step (its dataset hands RGB
    arrays); an image file is handed to it as such an array, and the model
    sees the same normalised RGB as an ImageNet config's, which loads BGR
    and swaps in its preprocessor."""
    path = str(tmp_path / 'red.png')
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 2] = 255  # BGR on disk
    cv2.imwrite(path, red)
    cifar, imagenet = (_preprocessed(os.path.join(repo_root, c), path) for c in (CIFAR, CLASSIFIER))
    assert cifar.shape == imagenet.shape == (1, 3, 224, 224)
    np.testing.assert_allclose(cifar.numpy(), imagenet.numpy(), atol=1e-5)
    assert cifar[0, 0].min() > 1 and cifar[0, 1:].max() < -1  # R high, G and B low


@pytest.mark.slow
@pytest.mark.parametrize('config', [CIFAR, PROBE])
def test_coding_rate_on_the_cifar_classifier_and_the_probe(config, classifier_ckpt, images,
                                                           repo_root, tmp_path):
    """The fine-tuning config (no image-loading step) and the probe with a
    converted classifier checkpoint: the encoder's 12 CBSA layers measured;
    the probe ignores the classifier's head and says so."""
    ckpt = [classifier_ckpt] if config == PROBE else []  # CIFAR's head has 10 classes
    result = _tool('coding_rate').main([
        os.path.join(repo_root, config), *ckpt, '--images',
        str(images), '--out-dir',
        str(tmp_path / 'out')
    ])
    assert [x['name'] for x in result['layers']] == CBT_S_LAYERS
    assert all(x['type'] == 'CBSA' and x['samples'] == 2 for x in result['layers'])
    assert all((x['num_heads'], x['head_dims']) == (6, 64) for x in result['layers'])
    if config == PROBE:  # 32x32 resized to 480x480: 30x30 patches and [CLS]
        assert result['ignored_checkpoint_keys'] == ['head.fc.weight', 'head.fc.bias']
        assert result['layers'][0]['num_tokens'] == [901]
    else:  # resized to 224x224
        assert result['random_init'] and result['layers'][0]['num_tokens'] == [197]


@pytest.mark.slow
def test_rep_rank_on_an_encoder_without_cbsa_does_not_apply(images, repo_root, tmp_path):
    res = run_python(
        repo_root,
        'tools/analysis_tools/rep_rank.py',
        VIT_PROBE,
        '--images',
        images,
        '--out-dir',
        tmp_path / 'out',
        check=False)
    assert res.returncode == 1, res.stderr[-2000:]
    assert res.stderr.strip().splitlines()[-1] == (
        'error: CLSAttentionProbe (ViT encoder) holds no layer that extracts representatives '
        '(CBSA, AgentAttention, QKVCBSA: an attention layer stating rep_grid_for): the '
        'measurement does not apply')
    assert 'Traceback' not in res.stderr and not (tmp_path / 'out').exists()


def _precision_tool(repo_root, monkeypatch, *argv):
    monkeypatch.setattr(sys, 'argv', ['precision_agreement.py', *map(str, argv)])
    runpy.run_path(
        os.path.join(repo_root, 'tools', 'analysis_tools', 'precision_agreement.py'),
        run_name='__main__')


@pytest.mark.slow
def test_precision_agreement_of_a_classifier_is_per_image(classifier_ckpt, images, repo_root,
                                                          monkeypatch, capsys):
    """A classifier's top-1 class per image; in float32 every one agrees."""
    from mmseg_cbsa.analysis.precision import argmax_agreement
    cfg = Config.fromfile(os.path.join(repo_root, CLASSIFIER))
    model = build_model(cfg, classifier_ckpt).model
    model.cfg = cfg
    paths = sorted(str(p) for p in images.iterdir())
    res = argmax_agreement(model, paths, 'float32')
    assert res == dict(
        precision='float32', agreement=1.0, images=2, per_image=[1.0, 1.0], max_abs_score_diff=0.0)
    _precision_tool(repo_root, monkeypatch, CLASSIFIER, classifier_ckpt, images)
    assert 'bf16 autocast vs float32 on cpu: argmax agreement ' in capsys.readouterr().out


@pytest.mark.parametrize('config', [PROBE, 'tests/data/configs/tiny_cbt_zero_shot.py'])
def test_precision_agreement_does_not_apply_to_the_probe(config, classifier_ckpt, images, repo_root,
                                                         monkeypatch, tmp_path):
    """The probe predicts no class: one line, exit status 1; given the
    converted classifier checkpoint as the zero-shot tools are."""
    ckpt = classifier_ckpt
    if config != PROBE:
        ckpt = str(tmp_path / 'tiny.pth')
        model = build_model(os.path.join(repo_root, 'tests/data/configs/tiny_cbt_classifier.py'))
        save_checkpoint_file(model.model.state_dict(), ckpt, meta={})
    with pytest.raises(SystemExit) as exit_info:
        _precision_tool(repo_root, monkeypatch, config, ckpt, images)
    assert str(exit_info.value) == (
        'error: CLSAttentionProbe predicts no class (neither a segmentor nor an image '
        'classifier): the argmax agreement does not apply')


# --------------------------------------------------------------------------
# perturbation.py: the test loop of mmengine's Runner under noise
# --------------------------------------------------------------------------


def _mini_imagenet(root, repo_root, checkpoint):
    """ImageNet's val layout (``val/`` and ``meta/val.txt``) with two images
    labelled with the classes the clean model predicts, so that the clean
    top-1 accuracy is 100."""
    from mmseg_cbsa.apis import image_pipeline
    (root / 'val').mkdir(parents=True)
    (root / 'meta').mkdir()
    rng = np.random.default_rng(1)
    cfg = Config.fromfile(os.path.join(repo_root, CLASSIFIER))
    model = build_model(cfg, checkpoint).model
    lines = []
    for i in range(2):
        path = root / 'val' / f'v{i}.png'
        cv2.imwrite(str(path), rng.integers(0, 256, (48, 64, 3), np.uint8))
        data = image_pipeline(cfg)(dict(img_path=str(path)))
        sample = model.test_step(dict(inputs=[data['inputs']], data_samples=[data['data_samples']]))
        lines.append(f'{path.name} {int(sample[0].pred_label)}')
    (root / 'meta' / 'val.txt').write_text('\n'.join(lines) + '\n')


def _perturbation(repo_root, *argv):
    return run_python(repo_root, 'tools/analysis_tools/perturbation.py', *argv)


@pytest.mark.slow
def test_perturbation_of_a_classifier_perturbs_its_encoder(classifier_ckpt, repo_root, tmp_path):
    """No decode head: the encoder's attention is perturbed (a line says so)
    and the model judged by its evaluator's top-1 accuracy; noise 0 is the
    clean model."""
    data = tmp_path / 'imagenet'
    _mini_imagenet(data, repo_root, classifier_ckpt)
    out = tmp_path / 'out'
    res = _perturbation(repo_root, '--configs', CLASSIFIER, '--checkpoints', classifier_ckpt,
                        '--labels', 'CBT-S', '--noise', '0', '1000', '--out-dir', out,
                        '--cfg-options', f'test_dataloader.dataset.data_root={data}',
                        'test_dataloader.num_workers=0')
    assert 'metric: accuracy/top1 (the test evaluator\'s main number' in res.stdout
    assert ('note: CBT-S has no decode head: perturbing the attention of the whole model, i.e. '
            'its encoder (--scope all)') in res.stdout
    report = json.loads((out / 'perturbation.json').read_text())
    assert report['settings']['scope'] == 'all'
    assert report['settings']['metric'] == 'accuracy/top1'
    (model, ) = report['models']
    assert model['scope'] == 'all'
    assert sorted(model['weights']) == sorted(f'{layer}.{w}.weight' for layer in CBT_S_LAYERS
                                              for w in ('proj', 'to_out'))
    clean, noisy = model['results']
    assert clean['accuracy/top1']['mean'] == 100.0
    assert noisy['accuracy/top1']['mean'] < 100.0
    assert '| 0 | 100.00 |' in res.stdout


@pytest.mark.slow
def test_perturbation_of_the_probe_with_a_converted_checkpoint(classifier_ckpt, repo_root,
                                                               tmp_path):
    """The [CLS] probe: its encoder perturbed, judged by the best layer's
    foreground Jaccard; the converted checkpoint's head is ignored."""
    voc = tmp_path / 'VOC2012'
    make_mini_voc(str(voc), n=2)
    out = tmp_path / 'out'
    _perturbation(repo_root, '--configs', PROBE, '--checkpoints', classifier_ckpt, '--noise', '0',
                  '--out-dir', out, '--cfg-options', f'test_dataloader.dataset.data_root={voc}',
                  'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False')
    report = json.loads((out / 'perturbation.json').read_text())
    assert report['settings']['metric'] == 'zero_shot/foreground/best'
    (model, ) = report['models']
    assert model['scope'] == 'all' and len(model['weights']) == 24
    value = model['results'][0]['zero_shot/foreground/best']['mean']
    assert 0 <= value <= 1
    log = (out / 'runs' / 'cbt-s_in1k_voc12-zero-shot').rglob('*.log')
    assert any(
        "ignored, no place in the model: ['head.fc.weight', 'head.fc.bias']" in p.read_text()
        for p in log)


@pytest.mark.parametrize(
    'configs, scope, message',
    [
        # the decode head does not apply to a classifier
        ([CLASSIFIER], 'head', f'{CLASSIFIER}: --scope head perturbs the decode head, and '
         'ImageClassifier has none; --scope all perturbs its encoder'),
        # a segmentor and a classifier are not judged by one number
        (['tests/data/configs/tiny_cbt.py', CLASSIFIER], None,
         'the models are judged by different metrics (tests/data/configs/tiny_cbt.py: mIoU, '
         f'{CLASSIFIER}: accuracy/top1): compare models of one kind per run, or give --metric'),
    ])
def test_perturbation_refuses_before_anything_runs(configs, scope, message, repo_root, tmp_path,
                                                   monkeypatch, capsys):
    """Decided from the configs by the argument parser: exit status 2 and the
    reason on the last line, before any model is built."""
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv('LOCAL_RANK', '0')  # parse_runner_args exports it; undone after
    argv = ['--configs', *configs, '--checkpoints', *[CLASSIFIER] * len(configs)]
    monkeypatch.setattr(sys, 'argv', [
        'perturbation.py', *argv, *(['--scope', scope] if scope else []), '--out-dir',
        str(tmp_path / 'out')
    ])
    with pytest.raises(SystemExit) as exit_info:
        _tool('perturbation').parse_args()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f'perturbation.py: error: {message}'
