"""The converters check the file they read before writing anything.

A source with a tensor missing, a block missing or a tensor of the wrong
shape is refused by every tool in ``tools/model_converters``: ``error: ...``
naming the file, the key and the shapes (exit status 1, no traceback), and no
output file. What they print is a config that accepts what they wrote: the
tests build it and load the output strictly. Most tools run in this process
(as ``python tools/model_converters/X.py`` would: ``__main__``); one test per
tool runs the real command.
"""
import ast
import contextlib
import io
import os
import re
import runpy
import sys
from typing import Callable, Dict, Optional, Tuple
from unittest import mock

import pytest
import torch
from torch import Tensor

from mmseg_cbsa.converters import ConversionError, convert_timm_vit
from mmseg_cbsa.registry import MODELS, build_in_scope
from mmseg_cbsa.utils.checkpoint import extract_state_dict, load_checkpoint_file
from mmseg_cbsa.utils.checkpoint_fit import load_state_dict_checked
from tests.cli import run_python
from tests.test_converters.sources import (cbt_decoder, classifier, classifier_checkpoint,
                                           depict_decoder, segmentation_checkpoint,
                                           segmenter_encoder, timm_vit)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
D = 192  # ViT-T's width: heads are read off it (3)
HYBRID = ['MSSA'] * 2 + ['CBSA'] * 2  # CRATE+CBT: every attention kind but TSSA


def run_tool(tool: str, *args) -> Tuple[Optional[str], str]:
    """``python tools/model_converters/TOOL ARGS`` in this process:
    (the message it exits with, None when it finishes; its stdout)."""
    path = os.path.join(REPO, 'tools', 'model_converters', tool)
    out = io.StringIO()
    with mock.patch.object(sys, 'argv', [path, *map(str, args)]), \
            contextlib.redirect_stdout(out):
        try:
            runpy.run_path(path, run_name='__main__')
        except SystemExit as e:
            return str(e.code), out.getvalue()
    return None, out.getvalue()


def converted(tool: str, src, dst, *args) -> str:
    """Run a conversion that must succeed; its stdout."""
    message, out = run_tool(tool, src, dst, *args)
    assert message is None, message
    assert f'to {dst}' in out
    return out


def refused(tool: str, src, dst, *expected: str) -> str:
    """Run a conversion that must be refused: one ``error:`` message naming
    ``src`` and each of ``expected``, and nothing written."""
    message, out = run_tool(tool, src, dst)
    assert message is not None and message.startswith('error: '), (message, out)
    assert str(src) in message
    for text in expected:
        assert text in message, f'{text!r} not in {message!r}'
    assert 'wrote' not in out
    assert os.listdir(os.path.dirname(dst)) == [os.path.basename(src)]  # no DST, no partial file
    return message


def printed(out: str, name: str) -> dict:
    """The ``NAME: {...}`` config a tool printed."""
    line = next(ln for ln in out.splitlines() if ln.startswith(f'{name}: '))
    return ast.literal_eval(line[len(name) + 2:])


def load_strictly(model: torch.nn.Module, dst) -> None:
    state = extract_state_dict(load_checkpoint_file(str(dst)), str(dst))
    load_state_dict_checked(model, state, str(dst), strict=True)


