"""ViT-to-CBSA adaptation (paper Fig. 9): a small timm ViT converted by
tools/model_converters/vit2cbsa.py loads completely into this project's ViT
classifier; the blocks left MHSA compute what timm's blocks compute, and the
adapted blocks compute the authors' adapted attention from the pretrained
projections."""
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as CLS_MODELS

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.converters.vit_adaptation import ADAPTATIONS, adapted_attention, convert_vit_to_cbsa
from mmseg_cbsa.utils.checkpoint import extract_state_dict, load_checkpoint_file
from mmseg_cbsa.utils.checkpoint_fit import load_state_dict_checked
from tests.cli import run_python
from tests.test_converters.sources import timm_vit as tiny_timm_vit

D, HEADS, DEPTH, CLASSES = 192, 3, 3, 5  # ViT-T's width (heads are read off it)
P = D // HEADS


@pytest.fixture(scope='module')
def timm_vit():
    torch.manual_seed(0)
    return tiny_timm_vit(img_size=32, depth=DEPTH, num_classes=CLASSES)


@pytest.fixture(scope='module')
def timm_file(timm_vit, tmp_path_factory):
    path = tmp_path_factory.mktemp('timm') / 'vit.pth'
    torch.save(timm_vit.state_dict(), path)
    return str(path)


def _load(path):
    return extract_state_dict(load_checkpoint_file(path), path)


def _classifier(info):
    """The adapted classifier, built from the converter's backbone config
    (one ``attn_cfg`` per block when ``--blocks`` chose some)."""
    cfg = dict(
        type='ImageClassifier',
        backbone=info['backbone'],
        head=dict(type='LinearClsHead', num_classes=CLASSES, in_channels=D))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return CLS_MODELS.build(cfg).eval()


def _block_io(model, img):
    """(input, output) of each block of the adapted backbone."""
    seen = []
    hooks = [
        b.register_forward_hook(lambda m, a, out: seen.append((a[0], out)))
        for b in model.backbone.blocks
    ]
    with torch.no_grad():
        model(img, mode='tensor')
    for h in hooks:
        h.remove()
    return seen


def _authors_attention(attn, x, variant, grid=(2, 2)):
    """The adapted attention written out on timm's own attention module:
    queries pooled to the representatives, which extract from keys / values,
    (updated and contracted), broadcast by the queries; or the ReLU-kernel
    linear attention. [CLS] first, 4 x 4 patches after it."""
    b, n, _ = x.shape
    q, k, v = (t.reshape(b, n, HEADS, P).transpose(1, 2) for t in attn.qkv(x).split(D, -1))

    def softmax_attention(query, key, value):
        return torch.softmax(query @ key.transpose(-1, -2) * P**-0.5, -1) @ value

    if variant == 'linear':
        q, k = torch.relu(q) + 1e-6, torch.relu(k) + 1e-6
        z = 1 / (q @ k.mean(-2, keepdim=True).transpose(-1, -2) + 1e-6)
        out = q @ ((k.transpose(-1, -2) * n**-0.5) @ (v * n**-0.5)) * z
    else:
        patches = q[:, :, 1:].reshape(b, HEADS, 4, 4, P).permute(0, 1, 4, 2, 3)
        r = torch.nn.functional.adaptive_avg_pool2d(patches.reshape(b, D, 4, 4), grid)
        r = r.reshape(b, HEADS, P, -1).transpose(-1, -2)
        delta = softmax_attention(r, k, v)
        if variant == 'cbsa':
            r = r + delta
            delta = softmax_attention(r, r, r)
        out = softmax_attention(q, r, delta)
    return attn.proj(out.transpose(1, 2).reshape(b, n, D))


def test_every_pretrained_tensor_is_kept_and_loaded(timm_vit, timm_file):
    state = _load(timm_file)
    converted, info = convert_vit_to_cbsa(state, timm_file, rep_grid=2)
    renamed = {('head.fc.' + k[5:] if k.startswith('head.') else 'backbone.' + k): k for k in state}
    assert set(converted) == set(renamed)  # nothing dropped, nothing added
    for new, old in renamed.items():
        assert torch.equal(converted[new], state[old]), new
    assert info['adapted'] == list(range(DEPTH)) and info['num_classes'] == CLASSES
    assert info['reused'] == sorted(f'blocks.{i}.attn.{n}.{t}' for i in range(DEPTH)
                                    for n in ('qkv', 'proj') for t in ('weight', 'bias'))
    model = _classifier(info)
    assert load_state_dict_checked(model, converted, 'converted') == ([], [], [], [])
    loaded = model.state_dict()
    assert set(loaded) == set(converted)
    assert all(torch.equal(loaded[k], converted[k]) for k in converted)
    assert {type(b.attn).__name__ for b in model.backbone.blocks} == {'QKVCBSA'}


