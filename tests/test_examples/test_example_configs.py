"""The worked examples of configs/examples/ (docs/cbsa_in_your_model.md): each
builds in the ``mmseg_cbsa`` scope with the wiring its comments describe, segments
a 64x64 image into the config's classes at the image's size, and trains for two
iterations through tools/train.py on the generated miniature ADE20K.

Nothing is downloaded: the tests set the encoders' ``init_cfg`` (and mmseg's
``pretrained``) to None."""
import glob
import math
import os
from typing import Any, Dict, List

import pytest
import torch
from mmengine.config import Config

from tests.cli import data_root_options, run_python

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = sorted(glob.glob(os.path.join(REPO, 'configs', 'examples', '*.py')))
NAMES = [os.path.basename(p)[:-len('.py')] for p in EXAMPLES]
NO_VAL = ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']

#: what each example demonstrates: the encoder, the map the head reads (its
#: index in the backbone's outputs, width and stride) and, for the ViT, the
#: attention of each block
WIRING: Dict[str, Dict[str, Any]] = {
    'cbt_r50-d8_8xb1-160k_ade20k-512x512':
    dict(backbone='ResNetV1c', in_index=3, in_channels=2048, stride=8),
    'cbt_swin-t_8xb1-160k_ade20k-512x512':
    dict(backbone='SwinTransformer', in_index=0, in_channels=768, stride=32),
    'cbt_vit-s16-cbsa-blocks8-11_8xb1-160k_ade20k-512x512':
    dict(
        backbone='ViT',
        in_index=-1,
        in_channels=384,
        stride=16,
        attention=['MHSA'] * 8 + ['QKVCBSA'] * 4),
}


def _config(path: str) -> Config:
    """The example's config with no pretrained weights to fetch."""
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    cfg.model.pretrained = None
    return cfg


def test_every_example_is_described():
    assert sorted(WIRING) == NAMES


@pytest.mark.parametrize('path', EXAMPLES, ids=NAMES)
def test_example_builds_and_segments_at_the_input_size(path: str, cbsa_scope) -> None:
    from mmseg_cbsa.registry import MODELS
    wiring = WIRING[os.path.basename(path)[:-len('.py')]]
    cfg = _config(path)
    model = MODELS.build(cfg.model).eval()
    head = model.decode_head
    assert type(model.backbone).__name__ == wiring['backbone']
    assert type(head).__name__ == 'CBTHead'
    assert (head.in_index, head.in_channels) == (wiring['in_index'], wiring['in_channels'])
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = model.extract_feat(x)
        # the map the head reads has the width it is told, at the stated stride
        assert feats[head.in_index].shape[1:] == (head.in_channels, 64 // wiring['stride'],
                                                  64 // wiring['stride'])
        logits = model.encode_decode(x, [dict(img_shape=(64, 64))])
    assert logits.shape == (1, cfg.model.decode_head.num_classes, 64, 64) == (1, 150, 64, 64)
    assert torch.isfinite(logits).all()
    if 'attention' in wiring:
        assert [type(b.attn).__name__ for b in model.backbone.blocks] == wiring['attention']


def test_vit_with_cbsa_blocks_takes_every_vit_weight(cbsa_scope) -> None:
    """QKVCBSA has MHSA's parameters: the timm weights the base config loads
    fit the CBSA blocks too, so the example's encoder state dict is the all-MHSA
    one's (names and shapes)."""
    from mmseg_cbsa.registry import MODELS
    example = os.path.join(REPO, 'configs', 'examples',
                           'cbt_vit-s16-cbsa-blocks8-11_8xb1-160k_ade20k-512x512.py')
    base = os.path.join(REPO, 'configs', 'cbt', 'cbt_vit-s16_8xb1-160k_ade20k-512x512.py')
    shapes = [{
        k: v.shape
        for k, v in MODELS.build(_config(p).model.backbone).state_dict().items()
    } for p in (example, base)]
    assert shapes[0] == shapes[1]


def _shrunk(path: str) -> List[str]:
    """Lines of a config inheriting ``path`` that keep its model and pipeline
    but train on 64x64 crops, 2 images per batch, without pretrained weights,
    data-loading processes or SyncBN."""
    cfg = Config.fromfile(path)
    crop = (64, 64)
    pipeline = cfg.to_dict()['train_dataloader']['dataset']['pipeline']
    for step in pipeline:
        if step['type'] == 'RandomResize':
            step['scale'] = (4 * crop[0], crop[1])
        elif step['type'] == 'RandomCrop':
            step['crop_size'] = crop
    backbone: Dict[str, Any] = dict(init_cfg=None)
    if cfg.model.backbone.get('norm_cfg', {}).get('type') == 'SyncBN':
        backbone['norm_cfg'] = dict(type='BN', requires_grad=True)
    model = dict(
        pretrained=None,
        data_preprocessor=dict(size=crop),
        backbone=backbone,
        test_cfg=dict(crop_size=crop, stride=(48, 48)))
    loader = dict(num_workers=0, persistent_workers=False)
    return [
        f'_base_ = [{path!r}]',
        f'crop_size = {crop!r}',
        f'model = {model!r}',
        f'train_dataloader = {dict(batch_size=2, **loader, dataset=dict(pipeline=pipeline))!r}',
        'train_cfg = dict(max_iters=2)',
        'default_hooks = dict(logger=dict(interval=1))',
    ]


@pytest.mark.slow
@pytest.mark.parametrize('path', EXAMPLES, ids=NAMES)
def test_example_trains_two_iterations(path: str, tmp_path, repo_root) -> None:
    from mmseg_cbsa.datasets import generate_mini_ade20k
    from mmseg_cbsa.utils.checkpoint import load_checkpoint_file
    data = tmp_path / 'data'
    generate_mini_ade20k(str(data), num_train=4, num_val=1, size=64, seed=0)
    config = tmp_path / os.path.basename(path)
    config.write_text('\n'.join(_shrunk(path)) + '\n')
    work = tmp_path / 'work'
    run_python(repo_root, 'tools/train.py', config, '--work-dir', work, '--cfg-options',
               *data_root_options(data), *NO_VAL)
    ckpt = load_checkpoint_file(work / 'iter_2.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 2
    losses = ckpt['message_hub']['log_scalars']['train/loss'].data[0]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses), losses
