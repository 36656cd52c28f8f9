"""Converted MiTA checkpoints compute what the authors' MiTA models compute.

The authors' MiTA-DeiT classifier and MiTA-Segmenter (QishuaiWen/MiTA) are
written out below from the equations of their code, in plain torch, with a
loop over heads and over queries and nothing from ``mmseg_cbsa``, on state
dicts keyed as their modules name their parameters. Random weights in that
layout are saved as their training scripts save them (DeiT's ``main.py``:
``model``, ``model_ema``, ``args``, ...; Segmenter's ``checkpoint.pth``:
``model``), converted with ``tools/model_converters/mita2mmseg.py``, loaded
strictly into the model of the config the converter prints, and compared in
float64.

Their MiTA attention, per head (width p), on tokens x (N x C), N = 1 + S^2:

* ``q, k, v = x W_qkv^T + b`` split into thirds of C channels, then heads;
* routers ``R``: adaptive average pooling (s x s) of ``q[:N-1]`` laid out as
  the S x S grid, i.e. [CLS] in the grid and the last patch left out (their
  ``self.pool(q[:, :-1, :].reshape(B, H, W, C)...)``), split into heads;
* each router's keys: the top-k of ``R_m . k_j`` (``kv_topk ** 2`` in DeiT,
  49 in the Segmenter);
* compressed values ``V_R = softmax(R K^T / sqrt p) V`` (their SDPA call);
* each query's expert ``argmax_m R_m . q_i``;
* output ``softmax([q_i . R_m / p ; q_i . k_j / sqrt p]) [V_R ; v_j]``, the
  routers scaled twice by ``p^-1/2`` (``router * scale`` handed to a kernel
  with ``softmax_scale = p^-1/2``), merged with the top-k part in one softmax
  (their two flash calls joined by log-sum-exp);
* ``proj`` of the heads concatenated.

The Segmenter's cast of q, k, v to float16 around their kernel is left out:
the comparison is of the formula, in float64.
"""
import argparse
import ast
import math
import os
import pathlib
import subprocess
import sys
from typing import Dict, Optional, Tuple

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from tests.reference import authors_layout as ref
from tests.test_converters.sources import (cbt_decoder, classifier, classifier_checkpoint,
                                           depict_decoder, segmentation_checkpoint,
                                           segmenter_encoder)
from tests.test_converters.test_source_checks import run_tool

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = 'mita2mmseg.py'
SD = Dict[str, Tensor]
EXACT = dict(rtol=1e-9, atol=1e-9)


# ---------------------------------------------------- their model, written out
def their_mita(x: Tensor, sd: SD, pre: str, heads: int, pool: int, topk: int) -> Tensor:
    """Their ``MiTA_Attention.forward`` on one image: x (N, C) -> (N, C)."""
    n, c = x.shape
    qkv = ref.linear(x, sd, pre + 'qkv')
    q, k, v = qkv[:, :c], qkv[:, c:2 * c], qkv[:, 2 * c:]
    side = int(math.isqrt(n - 1))
    routers = ref.adaptive_avg_pool(q[:n - 1].reshape(side, side, c), (pool, pool))
    m, p = routers.shape[0], c // heads
    outs = []
    for h in range(heads):
        cols = slice(h * p, (h + 1) * p)
        qh, kh, vh, r = q[:, cols], k[:, cols], v[:, cols], routers[:, cols]
        scores = r @ kh.T  # (M, N)
        # the set of the top-k keys: the order within it does not matter
        top = [torch.argsort(scores[j], descending=True)[:topk] for j in range(m)]
        compressed = ref.softmax_rows(scores / math.sqrt(p)) @ vh  # (M, p)
        gate = r @ qh.T  # (M, N)
        out = torch.empty(n, p, dtype=x.dtype)
        for i in range(n):
            # first maximum, as torch.argmax; random weights have no ties
            e = int((gate[:, i] == gate[:, i].max()).nonzero()[0])
            keys = top[e]
            logits = torch.cat([qh[i] @ r.T / p, qh[i] @ kh[keys].T / math.sqrt(p)])
            w = ref.softmax_rows(logits[None])[0]
            out[i] = w[:m] @ compressed + w[m:] @ vh[keys]
        outs.append(out)
    return ref.linear(torch.cat(outs, 1), sd, pre + 'proj')


