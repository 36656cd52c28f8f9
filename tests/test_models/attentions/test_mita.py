"""MiTA: checked against the formula written out query by query (float64,
gradients included), the authors' pooling quirk, routing edge cases, the
varlen (flash-attn) layout and a ViT with MiTA in chosen blocks."""
import pytest
import torch
import torch.nn.functional as F

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.models import ViT
from mmseg_cbsa.models.attentions import MHSA, MiTA
from mmseg_cbsa.models.attentions.mita import (MixedAttentionKernel, mixed_attention,
                                               mixed_attention_varlen, top_keys)

D, K, P = 24, 2, 12


def _reference(layer, x, hw, patch_start, grid, topk, router_scale='code', shifted=False):
    """MiTA query by query. Routers: the queries of the H*W patches (or, with
    ``shifted``, ``q[:, :-1]`` as the authors' code pools, [CLS] in the grid)
    adaptive-average-pooled on all channels, then split into heads. Per head:
    V_R = softmax(R K^T / sqrt p) V; router m keeps the keys of its k largest
    R_m . k_j; query i goes to the first router of largest R_m . q_i and
    attends in one softmax to [R ; its router's keys] with logits
    [q.R * s_R ; q.k / sqrt p] over [V_R ; those values]."""
    b, n, _ = x.shape
    h, w = hw
    q, k, v = layer.qkv(x).split(D, dim=-1)
    patches = q[:, :h * w] if shifted else q[:, patch_start:patch_start + h * w]
    r = F.adaptive_avg_pool2d(patches.reshape(b, h, w, D).permute(0, 3, 1, 2), grid)
    r = r.reshape(b, D, -1).transpose(1, 2)

    def heads(t):
        return t.reshape(b, t.shape[1], K, P).transpose(1, 2)

    q, k, v, r = map(heads, (q, k, v, r))
    s_r = P**-1.0 if router_scale == 'code' else P**-0.5
    kk = min(topk, n)
    rows = []
    for bi in range(b):
        for hi in range(K):
            qh, kh, vh, rh = q[bi, hi], k[bi, hi], v[bi, hi], r[bi, hi]
            compressed = torch.softmax(rh @ kh.T * P**-0.5, -1) @ vh
            top = [
                torch.argsort(rh[m] @ kh.T, descending=True, stable=True)[:kk]
                for m in range(rh.shape[0])
            ]
            for i in range(n):
                gate = rh @ qh[i]
                expert = int(torch.nonzero(gate == gate.max())[0])  # the first maximum
                keys = top[expert]
                logits = torch.cat((rh @ qh[i] * s_r, kh[keys] @ qh[i] * P**-0.5))
                weights = torch.softmax(logits, 0)
                rows.append(weights @ torch.cat((compressed, vh[keys])))
    out = torch.stack(rows).view(b, K, n, P).transpose(1, 2).reshape(b, n, D)
    return layer.proj(out)


def _layer(**kw):
    torch.manual_seed(0)
    return MiTA(D, K, **kw).double()


def _grads(fn, layer, x):
    out = fn(x)
    return torch.autograd.grad(out.square().sum(), [x, *layer.parameters()])


@pytest.mark.parametrize(
    'hw,patch_start,extra,grid,topk',
    [
        ((4, 6), 1, 0, (2, 3), 5),  # [CLS] first, non-square grids
        ((4, 6), 0, 3, (3, 2), 7),  # class embeddings appended (a decoder)
        ((5, 5), 1, 0, (5, 5), 4),  # a router per patch: empty experts
        ((3, 4), 1, 0, (1, 1), 6),  # one router
        ((2, 3), 0, 0, (2, 3), 100),  # k larger than N: every key
        ((1, 1), 0, 0, (1, 1), 25),  # a single token
    ])
@pytest.mark.parametrize('router_scale', ['code', 'keys'])
def test_equals_the_formula_written_out_with_gradients(hw, patch_start, extra, grid, topk,
                                                       router_scale):
    layer = _layer(pool_size=grid, topk=topk, router_scale=router_scale)
    n = patch_start + hw[0] * hw[1] + extra
    x = torch.randn(2, n, D, dtype=torch.float64, requires_grad=True)

    def ours(t):
        return layer(t, hw, patch_start)

    def theirs(t):
        return _reference(layer, t, hw, patch_start, grid, topk, router_scale)

    torch.testing.assert_close(ours(x), theirs(x))
    for got, want in zip(_grads(ours, layer, x), _grads(theirs, layer, x)):
        torch.testing.assert_close(got, want)


