"""Noise on attention projection weights (paper Fig. 8): the weight finder,
which asks each family layer for its projections, and the perturbation
(mmseg_cbsa/analysis/perturbation.py)."""
import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmseg_cbsa.analysis.perturbation import (attention_projection_weights, noise_sweep, perturb_,
                                              restore_, snapshot)
from mmseg_cbsa.models.attentions import ATTENTION_TYPES
from mmseg_cbsa.models.decode_heads import CBTHead
from mmseg_cbsa.models.layers.builder import build_layer

# what each member of the family projects with (nn.Linear weights, or the
# bare matrix of DEPICT's tied layer); biases, steps, gates never
FAMILY_PROJECTIONS = {
    'MHSA': {'qkv.weight', 'proj.weight'},
    'MSSA': {'qkv.weight', 'to_out.weight'},
    'TiedMSSA': {'proj'},
    'CBSA': {'proj.weight', 'to_out.weight'},
    'AgentAttention': {'proj.weight', 'to_out.weight'},
    'TSSA': {'qkv.weight', 'to_out.weight'},
    'LinearAttention': {'proj.weight', 'to_out.weight'},
    'DMSA': {'membership.weight', 'qkv.weight', 'to_out.weight'},
    'QKVCBSA': {'qkv.weight', 'proj.weight'},
    'QKVLinearAttention': {'qkv.weight', 'proj.weight'},
    'MiTA': {'qkv.weight', 'proj.weight'},
}


def _segmenter_head(num_layers=2):
    from mmseg.models.decode_heads import SegmenterMaskTransformerHead
    return SegmenterMaskTransformerHead(
        in_channels=16,
        channels=16,
        num_classes=3,
        num_layers=num_layers,
        num_heads=2,
        embed_dims=16)


def _cbt_head(num_layers=2):
    return CBTHead(
        in_channels=16,
        num_layers=num_layers,
        num_heads=2,
        head_dims=8,
        attn_cfg=dict(type='CBSA', rep_grid=2),
        num_classes=3)


# ---------------------------------------------------------------- the finder


def test_finder_covers_the_family_exactly():
    assert set(FAMILY_PROJECTIONS) == set(ATTENTION_TYPES)
    for name, expected in FAMILY_PROJECTIONS.items():
        layer = build_layer(dict(type=name, num_heads=2), embed_dims=16)
        found = attention_projection_weights(layer)
        assert set(found) == expected, name
        params = dict(layer.named_parameters())
        assert all(found[k] is params[k] and found[k].ndim == 2 for k in found)


def test_finder_in_cbt_head_takes_cbsa_proj_and_to_out_only():
    head = _cbt_head()
    found = attention_projection_weights(head, prefix='decode_head.')
    assert list(found) == [
        f'decode_head.layers.{i}.attn.{n}.weight' for i in range(2) for n in ('proj', 'to_out')
    ]
    params = dict(head.named_parameters(prefix='decode_head'))
    assert all(found[k] is params[k] for k in found)
    # the rest of the head: class embeddings, norms, step sizes, biases
    rest = set(params) - set(found)
    assert {
        'decode_head.cls_emb', 'decode_head.decoder_norm.weight', 'decode_head.mask_norm.weight',
        'decode_head.layers.0.attn.to_out.bias', 'decode_head.layers.0.attn.step_extract',
        'decode_head.layers.0.norm.weight'
    } <= rest


def test_finder_in_segmenter_head_takes_multihead_attention_only():
    found = attention_projection_weights(_segmenter_head())
    # not the FFN, dec_proj, patch_proj, classes_proj Linears nor biases/norms/cls_emb
    assert list(found) == [
        f'layers.{i}.attn.attn.{n}' for i in range(2) for n in ('in_proj_weight', 'out_proj.weight')
    ]
    assert found['layers.0.attn.attn.in_proj_weight'].shape == (48, 16)


def test_finder_separate_qkv_weights_and_whole_segmentor(cbsa_scope):
    mha = nn.MultiheadAttention(16, 2, kdim=8, vdim=8)
    assert set(attention_projection_weights(mha)) == {
        'q_proj_weight', 'k_proj_weight', 'v_proj_weight', 'out_proj.weight'
    }
    from mmseg_cbsa.registry import MODELS
    model = MODELS.build(Config.fromfile('tests/data/configs/tiny_cbt.py').model)
    head = attention_projection_weights(model.decode_head, prefix='decode_head.')
    everything = attention_projection_weights(model)
    assert set(everything) == set(head) | {
        'backbone.blocks.0.attn.qkv.weight', 'backbone.blocks.0.attn.proj.weight'
    }
    names = dict(model.named_parameters())
    assert all(everything[k] is names[k] for k in everything)  # state_dict names


# ---------------------------------------------------------- the perturbation


def test_sigma_zero_is_bit_identical_and_restore_gives_back_the_clean_weights():
    head = _cbt_head()
    before = {k: v.clone() for k, v in head.state_dict().items()}
    params = attention_projection_weights(head)
    perturb_(params, 0.0, torch.Generator().manual_seed(0))
    for k, v in head.state_dict().items():
        assert torch.equal(v, before[k]), k
    clean = snapshot(params)
    perturb_(params, 0.3, torch.Generator().manual_seed(0))
    after = head.state_dict()
    assert all(not torch.equal(after[k], before[k]) for k in params)
    assert all(torch.equal(after[k], before[k]) for k in before if k not in params)
    restore_(params, clean)
    for k, v in head.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize('mode', ['relative', 'absolute'])