def their_tokens(img: Tensor, sd: SD, heads: int, pool: int, topk: int, eps: float) -> Tensor:
    """timm's ViT / Segmenter's ViT with MiTA in every block on one image
    (3, H, W) at the embedding's own grid: all tokens (1 + N, d) after the
    final LayerNorm (eps 1e-6 in timm's DeiT, 1e-5 in Segmenter)."""
    x = F.conv2d(
        img[None], sd['patch_embed.proj.weight'], sd['patch_embed.proj.bias'],
        stride=16)[0].flatten(1).T
    x = torch.cat([sd['cls_token'][0], x]) + sd['pos_embed'][0]
    depth = 1 + max(int(k.split('.')[1]) for k in sd if k.startswith('blocks.'))
    for i in range(depth):
        b = f'blocks.{i}.'
        x = x + their_mita(
            ref.layer_norm(x, sd, b + 'norm1', eps), sd, b + 'attn.', heads, pool, topk)
        h = ref.layer_norm(x, sd, b + 'norm2', eps)
        x = x + ref.linear(F.gelu(ref.linear(h, sd, b + 'mlp.fc1')), sd, b + 'mlp.fc2')
    return ref.layer_norm(x, sd, 'norm', eps)


def their_deit(img: Tensor, sd: SD, heads: int = 3, pool: int = 5, kv_topk: int = 5) -> Tensor:
    """MiTA-DeiT (timm VisionTransformer, token pooling): logits."""
    tokens = their_tokens(img, sd, heads, pool, kv_topk**2, eps=1e-6)
    return ref.linear(tokens[0], sd, 'head')


def their_segmenter(img: Tensor, model: SD, heads: int = 3) -> Tuple[Tensor, Tensor]:
    """MiTA-Segmenter on one image: (decoder masks at 1/16, the bilinear
    upsampling to the image that their ``Segmenter.forward`` returns)."""
    enc = {k[len('encoder.'):]: v for k, v in model.items() if k.startswith('encoder.')}
    dec = {k[len('decoder.'):]: v for k, v in model.items() if k.startswith('decoder.')}
    tokens = their_tokens(img, enc, heads, 7, 49, eps=1e-5)
    side = img.shape[-1] // 16
    masks = ref.cbt_decoder(tokens[1:], dec, (side, side), heads)
    return masks, F.interpolate(masks[None], size=img.shape[-2:], mode='bilinear')[0]


# ------------------------------------------------------- their checkpoints
def deit_checkpoint(sd: SD, **args) -> dict:
    """What MiTA-DeiT's ``main.py`` saves (``checkpoint.pth``)."""
    options = dict(model='deit_tiny_patch16_224', pool_size=5, kv_topk=5, lr=1e-3, epochs=300)
    options.update(args)
    return {
        'model': sd,
        'optimizer': {
            'state': {},
            'param_groups': [{
                'lr': 1e-3
            }]
        },
        'lr_scheduler': {
            'last_epoch': 299
        },
        'epoch': 299,
        'model_ema': {
            k: v.clone()
            for k, v in sd.items()
        },
        'scaler': {
            'scale': 65536.0
        },
        'args': argparse.Namespace(**options),
    }


def deit(depth: int) -> SD:
    """MiTA-DeiT-Tiny's tensors (timm's names: MiTA_Attention keeps ``qkv``
    and ``proj``), at 224 (a 14x14 grid), 1000 classes."""
    return segmenter_encoder(d=192, depth=depth, grid=14)


def as_double(sd: SD) -> SD:
    return {k: v.double() if v.is_floating_point() else v for k, v in sd.items()}


def convert(src, dst, *args) -> Tuple[str, Dict[str, str]]:
    """Run the tool in this process: (stdout, its ``name: value`` lines)."""
    message, out = run_tool(TOOL, src, dst, *args)
    assert message is None, message
    assert f'to {dst}' in out
    lines = dict(line.split(': ', 1) for line in out.splitlines() if ': ' in line)
    return out, lines


