"""SegmenterHead: mmseg's Segmenter mask transformer with Segmenter's initialisation."""
import torch
from mmseg.models.decode_heads import SegmenterMaskTransformerHead

from mmseg_cbsa.models import SegmenterHead

ARGS = dict(in_channels=64, channels=64, num_layers=2, num_heads=2, embed_dims=64, num_classes=5)


def test_initialised_as_segmenter():
    torch.manual_seed(0)
    head = SegmenterHead(**ARGS)
    head.init_weights()
    for proj in (head.patch_proj, head.classes_proj):  # N(0, 1/d): std 0.125
        assert 0.1 < float(proj.weight.std()) < 0.15
    qkv = [m for m in head.modules() if isinstance(m, torch.nn.MultiheadAttention)]
    assert len(qkv) == 2
    for m in qkv:  # trunc-normal 0.02, not xavier-uniform (std 0.088 here)
        assert 0.015 < float(m.in_proj_weight.std()) < 0.025
        assert torch.count_nonzero(m.in_proj_bias) == 0


def test_same_layers_and_forward_as_mmsegs_head():
    torch.manual_seed(0)
    mmseg_head = SegmenterMaskTransformerHead(**ARGS).eval()
    ours = SegmenterHead(**ARGS).eval()
    ours.load_state_dict(mmseg_head.state_dict(), strict=True)
    x = [torch.randn(1, 64, 4, 6)]
    torch.testing.assert_close(ours(x), mmseg_head(x), rtol=0, atol=0)
