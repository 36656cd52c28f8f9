"""The synthetic experiment of Fig. 4 (mmseg_cbsa/analysis/synthetic.py)."""
import pytest
import torch

from mmseg_cbsa.analysis.coding_rate import coding_rate
from mmseg_cbsa.analysis.synthetic import (class_coding_rates, compress_per_class,
                                           linear_compression_step, principal_share,
                                           synthetic_subspace_mixture)


def test_linear_step_is_gradient_descent_on_the_rate():
    """Z - step * Z g(Z^T Z) == Z - (step / c) grad R(Z), c = d / (N eps^2)."""
    z = torch.randn(30, 3, dtype=torch.float64, requires_grad=True)
    eps, step = 0.5, 0.3
    (grad, ) = torch.autograd.grad(coding_rate(z, eps), z)
    c = 3 / (30 * eps**2)
    z = z.detach()
    new = linear_compression_step(z, eps, step)
    torch.testing.assert_close(new, z - step / c * grad)
    assert coding_rate(new, eps) < coding_rate(z, eps)
    # the principal directions are kept, each eigenvalue shrinks
    lam, v = torch.linalg.eigh(z.T @ z)
    lam_new = torch.linalg.eigvalsh(new.T @ new)
    torch.testing.assert_close(lam_new, lam * (1 - step / (1 + c * lam))**2)
    with pytest.raises(ValueError, match='step'):
        linear_compression_step(z, eps, 1.5)


def test_synthetic_mixture_collapses_to_lines():
    z, labels, rot = synthetic_subspace_mixture(301, 3, (1.0, 0.4, 0.1), seed=1)
    assert z.shape == (301, 3) and torch.bincount(labels).tolist() == [101, 100, 100]
    again = synthetic_subspace_mixture(301, 3, (1.0, 0.4, 0.1), seed=1)[0]
    assert torch.equal(z, again)
    rates = [class_coding_rates(z, labels).sum()]
    for _ in range(25):
        z = compress_per_class(z, labels, 0.5, 0.1)
        rates.append(class_coding_rates(z, labels).sum())
    assert all(b < a for a, b in zip(rates, rates[1:]))
    for k in range(3):
        pts = z[labels == k]
        assert principal_share(pts) > 0.99
        # the line is the component's initial principal axis
        axis = torch.linalg.eigh(pts.T @ pts)[1][:, -1]
        assert abs(float(axis @ rot[k][:, 0])) > 0.99
