"""CBSA's initial representatives (``rep_init``): pooled (the default,
unchanged) and learned (paper Appendix A), through the layer, a CBT head,
half precision and ONNX export."""
import math

import pytest
import torch
from mmengine.config import Config

from mmseg_cbsa.models.attentions import CBSA


def pooled_forward_written_out(layer: CBSA, x, hw, patch_start):
    """The float32 forward of the pooled path, the one ``rep_init='pool'``
    must leave as it was, written out op by op with the layer's own kernels:
    the separable averaging-matrix pooling of the patch tokens, E and r, the
    extraction step, SDPA for the contraction and the folded ``to_out`` as one
    ``baddbmm``. On any one machine the same ops on the same shapes run the
    same kernels, so the layer must equal it bit for bit; a stored output
    would not (CPU kernels differ between machines)."""
    b, n, d = x.shape
    K, p = layer.num_heads, layer.head_dims
    (h, w_), (rh, rw) = hw, (min(layer.rep_grid[0], hw[0]), min(layer.rep_grid[1], hw[1]))

    def averaging(size, out):  # adaptive pooling's bins [floor(i s/o), ceil((i+1) s/o))
        cells = torch.zeros(out, size)
        for i in range(out):
            cells[i, (i * size) // out:math.ceil((i + 1) * size / out)] = 1
        return cells / cells.sum(1, keepdim=True)

    w = torch.nn.functional.linear(x, layer.proj.weight)
    patches = w[:, patch_start:patch_start + h * w_].unflatten(1, (h, w_))
    rows = torch.matmul(averaging(h, rh), patches.flatten(2)).unflatten(2, (w_, -1))
    q0 = torch.matmul(averaging(w_, rw), rows).flatten(1, 2)
    q0 = q0.view(b, rh * rw, K, p).transpose(1, 2)
    w = w.view(b, n, K, p).transpose(1, 2)
    logits = (q0 * layer.scale) @ w.transpose(-1, -2)
    e = logits.sub_(logits.amax(-1, keepdim=True)).exp_()
    r = e.sum(-1, keepdim=True).reciprocal()
    q = q0 + layer.step_extract * ((e @ w) * r)
    c = torch.nn.functional.scaled_dot_product_attention(q, q, q, scale=layer.scale) * r
    u = layer.to_out.weight.view(d, K, p)
    right = torch.einsum('bkmp,dkp->bkmd', layer.step_broadcast * c, u).reshape(b, K * rh * rw, -1)
    coeff = e.reshape(b, K * rh * rw, -1).transpose(1, 2)
    return torch.baddbmm(layer.to_out.bias.expand(b, n, d), coeff, right)


@pytest.mark.parametrize('kwargs', [{}, dict(rep_init='pool')])
@pytest.mark.parametrize(
    'dims,heads,grid,batch,hw,patch_start,extra',
    [
        (8, 2, 2, 1, (3, 3), 1, 0),  # [CLS] first, overlapping 3 -> 2 bins
        (32, 4, (3, 4), 2, (7, 5), 0, 3),  # class embeddings after the patches
        (16, 2, 4, 2, (2, 9), 1, 0),  # a patch grid smaller than the representative grid
    ])
def test_pool_is_bit_identical_to_before(kwargs, dims, heads, grid, batch, hw, patch_start, extra):
    torch.manual_seed(0)
    layer = CBSA(dims, num_heads=heads, head_dims=4, rep_grid=grid, **kwargs)
    x = torch.randn(batch, hw[0] * hw[1] + patch_start + extra, dims)
    with torch.no_grad():
        out = layer(x, hw, patch_start)
        expected = pooled_forward_written_out(layer, x, hw, patch_start)
    assert torch.equal(out, expected)
    assert layer.rep_init == 'pool'
    assert sorted(layer.state_dict()) == [
        'proj.weight', 'step_broadcast', 'step_extract', 'to_out.bias', 'to_out.weight'
    ]


def reference_learned(layer: CBSA, x):
    """Eq. 8 with Q_0 the learned (K, m, p) representatives, head by head."""
    K, p = layer.num_heads, layer.head_dims
    outs = []
    for b in range(x.shape[0]):
        w = x[b] @ layer.proj.weight.T
        delta = []
        for k in range(K):
            wk, q0 = w[:, k * p:(k + 1) * p], layer.representatives[k]
            a = torch.softmax(q0 @ wk.T / math.sqrt(p), dim=1)
            q = q0 + layer.step_extract[k, 0, 0] * (a @ wk)
            c = torch.softmax(q @ q.T / math.sqrt(p), dim=1) @ q
            delta.append(layer.step_broadcast[k, 0, 0] * (a.T @ c))
        outs.append(torch.cat(delta, 1) @ layer.to_out.weight.T + layer.to_out.bias)
    return torch.stack(outs)


@pytest.mark.parametrize('hw,extra', [((4, 6), 3), ((2, 2), 1)])  # m = 6 > 4 patches too
def test_learned_matches_reference_and_knows_its_count(hw, extra):
    layer = CBSA(16, num_heads=2, head_dims=4, rep_grid=(2, 3), rep_init='learned')
    assert layer.representatives.shape == (2, 6, 4)
    assert layer.num_representatives == 6
    assert layer.num_representatives_for(hw) == 6 and layer.rep_grid_for(hw) == (2, 3)
    assert layer.num_similarities(30, 30, hw) == 2 * (6 * 30 + 21)
    n = hw[0] * hw[1] + extra
    x = torch.randn(2, n, 16)
    seen = []
    layer.register_attention_hook(lambda m, maps: seen.append(maps))
    out = layer(x, hw, 1)
    torch.testing.assert_close(out, reference_learned(layer, x), rtol=1e-4, atol=1e-5)
    (maps, ) = seen
    assert maps.rep_init == 'learned' and maps.rep_grid == (2, 3)
    assert maps.extraction.shape == (2, 2, 6, n)
    assert "rep_init='learned'" in repr(layer)


def test_learned_representatives_do_not_depend_on_the_input_and_train():
    layer = CBSA(16, num_heads=2, head_dims=4, rep_grid=2, rep_init='learned')
    w = layer.proj(torch.randn(3, 17, 16))
    q0 = layer.init_representatives(w, (4, 4), 1)
    assert q0.shape == (3, 2, 4, 4)
    assert torch.equal(q0[0], layer.representatives) and torch.equal(q0[2], q0[0])
    layer(torch.randn(2, 17, 16), (4, 4), 1).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_rep_init_is_refused():
    with pytest.raises(
            ValueError, match=r"rep_init must be one of \('pool', 'learned'\), got 'zeros'"):
        CBSA(16, num_heads=2, rep_init='zeros')
    with pytest.raises(ValueError, match='detach_init would stop learned'):
        CBSA(16, num_heads=2, rep_init='learned', detach_init=True)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_learned_in_half_precision(dtype):
    layer = CBSA(16, num_heads=2, head_dims=4, rep_grid=2, rep_init='learned')
    x = torch.randn(2, 17, 16)
    with torch.no_grad():
        ref = layer(x, (4, 4), 1)
        with torch.autocast('cpu', dtype=dtype):
            auto = layer(x, (4, 4), 1)
        half = layer.to(dtype)(x.to(dtype), (4, 4), 1)
    assert half.dtype == dtype
    for out in (auto, half):
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)


