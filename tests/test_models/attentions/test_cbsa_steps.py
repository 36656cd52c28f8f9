"""CBSA's forward pass runs its named steps (``init_representatives``,
``extract``, ``contract``, ``broadcast``): the methods the documentation
points to are the code that runs, and running them changed no bit of the
output."""
import math
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from mmseg_cbsa.models.attentions import CBSA, AgentAttention
from mmseg_cbsa.models.attentions.base import merge_heads, split_heads
from mmseg_cbsa.models.attentions.representatives import effective_rep_grid, pool_patch_tokens

HALF = (torch.float16, torch.bfloat16)


def forward_before(layer: CBSA, x: torch.Tensor, hw_shape, patch_start: int) -> torch.Tensor:
    """``CBSA.attend`` as it was before the steps became the methods it calls
    (commit 56d6029), written out op for op: the reference for bit-identity."""
    k, p = layer.num_heads, layer.head_dims
    w = layer.proj(x)
    if layer.rep_init == 'learned':
        q0 = layer.representatives.to(w.dtype).expand(w.shape[0], -1, -1, -1)
    else:
        grid = effective_rep_grid(hw_shape, layer.rep_grid)
        q0 = split_heads(pool_patch_tokens(w, hw_shape, patch_start, grid), k)
        q0 = q0.detach() if layer.detach_init else q0
    w = split_heads(w, k)
    if w.dtype in HALF:
        w = w.contiguous()
    logits = (q0 * layer.scale) @ w.transpose(-1, -2)
    e = logits.sub_(logits.amax(-1, keepdim=True).detach()).exp_()
    if e.dtype not in HALF:
        r = e.sum(-1, keepdim=True).reciprocal()
    else:
        r = e.sum(-1, keepdim=True, dtype=torch.float32).reciprocal()
        if e.dtype == torch.float16:
            e, r = (e * r).to(e.dtype), torch.ones_like(r, dtype=e.dtype)
        else:
            r = r.to(e.dtype)
    q = q0 + layer.step_extract * ((e @ w) * r)
    contracted = F.scaled_dot_product_attention(q, q, q, scale=layer.scale)
    c = contracted * r
    b, _, m, _ = e.shape
    u = layer.to_out.weight.view(layer.embed_dims, k, p)
    right = torch.einsum('bkmp,dkp->bkmd', layer.step_broadcast * c, u)
    coeff = e.reshape(b, k * m, -1).transpose(1, 2)
    right = right.reshape(b, k * m, -1)
    if coeff.dtype in HALF:
        return torch.bmm(coeff, right).add_(layer.to_out.bias.to(coeff.dtype))
    bias = layer.to_out.bias.expand(b, coeff.shape[1], layer.embed_dims)
    return torch.baddbmm(bias, coeff, right)


# (layer options, patch grid, extra tokens, patch_start)
CASES = {
    'pool-square': (dict(rep_grid=3), (6, 6), 0, 0),
    'pool-nonsquare-class-embeddings': (dict(rep_grid=(3, 4)), (6, 10), 5, 0),
    'pool-cls-first': (dict(rep_grid=(3, 4)), (7, 5), 1, 1),
    'pool-small-patch-grid': (dict(rep_grid=(3, 4)), (2, 9), 3, 1),
    'detach-init': (dict(rep_grid=(2, 3), detach_init=True), (5, 7), 2, 1),
    'learned': (dict(rep_grid=(2, 3), rep_init='learned'), (4, 6), 1, 1),
    'learned-more-than-patches': (dict(rep_grid=4, rep_init='learned'), (3, 2), 2, 0),
    'wide-heads': (dict(rep_grid=2, head_dims=24), (4, 5), 1, 1),
}


def _layer_and_input(name, dtype=torch.float32, seed=0):
    opts, hw, extra, patch_start = CASES[name]
    torch.manual_seed(seed)
    layer = CBSA(32, num_heads=2, **opts).to(dtype)
    x = torch.randn(2, extra + hw[0] * hw[1], 32, dtype=dtype)
    return layer, x, hw, patch_start


