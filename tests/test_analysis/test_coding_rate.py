"""Coding rates (mmseg_cbsa/analysis/coding_rate.py): the formulas, the
subspace bases every attention type states, and the recorder."""
import numpy as np
import pytest
import torch

from mmseg_cbsa.analysis.coding_rate import (CodingRateRecorder, coding_rate, compression_term,
                                             head_coding_rates, normalized_compression_term,
                                             subspace_bases, summarize_layers)
from mmseg_cbsa.models.attentions import ATTENTION_TYPES, BaseAttention
from mmseg_cbsa.models.attentions.base import split_heads
from mmseg_cbsa.registry import MODELS


def numpy_rate(z: np.ndarray, eps: float) -> float:
    """1/2 logdet(I_d + d/(N eps^2) Z^T Z), directly on the d x d side in float64."""
    n, d = z.shape
    sign, logdet = np.linalg.slogdet(np.eye(d) + d / (n * eps**2) * z.T @ z)
    assert sign > 0
    return 0.5 * logdet


@pytest.mark.parametrize('shape', [(10, 4), (3, 7), (2, 5, 6)])
def test_rate_of_zero_tokens_is_zero(shape):
    assert torch.equal(coding_rate(torch.zeros(shape), 0.5), torch.zeros(shape[:-2]))


@pytest.mark.parametrize('n,d', [(50, 6), (4, 9)])  # both Gram sides
@pytest.mark.parametrize('eps', [0.1, 0.5, 2.0])
def test_rate_matches_float64_logdet(n, d, eps):
    z = torch.randn(3, n, d) * 2
    ours = coding_rate(z, eps)
    ref = [numpy_rate(zi.double().numpy(), eps) for zi in z]
    np.testing.assert_allclose(ours.double().numpy(), ref, rtol=1e-6)
    assert ours.dtype == torch.float32 and coding_rate(z.double(), eps).dtype == torch.float64


def test_rate_is_invariant_to_rotations_of_either_side():
    z = torch.randn(40, 5, dtype=torch.float64)
    q_feat, _ = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64))
    q_tok, _ = torch.linalg.qr(torch.randn(40, 40, dtype=torch.float64))
    r = coding_rate(z, 0.5)
    torch.testing.assert_close(coding_rate(z @ q_feat, 0.5), r)
    torch.testing.assert_close(coding_rate(q_tok @ z, 0.5), r)
    # but not to scaling: more spread costs more bits
    assert coding_rate(3 * z, 0.5) > r + 1


def test_rc_with_one_identity_basis_is_r():
    z = torch.randn(2, 30, 8)
    torch.testing.assert_close(
        compression_term(z,
                         torch.eye(8)[None], 0.7),
        coding_rate(z, 0.7).double())


def test_rc_sums_heads_with_the_projected_width():
    """R(Z U_k) uses p/(N eps^2), p the width of Z U_k, not d."""
    z, bases = torch.randn(25, 12, dtype=torch.float64), torch.randn(3, 12, 4, dtype=torch.float64)
    per_head = head_coding_rates(z, bases, 0.5)
    ref = [numpy_rate((z @ bases[k]).numpy(), 0.5) for k in range(3)]
    np.testing.assert_allclose(per_head.numpy(), ref, rtol=1e-10)
    torch.testing.assert_close(compression_term(z, bases, 0.5), per_head.sum())


def test_normalized_variant_ignores_token_scale():
    z, bases = torch.randn(2, 30, 8), torch.randn(3, 8, 4)
    scales = torch.rand(2, 30, 1) * 10 + 0.1
    torch.testing.assert_close(
        normalized_compression_term(z * scales, bases), normalized_compression_term(z, bases))
    torch.testing.assert_close(
        normalized_compression_term(z, bases),
        compression_term(z / z.norm(dim=-1, keepdim=True), bases))
    assert not torch.allclose(compression_term(z * scales, bases), compression_term(z, bases))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match='eps'):
        coding_rate(torch.randn(4, 3), 0)
    with pytest.raises(ValueError, match='empty'):
        coding_rate(torch.randn(0, 3), 0.5)
    with pytest.raises(ValueError, match='NaN'):
        coding_rate(torch.tensor([[float('nan'), 1.]]), 0.5)
    with pytest.raises(ValueError, match=r'\(K, d, p\) with d = 8'):
        compression_term(torch.randn(5, 8), torch.randn(2, 6, 3))
    with pytest.raises(TypeError, match='Linear is not a layer of the attention family'):
        subspace_bases(torch.nn.Linear(4, 4))


