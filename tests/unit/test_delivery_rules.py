"""The statistical delivery rules: a cut-short delta day and a rescaled amount column."""

from __future__ import annotations

import pytest
from scipy.stats import poisson

from grassroots.quality import delivery


@pytest.mark.parametrize(("observed", "mean"), [(0, 20.0), (3, 40.0), (10, 12.5), (50, 80.0), (0, 0.5)])
def test_the_poisson_tail_is_the_textbook_one(observed: int, mean: float) -> None:
    assert delivery.poisson_lower_tail(observed, mean) == pytest.approx(poisson.cdf(observed, mean), rel=1e-9)


def test_a_day_at_or_above_its_mean_is_never_improbably_small() -> None:
    assert delivery.poisson_lower_tail(30, 20.0) == 1.0


def test_a_tenth_of_a_busy_day_is_improbable_and_a_quiet_day_is_not() -> None:
    assert delivery.poisson_lower_tail(30, 300.0) < delivery.CHANCE  # a file cut to a tenth
    assert delivery.poisson_lower_tail(12, 20.0) > delivery.CHANCE  # an ordinary slow day