def test_empty_experts_occur_in_the_edge_case():
    layer = _layer(pool_size=5, topk=4)
    seen = []
    layer.register_attention_hook(lambda m, maps: seen.append(maps))
    layer(torch.randn(2, 26, D, dtype=torch.float64), (5, 5), 1)
    used = [seen[0].experts[b, h].unique().numel() for b in range(2) for h in range(K)]
    assert min(used) < 25  # some of the 25 routers got no query


def test_legacy_grid_reproduces_the_authors_shifted_pooling():
    # their code pools q[:, :-1] as a square: [CLS] in the grid, the last patch out;
    # a backbone with legacy_cls_pooling tells the layer the grid starts at token 0
    layer = _layer(pool_size=2, topk=5)
    x = torch.randn(2, 1 + 4 * 4, D, dtype=torch.float64)
    torch.testing.assert_close(
        layer(x, (4, 4), 0), _reference(layer, x, (4, 4), 1, (2, 2), 5, shifted=True))
    assert not torch.allclose(layer(x, (4, 4), 0), layer(x, (4, 4), 1))


def test_router_scale_matters_and_is_checked():
    code, keys = _layer(pool_size=2), _layer(pool_size=2, router_scale='keys')
    x = torch.randn(1, 17, D, dtype=torch.float64)
    assert not torch.allclose(code(x, (4, 4), 1), keys(x, (4, 4), 1))
    with pytest.raises(ValueError, match="router_scale must be one of"):
        MiTA(D, K, router_scale='paper')
    with pytest.raises(ValueError, match='topk must be >= 1'):
        MiTA(D, K, topk=0)


def test_ties_go_to_the_first_router():
    layer = _layer(pool_size=2, topk=3)
    torch.nn.init.zeros_(layer.qkv.bias)
    x = torch.randn(1, 17, D, dtype=torch.float64)
    x[0, 5] = 0  # q = 0: every router scores it 0
    seen = []
    layer.register_attention_hook(lambda m, maps: seen.append(maps))
    out = layer(x, (4, 4), 1)
    assert (seen[0].experts[0, :, 5] == 0).all()
    assert (seen[0].experts != 0).any()  # the others do spread
    torch.testing.assert_close(out, _reference(layer, x, (4, 4), 1, (2, 2), 3))


def test_parameters_are_exactly_mhsas():
    mhsa, layer = MHSA(D, K), MiTA(D, K)
    layer.load_state_dict(mhsa.state_dict(), strict=True)
    assert list(layer.projection_weights()) == ['qkv.weight', 'proj.weight']


def test_maps_carry_the_values_to_the_tokens():
    layer = _layer(pool_size=(2, 3), topk=5)
    x = torch.randn(2, 1 + 4 * 6, D, dtype=torch.float64)
    seen = []
    layer.register_attention_hook(lambda m, maps: seen.append(maps))
    out = layer(x, (4, 6), 1)
    maps = seen[0]
    assert maps.rep_grid == (2, 3) and maps.extraction.shape == (2, K, 6, 25)
    assert maps.key_index.shape == (2, K, 6, 5) and maps.experts.shape == (2, K, 25)
    torch.testing.assert_close(maps.tokens.sum(-1), torch.ones(2, K, 25, dtype=x.dtype))
    v = layer.qkv(x)[..., 2 * D:].reshape(2, 25, K, P).transpose(1, 2)
    via_map = layer.proj((maps.tokens @ v).transpose(1, 2).reshape(2, 25, D))
    torch.testing.assert_close(via_map, out)


@pytest.mark.parametrize('hw,extra', [((14, 14), 1), ((2, 5), 1), ((3, 3), 0)])
def test_similarity_count_matches_the_routers_and_keys_used(hw, extra):
    layer = MiTA(D, K)  # 5x5 routers, 25 keys each
    n = extra + hw[0] * hw[1]
    seen = []
    layer.register_attention_hook(lambda m, maps: seen.append(maps))
    layer(torch.randn(1, n, D), hw, extra)
    m, kk = seen[0].key_index.shape[-2:]  # routers and keys per router of the call
    assert (m, kk) == (min(5, hw[0]) * min(5, hw[1]), min(25, n))
    assert layer.num_similarities(n, n, hw_shape=hw) == K * (m * n + n * (m + kk))
    if hw == (14, 14):  # the configured grid is the default count
        assert layer.num_similarities(n, n) == K * (25 * 197 + 197 * 50)


