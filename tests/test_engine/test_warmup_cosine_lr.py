"""WarmupCosineLR: its closed form, stepped as mmengine steps schedulers."""
import math

import pytest
import torch

from mmseg_cbsa.engine import WarmupCosineLR


def _rates(steps, **kwargs):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.5)
    scheduler = WarmupCosineLR(optimizer, **kwargs)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    return rates


def test_minimum_of_warmup_and_cosine():
    rates = _rates(10, warmup=4, T_max=10)
    for t, lr in enumerate(rates):
        expected = 0.5 * min((t + 1) / 4, (1 + math.cos(math.pi * t / 10)) / 2)
        assert lr == pytest.approx(expected, abs=1e-12)
    assert max(rates) < 0.5  # the cosine takes over before the warm-up ends


def test_offset_lags_the_cosine():
    rates = _rates(6, T_max=10, offset=2)
    assert rates[2] == pytest.approx(0.5) and rates[1] == pytest.approx(rates[3])


def test_bad_lengths_are_refused():
    param = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match='T_max must be positive'):
        WarmupCosineLR(torch.optim.SGD([param], lr=0.1), T_max=0)