def _build(type_name, d=16, heads=2):
    extra = dict(rep_grid=2) if type_name in ('CBSA', 'AgentAttention') else {}
    return MODELS.build(dict(type=type_name, embed_dims=d, num_heads=heads, **extra))


def _head_projections(layer, x):
    """(B, K, N, p): the W_k each layer computes, read from its own parameters."""
    name = type(layer).__name__
    if name in ('CBSA', 'AgentAttention', 'LinearAttention'):
        return split_heads(layer.proj(x), layer.num_heads)
    if name in ('MSSA', 'TSSA'):
        return split_heads(layer.qkv(x), layer.num_heads)
    if name == 'TiedMSSA':
        return split_heads(x @ layer.proj.t(), layer.num_heads)
    if name == 'DMSA':
        return layer.qkv(x).unsqueeze(1) * torch.sigmoid(layer.gates)[None, :, None]
    if name in ('MHSA', 'QKVCBSA', 'QKVLinearAttention', 'MiTA'):  # qkv's value block, no bias
        b, n, _ = x.shape
        v = (layer.qkv(x) - layer.qkv.bias).view(b, n, 3, layer.num_heads, -1)[:, :, 2]
        return v.transpose(1, 2)
    raise AssertionError(f'no reference projection for {name}')


@pytest.mark.parametrize('type_name', ATTENTION_TYPES)
def test_bases_reproduce_each_layers_projection(cbsa_scope, type_name):
    layer = _build(type_name)
    with torch.no_grad():
        if type_name == 'MHSA':
            layer.qkv.bias.normal_()  # the bias must not leak into the bases
        x = torch.randn(2, 17, 16)
        bases = subspace_bases(layer)
        torch.testing.assert_close(
            torch.einsum('bnd,kdp->bknp', x, bases),
            _head_projections(layer, x),
            rtol=1e-5,
            atol=1e-6)
    assert bases.shape[0] == layer.num_heads and not bases.requires_grad


def test_every_family_type_states_its_bases():
    for name in ATTENTION_TYPES:
        cls = MODELS.get(name)
        assert issubclass(cls, BaseAttention)
        assert cls.subspace_bases is not BaseAttention.subspace_bases, name


def test_recorder_measures_each_layer_input_and_leaves_outputs_alone(cbsa_scope):
    bb = MODELS.build(
        dict(
            type='CRATECBT',
            arch=(16, 4, 2),
            img_size=32,
            patch_size=8,
            attn_cfg=dict(type='CBSA', rep_grid=2)))
    bb.init_weights()
    bb.eval()
    img = torch.randn(2, 3, 32, 32)
    seen = []
    hook = bb.blocks[2].attn.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    with torch.no_grad():
        plain = bb(img)[0]
        with CodingRateRecorder(bb, eps=0.5) as rec:
            recorded = bb(img)[0]
    hook.remove()
    torch.testing.assert_close(recorded, plain, rtol=0, atol=0)
    assert [r.name for r in rec.records] == [f'blocks.{i}.attn' for i in range(4)]
    assert [r.type for r in rec.records] == ['MSSA', 'MSSA', 'CBSA', 'CBSA']
    third = rec.records[2]
    assert third.rates.shape == (2, 2) and third.num_tokens == 17 and third.part == 'blocks'
    torch.testing.assert_close(third.compression,
                               compression_term(seen[1], subspace_bases(bb.blocks[2].attn)))
    torch.testing.assert_close(
        third.compression_normalized,
        normalized_compression_term(seen[1], subspace_bases(bb.blocks[2].attn)))
    with torch.no_grad():
        bb(img)
    assert len(rec.records) == 4  # hooks are gone after the block

    layers = summarize_layers(rec.records)
    assert [layer['index'] for layer in layers] == [0, 1, 2, 3]
    assert layers[2]['samples'] == 2 and len(layers[2]['Rc_per_head']) == 2
    assert layers[2]['Rc_mean'] == pytest.approx(float(third.compression.mean()))
    assert layers[2]['Rc_std'] == pytest.approx(float(third.compression.std()))


def test_recorder_refuses_a_model_without_attention():
    with pytest.raises(ValueError, match='no attention layer'):
        with CodingRateRecorder(torch.nn.Sequential(torch.nn.Linear(3, 3))):
            pass


# --------------------------------------------------------------------------
# Fig. 6: per subspace, tokens and representatives
# --------------------------------------------------------------------------


def _subspace_record(layer, x, hw, eps=0.5):
    from mmseg_cbsa.analysis.coding_rate import SubspaceReductionRecorder
    with SubspaceReductionRecorder(layer, eps) as rec, torch.no_grad():
        layer(x, hw, 1)
    (record, ) = rec.records
    return record


