"""QKVLinearAttention: the ReLU-kernel linear attention of paper Fig. 9,
checked against the authors' formula written out."""
import torch

from mmseg_cbsa.models.attentions import MHSA, QKVLinearAttention

D, K, P = 24, 2, 12


def _authors_form(layer, x):
    """ReLU kernel, normaliser ``1 / (q . mean(k) + 1e-6)``, key-value summary
    scaled by ``N^-1/2`` on each side, as in the authors' linear adaptation."""
    b, n, _ = x.shape
    q, k, v = layer.qkv(x).split(D, dim=-1)
    q, k = torch.relu(q) + 1e-6, torch.relu(k) + 1e-6

    def heads(t):
        return t.reshape(b, n, K, P).transpose(1, 2)

    q, k, v = map(heads, (q, k, v))
    z = 1 / (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1) + 1e-6)
    kv = (k.transpose(-2, -1) * n**-0.5) @ (v * n**-0.5)
    return layer.proj((q @ kv * z).transpose(1, 2).reshape(b, n, D))


def test_equals_the_authors_linear_attention():
    layer = QKVLinearAttention(D, K).double()
    x = torch.randn(2, 17, D, dtype=torch.float64)
    torch.testing.assert_close(layer(x), _authors_form(layer, x))


def test_equals_its_quadratic_form():
    layer = QKVLinearAttention(D, K).double()
    x = torch.randn(1, 17, D, dtype=torch.float64)
    seen = []
    layer.register_attention_hook(lambda m, maps: seen.append(maps))
    out = layer(x, (4, 4), 1)
    tokens = seen[0].tokens
    assert tokens.shape == (1, K, 17, 17) and (tokens > 0).all()
    # rows are normalised up to the eps in the denominator
    torch.testing.assert_close(
        tokens.sum(-1), torch.ones(1, K, 17, dtype=x.dtype), rtol=1e-4, atol=1e-4)
    v = layer.qkv(x)[..., 2 * D:].reshape(1, 17, K, P).transpose(1, 2)
    torch.testing.assert_close(layer.proj((tokens @ v).transpose(1, 2).reshape(1, 17, D)), out)


def test_loads_mhsa_weights_and_counts_no_token_pairs():
    layer = QKVLinearAttention(D, K)
    layer.load_state_dict(MHSA(D, K).state_dict(), strict=True)
    assert layer.num_similarities(197, 197) == K * 197 * P
