import os

import pytest
import torch

from mmseg_cbsa.models import ViT


def test_output_is_final_norm_patch_map_for_any_size():
    vit = ViT(arch=(32, 2, 2), img_size=64, patch_size=8)
    vit.init_weights()
    (out, ) = vit(torch.randn(2, 3, 40, 72))
    assert out.shape == (2, 32, 5, 9)
    # not a multiple of the patch size: padded at the bottom/right
    (out, ) = vit(torch.randn(1, 3, 41, 70))
    assert out.shape == (1, 32, 6, 9)
    # final LayerNorm: every token has zero mean over channels
    torch.testing.assert_close(out.mean(1), torch.zeros(1, 6, 9), atol=1e-5, rtol=0)


def test_out_indices_and_unknown_arch():
    vit = ViT(arch=(32, 3, 2), img_size=32, patch_size=8, out_indices=(0, -1))
    assert vit.out_indices == [0, 2]
    assert len(vit(torch.randn(1, 3, 32, 32))) == 2
    with pytest.raises(ValueError, match="unknown arch 'huge'"):
        ViT(arch='huge')


def test_position_embedding_resized_on_load():
    src = ViT(arch=(32, 1, 2), img_size=32, patch_size=8)  # 4x4 grid
    dst = ViT(arch=(32, 1, 2), img_size=64, patch_size=8, interpolate_mode='bilinear')
    dst.load_state_dict(src.state_dict())
    assert dst.pos_embed.shape == (1, 1 + 64, 32)
    # loading then running at 64 equals running the source at 64
    x = torch.randn(1, 3, 64, 64)
    src.interpolate_mode = 'bilinear'
    torch.testing.assert_close(dst(x)[0], src(x)[0])


def test_any_attention_of_the_family_can_be_swapped_in():
    vit = ViT(
        arch=(32, 2, 2),
        img_size=64,
        patch_size=8,
        attn_cfg=dict(type='CBSA', head_dims=16, rep_grid=4))
    assert type(vit.blocks[0].attn).__name__ == 'CBSA'
    assert vit(torch.randn(1, 3, 64, 48))[0].shape == (1, 32, 8, 6)


import timm  # noqa: E402  (a test requirement, never skipped)


@pytest.mark.parametrize('name,size', [('vit_tiny_patch16_224', (224, 224)),
                                       ('vit_tiny_patch16_384', (384, 384))])
@pytest.mark.slow
def test_converted_timm_weights_give_timm_features(tmp_path, repo_root, name, size):
    import subprocess
    import sys
    model = timm.create_model(name, pretrained=False).eval()
    src, dst = tmp_path / 'timm.pth', tmp_path / 'vit.pth'
    torch.save(model.state_dict(), src)
    subprocess.run([
        sys.executable,
        os.path.join(repo_root, 'tools/model_converters/timm_vit2mmseg.py'),
        str(src),
        str(dst)
    ],
                   check=True,
                   capture_output=True)
    vit = ViT(arch='t', img_size=size[0], patch_size=16).eval()  # timm's eps/bicubic
    state = torch.load(dst, weights_only=True)['state_dict']
    assert vit.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        ref = model.forward_features(x)[:, 1:]  # final-norm patch tokens
        (ours, ) = vit(x)
    h, w = size[0] // 16, size[1] // 16
    torch.testing.assert_close(
        ours, ref.transpose(1, 2).reshape(2, 192, h, w), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_converter_refuses_unknown_layouts(tmp_path, repo_root):
    import subprocess
    import sys
    model = timm.create_model(
        'vit_tiny_patch16_224', pretrained=False, reg_tokens=4, no_embed_class=True)
    src = tmp_path / 'reg.pth'
    torch.save(model.state_dict(), src)
    res = subprocess.run([
        sys.executable,
        os.path.join(repo_root, 'tools/model_converters/timm_vit2mmseg.py'),
        str(src),
        str(tmp_path / 'out.pth')
    ],
                         capture_output=True,
                         text=True)
    assert res.returncode != 0
    assert "unexpected keys: ['reg_token']" in res.stderr
    assert not (tmp_path / 'out.pth').exists()