LEARNED_HEAD = {'model.decode_head.attn_cfg': dict(type='CBSA', rep_init='learned', rep_grid=3)}


def _tiny_learned_segmentor():
    from mmseg_cbsa.apis.loading import build_model
    cfg = Config.fromfile('tests/data/configs/tiny_cbt.py')
    cfg.merge_from_dict(LEARNED_HEAD)
    return cfg, build_model(cfg, seed=1).model


def test_cbt_head_with_learned_representatives_trains_one_step(cbsa_scope, repo_root, monkeypatch):
    from mmengine.optim import OptimWrapper
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    monkeypatch.chdir(repo_root)
    _, model = _tiny_learned_segmentor()
    attn = model.decode_head.layers[0].attn
    assert attn.rep_init == 'learned' and attn.representatives.shape == (2, 9, 8)
    model.train()
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(32, 32), pad_shape=(32, 32)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 6, (1, 32, 32)))
        samples.append(s)
    data = dict(
        inputs=[torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)] * 2, data_samples=samples)
    before = attn.representatives.detach().clone()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    losses = model.train_step(data, optim)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert not torch.equal(attn.representatives.detach(), before)


@pytest.mark.slow
def test_onnx_export_with_learned_representatives(cbsa_scope, repo_root, monkeypatch, tmp_path):
    import onnxruntime  # noqa: F401  (a test requirement: missing fails)
    import onnxscript  # noqa: F401  (a test requirement: missing fails)

    from mmseg_cbsa.deployment import export_onnx, verify_onnx
    monkeypatch.chdir(repo_root)
    cfg, model = _tiny_learned_segmentor()
    ckpt, onnx_file = tmp_path / 'learned.pth', tmp_path / 'learned.onnx'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    export_onnx(cfg, str(onnx_file), str(ckpt), dynamic=True, shape=(40, 56))
    # 37x100 -> 5x13 patches; 8x16 -> a 1x2 patch grid, fewer patches than m = 9
    for result in verify_onnx(model, str(onnx_file), [(37, 100), (2, 3, 40, 72), (8, 16)]):
        assert result.max_abs_diff <= 1e-4, str(result)


def test_cbt_backbone_with_learned_representatives(cbsa_scope):
    """Through a CBT encoder's attn_cfg: every block gets its own learned
    representatives, and they receive gradients."""
    from mmseg_cbsa.registry import MODELS
    bb = MODELS.build(
        dict(
            type='CBT',
            arch=(32, 2, 2),
            img_size=32,
            patch_size=8,
            attn_cfg=dict(type='CBSA', rep_init='learned', rep_grid=3)))
    bb.init_weights()
    reps = [blk.attn.representatives for blk in bb.blocks]
    assert [r.shape for r in reps] == [(2, 9, 16)] * 2 and reps[0] is not reps[1]
    out = bb(torch.randn(2, 3, 32, 32))
    sum(o.float().square().sum() for o in out).backward()
    assert all(r.grad is not None and r.grad.abs().sum() > 0 for r in reps)
