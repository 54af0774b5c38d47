"""The interval constructions the calibration study compares (benchmarks/calibration.py):
exact small cases, invariances, and BCa's known repair of a skewed statistic. The study
rejects basic, BC and BCa for the tool; these tests make sure it rejected them correctly
computed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.calibration import acceleration, basic_interval, bca_interval, bias_correction
from scaling_cli.errors import UsageError
from scaling_cli.fit.build import FitSettings
from scaling_cli.forecast.intervals import Estimate, percentile_interval

values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=5, max_size=60)


def test_basic_reflects_the_percentile_interval_about_the_point() -> None:
    reps = np.arange(1.0, 102.0)  # 1..101: 2.5% and 97.5% quantiles are 3.5 and 98.5
    assert percentile_interval(reps, 0.95) == pytest.approx((3.5, 98.5))
    assert basic_interval(60.0, reps, 0.95, False) == pytest.approx((120 - 98.5, 120 - 3.5))


def test_basic_on_the_log_scale_stays_positive() -> None:
    reps = np.exp(np.linspace(-3, 3, 101))
    low, high = basic_interval(1.0, reps, 0.9, True)
    assert low > 0 and high > 0
    assert math.log(low) == pytest.approx(-math.log(percentile_interval(reps, 0.9)[1]))
    assert basic_interval(1.0, reps, 0.9, False)[0] < 0  # the linear reflection crosses zero


def test_bias_correction_counts_replicates_below_the_point() -> None:
    reps = np.arange(100.0)
    assert bias_correction(49.5, reps) == pytest.approx(0.0)
    assert bias_correction(83.5, reps) == pytest.approx(0.994457883, rel=1e-6)  # Phi^-1(.84)
    assert bias_correction(1e9, reps) == pytest.approx(2.5758293)  # clipped at 1 - 1/(2R)


def test_bc_with_the_point_at_the_median_is_the_percentile_interval() -> None:
    reps = np.random.default_rng(0).lognormal(0, 1, 999)
    point = float(np.median(reps))
    assert bca_interval(point, reps, 0.8) == pytest.approx(percentile_interval(reps, 0.8))


def test_bc_shifts_the_interval_towards_the_point() -> None:
    reps = np.random.default_rng(1).normal(0, 1, 2000)
    pct = percentile_interval(reps, 0.9)
    low, high = bca_interval(0.5, reps, 0.9)  # replicates mostly below: estimator biased low
    assert low > pct[0] and high > pct[1]


def test_acceleration_is_zero_for_symmetric_jackknife_and_signed_by_skew() -> None:
    assert acceleration(np.array([1.0, 2.0, 3.0, 4.0])) == 0.0
    assert acceleration(np.array([5.0, 5.0, 5.0])) == 0.0
    assert acceleration(np.array([1.0, 2.0])) == 0.0  # too few values
    # One jackknife value far below the rest: u = mean - theta_(i) has a large positive term.
    assert acceleration(np.array([0.0, 10.0, 10.0, 10.0, 10.0])) > 0
    assert acceleration(np.array([20.0, 10.0, 10.0, 10.0, 10.0])) < 0


def test_bca_matches_the_formula() -> None:
    rng = np.random.default_rng(2)
    reps = rng.gamma(3.0, size=4000)
    jack = rng.normal(0, 1, 50) ** 3
    point = 2.7
    z0 = bias_correction(point, reps)
    a = acceleration(jack)
    phi = np.vectorize(lambda z: 0.5 * math.erfc(-z / math.sqrt(2)))
    z = np.array([-1.6448536269514722, 1.6448536269514722])
    probs = phi(z0 + (z0 + z) / (1 - a * (z0 + z)))
    expected = np.quantile(reps, probs)
    assert bca_interval(point, reps, 0.9, jack) == pytest.approx(tuple(expected), rel=1e-9)


def test_bca_survives_an_extreme_acceleration() -> None:
    reps = np.linspace(0, 1, 101)
    low, high = bca_interval(0.5, reps, 0.95, np.array([0.0] * 9 + [1e6]))
    assert 0.0 <= low <= high <= 1.0


@settings(max_examples=60, deadline=None)
@given(values, st.floats(-1e6, 1e6), st.floats(0.5, 0.99))
def test_bc_interval_is_ordered_and_inside_the_replicates(reps: list[float], point: float,
                                                          confidence: float) -> None:
    low, high = bca_interval(point, np.asarray(reps), confidence)
    assert min(reps) <= low <= high <= max(reps)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=5, max_size=60), st.floats(0.5, 0.99))
def test_bc_is_equivariant_under_increasing_affine_maps(reps: list[int],
                                                        confidence: float) -> None:
    r = np.asarray(reps, dtype=float)  # integers: 3 r + 7 is exact, so ties stay ties
    point = float(r[0])
    low, high = bca_interval(point, r, confidence, r[::-1])
    low2, high2 = bca_interval(3 * point + 7, 3 * r + 7, confidence, 3 * r[::-1] + 7)
    scale = 1 + float(np.abs(r).max())
    assert low2 == pytest.approx(3 * low + 7, abs=1e-9 * scale)
    assert high2 == pytest.approx(3 * high + 7, abs=1e-9 * scale)


def test_bca_corrects_the_percentile_undercoverage_of_a_skewed_statistic() -> None:
    """The variance of n = 15 normal draws: the percentile bootstrap's 90% interval misses
    high far more often than 5% (the statistic is biased low and right-skewed); BCa's
    bias and skewness corrections move the interval up and repair much of it."""
    rng = np.random.default_rng(1)
    n, datasets, reps = 15, 300, 800
    above = {"percentile": 0, "BCa": 0}  # true variance 1 above the upper limit
    covered = {"percentile": 0, "BCa": 0}
    for _ in range(datasets):
        x = rng.normal(0.0, 1.0, n)
        boot = x[rng.integers(0, n, size=(reps, n))].var(axis=1)
        jack = np.array([np.delete(x, i).var() for i in range(n)])
        for name, (low, high) in (("percentile", percentile_interval(boot, 0.9)),
                                  ("BCa", bca_interval(float(x.var()), boot, 0.9, jack))):
            above[name] += high < 1.0
            covered[name] += low <= 1.0 <= high
    assert above["percentile"] / datasets > 0.2  # the defect is real ...
    assert above["BCa"] < above["percentile"] - 0.05 * datasets  # ... BCa repairs much of it
    assert covered["BCa"] > covered["percentile"]


def test_the_total_interval_adds_the_form_error_in_quadrature_on_the_log_scale() -> None:
    est = Estimate(value=2.0, low=1.0, high=3.0)
    wide = est.widened(0.05, 0.95)
    z = 1.959963984540054
    assert wide.total_low == pytest.approx(2.0 * math.exp(-math.hypot(math.log(2.0), z * 0.05)))
    assert wide.total_high == pytest.approx(2.0 * math.exp(math.hypot(math.log(1.5), z * 0.05)))
    assert wide.total_low is not None and wide.total_high is not None
    assert wide.total_low <= est.low and wide.total_high >= est.high  # never narrower
    assert est.widened(0.0, 0.95).total_low == est.low  # no form error: the statistical one


def test_a_degenerate_interval_widens_to_infinity_not_to_a_traceback() -> None:
    wide = Estimate(value=1e-300, low=1e-310, high=1e300).widened(0.05, 0.95)
    assert wide.total_high is not None and wide.total_high >= 1e300
    assert wide.total_low is not None and 0.0 <= wide.total_low <= 1e-310


@pytest.mark.parametrize("k", [0.5, 101.0, float("inf"), float("nan")])
def test_fit_settings_hold_k_to_the_flags_range(k: float) -> None:
    with pytest.raises(UsageError, match="outside 1 to 100"):
        FitSettings(flops_per_param_token=k)