def test_needs_the_patch_grid():
    with pytest.raises(ValueError, match='hw_shape'):
        MiTA(D, K)(torch.randn(1, 5, D))


def _varlen_loop(q, k, v, cu_q, cu_k, max_q, max_k, softmax_scale):
    """flash_attn_varlen_func's contract, one segment at a time."""
    assert max_q == int((cu_q[1:] - cu_q[:-1]).max()) and max_k == int((cu_k[1:] - cu_k[:-1]).max())
    assert cu_q.dtype == cu_k.dtype == torch.int32 and len(cu_q) == len(cu_k)
    outs = []
    for g in range(len(cu_q) - 1):
        qs, ks = slice(cu_q[g], cu_q[g + 1]), slice(cu_k[g], cu_k[g + 1])
        assert qs.stop > qs.start  # empty experts are left out
        attn = torch.softmax(q[qs, 0] @ k[ks, 0].T * softmax_scale, -1)
        outs.append((attn @ v[ks, 0])[:, None])
    return torch.cat(outs)


@pytest.mark.parametrize('grid,topk', [((2, 3), 5), ((5, 5), 4)])
def test_varlen_layout_is_the_same_attention(grid, topk):
    torch.manual_seed(0)
    b, n = 2, 26
    q, k, v = (torch.randn(b, K, n, P, dtype=torch.float64, requires_grad=True) for _ in range(3))
    routers = torch.randn(b, K, grid[0] * grid[1], P, dtype=torch.float64, requires_grad=True)
    key_index, scores = top_keys(k, routers, topk)
    router_logits = q @ routers.transpose(-1, -2)
    mix = MixedAttentionKernel(routers,
                               torch.softmax(scores * P**-0.5, -1) @ v, key_index,
                               router_logits.argmax(-1), P**-0.5, P**-1.0)
    dense = mixed_attention(q, k, v, router_logits, mix)[0]
    packed = mixed_attention_varlen(q, k, v, mix, _varlen_loop)
    torch.testing.assert_close(packed, dense)
    inputs = [q, k, v, routers]
    grads = torch.autograd.grad(packed.square().sum(), inputs, retain_graph=True)
    for got, want in zip(grads, torch.autograd.grad(dense.square().sum(), inputs)):
        torch.testing.assert_close(got, want)


def test_vit_with_mita_in_chosen_blocks_trains_and_loads_mhsa_weights():
    mita = dict(type='MiTA', pool_size=2, topk=6)
    vit = ViT(
        arch=(16, 3, 2),
        img_size=32,
        patch_size=8,
        legacy_cls_pooling=True,
        attn_cfg=[None, mita, mita])
    assert [type(b.attn).__name__ for b in vit.blocks] == ['MHSA', 'MiTA', 'MiTA']
    assert vit.blocks[1].attn.num_heads == 2
    mhsa = ViT(arch=(16, 3, 2), img_size=32, patch_size=8)
    vit.load_state_dict(mhsa.state_dict(), strict=True)  # a plain ViT's weights fit
    seen = []
    vit.blocks[2].attn.register_attention_hook(lambda m, maps: seen.append(maps))
    img = torch.randn(2, 3, 32, 40)
    (out, ) = vit(img)
    assert out.shape == (2, 16, 4, 5)
    assert seen[0].patch_start == 0  # the authors' shifted grid
    out.square().mean().backward()
    assert all(p.grad is not None for p in vit.blocks[1].attn.projection_weights().values())


def test_flops_are_the_formula_and_linear_in_tokens():
    from mmseg_cbsa.analysis.complexity import count_flops

    class Call(torch.nn.Module):

        def __init__(self, layer, hw):
            super().__init__()
            self.layer, self.hw = layer, hw

        def forward(self, x):
            return self.layer(x, self.hw, 1)

    d, heads, m, k = 32, 4, 16, 8
    p = d // heads
    flops = []
    for side in (8, 16, 32):
        n = 1 + side * side
        layer = Call(MiTA(d, heads, pool_size=4, topk=k), (side, side))
        pooling = 4 * side * side * d + m * side * d  # 4 row bins, then 4 column bins
        # R K^T and its softmax times V; q R^T and its weights times V_R; the k keys, their values
        per_head = 2 * m * n * p + 2 * n * m * p + 2 * n * k * p
        expected = 4 * n * d * d + pooling + heads * per_head
        flops.append(count_flops(layer, torch.randn(1, n, d)))
        assert flops[-1] == expected
    # linear in N: each 4x more patches adds 4x the previous step
    assert flops[2] - flops[1] < 4.1 * (flops[1] - flops[0])
