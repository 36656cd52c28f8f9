"""The rank of CBSA's extraction matrix (mmseg_cbsa/analysis/rep_rank.py):
the rank functions on matrices of known rank, and the recorder on CBSA
layers whose inputs fix the rank of A."""
import pytest
import torch

from mmseg_cbsa.analysis.rep_rank import (ExtractionRankRecorder, default_rtol, effective_rank,
                                          numerical_rank, singular_values, stable_rank,
                                          summarize_ranks)
from mmseg_cbsa.models.attentions import CBSA, MSSA


def _rank_r(m: int, n: int, r: int, spectrum=None) -> torch.Tensor:
    """An m x n matrix of rank r from orthonormal factors: U_r diag(s) V_r^T."""
    u, _ = torch.linalg.qr(torch.randn(m, m, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64))
    s = torch.ones(r, dtype=torch.float64) if spectrum is None else spectrum
    return u[:, :r] @ torch.diag(s) @ v[:, :r].T


@pytest.mark.parametrize('r', [1, 3, 7, 12])
def test_rank_of_a_product_of_factors(r):
    a = torch.randn(12, r) @ torch.randn(r, 50)  # float32, generic factors
    s = singular_values(a)
    assert s.dtype == torch.float64 and s.shape == (12, )
    assert int(numerical_rank(s, default_rtol(a.shape, a.dtype))) == r


@pytest.mark.parametrize('r', [1, 4, 9])
def test_effective_and_stable_rank_of_a_flat_spectrum_are_the_rank(r):
    s = singular_values(_rank_r(9, 40, r))
    assert int(numerical_rank(s, 1e-10)) == r
    torch.testing.assert_close(effective_rank(s), torch.tensor(float(r), dtype=torch.float64))
    torch.testing.assert_close(stable_rank(s), torch.tensor(float(r), dtype=torch.float64))


def test_decaying_spectrum_and_the_tolerance():
    spectrum = torch.tensor([1.0, 1e-1, 1e-3, 1e-9], dtype=torch.float64)
    s = singular_values(_rank_r(6, 30, 4, spectrum))
    assert [int(numerical_rank(s, t)) for t in (1e-12, 1e-6, 1e-2, 0.5)] == [4, 3, 2, 1]
    # one dominant direction: both continuous ranks are barely above 1
    assert 1 < float(stable_rank(s)) < 1.02 < float(effective_rank(s)) < 1.6
    assert default_rtol((4, 100), torch.float32) == 100 * torch.finfo(torch.float32).eps
    with pytest.raises(ValueError, match=r'tolerance must be in \(0, 1\)'):
        numerical_rank(s, 0.0)
    with pytest.raises(ValueError, match='NaN'):
        singular_values(torch.full((2, 3), float('nan')))


def _record(layer, x, hw, **kwargs):
    with ExtractionRankRecorder(layer, **kwargs) as rec, torch.no_grad():
        layer(x, hw, 1)
    (record, ) = rec.records
    return record


def test_identical_tokens_give_rank_one():
    """Equal tokens: every row of A is uniform over the tokens."""
    layer = CBSA(16, num_heads=2, head_dims=4, rep_grid=(2, 3))
    x = torch.randn(1, 1, 16).expand(2, 1 + 24, 16).contiguous()
    rec = _record(layer, x, (4, 6))
    assert rec.num_representatives == 6 and rec.num_tokens == 25
    assert rec.rank.tolist() == [[1, 1], [1, 1]]
    torch.testing.assert_close(rec.stable, torch.ones(2, 2, dtype=torch.float64))


def test_pooled_representatives_of_distinct_tokens_are_full_rank():
    layer = CBSA(16, num_heads=2, head_dims=8, rep_grid=(2, 3))
    with torch.no_grad():
        layer.proj.weight.mul_(4)  # spread the logits
    rec = _record(layer, torch.randn(2, 1 + 24, 16), (4, 6))
    assert rec.rep_init == 'pool' and rec.rank.tolist() == [[6, 6], [6, 6]]


@pytest.mark.parametrize('r', [1, 2, 5])
def test_learned_representatives_with_r_distinct_rows_give_rank_r(r):
    """Rows of A are equal where representatives are: rank(A) = #distinct ones."""
    layer = CBSA(16, num_heads=2, head_dims=8, rep_grid=(2, 4), rep_init='learned')
    with torch.no_grad():
        distinct = 3 * torch.randn(2, r, 8)
        layer.representatives.copy_(distinct[:, torch.arange(8) % r])
    rec = _record(layer, torch.randn(3, 1 + 16, 16), (4, 4))
    assert rec.rep_init == 'learned' and rec.num_representatives == 8
    assert rec.rank.tolist() == [[r, r]] * 3
    assert (rec.effective <= r + 1e-6).all() and (rec.stable <= r + 1e-6).all()


def test_recorder_leaves_outputs_alone_and_summarizes():
    layer = CBSA(16, num_heads=2, head_dims=4, rep_grid=2)
    x = torch.randn(2, 17, 16)
    with torch.no_grad():
        plain = layer(x, (4, 4), 1)
        with ExtractionRankRecorder(layer, rtol=1e-5) as rec:
            recorded = layer(x, (4, 4), 1)
            layer(x[:1, :10], (3, 3), 1)  # a second call, one image
        layer(x, (4, 4), 1)
    assert torch.equal(plain, recorded) and len(rec.records) == 2  # hooks are gone
    (summary, ) = summarize_ranks(rec.records)
    assert summary['samples'] == 3 and summary['rtol'] == [1e-5]
    assert summary['num_tokens'] == [10, 17] and summary['max_rank'] == [4]
    assert len(summary['rank']) == 3 and len(summary['rank_mean']) == 2
    assert all(1 <= v <= 4 for row in summary['rank'] for v in row)
    assert summary['rank_over_m'] == pytest.approx([v / 4 for v in summary['rank_mean']])


def test_model_without_cbsa_is_refused():
    with pytest.raises(ValueError, match='no layer that extracts representatives'):
        with ExtractionRankRecorder(MSSA(16, num_heads=2)):
            pass
    with pytest.raises(ValueError, match='tolerance'):
        ExtractionRankRecorder(CBSA(16, num_heads=2), rtol=2.0)