def image_classifier(backbone: dict, out: str) -> torch.nn.Module:
    """The mmpretrain classifier a tool's printed backbone and head describe."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as PRETRAIN
    head = re.search(r'head: LinearClsHead\(num_classes=(\d+)', out)
    cfg = dict(type='ImageClassifier', backbone=backbone)
    if head:
        cfg['head'] = dict(
            type='LinearClsHead', num_classes=int(head.group(1)), in_channels=backbone['arch'][0])
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return PRETRAIN.build(cfg)


def _save(folder, name: str, obj) -> str:
    folder.mkdir()
    path = folder / name
    torch.save(obj, path)
    return path


# -------------------------------------------------------------- corruptions
def _drop(*keys: str) -> Callable[[Dict[str, Tensor]], None]:
    """Remove ``keys``; a key ending in ``.*`` removes a whole block."""

    def corrupt(sd):
        for key in keys:
            for k in [k for k in sd if k == key or (key.endswith('*') and k.startswith(key[:-1]))]:
                del sd[k]

    return corrupt


def _reshape(pattern: str, *shape: int) -> Callable[[Dict[str, Tensor]], None]:
    """Give every key matching ``pattern`` the shape ``shape``."""

    def corrupt(sd):
        for k in [k for k in sd if re.fullmatch(pattern, k)]:
            sd[k] = torch.zeros(shape)

    return corrupt


#: timm ViT-T of 3 blocks: corruption -> what the message names
TIMM_DEFECTS = {
    'missing tensor': (_drop('blocks.1.mlp.fc1.bias'), ['blocks.1.mlp.fc1.bias', '[768]']),
    'missing block': (_drop('blocks.1.*'), ['blocks.1.*', 'blocks.0.* to blocks.2.*']),
    'mis-shaped qkv': (_reshape(r'blocks\.1\.attn\.qkv\.weight', 2 * D,
                                D), ['blocks.1.attn.qkv.weight', '[384, 192]', '[576, 192]']),
    'mis-shaped qkv in every block':
    (_reshape(r'blocks\.\d\.attn\.qkv\.weight', 2 * D,
              D), ['blocks.0.attn.qkv.weight', '[384, 192]', '[576, 192]']),
    'mis-shaped output projection':
    (_reshape(r'blocks\.\d\.attn\.proj\.weight', D,
              D - 1), ['blocks.0.attn.proj.weight', '[192, 191]', '[192, 192]']),
}


@pytest.fixture(scope='module')
def timm_state():
    torch.manual_seed(0)
    return timm_vit().state_dict()


@pytest.mark.parametrize('tool', ['timm_vit2mmseg.py', 'vit2cbsa.py'])
@pytest.mark.parametrize('defect', list(TIMM_DEFECTS))
def test_timm_sources_are_checked(tmp_path, timm_state, tool, defect):
    corrupt, expected = TIMM_DEFECTS[defect]
    sd = dict(timm_state)
    corrupt(sd)
    src = _save(tmp_path / 'in', 'vit.pth', sd)
    refused(tool, src, tmp_path / 'in' / 'out.pth', *expected)


def test_openmmlab_sources_are_named_in_their_own_layout(tmp_path):
    from mmpretrain.models.backbones import VisionTransformer
    vit = VisionTransformer(
        arch=dict(embed_dims=D, num_layers=3, num_heads=3, feedforward_channels=4 * D),
        img_size=32,
        patch_size=8)
    sd = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    del sd['backbone.layers.1.ffn.layers.1.bias']
    src = _save(tmp_path / 'in', 'mmpretrain_vit.pth', {'state_dict': sd})
    refused('vit2cbsa.py', src, tmp_path / 'in' / 'out.pth', 'backbone.layers.1.ffn.layers.1.bias',
            '[192]')


def test_a_mis_shaped_head_is_refused(tmp_path, timm_state):
    sd = dict(timm_state, **{'head.bias': torch.zeros(4)})  # 5 classes in head.weight
    src = _save(tmp_path / 'in', 'vit.pth', sd)
    refused('vit2cbsa.py', src, tmp_path / 'in' / 'out.pth', 'head.bias', '[4]', '[5]')


def test_the_library_raises_a_key_and_checkpoint_error(timm_state):
    from mmseg_cbsa.utils import CheckpointError
    sd = dict(timm_state)
    del sd['blocks.2.norm2.weight']
    with pytest.raises(ConversionError, match=r'^x\.pth: .*blocks\.2\.norm2\.weight') as info:
        convert_timm_vit(sd, 'x.pth')
    assert isinstance(info.value, KeyError) and isinstance(info.value, CheckpointError)


# ------------------------------------------------------- the authors' files
#: CRATE+CBT classifier of 4 layers: corruption -> what the message names
CLASSIFIER_DEFECTS = {
    'missing tensor':
    (_drop('transformer.layers.3.1.fn.weight'), ['transformer.layers.3.1.fn.weight', '[192, 192]']),
    'missing step size': (_drop('transformer.layers.3.0.fn.step_rep'),
                          ['transformer.layers.3.0.fn.step_rep', '[3, 1, 1]']),
    'missing block': (_drop('transformer.layers.1.*'), ['transformer.layers.1.*']),
    'mis-shaped to_out':
    (_reshape(r'transformer\.layers\.2\.0\.fn\.to_out\.weight', D,
              D // 2), ['transformer.layers.2.0.fn.to_out.weight', '[192, 96]', '[192, 192]']),
    'mis-shaped to_out in every layer':
    (_reshape(r'transformer\.layers\.\d\.0\.fn\.to_out\.weight', D,
              D // 2), ['transformer.layers.0.0.fn.to_out.weight', '[192, 96]', '[192, 192]']),
}


@pytest.mark.parametrize('defect', list(CLASSIFIER_DEFECTS))
def test_authors_classifiers_are_checked(tmp_path, defect):
    corrupt, expected = CLASSIFIER_DEFECTS[defect]
    sd = classifier(HYBRID, D, heads=3, n_cls=10)
    corrupt(sd)
    src = _save(tmp_path / 'in', 'model_best.pth.tar', classifier_checkpoint(sd))
    refused('cbt_cls2mmseg.py', src, tmp_path / 'in' / 'out.pth', *expected)


#: ViT of 2 blocks + CBT decoder: corruption -> what the message names
SEGMENTATION_DEFECTS = {
    'missing decoder tensor':
    (_drop('decoder.net.layers.1.fn.to_out.bias'), ['decoder.net.layers.1.fn.to_out.bias',
                                                    '[192]']),
    'mis-shaped to_out':
    (_reshape(r'decoder\.net\.layers\.2\.fn\.to_out\.weight', D,
              200), ['decoder.net.layers.2.fn.to_out.weight', '[192, 200]', '[192, 300]']),
    'missing decoder layer': (_drop('decoder.net.layers.0.*'), ['decoder.net.layers.0.*']),
    'missing encoder block': (_drop('encoder.blocks.0.*'), ['encoder.blocks.0.*']),
    'missing final norm': (_drop('encoder.norm.weight'), ['encoder.norm.weight']),
    'mis-shaped class embeddings': (_reshape(r'decoder\.cls_emb', 1, 150, D - 2),
                                    ['decoder.cls_emb', '[1, 150, 190]', '[1, 150, 192]']),
}


@pytest.mark.parametrize('defect', list(SEGMENTATION_DEFECTS))
def test_authors_segmentation_checkpoints_are_checked(tmp_path, defect):
    corrupt, expected = SEGMENTATION_DEFECTS[defect]
    ckpt = segmentation_checkpoint(segmenter_encoder(D, depth=2, grid=4), cbt_decoder(D))
    corrupt(ckpt['model'])
    src = _save(tmp_path / 'in', 'checkpoint.pth', ckpt)
    refused('cbsa2mmseg.py', src, tmp_path / 'in' / 'out.pth', *expected)


# --------------------------------------------- what is printed accepts the file
def test_timm_output_loads_into_the_printed_backbone(tmp_path, timm_state):
    src = _save(tmp_path / 'in', 'vit.pth', timm_state)
    dst = tmp_path / 'vit_mmseg.pth'
    out = converted('timm_vit2mmseg.py', src, dst)
    load_strictly(build_in_scope(MODELS, printed(out, 'backbone')), dst)


def test_a_non_square_position_embedding_needs_the_grid(tmp_path):
    """timm ViT on 24x40 images: a 3x5 patch grid, 15 positions, which no
    tensor tells from 5x3 or 1x15: refused without ``--grid``; with it, the
    printed backbone (img_size (24, 40)) takes the file and computes timm's
    features."""
    torch.manual_seed(0)
    model = timm_vit(img_size=[24, 40])
    src = _save(tmp_path / 'in', 'vit.pth', model.state_dict())
    dst = tmp_path / 'in' / 'out.pth'
    refused('timm_vit2mmseg.py', src, dst, 'pos_embed', '[1, 16, 192]', '15 patch positions',
            '--grid H W', '3 5')
    refused('vit2cbsa.py', src, dst, 'pos_embed', '--grid H W')
    message, _ = run_tool('timm_vit2mmseg.py', src, dst, '--grid', '4', '4')
    assert message is not None and '--grid 4 4' in message and '15' in message
    assert not dst.exists()

    out = converted('timm_vit2mmseg.py', src, dst, '--grid', '3', '5')
    backbone = printed(out, 'backbone')
    assert backbone['img_size'] == (24, 40)
    vit = build_in_scope(MODELS, backbone).eval()
    load_strictly(vit, dst)
    img = torch.randn(1, 3, 24, 40)
    with torch.no_grad():
        theirs = model.forward_features(img)[:, 1:].transpose(1, 2).reshape(1, D, 3, 5)
        torch.testing.assert_close(vit(img)[0], theirs, rtol=1e-4, atol=1e-5)

    adapted = tmp_path / 'adapted.pth'
    out = converted('vit2cbsa.py', src, adapted, '--grid', '3', '5', '--rep-grid', '2')
    load_strictly(image_classifier(printed(out, 'backbone'), out), adapted)


def test_a_non_square_classifier_grid_needs_the_grid(tmp_path):
    """The authors' classifiers read their grid as the ViTs do: 12x20
    positions (192x320 images) only with ``--grid``."""
    sd = classifier(HYBRID, D, heads=3, n_cls=10, grid=(12, 20))
    src = _save(tmp_path / 'in', 'model_best.pth.tar', classifier_checkpoint(sd))
    dst = tmp_path / 'in' / 'out.pth'
    refused('cbt_cls2mmseg.py', src, dst, 'pos_embedding', '[1, 241, 192]', '12 20')
    out = converted('cbt_cls2mmseg.py', src, dst, '--grid', '12', '20')
    backbone = printed(out, 'backbone')
    assert backbone['img_size'] == (192, 320)
    load_strictly(image_classifier(backbone, out), dst)


def test_classifier_output_loads_into_the_printed_classifier(tmp_path):
    sd = classifier(HYBRID, D, heads=3, n_cls=10)
    src = _save(tmp_path / 'in', 'model_best.pth.tar', classifier_checkpoint(sd))
    dst = tmp_path / 'cls.pth'
    out = converted('cbt_cls2mmseg.py', src, dst)
    assert 'LinearClsHead(num_classes=10, in_channels=192)' in out
    load_strictly(image_classifier(printed(out, 'backbone'), out), dst)


def _segmentor(out: str) -> torch.nn.Module:
    return build_in_scope(
        MODELS,
        dict(
            type='EncoderDecoder',
            backbone=printed(out, 'backbone'),
            decode_head=printed(out, 'decode_head')))


def test_segmentation_output_loads_into_the_printed_model(tmp_path):
    """A ViT of 2 blocks is no released size: the printed backbone and
    decode_head take the file, and no shipped config is named."""
    ckpt = segmentation_checkpoint(segmenter_encoder(D, depth=2, grid=4), cbt_decoder(D))
    src = _save(tmp_path / 'in', 'checkpoint.pth', ckpt)
    dst = tmp_path / 'seg.pth'
    out = converted('cbsa2mmseg.py', src, dst)
    assert 'config: none' in out and 'evaluate:' not in out
    load_strictly(_segmentor(out), dst)


def test_the_printed_config_file_has_the_checkpoints_classes(tmp_path, cbsa_scope):
    """DEPICT-SA trained on Cityscapes (19 classes): the printed config is a
    Cityscapes one, which loads the file strictly (an ADE20K config, 150
    classes, would refuse it)."""
    from mmseg_cbsa.apis import build_model
    torch.manual_seed(0)
    ckpt = segmentation_checkpoint(
        segmenter_encoder(D, depth=12, grid=32), depict_decoder('sa', D, n_cls=19))
    src = _save(tmp_path / 'in', 'checkpoint.pth', ckpt)
    dst = tmp_path / 'depict.pth'
    out = converted('cbsa2mmseg.py', src, dst)
    config = next(ln.split(': ')[1] for ln in out.splitlines() if ln.startswith('config: '))
    assert config == 'configs/depict/depict-sa_vit-t16_8xb1-80k_cityscapes-768x768.py'
    build_model(os.path.join(REPO, config), str(dst))  # loads it checked, every key
    load_strictly(_segmentor(out), dst)


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['timm_vit2mmseg', 'vit2cbsa', 'cbt_cls2mmseg', 'cbsa2mmseg'])
def test_the_commands_exit_1_with_one_message(tmp_path, timm_state, tool):
    if tool == 'cbt_cls2mmseg':
        sd = classifier(HYBRID, D, heads=3, n_cls=10)
        del sd['transformer.layers.0.1.norm.bias']
        src, key = _save(tmp_path / 'in', 'c.pth.tar',
                         classifier_checkpoint(sd)), 'transformer.layers.0.1.norm.bias'
    elif tool == 'cbsa2mmseg':
        ckpt = segmentation_checkpoint(segmenter_encoder(D, depth=2, grid=4), cbt_decoder(D))
        del ckpt['model']['decoder.net.layers.2.fn.step_x']
        src, key = _save(tmp_path / 'in', 'checkpoint.pth', ckpt), 'decoder.net.layers.2.fn.step_x'
    else:
        sd = dict(timm_state)
        del sd['blocks.0.attn.qkv.bias']
        src, key = _save(tmp_path / 'in', 'vit.pth', sd), 'blocks.0.attn.qkv.bias'
    dst = tmp_path / 'in' / 'out.pth'
    res = run_python(REPO, f'tools/model_converters/{tool}.py', src, dst, check=False)
    assert res.returncode == 1, res.stderr[-2000:]
    assert res.stdout == '' and 'Traceback' not in res.stderr
    assert res.stderr.startswith(f'error: {src}: ') and key in res.stderr
    assert not dst.exists()
