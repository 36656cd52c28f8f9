"""QKVCBSA: CBSA on a ViT's q / k / v and output projections (paper Fig. 9),
checked against the adapted attention written out from the authors'
``CBSA_finetune_vit/attention.py``."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_cbsa.models.attentions import MHSA, QKVCBSA

D, K, P = 24, 2, 12


def _authors_form(layer, x, hw, grid, contraction, shifted=False):
    """The adapted forward step by step: pool the queries (all heads at once)
    on the patch grid, extract with keys / values, optionally update and
    contract, broadcast through a softmax of the queries over the
    representatives. ``shifted``: pool ``q[:, :-1]`` as the authors' code does
    with [CLS] first (their grid is off by one token)."""
    b, n, _ = x.shape
    h, w = hw
    q, k, v = layer.qkv(x).split(D, dim=-1)
    patches = q[:, :-1] if shifted else q[:, 1:]
    r = F.adaptive_avg_pool2d(patches.reshape(b, h, w, D).permute(0, 3, 1, 2), grid)
    r = r.reshape(b, D, -1).transpose(1, 2)

    def heads(t):
        return t.reshape(b, t.shape[1], K, P).transpose(1, 2)

    q, k, v, r = map(heads, (q, k, v, r))

    def attention(query, key, value):
        return torch.softmax(query @ key.transpose(-1, -2) * P**-0.5, -1) @ value

    delta = attention(r, k, v)
    if contraction:
        r = r + delta
        delta = attention(r, r, r)
    out = attention(q, r, delta)
    return layer.proj(out.transpose(1, 2).reshape(b, n, D))


@pytest.mark.parametrize('contraction', [True, False])
def test_equals_the_adapted_attention_written_out(contraction):
    layer = QKVCBSA(D, K, rep_grid=(2, 3), contraction=contraction).double()
    x = torch.randn(2, 1 + 4 * 6, D, dtype=torch.float64)
    torch.testing.assert_close(
        layer(x, (4, 6), 1), _authors_form(layer, x, (4, 6), (2, 3), contraction))


def test_legacy_grid_reproduces_the_authors_shifted_pooling():
    # a backbone with legacy_cls_pooling tells the layer the grid starts at 0
    layer = QKVCBSA(D, K, rep_grid=2, contraction=False).double()
    x = torch.randn(1, 1 + 4 * 4, D, dtype=torch.float64)
    torch.testing.assert_close(
        layer(x, (4, 4), 0), _authors_form(layer, x, (4, 4), (2, 2), False, shifted=True))
    assert not torch.allclose(layer(x, (4, 4), 0), layer(x, (4, 4), 1))


def test_contraction_changes_the_output():
    with_c, without = QKVCBSA(D, K, rep_grid=2), QKVCBSA(D, K, rep_grid=2, contraction=False)
    without.load_state_dict(with_c.state_dict())
    x = torch.randn(1, 17, D)
    assert not torch.allclose(with_c(x, (4, 4), 1), without(x, (4, 4), 1))


def test_parameters_are_exactly_mhsas():
    mhsa = MHSA(D, K)
    layer = QKVCBSA(D, K)
    assert {k: v.shape for k, v in layer.state_dict().items()} == \
        {k: v.shape for k, v in mhsa.state_dict().items()}
    layer.load_state_dict(mhsa.state_dict(), strict=True)
    assert list(layer.projection_weights()) == ['qkv.weight', 'proj.weight']


@pytest.mark.parametrize('contraction', [True, False])
def test_token_map_carries_the_values_to_the_tokens(contraction):
    layer = QKVCBSA(D, K, rep_grid=2, contraction=contraction).double().eval()
    x = torch.randn(1, 1 + 16, D, dtype=torch.float64)
    seen = []
    layer.register_attention_hook(lambda m, maps: seen.append(maps))
    out = layer(x, (4, 4), 1)
    maps = seen[0]
    assert maps.extraction.shape == (1, K, 4, 17) and maps.rep_grid == (2, 2)
    torch.testing.assert_close(maps.extraction.sum(-1), torch.ones(1, K, 4, dtype=x.dtype))
    torch.testing.assert_close(maps.tokens.sum(-1), torch.ones(1, K, 17, dtype=x.dtype))
    v = layer.qkv(x)[..., 2 * D:].reshape(1, 17, K, P).transpose(1, 2)
    via_map = layer.proj((maps.tokens @ v).transpose(1, 2).reshape(1, 17, D))
    if contraction:  # the representatives' own start R_0 also reaches the tokens
        assert not torch.allclose(via_map, out)
    else:  # B A v is the whole update
        torch.testing.assert_close(via_map, out)


def test_similarity_count_and_small_grids():
    layer = QKVCBSA(D, K, rep_grid=8)
    assert layer.num_similarities(197, 197) == K * (2 * 64 * 197 + 64 * 65 // 2)
    assert QKVCBSA(D, K, contraction=False).num_similarities(197, 197) == K * 2 * 64 * 197
    assert layer.num_similarities(11, 11, hw_shape=(2, 5)) == K * (2 * 10 * 11 + 10 * 11 // 2)
    seen = []
    layer.register_attention_hook(lambda m, maps: seen.append(maps))
    x = torch.randn(2, 11, D, requires_grad=True)
    layer(x, (2, 5), 1).sum().backward()
    assert seen[0].rep_grid == (2, 5) and x.grad.abs().sum() > 0


def test_needs_the_patch_grid():
    with pytest.raises(ValueError, match='hw_shape'):
        QKVCBSA(D, K)(torch.randn(1, 5, D))
