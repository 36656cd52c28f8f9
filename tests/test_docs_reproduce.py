"""The "reproduce the paper" guides (docs/reproduce/*.md): each holds what a
reproduction needs, runs commands on configs and tools that exist, and the
claims its tolerance rests on hold; the authors' files go by one name across
all docs."""
import argparse
import glob
import os
import re
import shlex

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction

from tests.test_docs import COMMAND, LINK, MEASURED_HERE, _is_a_claim, _sections

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDES = sorted(
    os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, 'docs', 'reproduce', '*.md')))
# one guide per paper table (or figure) we ship configs for
TABLES = {
    'ade20k_segmentation.md': 'configs/cbt/',
    'imagenet_classification.md': 'configs/classification/',
    'finetune_transfer.md': 'configs/finetune/',
    'vit_adaptation.md': 'configs/vit_adaptation/',
    'zero_shot_voc.md': 'configs/zero_shot/',
}
SECTIONS = ("## The authors' files", '## Convert', '## Dataset', '## Test command',
            '## Expected numbers and tolerance', '## Time')
# every page a user reads: the front page, the guides, the model index READMEs
DOCS = ['README.md'] + sorted(
    os.path.relpath(p, REPO)
    for p in glob.glob(os.path.join(REPO, 'docs', '**', '*.md'), recursive=True) +
    glob.glob(os.path.join(REPO, 'configs', '**', 'README.md'), recursive=True))

# The authors' released files, by the name their READMEs give them:
# QishuaiWen/CBSA evaluates the CBT-S classifier with
# `--resume CKPT/CBT/cbt_small_best.pth.tar`; both it and QishuaiWen/DEPICT
# evaluate a decoder as `log/<folder>/checkpoint.pth` (a Segmenter log folder).
CLASSIFIER_FILE = 'cbt_small_best.pth.tar'
DECODER_FILE = 'checkpoint.pth'
# names the authors' *training script* writes (main.py: `checkpoint.pth.tar`,
# copied to `model_best.pth.tar`): fine on a line about that script, a wrong
# name for the released file anywhere else
SCRIPT_OUTPUTS = {'model_best.pth.tar', 'checkpoint.pth.tar'}


def _read(page):
    with open(os.path.join(REPO, page)) as f:
        return f.read()


def _section(text, heading):
    return text.split(heading, 1)[1].split('\n## ', 1)[0]


def _code(text):
    """Fenced code blocks and inline code spans, backslash continuations joined."""
    blocks = re.findall(r'^```[^\n]*\n(.*?)^```', text, flags=re.M | re.S)
    spans = re.findall(r'`([^`\n]+)`', re.sub(r'^```.*?^```', '', text, flags=re.M | re.S))
    return [c.replace('\\\n', ' ') for c in blocks + spans]


def _expand(path):
    """Brace expansion as the shell does it: a/{b,c}.py -> a/b.py, a/c.py."""
    m = re.search(r'\{([^{}]*)\}', path)
    if not m:
        return [path]
    return [
        p for alt in m.group(1).split(',') for p in _expand(path[:m.start()] + alt + path[m.end():])
    ]


def test_one_guide_per_table():
    assert sorted(os.path.basename(g) for g in GUIDES) == sorted(TABLES)
    index = _read('docs/index.md')
    unlinked = [g for g in TABLES if f'reproduce/{g}' not in LINK.findall(index)]
    assert not unlinked, f'docs/index.md does not link {unlinked}'


@pytest.mark.parametrize('guide', GUIDES)
def test_guide_has_every_section(guide):
    text = _read(guide)
    heads = [h for h in re.findall(r'^## .*$', text, flags=re.M) if h in SECTIONS]
    assert heads == list(SECTIONS), f'{guide}: sections {heads}, want {list(SECTIONS)} in order'
    expected = _section(text, '## Expected numbers and tolerance')
    # the paper's number labelled as the paper's; a tolerance, or the reason why none
    assert '**Paper**' in expected, f'{guide}: the expected number is not labelled as the paper\'s'
    assert re.search(r'±\s*0\.\d|[Nn]o tolerance can be', expected), \
        f'{guide}: no tolerance (±) and no statement that none can be given'
    time = _section(text, '## Time')
    assert '**CPU**' in time and '**GPU**' in time, f'{guide}: the time on a CPU and a GPU'
    assert TABLES[os.path.basename(guide)] in _section(text, '## Test command')


