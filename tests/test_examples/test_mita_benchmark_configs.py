"""configs/mita/benchmark/: three ViT-S/16 encoders that differ in their attention
only (SDPA, CBSA, MiTA at the authors' defaults), the cases of the MiTA
benchmark in docs/mita.md ("Measured here")."""
import copy
import os
from typing import Dict

import pytest
import torch
from mmengine.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, 'configs', 'mita', 'benchmark')
PATHS = {
    name: os.path.join(BENCH, f'deit-s_{name}_4xb256-300e_in1k.py')
    for name in ('sdpa', 'cbsa', 'mita')
}
ATTENTION = {'sdpa': 'MHSA', 'cbsa': 'CBSA', 'mita': 'MiTA'}


def _without_attention(cfg: Config) -> Dict:
    """The config as a plain dict, the encoder's ``attn_cfg`` removed."""
    d = copy.deepcopy(cfg.to_dict())
    d['model']['backbone'].pop('attn_cfg')
    return d


def test_the_configs_differ_in_the_attention_only() -> None:
    cfgs = {name: Config.fromfile(p) for name, p in PATHS.items()}
    rest = [_without_attention(c) for c in cfgs.values()]
    assert rest[0] == rest[1] == rest[2]
    backbone = cfgs['mita'].model.backbone
    # ViT-S (384 wide, 12 blocks, 6 heads from the arch; patches of 16, the default)
    assert (backbone.type, backbone.arch) == ('ViT', 's')
    assert cfgs['mita'].model.head.in_channels == 384
    # MiTA at the authors' MiTA-DeiT defaults, as configs/mita/'s classifier
    deit_t = Config.fromfile(
        os.path.join(REPO, 'configs', 'mita', 'mita-deit-t_4xb256-300e_in1k.py'))
    assert backbone.attn_cfg == deit_t.model.backbone.attn_cfg == [
        dict(type='MiTA', pool_size=5, topk=25, router_scale='code', qkv_bias=True)
    ] * 12
    assert cfgs['sdpa'].model.backbone.attn_cfg is None  # the ViT's MHSA
    # CBSA at the authors' CBT default: 8x8 representatives
    assert cfgs['cbsa'].model.backbone.attn_cfg == dict(type='CBSA', rep_grid=8)


@pytest.mark.parametrize('name', sorted(PATHS))
def test_encoder_builds_with_its_attention_and_runs_any_size(name) -> None:
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    import mmseg_cbsa  # noqa: F401  (registers the encoder and the attentions)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(Config.fromfile(PATHS[name]).model).eval()
    blocks = model.backbone.blocks
    assert [type(b.attn).__name__ for b in blocks] == [ATTENTION[name]] * 12
    assert {b.attn.num_heads for b in blocks} == {6}
    assert (model.backbone.embed_dims, model.backbone.patch_size) == (384, 16)
    # MiTA has MHSA's parameters exactly: the same state dict layout
    if name != 'cbsa':
        shapes = {k: v.shape for k, v in model.state_dict().items()}
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            other = MODELS.build(Config.fromfile(PATHS['sdpa' if name == 'mita' else 'mita']).model)
        assert shapes == {k: v.shape for k, v in other.state_dict().items()}
    # the benchmark feeds square images other than 224: the position embedding
    # is resized (here a 6 x 8 patch grid, larger than MiTA's 5 x 5 routers)
    with torch.no_grad():
        (cls, ) = model.backbone(torch.randn(1, 3, 96, 128))
    assert cls.shape == (1, 384) and torch.isfinite(cls).all()


def test_benchmark_times_the_encoder_of_each_config(cbsa_scope) -> None:
    from mmseg_cbsa.apps.benchmark import build_case
    for name, path in PATHS.items():
        module, (img, ), tokens = build_case(
            dict(kind='config', config=path, part='backbone', size=100))
        # ceil(100 / 16) = 7 patches a side
        assert img.shape == (1, 3, 100, 100) and tokens == 49
        assert type(module.blocks[0].attn).__name__ == ATTENTION[name]
