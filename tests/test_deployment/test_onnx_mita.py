"""MiTA exports to ONNX with runtime sizes: its top-k, argmax and gathers run
in onnxruntime as in PyTorch, at any batch and patch grid (grids smaller than
the router grid and fewer tokens than top-k included)."""
import onnxruntime  # noqa: F401  (a test requirement: missing fails)
import pytest
import torch
from mmengine.config import Config

from mmseg_cbsa.apis.loading import build_model
from mmseg_cbsa.deployment import export_onnx, verify_onnx

#: 40x56 -> 5x7 patches; 8x16 -> 1x2 patches (2 routers, 3 keys of 6); a batch
#: of 2; 37x100 with partial patches, a grid the 2x3 routers do not divide
SIZES = [(40, 56), (8, 16), (2, 3, 40, 72), (37, 100), (96, 128)]


@pytest.mark.slow
def test_dynamic_export_of_mita_matches_pytorch(tmp_path, cbsa_scope):
    cfg = Config.fromfile('tests/data/configs/tiny_segmenter.py')
    cfg.merge_from_dict(
        dict(model=dict(backbone=dict(attn_cfg=dict(type='MiTA', pool_size=(2, 3), topk=6)))))
    model = build_model(cfg, seed=1).model
    assert type(model.backbone.blocks[0].attn).__name__ == 'MiTA'
    ckpt = tmp_path / 'mita.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    result = export_onnx(cfg, str(tmp_path / 'mita.onnx'), str(ckpt), dynamic=True, shape=(40, 56))
    for check in verify_onnx(model, result.path, SIZES):
        assert check.max_abs_diff <= 1e-4, str(check)
        assert check.disagreements == check.near_ties, str(check)