@pytest.mark.parametrize('name', CASES)
def test_forward_is_bit_identical_to_before(name):
    layer, x, hw, patch_start = _layer_and_input(name)
    x.requires_grad_(True)
    out = layer(x, hw, patch_start)
    ref = forward_before(layer, x, hw, patch_start)
    assert torch.equal(out, ref)
    # the same ops also give the same gradients
    grads = torch.autograd.grad(out.square().sum(), [x, *layer.parameters()])
    grads_ref = torch.autograd.grad(ref.square().sum(), [x, *layer.parameters()])
    assert all(torch.equal(g, h) for g, h in zip(grads, grads_ref))


@pytest.mark.parametrize('dtype', HALF)
@pytest.mark.parametrize('name', ['pool-nonsquare-class-embeddings', 'learned'])
def test_forward_matches_before_in_half_precision(name, dtype):
    layer, x, hw, patch_start = _layer_and_input(name, dtype)
    with torch.no_grad():
        out = layer(x, hw, patch_start)
        ref = forward_before(layer, x, hw, patch_start)
    assert out.dtype == dtype
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize('cls', [CBSA, AgentAttention])
def test_forward_runs_the_named_steps_once_each(cls):
    layer = cls(32, num_heads=2, rep_grid=2)
    x = torch.randn(1, 1 + 16, 32)
    steps = ('init_representatives', 'extract', 'contract', 'broadcast')
    spies = {
        name: mock.patch.object(cls, name, autospec=True, side_effect=getattr(cls, name))
        for name in steps
    }
    mocks = {name: spy.start() for name, spy in spies.items()}
    try:
        layer(x, (4, 4), 1)
    finally:
        for spy in spies.values():
            spy.stop()
    assert {name: m.call_count for name, m in mocks.items()} == dict.fromkeys(steps, 1)


@pytest.mark.parametrize('name', CASES)
def test_forward_is_broadcast_of_contract_of_extract(name):
    layer, x, hw, patch_start = _layer_and_input(name)
    w = layer.proj(x)
    q0 = layer.init_representatives(w, hw, patch_start)
    extraction = layer.extract(q0, split_heads(w, layer.num_heads))
    contracted = layer.contract(extraction.representatives)
    out = layer.broadcast(extraction.weights, contracted, extraction.norm)
    assert torch.equal(out, layer(x, hw, patch_start))
    # the formed A broadcasts what the factored one does
    torch.testing.assert_close(layer.broadcast(extraction.matrix, contracted), out)


def test_each_step_is_its_equation():
    """Each step against its equation in paper-spec section 1, on the
    operands of the step before."""
    layer = CBSA(24, num_heads=3, head_dims=5, rep_grid=(2, 3)).double()
    x = torch.randn(2, 1 + 4 * 6, 24, dtype=torch.float64)
    p = layer.head_dims
    w_flat = layer.proj(x)
    q0 = layer.init_representatives(w_flat, (4, 6), 1)
    w = split_heads(w_flat, 3)
    extraction = layer.extract(q0, w)
    # extract: A = softmax_N(Q0 W^T / sqrt p), Q = Q0 + a_k A W
    a = torch.softmax(q0 @ w.transpose(-1, -2) / math.sqrt(p), dim=-1)
    torch.testing.assert_close(extraction.matrix, a)
    torch.testing.assert_close(extraction.representatives, q0 + layer.step_extract * (a @ w))
    # contract: C = softmax(Q Q^T / sqrt p) Q
    q = extraction.representatives
    c = torch.softmax(q @ q.transpose(-1, -2) / math.sqrt(p), dim=-1) @ q
    torch.testing.assert_close(layer.contract(q), c)
    # broadcast: to_out(concat_k b_k A_k^T C_k)
    expected = layer.to_out(merge_heads(layer.step_broadcast * (a.transpose(-1, -2) @ c)))
    torch.testing.assert_close(layer.broadcast(a, c), expected)
    torch.testing.assert_close(layer.broadcast(extraction.weights, c, extraction.norm), expected)
