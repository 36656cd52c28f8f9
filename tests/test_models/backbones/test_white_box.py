import pytest
import torch

from mmseg_cbsa.models import CBT, CRATE, CRATECBT, ToST

# paper Table 3, parameters at 224x224 with a 1000-class head (LN + Linear)
TABLE3 = [(CBT, 't', 1.8), (CBT, 's', 6.7), (CBT, 'b', 25.7), (CBT, 'l', 83.1), (CRATE, 'b', 22.8),
          (CRATE, 'l', 77.6)]


@pytest.mark.parametrize(
    'cls,arch,millions', TABLE3, ids=[f'{c.__name__}-{a}' for c, a, _ in TABLE3])
def test_parameter_counts_match_table3(cls, arch, millions):
    with torch.device('meta'):  # no memory or init cost for the large ones
        model = cls(arch=arch)
    d = model.embed_dims
    total = sum(p.numel() for p in model.parameters()) + d * 1000 + 1000
    assert abs(total / 1e6 - millions) / millions < 0.02, total


@pytest.mark.parametrize('cls', [CRATE, CBT, ToST, CRATECBT])
def test_white_box_shapes_and_structure(cls):
    kw = {} if cls in (CRATE, ToST) else dict(attn_cfg=dict(type='CBSA', rep_grid=2))
    model = cls(arch=(32, 4, 2), img_size=64, patch_size=16, out_indices=(1, 3), **kw)
    model.init_weights()
    outs = model(torch.randn(2, 3, 64, 96))
    assert [o.shape for o in outs] == [(2, 32, 4, 6)] * 2
    block = model.blocks[0]
    assert type(block.mlp).__name__ == 'ISTA' and not block.residual_ffn
    cls_out = cls(
        arch=(32, 2, 2), img_size=64, out_type='cls_token', **kw)(
            torch.randn(2, 3, 64, 64))
    assert cls_out[0].shape == (2, 32)


def test_hybrid_is_half_mssa_half_cbsa():
    kinds = [type(b.attn).__name__ for b in CRATECBT(arch=(32, 6, 2), img_size=64).blocks]
    assert kinds == ['MSSA'] * 3 + ['CBSA'] * 3


def test_ista_has_no_residual():
    from mmseg_cbsa.models.layers import ISTA
    ista = ISTA(8)
    ista.weight.data.zero_()
    x = torch.randn(3, 8)
    torch.testing.assert_close(ista(x), torch.relu(x - 0.01))


def test_legacy_pooling_shifts_the_grid_by_one_token():
    model = CBT(arch=(32, 1, 2), img_size=64, attn_cfg=dict(type='CBSA', rep_grid=2))
    legacy = CBT(
        arch=(32, 1, 2),
        img_size=64,
        attn_cfg=dict(type='CBSA', rep_grid=2),
        legacy_cls_pooling=True)
    legacy.load_state_dict(model.state_dict())
    model.eval(), legacy.eval()
    x = torch.randn(1, 3, 64, 64)
    assert legacy.patch_start == 0 and model.patch_start == 1
    assert not torch.allclose(model(x)[0], legacy(x)[0])


def test_registered_in_our_scope_and_built_from_mmseg_and_mmpretrain():
    """Registered only in the mmseg_cbsa scope: mmseg configs name them
    ``mmseg_cbsa.<Name>``, mmpretrain configs tag them ``_scope_``."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as PRETRAIN
    from mmseg.registry import MODELS as SEG

    from mmseg_cbsa.registry import MODELS as OURS
    for name in ('CRATE', 'CBT', 'ToST', 'CRATECBT'):
        cls = OURS.get(name)
        assert name in OURS.module_dict and name not in SEG.module_dict
        assert name not in PRETRAIN.module_dict
        assert SEG.get(f'mmseg_cbsa.{name}') is cls
        cfg = dict(type=name, arch='t', img_size=32, patch_size=16)
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            assert type(PRETRAIN.build(dict(cfg, _scope_='mmseg_cbsa'))) is cls
        with DefaultScope.overwrite_default_scope('mmseg'):
            assert type(SEG.build(dict(cfg, type=f'mmseg_cbsa.{name}'))) is cls
