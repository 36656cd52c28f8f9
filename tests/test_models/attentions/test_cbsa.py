import math

import pytest
import torch

from mmseg_cbsa.models.attentions import CBSA
from mmseg_cbsa.models.attentions.representatives import pool_patch_tokens


def reference_cbsa(layer: CBSA, x, hw, patch_start):
    """The spec's equations, head by head, written with loops and no reuse of
    the layer's code (paper-spec section 1)."""
    K, p = layer.num_heads, layer.head_dims
    rh, rw = layer.rep_grid
    H, W = hw
    P = layer.proj.weight  # (K*p, d)
    outs = []
    for b in range(x.shape[0]):
        Wfull = x[b] @ P.T  # (N, K*p)
        grid = Wfull[patch_start:patch_start + H * W].reshape(H, W, K * p)
        # adaptive average pooling, by its definition
        q0 = torch.zeros(rh * rw, K * p)
        for i in range(rh):
            hs, he = (i * H) // rh, math.ceil((i + 1) * H / rh)
            for j in range(rw):
                ws, we = (j * W) // rw, math.ceil((j + 1) * W / rw)
                q0[i * rw + j] = grid[hs:he, ws:we].reshape(-1, K * p).mean(0)
        delta = []
        for k in range(K):
            Wk = Wfull[:, k * p:(k + 1) * p]
            Q0 = q0[:, k * p:(k + 1) * p]
            A = torch.softmax(Q0 @ Wk.T / math.sqrt(p), dim=1)  # (m, N)
            Q = Q0 + layer.step_extract[k, 0, 0] * (A @ Wk)
            C = torch.softmax(Q @ Q.T / math.sqrt(p), dim=1) @ Q
            delta.append(layer.step_broadcast[k, 0, 0] * (A.T @ C))
        outs.append(torch.cat(delta, 1) @ layer.to_out.weight.T + layer.to_out.bias)
    return torch.stack(outs)


@pytest.mark.parametrize(
    'hw,extra,patch_start,dims',
    [
        ((8, 8), 0, 0, 32),  # square, patches only
        ((6, 10), 5, 0, 32),  # non-square, class embeddings appended
        ((7, 5), 1, 1, 32),  # non-square, [CLS] first
        ((4, 5), 1, 1, 96),  # fewer tokens than channels: the unfolded to_out path
    ])
def test_matches_reference_equations(hw, extra, patch_start, dims):
    layer = CBSA(dims, num_heads=2, head_dims=8, rep_grid=(3, 4))
    n = hw[0] * hw[1] + extra
    x = torch.randn(2, n, dims)
    out = layer(x, hw, patch_start)
    assert out.shape == (2, n, dims)
    torch.testing.assert_close(out, reference_cbsa(layer, x, hw, patch_start), rtol=1e-4, atol=1e-5)


def test_gradients_reach_every_parameter_and_input():
    layer = CBSA(16, num_heads=2, head_dims=4, rep_grid=2)
    x = torch.randn(2, 4 * 6 + 3, 16, requires_grad=True)
    layer(x, (4, 6)).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_extra_tokens_not_pooled_but_attended():
    layer = CBSA(16, num_heads=2, head_dims=4, rep_grid=2)
    x = torch.randn(1, 16 + 3, 16)
    y = x.clone()
    y[:, 16:] += torch.randn(1, 3, 16)  # change only the extra tokens
    w_x, w_y = layer.proj(x), layer.proj(y)
    torch.testing.assert_close(
        layer.init_representatives(w_x, (4, 4), 0), layer.init_representatives(w_y, (4, 4), 0))
    # ... yet they take part in extraction, so the patch outputs change
    assert not torch.allclose(layer(x, (4, 4))[:, :16], layer(y, (4, 4))[:, :16])


def test_patch_start_selects_the_pooled_tokens():
    layer = CBSA(16, num_heads=1, head_dims=16, rep_grid=1)
    x = torch.randn(1, 1 + 9, 16)
    w = layer.proj(x)
    pooled = layer.init_representatives(w, (3, 3), patch_start=1)[0, 0, 0]
    torch.testing.assert_close(pooled, w[0, 1:].mean(0))
    shifted = layer.init_representatives(w, (3, 3), patch_start=0)[0, 0, 0]
    torch.testing.assert_close(shifted, w[0, :9].mean(0))


def test_grid_larger_than_patch_grid_adapts_to_it():
    # the layer pools to at most the patch grid on each side: 10x10 on 8x12
    # patches is exactly a layer with an 8x10 grid and the same weights
    layer = CBSA(16, num_heads=2, rep_grid=(10, 10))
    fitted = CBSA(16, num_heads=2, rep_grid=(8, 10))
    fitted.load_state_dict(layer.state_dict())
    x = torch.randn(1, 96, 16)
    assert layer.rep_grid_for((8, 12)) == (8, 10)
    torch.testing.assert_close(layer(x, (8, 12)), fitted(x, (8, 12)), rtol=0, atol=0)
    # the pooling itself still refuses a grid it is not given room for
    with pytest.raises(ValueError, match=r'10x10 .* larger than the patch grid 8x12'):
        pool_patch_tokens(layer.proj(x), (8, 12), 0, (10, 10))


