"""Layers that extract representatives are found by what they declare and
what their maps carry, not by class: a ViT's adapted QKVCBSA blocks are
recorded by the attention recorder and the rank study, and the Fig. 6
per-subspace measurement names them as not measurable (their maps carry no
subspace tokens) instead of failing."""
import cv2
import numpy as np
import torch
from torch import nn

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.analysis.attention_maps import AttentionRecorder
from mmseg_cbsa.analysis.coding_rate import SubspaceReductionRecorder
from mmseg_cbsa.analysis.extraction_hooks import extracts_representatives
from mmseg_cbsa.analysis.model_coding_rate import measure_coding_rate
from mmseg_cbsa.analysis.rep_rank import ExtractionRankRecorder
from mmseg_cbsa.models import ViT
from mmseg_cbsa.models.backbones.white_box import CBT

QKV = dict(type='QKVCBSA', rep_grid=2)


class _Segmentor(nn.Module):

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone


def _adapted_vit():
    torch.manual_seed(0)
    return ViT(arch=(16, 2, 2), img_size=32, patch_size=8, attn_cfg=[None, QKV]).eval()


def test_the_layers_declare_themselves():
    vit = _adapted_vit()
    assert [extracts_representatives(b.attn) for b in vit.blocks] == [False, True]
    cbt = CBT(arch=(16, 1, 2), img_size=32, patch_size=8, attn_cfg=dict(type='CBSA', rep_grid=2))
    assert extracts_representatives(cbt.blocks[0].attn)


def test_attention_recorder_and_rank_study_see_qkv_cbsa():
    vit = _adapted_vit()
    img = torch.randn(1, 3, 32, 48)
    seen = []
    vit.blocks[1].attn.register_attention_hook(lambda m, maps: seen.append(maps.extraction))
    with torch.no_grad(), AttentionRecorder(_Segmentor(vit), record_cls=False) as rec, \
            ExtractionRankRecorder(vit) as ranks:
        vit(img)
    (ext, ) = rec.extractions
    assert (ext.name, ext.type, ext.rep_grid, ext.patch_start) == ('backbone.blocks.1.attn',
                                                                   'QKVCBSA', (2, 2), 1)
    assert ext.maps.shape == (1, 2, 4, 4, 6)  # (B, K, m, h, w)
    a = seen[-1]  # the layer's own A
    torch.testing.assert_close(ext.maps.flatten(-2), a[..., 1:])
    torch.testing.assert_close(ext.other_mass, a[..., 0])
    (rank, ) = ranks.records
    assert (rank.name, rank.type, rank.num_representatives, rank.num_tokens) == ('blocks.1.attn',
                                                                                 'QKVCBSA', 4, 25)
    expected = torch.linalg.matrix_rank(a.double(), rtol=rank.rtol)
    assert torch.equal(rank.rank, expected)


def test_fig6_measurement_names_the_layer_it_cannot_measure():
    cbt = CBT(
        arch=(16, 2, 2), img_size=32, patch_size=8, attn_cfg=[dict(type='CBSA', rep_grid=2),
                                                              QKV]).eval()
    with torch.no_grad(), SubspaceReductionRecorder(cbt) as rec:
        cbt(torch.randn(1, 3, 32, 32))
    assert [r.name for r in rec.records] == ['blocks.0.attn']
    assert rec.unmeasured == {
        'blocks.1.attn':
        'QKVCBSA: its attention maps carry no '
        'projected, representatives, rep_update'
    }


def test_coding_rate_tool_reports_qkv_cbsa_as_not_measured(tmp_path, capsys):
    folder = tmp_path / 'images'
    folder.mkdir()
    cv2.imwrite(
        str(folder / 'a.png'),
        np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    out = tmp_path / 'out'
    result = measure_coding_rate(
        'tests/data/configs/tiny_cbt.py', [str(folder / 'a.png')],
        str(out),
        per_subspace=True,
        cfg_options={'model.decode_head.attn_cfg': QKV})
    assert result['subspaces'] == [] and result['subspace_correlation'] is None
    assert result['subspaces_not_measured'] == {
        'decode_head.layers.0.attn':
        'QKVCBSA: its attention maps carry no projected, '
        'representatives, rep_update'
    }
    assert 'not measured for decode_head.layers.0.attn (QKVCBSA' in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        'coding_rate.csv', 'coding_rate.json', 'coding_rate.png'
    ]