def test_zero_broadcast_step_reduces_nothing():
    from mmseg_cbsa.models.attentions import CBSA
    layer = CBSA(16, num_heads=3, head_dims=4, rep_grid=2)
    with torch.no_grad():
        layer.step_broadcast.zero_()
    rec = _subspace_record(layer, torch.randn(2, 17, 16), (4, 4))
    assert rec.tokens_reduction.shape == (2, 3)
    assert torch.equal(rec.tokens_reduction, torch.zeros(2, 3, dtype=torch.float64))
    assert torch.equal(rec.reps_reduction, torch.zeros(2, 3, dtype=torch.float64))
    assert (rec.tokens_before > 0).all() and (rec.reps_before > 0).all()


def test_subspace_rates_are_the_formula_on_the_layers_own_steps():
    """R(W_k) - R(W_k + b_k A^T C_k) and R(Q_k) - R(Q_k + b_k C_k), written out
    per head from the layer's parameters (AgentAttention: C = Q)."""
    import math

    from mmseg_cbsa.models.attentions import CBSA, AgentAttention
    for cls in (CBSA, AgentAttention):
        layer = cls(16, num_heads=2, head_dims=8, rep_grid=(2, 3))
        x = torch.randn(1, 1 + 24, 16)
        rec = _subspace_record(layer, x, (4, 6), eps=0.3)
        p = 8
        w_all = (x[0] @ layer.proj.weight.T).double()
        grid = w_all[1:].reshape(4, 6, 16).permute(2, 0, 1)
        q0_all = torch.nn.functional.adaptive_avg_pool2d(grid, (2, 3)).flatten(1).T
        for k in range(2):
            w, q0 = w_all[:, k * p:(k + 1) * p], q0_all[:, k * p:(k + 1) * p]
            a = torch.softmax(q0 @ w.T / math.sqrt(p), dim=1)
            q = q0 + layer.step_extract[k, 0, 0].double() * (a @ w)
            c = torch.softmax(q @ q.T / math.sqrt(p), dim=1) @ q if cls is CBSA else q
            dq = layer.step_broadcast[k, 0, 0].double() * c

            def rate(z):
                n = z.shape[0]
                return 0.5 * torch.logdet(torch.eye(p, dtype=z.dtype) + p / (n * 0.3**2) * z.T @ z)

            expected = [rate(w) - rate(w + a.T @ dq), rate(q) - rate(q + dq)]
            got = [rec.tokens_reduction[0, k], rec.reps_reduction[0, k]]
            torch.testing.assert_close(
                torch.stack(got), torch.stack(expected).detach(), rtol=1e-4, atol=1e-6)
        # the tokens' rate before the layer is the per-head R(Z U_k) of Fig. 5
        torch.testing.assert_close(
            rec.tokens_before[0],
            head_coding_rates(x[0], subspace_bases(layer), 0.3),
            rtol=1e-5,
            atol=1e-7)


def test_summarize_subspaces_and_correlation():
    from mmseg_cbsa.analysis.coding_rate import (LayerSubspaceRates, subspace_correlation,
                                                 summarize_subspaces)

    def rec(name, tok, rep):
        tok, rep = torch.tensor(tok, dtype=torch.float64), torch.tensor(rep, dtype=torch.float64)
        return LayerSubspaceRates(name, 'CBSA', 20, 4, tok + 1, torch.ones_like(tok), rep + 2,
                                  2 * torch.ones_like(rep))

    layers = summarize_subspaces([
        rec('a.0', [[1., 2.]], [[3., 5.]]),
        rec('a.1', [[0., 0.]], [[1., 1.]]),
        rec('a.0', [[3., 2.]], [[5., 5.]])
    ])
    assert [x['name'] for x in layers] == ['a.0', 'a.1'] and layers[0]['samples'] == 2
    assert layers[0]['tokens_reduction_mean'] == [2., 2.]
    assert layers[0]['reps_reduction_mean'] == [4., 5.]
    assert layers[0]['tokens_reduction_std'] == pytest.approx([2**.5, 0.])
    assert layers[1]['reps_reduction_std'] == [0., 0.]
    # tokens (2, 2, 0, 0) and representatives (4, 5, 1, 1)
    expected = np.corrcoef([2, 2, 0, 0], [4, 5, 1, 1])[0, 1]
    assert subspace_correlation(layers) == pytest.approx(expected)
    assert subspace_correlation(layers[:1]) is None  # 2 subspaces only