def test_noise_std_is_as_specified(mode):
    big = nn.Linear(256, 512)  # 131k entries
    small = nn.Linear(256, 256)
    with torch.no_grad():
        big.weight.mul_(10)  # two different scales
    params = {'big': big.weight, 'small': small.weight}
    clean = snapshot(params)
    stds = perturb_(params, 0.2, torch.Generator().manual_seed(1), mode)
    for name, w in params.items():
        scale = clean[name].pow(2).mean().sqrt().item() if mode == 'relative' else 1.0
        assert stds[name] == pytest.approx(0.2 * scale)
        noise = w.detach() - clean[name]
        assert noise.mean().item() == pytest.approx(0, abs=0.02 * stds[name])
        assert noise.std().item() == pytest.approx(stds[name], rel=0.02)
    # a seed is a draw: the same seed repeats it, another one differs
    first = {k: v.detach().clone() for k, v in params.items()}
    restore_(params, clean)
    perturb_(params, 0.2, torch.Generator().manual_seed(1), mode)
    assert all(torch.equal(params[k], first[k]) for k in params)
    restore_(params, clean)
    perturb_(params, 0.2, torch.Generator().manual_seed(2), mode)
    assert not torch.equal(params['big'], first['big'])
    with pytest.raises(ValueError, match='noise mode'):
        perturb_(params, 0.1, torch.Generator(), 'percent')
    with pytest.raises(ValueError, match='>= 0'):
        perturb_(params, -1.0, torch.Generator())


def test_noise_sweep_repeats_and_restores():
    lin = nn.Linear(64, 64, bias=False)
    params = {'w': lin.weight}
    clean = lin.weight.detach().clone()
    calls = []

    def evaluate(sigma, repeat):
        dev = (lin.weight - clean).pow(2).mean().sqrt().item() / clean.pow(2).mean().sqrt().item()
        calls.append((sigma, repeat))
        return {'dev': dev}

    res = noise_sweep(params, evaluate, [0, 0.5, 2.0], repeats=3, seed=4)
    assert calls == [(0, 0), (0.5, 0), (0.5, 1), (0.5, 2), (2.0, 0), (2.0, 1), (2.0, 2)]
    assert [r['noise'] for r in res] == [0, 0.5, 2.0]
    assert res[0]['dev'] == {'mean': 0.0, 'std': 0.0}
    for r, sigma in zip(res[1:], (0.5, 2.0)):
        assert len(r['values']) == 3 and r['dev']['std'] > 0
        assert r['dev']['mean'] == pytest.approx(sigma, rel=0.05)  # relative noise
    # the same draw at every level: the relative deviations scale by 4 exactly
    assert [v['dev']
            for v in res[2]['values']] == pytest.approx([4 * v['dev'] for v in res[1]['values']],
                                                        rel=1e-5)
    assert torch.equal(lin.weight, clean)

    def failing(sigma, repeat):
        raise RuntimeError('test loop failed')

    with pytest.raises(RuntimeError):
        noise_sweep(params, failing, [0.5])
    assert torch.equal(lin.weight, clean)  # restored after errors too


# ------------------------------------------- what each kind of model gets

SEGMENTOR = 'configs/quickstart/cbt_vit-t8_1xb8-1k_mini-ade20k-128x128.py'
CLASSIFIER = 'configs/classification/cbt-s_8xb32-lion-150e_in1k.py'
FINETUNE = 'configs/finetune/cbt-s_in1k-pre_1xb50-400e_cifar10.py'
PROBE = 'configs/zero_shot/cbt-s_in1k_voc12-zero-shot.py'


@pytest.mark.parametrize('config, scope, metric', [
    (SEGMENTOR, 'head', 'mIoU'),
    (CLASSIFIER, 'all', 'accuracy/top1'),
    (FINETUNE, 'all', 'accuracy/top1'),
    (PROBE, 'all', 'zero_shot/foreground/best'),
])
def test_default_scope_and_metric_follow_the_kind_of_model(config, scope, metric, repo_root,
                                                           monkeypatch):
    from mmseg_cbsa.analysis.perturbation import resolve_noise_settings
    monkeypatch.chdir(repo_root)
    assert resolve_noise_settings([config]) == ([scope], metric)
    # what is given is kept: --scope all perturbs a segmentor's encoder too
    assert resolve_noise_settings([config], scope='all', metric='aAcc') == (['all'], 'aAcc')


def test_settings_that_cannot_be_decided(repo_root, monkeypatch):
    from mmseg_cbsa.analysis.applicability import NotApplicable
    from mmseg_cbsa.analysis.perturbation import resolve_noise_settings
    monkeypatch.chdir(repo_root)
    with pytest.raises(NotApplicable, match='ImageClassifier has none; --scope all perturbs'):
        resolve_noise_settings([SEGMENTOR, CLASSIFIER], scope='head')
    with pytest.raises(ValueError, match='judged by different metrics'):
        resolve_noise_settings([SEGMENTOR, PROBE])
    # with the metric given, a mixed run is the user's call
    assert resolve_noise_settings([SEGMENTOR, PROBE], metric='x') == (['head', 'all'], 'x')
    with pytest.raises(
            ValueError,
            match="no default metric for the test evaluator "
            "'CityscapesMetric'.*give --metric"):
        resolve_noise_settings([SEGMENTOR], {'test_evaluator.type': 'CityscapesMetric'})


def test_noise_table_digits_follow_the_metric_scale():
    from mmseg_cbsa.analysis.perturbation import format_noise_table

    def model(label, *means):
        return dict(
            label=label,
            results=[dict(noise=s, values=[{}], m=dict(mean=v, std=0)) for s, v in means])

    assert '| 0.1 | 87.12 |' in format_noise_table([model('a', (0.1, 87.123))], 'm')
    assert '| 0.1 | 0.5123 |' in format_noise_table([model('a', (0.1, 0.51234))], 'm')