def refusal(src, dst, *args) -> str:
    """Run a conversion that must be refused; its message (nothing written)."""
    message, _ = run_tool(TOOL, src, dst, *args)
    assert message is not None and message.startswith('error: '), message
    assert not os.path.exists(dst)
    return message


# ------------------------------------------------------------ our models
def our_classifier(backbone: dict, ckpt, config: Optional[str] = None):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as PRETRAIN

    from mmseg_cbsa.utils.checkpoint import extract_state_dict, load_checkpoint_file
    from mmseg_cbsa.utils.checkpoint_fit import load_state_dict_checked
    if config is None:
        cfg = dict(
            type='ImageClassifier',
            backbone=backbone,
            head=dict(type='LinearClsHead', num_classes=1000, in_channels=192))
    else:
        cfg = Config.fromfile(os.path.join(REPO, config)).model
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = PRETRAIN.build(cfg).eval()
    load_state_dict_checked(model, extract_state_dict(load_checkpoint_file(str(ckpt))))
    return model.double()


def our_segmentor(cfg, ckpt):
    from mmengine.config import Config

    from mmseg_cbsa.registry import MODELS, build_in_scope
    from mmseg_cbsa.utils.checkpoint import extract_state_dict, load_checkpoint_file
    from mmseg_cbsa.utils.checkpoint_fit import load_state_dict_checked
    if isinstance(cfg, str):
        cfg = Config.fromfile(os.path.join(REPO, cfg)).model
        cfg.backbone.pop('init_cfg', None)
    model = build_in_scope(MODELS, cfg).eval()
    load_state_dict_checked(model, extract_state_dict(load_checkpoint_file(str(ckpt))))
    return model.double()


def set_attention(model, **options) -> None:
    for block in model.backbone.blocks:
        for name, value in options.items():
            setattr(block.attn, name, value)


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize('pool,kv_topk', [(5, 5), (4, 3)])
def test_deit_matches_their_forward(tmp_path, pool, kv_topk):
    """Two blocks of MiTA-DeiT-T (their settings, and other routers / top-k
    given as their ``--pool-size`` / ``--kv-topk``): equal logits in float64,
    and the two compatibility settings are what makes them equal."""
    torch.manual_seed(3)
    sd = deit(depth=2)
    src = tmp_path / 'checkpoint.pth'
    torch.save(deit_checkpoint(sd, pool_size=pool, kv_topk=kv_topk), src)
    options = [] if (pool, kv_topk) == (5, 5) else ['--pool-size', pool, '--kv-topk', kv_topk]
    _, lines = convert(src, tmp_path / 'ours.pth', '--from', 'mita-deit', *options)
    assert lines['config'].startswith('none of configs/mita/mita-deit-t_*.py')  # 2 blocks
    backbone = ast.literal_eval(lines['backbone'])  # a dict literal
    assert backbone['legacy_cls_pooling'] is True
    assert backbone['attn_cfg'] == [
        dict(type='MiTA', pool_size=pool, topk=kv_topk**2, router_scale='code', qkv_bias=True)
    ] * 2
    assert lines['head'] == 'LinearClsHead(num_classes=1000, in_channels=192)'
    model = our_classifier(backbone, tmp_path / 'ours.pth')

    sd = as_double(sd)
    imgs = torch.randn(2, 3, 224, 224, dtype=torch.float64)
    with torch.no_grad():
        ours = model(imgs, mode='tensor')
        theirs = torch.stack([their_deit(img, sd, pool=pool, kv_topk=kv_topk) for img in imgs])
        torch.testing.assert_close(ours, theirs, **EXACT)
        # their pooling and their router scale, each needed
        model.backbone.legacy_cls_pooling = False
        assert not torch.allclose(model(imgs, mode='tensor'), theirs, rtol=1e-3, atol=1e-3)
        model.backbone.legacy_cls_pooling = True
        set_attention(model, router_scale='keys')
        assert not torch.allclose(model(imgs, mode='tensor'), theirs, rtol=1e-3, atol=1e-3)


