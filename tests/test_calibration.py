"""A reduced calibration study (benchmarks/calibration.py): 24 small simulated ladders with
fixed seeds. It cannot measure coverage to +/-5 points (that is the benchmark's job, see
benchmarks/README.md); it catches an interval that has collapsed (coverage near 0) or
blown up (coverage 100% with huge widths)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.calibration import (
    FORECAST,
    QUANTITIES,
    Ladder,
    Scenario,
    design,
    draw_truth,
    quantities,
    run_study,
    summarise,
)

SCENARIOS = (Scenario("isoflop", (5, 6), 0.01), Scenario("grid", (6, 6), 0.01))


@pytest.fixture(scope="module")
def study() -> list[Ladder]:
    return run_study(SCENARIOS, ladders=12, replicates=120, seed=7)


def test_the_tool_answers_on_almost_every_ladder(study: list[Ladder]) -> None:
    assert len(study) == 24
    assert sum(lad.verified for lad in study) >= 22
    assert all(lad.failed["run"] <= 12 for lad in study if lad.verified)  # <= 10% failed


def test_percentile_intervals_are_neither_collapsed_nor_inflated(study: list[Ladder]) -> None:
    s = summarise(study, ("run", "percentile"))
    for q in FORECAST:  # N*, D*, L*
        name = QUANTITIES[q]
        assert 0.5 <= s.coverage[0, q] <= 0.97, (name, s.coverage[0, q])  # nominal 80%
        assert s.coverage[1, q] >= 0.75, (name, s.coverage[1, q])  # nominal 95%
    # Typical 95% widths: N* known to a factor between 1.05 and 30 at 100x extrapolation,
    # the loss there to between 0.05% and 20%.
    assert 1.05 < np.exp(s.width[1, 5]) < 30
    assert 5e-4 < np.expm1(s.width[1, 7]) < 0.2


def test_the_coverage_check_catches_a_collapsed_or_inflated_interval(
        study: list[Ladder]) -> None:
    """The same summaries on doctored replicates: all replicates at the point estimate
    (a collapsed interval) and replicates spread over 10 orders of magnitude."""
    rng = np.random.default_rng(0)

    def doctor(lad: Ladder, spread: float) -> Ladder:
        if not lad.verified:
            return lad
        reps = lad.point * np.exp(spread * rng.standard_normal(lad.replicates["run"].shape))
        return dataclasses.replace(lad, replicates={"run": reps})

    collapsed = summarise([doctor(lad, 0.0) for lad in study], ("run", "percentile"))
    inflated = summarise([doctor(lad, 10.0) for lad in study], ("run", "percentile"))
    assert collapsed.coverage[0, 5] < 0.5
    assert inflated.coverage[0, 5] == 1.0 and np.exp(inflated.width[1, 5]) > 30


def test_isoflop_design_centres_on_the_true_optimum_with_shared_sizes() -> None:
    rng = np.random.default_rng(3)
    truth = draw_truth(rng)
    n, d = design(Scenario("isoflop", (5, 7), 0.01), truth, rng)
    budgets = 6 * n * d
    assert np.unique(np.round(budgets, -10)).size == 5
    assert np.unique(n).size < n.size  # sizes repeat across budgets (groups by size exist)
    best = quantities(truth, float(budgets.max()))[5]
    largest = n[np.isclose(budgets, budgets.max())]
    assert largest.min() < best * 10**0.3 * 2 and largest.max() > best / (10**0.3 * 2)