def test_token_count_must_hold_the_grid():
    layer = CBSA(16, num_heads=2, rep_grid=2)
    with pytest.raises(ValueError, match='20 tokens cannot hold a 5x5 patch grid'):
        layer(torch.randn(1, 20, 16), (5, 5))


def test_detach_init_stops_gradient_through_initial_guess():
    torch.manual_seed(0)
    a = CBSA(16, num_heads=2, head_dims=4, rep_grid=2, detach_init=False)
    b = CBSA(16, num_heads=2, head_dims=4, rep_grid=2, detach_init=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 16, 16)
    torch.testing.assert_close(a(x, (4, 4)), b(x, (4, 4)))  # same forward
    q0 = b.init_representatives(b.proj(x), (4, 4), 0)
    assert not q0.requires_grad
    ga = torch.autograd.grad(a(x, (4, 4)).sum(), a.proj.weight)[0]
    gb = torch.autograd.grad(b(x, (4, 4)).sum(), b.proj.weight)[0]
    assert not torch.allclose(ga, gb)  # different backward


def test_token_to_token_attention_is_AtA():
    layer = CBSA(16, num_heads=2, head_dims=4, rep_grid=(2, 3))
    x = torch.randn(2, 6 * 4 + 2, 16)
    seen = []
    handle = layer.register_attention_hook(lambda m, maps: seen.append(maps))
    out = layer(x, (6, 4))
    handle.remove()
    attn = seen[0].tokens
    a = seen[0].extraction
    assert a.shape == (2, 2, 6, 26)
    torch.testing.assert_close(attn, a.transpose(-1, -2) @ a)
    torch.testing.assert_close(out, layer(x, (6, 4)))
    assert attn.shape == (2, 2, 26, 26)
    torch.testing.assert_close(attn, attn.transpose(-1, -2))
    # each row of A sums to one, so the entries of A^T A sum to m
    torch.testing.assert_close(attn.sum((-1, -2)), torch.full((2, 2), 6.0))


def _flops(module, *inputs):
    from mmseg_cbsa.analysis.complexity import count_flops
    return count_flops(module, *inputs)


class _Call(torch.nn.Module):

    def __init__(self, layer, hw):
        super().__init__()
        self.layer, self.hw = layer, hw

    def forward(self, x):
        return self.layer(x, self.hw)


def test_cost_is_linear_in_tokens_for_a_fixed_grid():
    """cost(N) = a N + b (the m x m contraction is the constant b): with N,
    4N, 16N tokens the increments grow 4x; MHSA's grow ~16x. The grids grow
    along W only: the separable pooling's second product costs rh*rw*W*C,
    linear in W but not in N on square grids."""
    from mmseg_cbsa.models.attentions import MHSA
    cbsa, mhsa = CBSA(64, num_heads=2, head_dims=32, rep_grid=8), MHSA(64, num_heads=2)
    widths = (16, 64, 256)
    f_cbsa = [_flops(_Call(cbsa, (16, w)), torch.randn(1, 16 * w, 64)) for w in widths]
    f_mhsa = [_flops(_Call(mhsa, (16, w)), torch.randn(1, 16 * w, 64)) for w in widths]
    ratio = (f_cbsa[2] - f_cbsa[1]) / (f_cbsa[1] - f_cbsa[0])
    assert ratio == 4.0, f_cbsa
    assert (f_mhsa[2] - f_mhsa[1]) / (f_mhsa[1] - f_mhsa[0]) > 12, f_mhsa


def test_fused_attention_is_counted():
    from mmseg_cbsa.analysis.complexity import count_flops
    from mmseg_cbsa.models.attentions import MHSA
    n, d = 64, 32
    mhsa = _Call(MHSA(d, num_heads=2), None)
    # qkv + proj linears: n*d*3d + n*d*d; attention: n*n*(p + p) per head
    assert count_flops(mhsa, torch.randn(1, n, d)) == n * d * 4 * d + 2 * n * n * d


def test_flop_count_is_the_fused_algorithm():
    """Regression check on cost (not time): the layer does exactly the work
    of the fused algorithm, counted in multiply-adds."""
    d, K, p, (rh, rw), (H, W), extra = 48, 3, 10, (4, 5), (12, 16), 7
    N, m, C = H * W + extra, rh * rw, K * p
    layer = _Call(CBSA(d, K, head_dims=p, rep_grid=(rh, rw)), (H, W))
    expected = (
        N * d * C  # proj
        + rh * H * W * C + rh * rw * W * C  # pooling: P_h X, then P_w (separable)
        + 2 * K * m * N * p  # logits, A W
        + K * m * m * 2 * p  # contraction (fused attention)
        + K * m * p * d  # C_k U_k^T
        + N * K * m * d)  # one broadcast GEMM, to_out folded in
    assert _flops(layer, torch.randn(1, N, d)) == expected


def test_broadcast_matmul_is_counted_with_its_batch():
    from mmseg_cbsa.analysis.complexity import count_flops

    class MM(torch.nn.Module):

        def forward(self, a, b):
            return a @ b

    assert count_flops(MM(), torch.randn(5, 7), torch.randn(3, 7, 11)) == 3 * 5 * 7 * 11
    assert count_flops(MM(), torch.randn(2, 5, 7), torch.randn(7, 11)) == 2 * 5 * 7 * 11