def test_segmenter_matches_their_forward(tmp_path):
    """Two MiTA blocks under their CBSA decoder at 512x512 (their code's
    N = 1025): equal masks at 1/16 and equal upsampled logits, float64."""
    torch.manual_seed(4)
    enc, dec = segmenter_encoder(depth=2), cbt_decoder()
    src = tmp_path / 'checkpoint.pth'
    torch.save(segmentation_checkpoint(enc, dec), src)
    _, lines = convert(src, tmp_path / 'ours.pth', '--from', 'mita-segmenter')
    assert lines['config'].startswith('none of configs/mita/mita-segmenter_vit-t16_*.py')
    backbone, head = ast.literal_eval(lines['backbone']), ast.literal_eval(lines['decode_head'])
    assert backbone['legacy_cls_pooling'] is True and backbone['norm_eps'] == 1e-5
    assert backbone['attn_cfg'] == dict(
        type='MiTA', pool_size=7, topk=49, router_scale='code', qkv_bias=True)
    segmentor = our_segmentor(
        dict(type='EncoderDecoder', backbone=backbone, decode_head=head), tmp_path / 'ours.pth')
    _compare_segmenter(segmentor, segmentation_checkpoint(enc, dec)['model'])


def _compare_segmenter(segmentor, model: SD) -> None:
    img = torch.randn(3, 512, 512, dtype=torch.float64)
    with torch.no_grad():
        masks, logits = their_segmenter(img, as_double(model))
        ours_masks = segmentor._forward(img[None])[0]
        ours_logits = segmentor.encode_decode(img[None], [dict(img_shape=(512, 512))])[0]
    assert ours_masks.shape == masks.shape == (150, 32, 32)
    torch.testing.assert_close(ours_masks, masks, **EXACT)
    torch.testing.assert_close(ours_logits, logits, **EXACT)


