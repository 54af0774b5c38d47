"""The global fit: recovery of known laws, invariances, and Epoch's published optimum."""

from __future__ import annotations

import numpy as np
import pytest

from scaling_cli.fit.objective import Data
from scaling_cli.fit.search import fit_law

from .conftest import synthetic_ladder

TRUE = {"E": 1.8, "A": 400.0, "B": 1800.0, "alpha": 0.33, "beta": 0.36}


def test_recovers_a_known_law_exactly_without_noise() -> None:
    res = fit_law(Data.from_arrays(*synthetic_ladder()))
    assert res.verified and res.starts_agreeing >= 2
    assert res.law.as_tuple() == pytest.approx(tuple(TRUE.values()), rel=1e-5)
    assert res.objective < 1e-12


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_a_known_law_with_noise(seed: int) -> None:
    n, d, loss = synthetic_ladder(noise=0.005, sizes=9, seed=seed,
                                  budgets=(1e17, 1e18, 1e19, 1e20, 1e21, 1e22))
    res = fit_law(Data.from_arrays(n, d, loss))
    assert res.verified
    e, _, _, alpha, beta = res.law.as_tuple()
    assert e == pytest.approx(TRUE["E"], abs=0.05)
    assert alpha == pytest.approx(TRUE["alpha"], abs=0.05)
    assert beta == pytest.approx(TRUE["beta"], abs=0.05)


def test_invariant_to_run_order_and_to_duplicating_every_run() -> None:
    n, d, loss = synthetic_ladder(noise=0.01, seed=7)
    base = fit_law(Data.from_arrays(n, d, loss))
    perm = np.random.default_rng(1).permutation(n.size)
    shuffled = fit_law(Data.from_arrays(n[perm], d[perm], loss[perm]))
    doubled = fit_law(Data.from_arrays(np.r_[n, n], np.r_[d, d], np.r_[loss, loss]))
    weighted = fit_law(Data.from_arrays(n, d, loss), weights=np.full(n.size, 2.0))
    for other in (shuffled, doubled, weighted):
        assert other.theta == pytest.approx(base.theta, rel=1e-7, abs=1e-9)
    assert doubled.objective == pytest.approx(2 * base.objective, rel=1e-10)


def test_degenerate_law_is_reported() -> None:
    # No data term at all: the B/D^beta term must vanish (B -> 0 or beta -> 0, which
    # folds it into E) and the fit must say so.
    n, d, _ = synthetic_ladder()
    loss = 1.8 + 400.0 / n**0.33
    res = fit_law(Data.from_arrays(n, d, loss))
    assert {"B", "beta"} & set(res.at_bounds)
    assert res.law.E + (res.law.B if "beta" in res.at_bounds else 0) == pytest.approx(1.8)


def test_reproduces_epochs_best_huber_optimum(epoch_rows: list[dict[str, str]]) -> None:
    """../shared/data/README.md: objective <= 0.00101827404, E within 1e-4,
    alpha/beta within 5e-4, A/B within 0.5% of Epoch's 4,500-start L-BFGS optimum."""
    data = Data.from_arrays([float(r["params"]) for r in epoch_rows],
                            [float(r["tokens"]) for r in epoch_rows],
                            [float(r["loss"]) for r in epoch_rows])
    res = fit_law(data)
    assert len(data) == 240
    assert res.verified
    assert res.objective <= 0.00101827404
    e, a, b, alpha, beta = res.law.as_tuple()
    assert e == pytest.approx(1.817236, abs=1e-4)
    assert alpha == pytest.approx(0.347313, abs=5e-4)
    assert beta == pytest.approx(0.367183, abs=5e-4)
    assert a == pytest.approx(477.84, rel=5e-3)
    assert b == pytest.approx(2143.86, rel=5e-3)


def test_the_profile_step_survives_a_coefficient_block_without_curvature() -> None:
    # Seen on a 16-run ladder's bootstrap: vanished terms leave H_cc singular; the step must
    # still be finite (pseudo-inverse), not a LinAlgError traceback.
    from scaling_cli.fit.profile import _exponent_step

    h = np.zeros((2, 5, 5))
    h[:, 3, 3] = h[:, 4, 4] = 2.0  # curvature in the exponents only
    h[1, :3, :3] = np.eye(3)  # the second row is regular
    g = np.ones((2, 5))
    step, reduced = _exponent_step(g, h, [3, 4])
    assert np.all(np.isfinite(step)) and np.all(np.isfinite(reduced))


def test_many_weightings_searched_at_once_match_one_at_a_time() -> None:
    """fit_law_many (the replicates' last resort) is fit_law's search, row by row."""
    from scaling_cli.fit.bootstrap import resample_weights
    from scaling_cli.fit.constraints import Constraints
    from scaling_cli.fit.search import SearchSettings, fit_law_many

    rng = np.random.default_rng(3)
    n = np.repeat([2e7, 3e7, 4.5e7, 7e7], 4)
    d = np.tile([4e8, 7e8, 1.2e9, 2e9], 4)
    loss = (1.8 + 400 / n**0.33 + 1800 / d**0.36) * np.exp(rng.normal(0, 0.03, n.size))
    data = Data.from_arrays(n, d, loss)
    weights = resample_weights(len(data), None, 6, seed=2)
    for constraints in (Constraints(), Constraints(tie_exponents=True)):
        settings = SearchSettings()
        theta, ok = fit_law_many(data, weights, settings=settings, constraints=constraints,
                                 cells=3000)  # several groups of rows
        for w, t, k in zip(weights, theta, ok, strict=True):
            one = fit_law(data, weights=w, settings=settings, constraints=constraints)
            assert k == (one.starts_converged > 0)
            assert np.allclose(t, one.theta, rtol=1e-9, atol=1e-9)
