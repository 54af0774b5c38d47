"""The speed benchmark's own code is right: its L-BFGS-B baseline, its ladders and run logs,
its interval comparison and its scale subprocess. No timing is asserted here."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import check_grad

from benchmarks.baseline import HOFFMANN_GRID, grid_subset, lbfgsb_fit, value_and_grad
from benchmarks.ladders import isoflop_ladder, write_per_run_dir, write_runs_list
from benchmarks.processes import import_tree, measure_scale
from benchmarks.suite import compare_intervals
from scaling_cli.fit.objective import Data, evaluate
from scaling_cli.fit.search import fit_law
from scaling_cli.read.runs import load_runs

from .conftest import synthetic_ladder

TRUTH = [*np.log([1.8, 400.0, 1800.0]).tolist(), 0.33, 0.36]
# Four of Hoffmann's starts (log E = 0.5, log A and log B in {0, 10}, alpha = beta = 0.5):
# few enough to stay fast under threaded BLAS, where scipy's L-BFGS-B is ~10x slower a step.
_G = HOFFMANN_GRID
STARTS = _G[(_G[:, 0] == 0.5) & np.isin(_G[:, 1], (0, 10)) & np.isin(_G[:, 2], (0, 10))
            & (_G[:, 3] == 0.5) & (_G[:, 4] == 0.5)]


def _ladder(noise: float) -> Data:
    return Data.from_arrays(*synthetic_ladder(noise=noise, sizes=6, seed=3,
                                              budgets=(1e17, 1e18, 1e19, 1e20, 1e21)))


def test_baseline_gradient_is_the_tools_exact_gradient() -> None:
    data = _ladder(0.02)
    rng = np.random.default_rng(0)
    w = rng.integers(0, 3, len(data)).astype(float)
    for theta in [np.array(TRUTH), *(np.array(TRUTH) + rng.normal(0, 0.3, 5) for _ in range(4))]:
        f, g = value_and_grad(theta, data, w)
        f_ref, g_ref, _ = evaluate(theta, data, w, order=1)
        assert f == pytest.approx(f_ref[0], rel=1e-12)
        assert np.allclose(g, g_ref[0], rtol=1e-10, atol=1e-14 * np.abs(g_ref).max())
        error = check_grad(lambda t: value_and_grad(t, data, w)[0],
                           lambda t: value_and_grad(t, data, w)[1], theta)
        assert error <= 1e-5 * max(np.linalg.norm(g), 1e-3)


def test_hoffmann_grid_and_subset_cover_all_exponent_pairs() -> None:
    assert HOFFMANN_GRID.shape == (4500, 5)
    assert len(np.unique(HOFFMANN_GRID, axis=0)) == 4500
    assert len(np.unique(grid_subset(23)[:, 3:], axis=0)) == 25
    # the pitfall the default avoids: a stride of 25 only ever starts at alpha = beta = 0
    assert len(np.unique(grid_subset(25)[:, 3:], axis=0)) == 1


def test_baseline_finds_the_true_law_on_a_noise_free_ladder() -> None:
    assert len(STARTS) == 4
    data = _ladder(0.0)
    base = lbfgsb_fit(data, STARTS)
    fast = fit_law(data)
    assert np.allclose(base.theta, TRUTH, atol=1e-3)
    assert np.allclose(base.theta, fast.theta, atol=1e-3)
    assert base.objective <= 1e-12 and fast.objective <= 1e-12


def test_baseline_reaches_the_global_fits_objective_on_noisy_runs() -> None:
    data = _ladder(0.01)
    base = lbfgsb_fit(data, STARTS)
    fast = fit_law(data)
    assert base.objective >= fast.objective * (1 - 1e-9)  # fit_law's optimum is global
    assert base.objective == pytest.approx(fast.objective, rel=1e-7)
    assert np.allclose(base.theta, fast.theta, atol=1e-3)


def test_ladder_logs_load_back_exactly_in_both_layouts(tmp_path: pytest.TempPathFactory) -> None:
    params, tokens, loss = isoflop_ladder(40, seed=1)
    budgets = np.unique(np.round(np.log10(6 * params * tokens), 9))
    assert len(params) == 40 and len(budgets) == 4  # isoFLOP: 4 budgets of 10 sizes
    one = load_runs([str(write_runs_list(tmp_path / "runs.yaml", params, tokens, loss))])
    many = load_runs([str(write_per_run_dir(tmp_path / "runs", params, tokens, loss))])
    for runs in (one, many):
        assert len(runs) == 40
        assert [r.params for r in runs.runs] == params.tolist()
        assert [r.loss for r in runs.runs] == loss.tolist()


def test_interval_comparison_flags_a_difference() -> None:
    rng = np.random.default_rng(0)
    theta = np.array(TRUTH) + rng.normal(0, 0.05, (200, 5))
    assert all(ok for *_, ok in compare_intervals(theta, theta.copy()))
    moved = theta.copy()
    low = np.argsort(moved[:, 3])[:6]
    moved[low, 3] -= 0.05  # the lower tail of alpha moves: its interval must differ
    flags = {q: ok for q, _, _, ok in compare_intervals(moved, theta)}
    assert not flags["alpha"] and flags["E"]


def test_import_tree_keeps_slow_imports_only() -> None:
    stderr = ("import time: self [us] | cumulative | imported package\n"
              "import time:       500 |        600 | tiny\n"
              "import time:     20000 |      40000 |   numpy\n"
              "import time:      1000 |      41000 | scaling_cli.law\n")
    lines = import_tree(stderr, min_us=15_000)
    assert len(lines) == 2 and lines[0].split() == ["40.0", "20.0", "numpy"]


def test_scale_worker_reports_every_stage(tmp_path: pytest.TempPathFactory) -> None:
    path = write_runs_list(tmp_path / "runs.yaml", *isoflop_ladder(60, seed=2))
    case = measure_scale(path, 60, "list", replicates=4, workers=1, time_limit=120)
    assert case.complete, case.stderr
    assert case.stages["runs"]["count"] == 60
    assert 0 < case.peak_mb < 2048


def test_the_real_ladder_section_says_when_its_data_is_absent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from benchmarks.measure import Report
    from benchmarks.process import REAL_CONFIGS, real_section

    report = Report()
    real_section(report, {}, tmp_path / "porian_isoflop.csv", 1, 0.05)
    text = "\n".join(report.markdown)
    assert "not found" in text and "skipped" in text
    assert report.targets == [] and len(REAL_CONFIGS) == 3
