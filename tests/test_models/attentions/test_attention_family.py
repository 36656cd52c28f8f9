"""The unified formula (paper section 3.3) as executable claims."""
import pytest
import torch

from mmseg_cbsa.models.attentions import (ATTENTION_TYPES, CBSA, MSSA, AgentAttention,
                                          LinearAttention)
from mmseg_cbsa.models.attentions.base import merge_heads, split_heads
from mmseg_cbsa.registry import MODELS


def _build(t, **kw):
    cfg = dict(type=t, embed_dims=32, num_heads=2)
    if t in ('CBSA', 'AgentAttention'):
        cfg['rep_grid'] = kw.pop('rep_grid', 2)
    cfg.update(kw)
    return MODELS.build(cfg)


@pytest.mark.parametrize('t', ATTENTION_TYPES)
def test_every_member_shares_the_signature(t):
    layer = _build(t)
    x = torch.randn(2, 1 + 4 * 6, 32, requires_grad=True)
    out = layer(x, (4, 6), 1)
    seen = []
    handle = layer.register_attention_hook(lambda m, maps: seen.append(maps))
    out2 = layer(x, (4, 6), 1)
    handle.remove()
    attn = seen[0].tokens
    assert (seen[0].hw_shape, seen[0].patch_start) == ((4, 6), 1)
    assert out.shape == x.shape and attn.shape == (2, 2, 25, 25)
    torch.testing.assert_close(out, out2)
    out.square().sum().backward()
    assert x.grad.abs().sum() > 0


def test_cbsa_with_tokens_as_representatives_and_identity_coefficients_is_mssa():
    cbsa, mssa = CBSA(32, 2, head_dims=16), MSSA(32, 2, head_dims=16)
    mssa.qkv.weight.data.copy_(cbsa.proj.weight)
    mssa.to_out.load_state_dict(cbsa.to_out.state_dict())
    cbsa.step_broadcast.data.fill_(1.0)
    x = torch.randn(2, 20, 32)
    w = split_heads(cbsa.proj(x), 2)  # representatives = the tokens
    identity = torch.eye(20).expand(2, 2, 20, 20)  # coefficients = identity
    out = cbsa.broadcast(identity, cbsa.contract(w))  # to_out folded in
    torch.testing.assert_close(out, mssa(x), rtol=1e-5, atol=1e-6)


def test_cbsa_without_contraction_is_the_agent_form():
    cbsa, agent = CBSA(32, 2, rep_grid=2), AgentAttention(32, 2, rep_grid=2)
    agent.load_state_dict(cbsa.state_dict())
    x = torch.randn(2, 16, 32)
    w = cbsa.proj(x)
    q0 = cbsa.init_representatives(w, (4, 4), 0)
    extraction = cbsa.extract(q0, split_heads(w, 2))
    q, attn = extraction.representatives, extraction.matrix
    expected = cbsa.to_out(merge_heads(cbsa.step_broadcast * (attn.transpose(-1, -2) @ q)))
    torch.testing.assert_close(agent(x, (4, 4)), expected)
    assert not torch.allclose(cbsa(x, (4, 4)), expected)  # contraction matters


def test_linear_form_equals_its_closed_form():
    layer = LinearAttention(32, 2, head_dims=8, eps=0.7).double()
    x = torch.randn(2, 30, 32, dtype=torch.float64)
    w = split_heads(layer.proj(x), 2)
    c = 8 / (30 * 0.7**2)
    eye = torch.eye(8, dtype=torch.float64)
    # W g(W^T W) with g(S) = (I + c S)^-1, via a linear solve (no eigenvectors)
    closed = torch.linalg.solve(eye + c * w.transpose(-1, -2) @ w, w.transpose(-1, -2))
    expected = layer.to_out(merge_heads(layer.step * closed.transpose(-1, -2)))
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize('t', ['MHSA', 'MSSA', 'TiedMSSA', 'TSSA', 'LinearAttention', 'DMSA'])
def test_token_mixers_are_permutation_equivariant(t):
    layer = _build(t).double()
    x = torch.randn(1, 25, 32, dtype=torch.float64)
    perm = torch.randperm(25)
    torch.testing.assert_close(layer(x[:, perm], (5, 5)), layer(x, (5, 5))[:, perm])


@pytest.mark.parametrize('t', ['CBSA', 'AgentAttention'])
def test_pooled_representatives_are_equivariant_only_with_a_global_grid(t):
    x = torch.randn(1, 25, 32, dtype=torch.float64)
    perm = torch.randperm(25)
    glob = _build(t, rep_grid=1).double()
    torch.testing.assert_close(glob(x[:, perm], (5, 5)), glob(x, (5, 5))[:, perm])
    local = _build(t, rep_grid=2).double()  # pooling reads the 2-D layout
    assert not torch.allclose(local(x[:, perm], (5, 5)), local(x, (5, 5))[:, perm])


def test_tssa_membership_is_a_distribution_over_heads():
    layer = _build('TSSA')
    w = split_heads(layer.qkv(torch.randn(2, 10, 32)), 2)
    pi = layer.membership(w)
    torch.testing.assert_close(pi.sum(1), torch.ones(2, 10))


def test_dmsa_is_linear_in_tokens():
    from mmseg_cbsa.analysis.complexity import count_flops

    class Call(torch.nn.Module):

        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x)

    layer = Call(_build('DMSA'))
    f = [count_flops(layer, torch.randn(1, n, 32)) for n in (64, 256, 1024)]
    assert f[2] - f[1] == 4 * (f[1] - f[0])