@pytest.mark.parametrize('guide', GUIDES)
def test_guide_names_only_files_that_exist(guide):
    """Configs, tools and tests the guide names (commands and prose alike),
    brace patterns expanded; `file::test` references name a test in that file."""
    missing = []
    for code in _code(_read(guide)):
        for path in re.findall(r'(?:configs|tools|tests|demo)/[\w.{},/-]+\.(?:py|sh)', code):
            missing += [p for p in _expand(path) if not os.path.isfile(os.path.join(REPO, p))]
        for path, test in re.findall(r'(tests/[\w/]+\.py)::(\w+)', code):
            source = _read(path) if os.path.isfile(os.path.join(REPO, path)) else ''
            if not re.search(rf'^def {test}\(', source, flags=re.M):
                missing.append(f'{path}::{test}')
    assert not missing, f'{guide} names missing files or tests: {missing}'


@pytest.mark.parametrize('guide', GUIDES)
def test_guide_links_resolve(guide):
    broken = [
        t for t in LINK.findall(_read(guide))
        if not re.match(r'^[a-z]+:', t) and not t.startswith('#') and not os.path.exists(
            os.path.normpath(os.path.join(REPO, os.path.dirname(guide),
                                          t.split('#', 1)[0])))
    ]
    assert not broken, f'{guide}: links to missing files {broken}'


@pytest.mark.parametrize('guide', GUIDES)
def test_measured_here_comes_with_its_command(guide):
    missing = [
        heading.strip() for heading, body, whole in _sections(_read(guide))
        if any(_is_a_claim(body, m.start())
               for m in MEASURED_HERE.finditer(body)) and not COMMAND.search(whole)
    ]
    assert not missing, f'{guide}: "measured here" without a command in sections {missing}'


# --- one name per authors' file across the docs ---


@pytest.mark.parametrize('page', DOCS)
def test_authors_classifier_file_goes_by_one_name(page):
    wrong = []
    for n, line in enumerate(_read(page).splitlines(), 1):
        for name in re.findall(r'[\w.-]+\.pth\.tar\b', line):
            if name == CLASSIFIER_FILE or (name in SCRIPT_OUTPUTS and 'main.py' in line):
                continue
            wrong.append(f'line {n}: {name}')
    assert not wrong, (f'{page}: the authors\' released CBT-S classifier is '
                       f'{CLASSIFIER_FILE!r} (their README); found {wrong}')


@pytest.mark.parametrize('page', DOCS)
def test_converter_commands_read_the_authors_files_by_their_names(page):
    wrong = []
    for code in _code(_read(page)):
        for tool, src in re.findall(r'model_converters/(cbsa2mmseg|cbt_cls2mmseg)\.py\s+(\S+)',
                                    code):
            want = DECODER_FILE if tool == 'cbsa2mmseg' else CLASSIFIER_FILE
            if src in ('SRC', '-h', '--help') or src.startswith('<'):
                continue
            if os.path.basename(src) != want:
                wrong.append(f'{tool}.py {src} (want {want})')
    assert not wrong, f'{page}: {wrong}'


def test_the_canonical_names_are_used():
    """Guard against the checks above passing vacuously."""
    texts = '\n'.join(_read(p) for p in DOCS)
    assert f'cbt_cls2mmseg.py {CLASSIFIER_FILE}' in texts
    assert f'cbsa2mmseg.py {DECODER_FILE}' in texts


# --- the claims the tolerances rest on ---


def _authors_slide_inference(model, img, ori_shape, window, stride, batch=4):
    """Segmenter's single-scale evaluation (segm/model/utils.py: sliding_window,
    merge_windows, inference), written from its description: windows anchored
    every ``stride`` pixels plus one flush with the far edge, run ``batch`` at a
    time, logits averaged where they overlap, resized bilinearly to the
    original size (their softmax after that changes no label). Returns
    (C, *ori_shape) logits."""
    h, w = img.shape[-2:]
    rows = [a for a in range(0, h, stride) if a < h - window] + [h - window]
    cols = [a for a in range(0, w, stride) if a < w - window] + [w - window]
    anchors = [(r, c) for r in rows for c in cols]
    crops = torch.cat([img[:, :, r:r + window, c:c + window] for r, c in anchors])
    metas = [dict(img_shape=crops.shape[2:])]
    logits = torch.cat([
        model.encode_decode(crops[i:i + batch], metas * len(crops[i:i + batch]))
        for i in range(0, len(crops), batch)
    ])
    total = logits.new_zeros(logits.shape[1], h, w)
    count = logits.new_zeros(1, h, w)
    for (r, c), logit in zip(anchors, logits):
        total[:, r:r + window, c:c + window] += logit
        count[:, r:r + window, c:c + window] += 1
    return F.interpolate((total / count)[None], ori_shape, mode='bilinear')[0]