def test_same_layout_with_mhsa_gives_timms_logits(timm_vit, timm_file):
    converted, info = convert_vit_to_cbsa(_load(timm_file), timm_file)
    info['backbone']['attn_cfg'] = dict(type='MHSA')
    model = _classifier(info)
    load_state_dict_checked(model, converted, 'converted')
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(img, mode='tensor'), timm_vit(img), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('variant', list(ADAPTATIONS))
def test_mhsa_blocks_unchanged_and_adapted_block_is_the_authors_attention(
        timm_vit, timm_file, variant):
    converted, info = convert_vit_to_cbsa(
        _load(timm_file), timm_file, variant, blocks=[1], rep_grid=2)
    assert info['adapted'] == [1]
    assert [c['type'] for c in info['backbone']['attn_cfg']] == \
        ['MHSA', ADAPTATIONS[variant]['type'], 'MHSA']
    model = _classifier(info)
    load_state_dict_checked(model, converted, 'converted')
    img = torch.randn(2, 3, 32, 32)
    io = _block_io(model, img)
    with torch.no_grad():
        tokens = timm_vit._pos_embed(timm_vit.patch_embed(img))
        torch.testing.assert_close(io[0][0], tokens)  # same embedding
        for i, (x, out) in enumerate(io):
            ref_block = timm_vit.blocks[i]
            if i != 1:  # MHSA left as it is: timm's block on the same input
                expected = ref_block(x)
            else:  # the pretrained projections in the authors' formula
                h = x + _authors_attention(ref_block.attn, ref_block.norm1(x), variant)
                expected = h + ref_block.mlp(ref_block.norm2(h))
            torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
        # the adapted block computes something else than MHSA would
        assert not torch.allclose(io[1][1], timm_vit.blocks[1](io[1][0]), atol=1e-3)


@pytest.mark.slow
def test_tool_writes_a_loadable_checkpoint(timm_file, tmp_path, repo_root):
    dst = tmp_path / 'adapted.pth'
    res = run_python(repo_root, 'tools/model_converters/vit2cbsa.py', timm_file, dst, '--variant',
                     'cbsa-no-contraction', '--rep-grid', '2', '--drop-head')
    assert f'adapted blocks (cbsa-no-contraction): {list(range(DEPTH))}' in res.stdout
    assert 'reusing 12 pretrained attention tensors' in res.stdout
    assert 'head: none' in res.stdout
    state = _load(str(dst))
    assert not any(k.startswith('head.') for k in state)
    assert sum(k.startswith('backbone.') for k in state) == len(_load(timm_file)) - 2


@pytest.mark.parametrize('kind', ['mmpretrain', 'mmseg'])
def test_openmmlab_vits_convert_to_the_same_model(kind):
    """An mmpretrain / mmseg ViT, renamed, computes the same [CLS] feature in
    this project's ViT (MHSA) as in its own library."""
    common = dict(
        img_size=32,
        patch_size=8,
        qkv_bias=True,
        final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6))
    if kind == 'mmpretrain':
        from mmpretrain.models.backbones import VisionTransformer
        src = VisionTransformer(
            arch=dict(embed_dims=D, num_layers=2, num_heads=HEADS, feedforward_channels=4 * D),
            out_type='cls_token',
            **common)
    else:
        from mmseg.models.backbones import VisionTransformer
        src = VisionTransformer(
            embed_dims=D,
            num_layers=2,
            num_heads=HEADS,
            mlp_ratio=4,
            patch_bias=True,
            with_cls_token=True,
            output_cls_token=True,
            **common)
    src.eval()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    converted, info = convert_vit_to_cbsa(state, kind, 'cbsa')
    assert info['num_classes'] is None and len(converted) == len(state)
    info['backbone']['attn_cfg'] = dict(type='MHSA')
    model = _classifier(info)
    load_state_dict_checked(model, {
        **converted,
        **{
            k: v
            for k, v in model.state_dict().items() if k.startswith('head.')
        }
    }, kind)
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        mine = model.backbone(img)[0]
        theirs = src(img)[-1]
        theirs = theirs[-1] if kind == 'mmseg' else theirs
    torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)


def test_unknown_tensors_and_bad_choices_are_refused(timm_file):
    state = _load(timm_file)
    with pytest.raises(KeyError, match=r"unexpected keys: \['blocks.0.ls1.gamma'\]"):
        convert_vit_to_cbsa({**state, 'blocks.0.ls1.gamma': torch.ones(D)}, 'x.pth')
    with pytest.raises(KeyError, match=r"x.pth: the head reads \['fc_norm.bias', 'fc_norm.weight'"):
        convert_vit_to_cbsa(
            {
                **state, 'fc_norm.weight': torch.ones(D),
                'fc_norm.bias': torch.zeros(D)
            }, 'x.pth')
    with pytest.raises(ValueError, match="unknown adaptation 'agent'"):
        adapted_attention('agent', DEPTH)
    with pytest.raises(ValueError, match='must name blocks of a 3-block ViT'):
        adapted_attention('cbsa', DEPTH, blocks=[3])
    assert adapted_attention('linear', DEPTH, blocks=[0, 1, -1]) == dict(type='QKVLinearAttention')
