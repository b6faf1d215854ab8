"""Statistics helpers against known values and properties (no scipy: known values are textbook tables)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpline_gateway import stats


def test_wilson_8_of_10():
    e = stats.wilson_interval(8, 10)
    assert e.estimate == pytest.approx(0.8)
    assert e.low == pytest.approx(0.4902, abs=5e-4)
    assert e.high == pytest.approx(0.9433, abs=5e-4)


def test_wilson_edges_and_empty():
    assert stats.wilson_interval(0, 0) == stats.Estimate(0.0, 0.0, 1.0)
    zero = stats.wilson_interval(0, 20)
    assert zero.low == 0.0 and zero.estimate == 0.0 and 0.1 < zero.high < 0.2  # 0/20 → upper ≈ 0.161
    assert zero.high == pytest.approx(0.1611, abs=5e-4)
    full = stats.wilson_interval(20, 20)
    assert full.high == 1.0 and full.low == pytest.approx(1 - 0.1611, abs=5e-4)


@pytest.mark.parametrize(("k", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_rejects_impossible_counts(k, n):
    with pytest.raises(ValueError):
        stats.wilson_interval(k, n)


@given(st.integers(min_value=0, max_value=100_000), st.data())
def test_wilson_within_unit_and_contains_estimate(n, data):
    k = data.draw(st.integers(min_value=0, max_value=n))
    e = stats.wilson_interval(k, n)
    assert 0.0 <= e.low <= e.estimate <= e.high <= 1.0
    assert not any(math.isnan(v) for v in (e.low, e.estimate, e.high))


@given(st.integers(min_value=1, max_value=5_000), st.data())
def test_wilson_narrows_with_more_data(n, data):
    k = data.draw(st.integers(min_value=0, max_value=n))
    small, big = stats.wilson_interval(k, n), stats.wilson_interval(4 * k, 4 * n)
    assert big.high - big.low < small.high - small.low


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.706),
        (0.975, 2, 4.303),
        (0.975, 3, 3.182),
        (0.975, 4, 2.776),
        (0.975, 5, 2.571),
        (0.975, 10, 2.228),
        (0.975, 20, 2.086),
        (0.975, 30, 2.042),
        (0.975, 60, 2.000),
        (0.975, 120, 1.980),
        (0.975, math.inf, 1.960),
        (0.975, 10**9, 1.960),
        (0.995, 1, 63.657),
        (0.995, 5, 4.032),
        (0.995, 30, 2.750),
        (0.95, 10, 1.812),
        (0.9, 1, 3.078),
    ],
)
def test_t_quantile_table(p, df, expected):
    assert stats.t_quantile(p, df) == pytest.approx(expected, abs=5e-4)
    assert stats.t_quantile(1 - p, df) == pytest.approx(-expected, abs=5e-4)


def test_t_quantile_precise_values():
    # More digits than the table: the inverse is exact, not an approximation.
    assert stats.t_quantile(0.975, 4) == pytest.approx(2.7764451051977987, rel=1e-10)
    assert stats.t_quantile(0.975, 10) == pytest.approx(2.2281388519649385, rel=1e-10)
    assert stats.t_quantile(0.5, 7) == 0.0


@given(
    st.floats(min_value=0.001, max_value=0.999),
    st.floats(min_value=0.5, max_value=500),
)
def test_t_quantile_inverts_cdf(p, df):
    t = stats.t_quantile(p, df)
    assert stats.t_cdf(t, df) == pytest.approx(p, abs=1e-9)


@given(st.floats(min_value=0.51, max_value=0.999), st.integers(min_value=1, max_value=200))
def test_t_wider_than_normal_and_shrinking_with_df(p, df):
    assert stats.t_quantile(p, df) >= stats.t_quantile(p, df + 1) >= stats.z_quantile(2 * p - 1) - 1e-12


def test_mean_interval_known_value():
    e = stats.mean_interval([1, 2, 3, 4])
    # mean 2.5, sd = sqrt(5/3), half-width = t(0.975, 3) * sd / 2
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2
    assert e.estimate == 2.5
    assert e.low == pytest.approx(2.5 - half) and e.high == pytest.approx(2.5 + half)


def test_mean_interval_small_samples_and_bounds():
    assert stats.mean_interval([]) == stats.Estimate(0.0, 0.0, 0.0)
    assert stats.mean_interval([], bounds=(0, 100)) == stats.Estimate(0.0, 0.0, 100.0)
    assert stats.mean_interval([42.0]) == stats.Estimate(42.0, 42.0, 42.0)
    assert stats.mean_interval([42.0], bounds=(0, 100)) == stats.Estimate(42.0, 0.0, 100.0)
    clipped = stats.mean_interval([100, 100, 90], bounds=(0, 100))
    assert clipped.high == 100.0 and clipped.low < clipped.estimate
    with pytest.raises(ValueError):
        stats.mean_interval([1.0, math.nan])


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=0, max_size=60),
    st.booleans(),
)
def test_mean_interval_contains_mean(values, bounded):
    bounds = (-1e6, 1e6) if bounded else None
    e = stats.mean_interval(values, bounds=bounds)
    assert e.low <= e.estimate <= e.high
    assert all(math.isfinite(v) for v in (e.low, e.estimate, e.high))
    if values:
        assert e.estimate == pytest.approx(math.fsum(values) / len(values), abs=1e-6)


def test_two_proportion_z_known_value():
    # 40/100 vs 60/100: pooled 0.5, se = sqrt(0.25 * 0.02) = 0.0707, z = -2.828, p = 0.00468
    z, p = stats.two_proportion_z(40, 100, 60, 100)
    assert z == pytest.approx(-2.8284, abs=1e-4)
    assert p == pytest.approx(0.00468, abs=1e-5)
    assert stats.two_proportion_z(0, 0, 5, 10) == (0.0, 1.0)
    assert stats.two_proportion_z(10, 10, 5, 5) == (0.0, 1.0)


def test_clearly_below():
    assert stats.clearly_below(40, 100, 60, 100)
    assert not stats.clearly_below(60, 100, 40, 100)  # above, not below
    assert not stats.clearly_below(55, 100, 60, 100)  # a gap within noise
    assert not stats.clearly_below(0, 2, 600, 1000)  # 0 of 2 proves little (z ≈ -1.73)
    assert stats.clearly_below(0, 5, 900, 1000)
    assert not stats.clearly_below(0, 0, 900, 1000)


@pytest.mark.parametrize(
    ("margin", "population", "expected"),
    [
        (0.10, 100, 50),
        (0.10, 10_000, 96),
        (0.10, None, 97),
        (0.05, 1_000, 278),
        (0.05, None, 385),
        (0.10, 30, 24),
        (0.10, 1, 1),
        (0.10, 0, 0),
    ],
)
def test_sample_size_with_fpc(margin, population, expected):
    assert stats.sample_size(margin, population) == expected


@given(st.floats(min_value=0.005, max_value=0.5), st.integers(min_value=0, max_value=10**7))
def test_sample_size_never_exceeds_population(margin, population):
    n = stats.sample_size(margin, population)
    assert 0 <= n <= population
    assert n <= stats.sample_size(margin, None)
    if population:
        assert n >= 1


@pytest.mark.parametrize("margin", [0, 1, -0.1])
def test_sample_size_rejects_bad_margin(margin):
    with pytest.raises(ValueError):
        stats.sample_size(margin, 100)