def test_slide_inference_is_the_authors(cbsa_scope):
    """Our test-time sliding windows (mmseg's slide inference with the ADE20K
    configs' window and stride) give the authors' logits and labels,
    on a small model of the CBT-S config's kind, windows and images shrunk 8x
    (512 / 480 -> 64 / 60) and image shapes that put the last window flush,
    exactly one stride on, or alone."""
    from mmseg.structures import SegDataSample

    from mmseg_cbsa.registry import MODELS
    cfg = Config.fromfile(os.path.join(REPO, 'configs/cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py'))
    window, stride = cfg.model.test_cfg.crop_size[0], cfg.model.test_cfg.stride[0]
    assert (window, stride) == (512, 480)  # the authors' crop and crop - 32
    window, stride = window // 8, stride // 8
    cfg.model.backbone.update(arch=(16, 1, 2), img_size=window, init_cfg=None)
    cfg.model.decode_head.update(
        in_channels=16,
        num_layers=1,
        num_heads=2,
        head_dims=8,
        num_classes=6,
        attn_cfg=dict(type='CBSA', rep_grid=2))
    cfg.model.test_cfg.update(crop_size=(window, window), stride=(stride, stride))
    model = MODELS.build(cfg.model).eval()
    for (h, w), ori in [((64, 64), (80, 80)), ((64, 124), (100, 190)), ((64, 125), (64, 125)),
                        ((130, 161), (97, 120))]:
        img = torch.randn(1, 3, h, w)
        sample = SegDataSample(metainfo=dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=ori))
        with torch.no_grad():
            ours = model.predict(img, [sample])[0]
            theirs = _authors_slide_inference(model, img, ori, window, stride)
        torch.testing.assert_close(ours.seg_logits.data, theirs, rtol=1e-5, atol=1e-5)
        # labels equal wherever the two best classes do not tie to round-off
        top2 = theirs.topk(2, dim=0).values
        clear = (top2[0] - top2[1]) > 1e-4
        labels = ours.pred_sem_seg.data[0]
        assert torch.equal(labels[clear], theirs.argmax(0)[clear])
        assert clear.float().mean() > 0.99


def _imagenet_test_options():
    """The --cfg-options of the ImageNet guide's test command."""
    text = _read('docs/reproduce/imagenet_classification.md')
    test = _section(text, '## Test command')
    line = next(c for c in _code(test) if c.strip().startswith('python tools/test.py'))
    args = shlex.split(line.strip().splitlines()[0])
    assert args[2] == 'configs/classification/cbt-s_8xb32-lion-150e_in1k.py'
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options, _ = parser.parse_known_args(args[4:])
    cfg = Config.fromfile(os.path.join(REPO, args[2]))
    cfg.merge_from_dict(options.cfg_options)
    return cfg


def test_imagenet_pipeline_is_the_authors(tmp_path):
    """With the guide's options our test pipeline gives the pixels of the
    authors' evaluation transform (CBSA_image_classification/main.py:
    Resize(256), CenterCrop(224) on PIL images), to the last bit."""
    import torchvision.transforms as T
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import TRANSFORMS
    from PIL import Image

    cfg = _imagenet_test_options()
    pipeline = cfg.test_dataloader.dataset.pipeline
    assert [t['type']
            for t in pipeline] == ['LoadImageFromFile', 'ResizeEdge', 'CenterCrop', 'PackInputs']
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ours = [TRANSFORMS.build(t) for t in pipeline[:3]]
    theirs = T.Compose([T.Resize(256), T.CenterCrop(224)])
    rng = np.random.default_rng(0)
    for h, w in [(375, 500), (500, 333), (257, 1000), (224, 224)]:
        # blocky content: smooth areas and sharp edges, as photographs have
        blocks = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        img = np.ascontiguousarray(blocks.repeat(8, 0).repeat(8, 1)[:h, :w])
        path = str(tmp_path / f'{h}x{w}.JPEG')
        Image.fromarray(img).save(path, quality=90)
        result = dict(img_path=path)
        for t in ours:
            result = t(result)
        expected = np.asarray(theirs(Image.open(path).convert('RGB')))
        np.testing.assert_array_equal(result['img'][..., ::-1], expected)  # ours is BGR


def test_imagenet_test_command_loads_the_authors_layout():
    """A CBT-S classifier in the authors' layout, converted, loads strictly into
    the config with the guide's options, which set the pooling the converter
    asks for."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    from mmseg_cbsa.converters import convert_classifier
    from tests.test_converters.sources import classifier

    state, info = convert_classifier(classifier(['CBSA'] * 12, 384, 6))
    cfg = _imagenet_test_options()
    assert cfg.model.backbone.legacy_cls_pooling == info['backbone']['legacy_cls_pooling'] is True
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.load_state_dict(state, strict=True)
