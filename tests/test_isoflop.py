"""Approach 2 (isoFLOP parabolas), budget levels, and the method comparison."""

from __future__ import annotations

import numpy as np
import pytest

from scaling_cli.fit.approach2 import approach2, budget_levels
from scaling_cli.fit.build import FitSettings
from scaling_cli.forecast.compare import compare_methods
from scaling_cli.read.runs import runset_from_arrays

from .conftest import synthetic_ladder


def test_budget_levels_group_isoflop_slices() -> None:
    c = np.array([1e18, 1.05e18, 0.98e18, 3e19, 3.1e19, 1e21])
    labels, centres = budget_levels(c)
    assert labels.tolist() == [0, 0, 0, 1, 1, 2]
    assert centres[1] == pytest.approx(np.sqrt(3e19 * 3.1e19))


def test_approach2_recovers_the_compute_exponent() -> None:
    # Noise-free isoFLOP slices sampled symmetrically around each optimum: the parabola
    # vertex is close to the true optimum and a = beta / (alpha + beta) is recovered.
    n, d, loss = synthetic_ladder(sizes=9, budgets=(1e18, 1e19, 1e20, 1e21, 1e22))
    point, _ = approach2(n, loss, 6 * n * d)
    assert point.usable and len(point.slice_params) == 5
    assert point.exponent == pytest.approx(0.36 / 0.69, abs=0.01)


def test_approach2_skips_slices_without_an_interior_minimum() -> None:
    n, d, loss = synthetic_ladder(sizes=6, budgets=(1e18, 1e19, 1e20))
    keep = np.tile([True, True, True, False, False, False], 3)  # the 3 smallest per slice:
    # each slice's minimum lies beyond its sampled sizes
    point, _ = approach2(n[keep], loss[keep], (6 * n * d)[keep])
    assert point.skipped_few_sizes + point.skipped_outside == 3 and not point.usable


def test_compare_methods_agree_on_clean_data_and_report_spread() -> None:
    n, d, loss = synthetic_ladder(noise=0.003, sizes=7, seed=2,
                                  budgets=(1e18, 1e19, 1e20, 1e21))
    cmp = compare_methods(runset_from_arrays(n, d, loss), 1e23, FitSettings(replicates=60))
    methods = [r.method for r in cmp.rows]
    assert methods == ["approach3", "lsq", "approach2"]
    assert all(r.params is not None and r.params.low < r.params.value < r.params.high
               for r in cmp.rows)
    assert cmp.params_spread is not None and 1.0 <= cmp.params_spread < 1.5
    assert "symmetric parabolas" in cmp.rows[2].note