@pytest.mark.slow
def test_segmenter_checkpoint_loads_into_the_shipped_config(tmp_path):
    """A full MiTA-Segmenter ViT-T (12 blocks), converted by the command
    itself: it names configs/mita/'s config, which takes the file strictly
    and computes their forward."""
    torch.manual_seed(5)
    enc, dec = segmenter_encoder(), cbt_decoder()
    src = tmp_path / 'checkpoint.pth'
    torch.save(segmentation_checkpoint(enc, dec), src)
    res = subprocess.run([
        sys.executable,
        os.path.join(REPO, 'tools/model_converters', TOOL),
        str(src),
        str(tmp_path / 'ours.pth'), '--from', 'mita-segmenter'
    ],
                         capture_output=True,
                         text=True,
                         cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    config = 'configs/mita/mita-segmenter_vit-t16_8xb1-160k_ade20k-512x512.py'
    assert f'config: {config}' in res.stdout
    assert f'evaluate: python tools/test.py {config} {tmp_path / "ours.pth"}' in res.stdout
    _compare_segmenter(
        our_segmentor(config, tmp_path / 'ours.pth'), {
            **{
                f'encoder.{k}': v
                for k, v in enc.items()
            },
            **{
                f'decoder.{k}': v
                for k, v in dec.items()
            }
        })


@pytest.mark.slow
def test_deit_checkpoint_loads_into_the_shipped_config(tmp_path):
    """A full MiTA-DeiT-T (12 blocks) with their default routers: the
    converter names configs/mita/'s config, which takes the file strictly
    and computes their logits; other routers name none."""
    torch.manual_seed(6)
    sd = deit(depth=12)
    src = tmp_path / 'best_checkpoint.pth'
    torch.save(deit_checkpoint(sd), src)
    _, lines = convert(src, tmp_path / 'ours.pth', '--from', 'mita-deit')
    config = 'configs/mita/mita-deit-t_4xb256-300e_in1k.py'
    assert lines['config'] == config
    model = our_classifier(None, tmp_path / 'ours.pth', config)
    img = torch.randn(3, 224, 224, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(
            model(img[None], mode='tensor')[0], their_deit(img, as_double(sd)), **EXACT)
    _, lines = convert(src, tmp_path / 'other.pth', '--from', 'mita-deit', '--kv-topk', '4')
    assert lines['config'].startswith('none of configs/mita/mita-deit-t_*.py')


# --------------------------------------------------------------- refusals
def test_wrong_layouts_are_refused_by_file_and_key(tmp_path):
    torch.manual_seed(7)
    dst = tmp_path / 'out.pth'
    segmenter = tmp_path / 'segmenter.pth'
    torch.save(
        segmentation_checkpoint(segmenter_encoder(depth=1, grid=4), cbt_decoder()), segmenter)
    # a Segmenter checkpoint read as MiTA-DeiT: its keys are no timm ViT's
    message = refusal(segmenter, dst, '--from', 'mita-deit')
    assert message.startswith(f'error: {segmenter}: not a plain timm ViT; unexpected keys: ')
    assert "'decoder.cls_emb'" in message and message.endswith(' ...')  # the first 12, sorted

    # DeiT's weights read as MiTA-Segmenter: nothing is encoder.* / decoder.*
    deit_file = tmp_path / 'deit.pth'
    torch.save({'model': deit(depth=1)}, deit_file)
    message = refusal(deit_file, dst, '--from', 'mita-segmenter')
    assert message.startswith(f"error: {deit_file}: unexpected keys for a Segmenter-style "
                              "checkpoint (only 'encoder.*' and 'decoder.*'): ")
    assert "['blocks.0.attn.proj.bias', 'blocks.0.attn.proj.weight'," in message

    # the authors' CBT classifier (a CBSA model, not MiTA)
    cbt = tmp_path / 'cbt_small_best.pth.tar'
    torch.save(classifier_checkpoint(classifier(['CBSA'])), cbt)
    message = refusal(cbt, dst, '--from', 'mita-deit')
    assert f'{cbt}: not a plain timm ViT' in message and "'cls_token'" not in message
    assert "'mlp_head.1.weight', 'pos_embedding'" in message

    # a DEPICT decoder: the MiTA-Segmenter has the CBSA one only
    depict = tmp_path / 'depict.pth'
    torch.save(
        segmentation_checkpoint(segmenter_encoder(depth=1, grid=4), depict_decoder('sa')), depict)
    message = refusal(depict, dst, '--from', 'mita-segmenter')
    assert message == (f"error: {depict}: decoder is a depict-sa decoder; this source holds one "
                       "of ['cbt']")

    # a block's tensor missing, and a distilled DeiT's extra tensors
    sd = deit(depth=2)
    del sd['blocks.1.attn.proj.weight']
    torch.save(deit_checkpoint(sd), deit_file)
    message = refusal(deit_file, dst, '--from', 'mita-deit')
    assert 'blocks.1.attn.proj.weight is missing (shape [192, 192] in blocks.0.attn.proj.weight)' \
        in message
    sd = deit(depth=1)
    sd.update({'dist_token': torch.zeros(1, 1, 192), 'head_dist.weight': torch.zeros(1000, 192)})
    torch.save(deit_checkpoint(sd), deit_file)
    message = refusal(deit_file, dst, '--from', 'mita-deit')
    assert "unexpected keys: ['dist_token', 'head_dist.weight']" in message


def test_reads_stay_weights_only(tmp_path):
    """DeiT's options (an argparse.Namespace) are read; anything else
    pickled beside the tensors, even inside them, is refused by name."""
    src, dst = tmp_path / 'checkpoint.pth', tmp_path / 'out.pth'
    torch.save(deit_checkpoint(deit(depth=1), output_dir=pathlib.PurePosixPath('out')), src)
    message = refusal(src, dst, '--from', 'mita-deit')
    assert message.startswith(f'error: {src}: cannot be loaded as a weights-only checkpoint')
    assert 'pathlib.PurePosixPath' in message
    # the segmenter's read allows nothing more than the project's list
    torch.save({
        'model': deit_checkpoint(deit(depth=1))['model'],
        'args': argparse.Namespace()
    }, src)
    assert 'argparse.Namespace' in refusal(src, dst, '--from', 'mita-segmenter')


def test_options_of_the_other_source_are_refused(tmp_path):
    message, _ = run_tool(TOOL, tmp_path / 'a.pth', tmp_path / 'b.pth', '--from', 'mita-segmenter',
                          '--pool-size', '5')
    assert message == '2'  # argparse's exit status, its message on stderr
    message, _ = run_tool(TOOL, tmp_path / 'a.pth', tmp_path / 'b.pth')
    assert message == '2'  # --from is required: the layouts cannot tell
