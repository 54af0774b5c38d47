"""The objective's analytic gradient and Hessian against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime, check_grad

from scaling_cli.fit.objective import Data, evaluate, huber

from .conftest import synthetic_ladder


@pytest.fixture(scope="module")
def data() -> Data:
    n, d, loss = synthetic_ladder(noise=0.02, seed=3)
    return Data.from_arrays(n, d, loss)


THETAS = [
    np.array([np.log(1.8), np.log(400.0), np.log(1800.0), 0.33, 0.36]),
    np.array([np.log(1.2), np.log(40.0), np.log(9000.0), 0.2, 0.5]),
    np.array([np.log(2.5), np.log(4000.0), np.log(300.0), 0.6, 0.25]),
]


@pytest.mark.parametrize("theta", THETAS)
def test_gradient_matches_finite_differences(data: Data, theta: np.ndarray) -> None:
    w = np.arange(1, len(data) + 1) % 3  # bootstrap-like integer weights, some zero
    def f(t: np.ndarray) -> float:
        return float(evaluate(t[None], data, w)[0][0])

    def g(t: np.ndarray) -> np.ndarray:
        grad = evaluate(t[None], data, w, order=1)[1]
        assert grad is not None
        return grad[0]
    scale = np.abs(g(theta)).max()
    assert check_grad(f, g, theta, epsilon=1e-7) <= 1e-5 * scale


@pytest.mark.parametrize("theta", THETAS)
def test_hessian_matches_differences_of_gradient(data: Data, theta: np.ndarray) -> None:
    w = np.ones(len(data))
    _, _, h = evaluate(theta[None], data, w, order=2)
    assert h is not None

    def g(t: np.ndarray) -> np.ndarray:
        grad = evaluate(t[None], data, w, order=1)[1]
        assert grad is not None
        return grad[0]
    numeric = np.array([approx_fprime(theta, lambda t, k=k: g(t)[k], 1e-7) for k in range(5)])
    assert np.allclose(h[0], h[0].T)
    assert np.abs(numeric - h[0]).max() <= 1e-3 * np.abs(h[0]).max()


def test_objective_is_a_sum_not_a_mean(data: Data) -> None:
    theta = THETAS[0]
    one = evaluate(theta[None], data, np.ones(len(data)))[0][0]
    two = evaluate(theta[None], data, 2 * np.ones(len(data)))[0][0]
    assert two == pytest.approx(2 * one, rel=1e-14)


def test_batched_rows_equal_single_rows(data: Data) -> None:
    stack = np.vstack(THETAS)
    f, g, h = evaluate(stack, data, np.ones(len(data)), order=2)
    for i, t in enumerate(THETAS):
        f1, g1, h1 = evaluate(t[None], data, np.ones(len(data)), order=2)
        assert f[i] == f1[0] and np.array_equal(g[i], g1[0]) and np.array_equal(h[i], h1[0])


def test_huber_pieces() -> None:
    r = np.array([-1.0, -1e-3, 0.0, 5e-4, 2e-3])
    expected = [1e-3 * (1 - 5e-4), 0.5e-6, 0.0, 0.125e-6, 1e-3 * (2e-3 - 5e-4)]
    assert np.allclose(huber(r), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("rows", [1, 7, 40, 300])
def test_small_batches_stacked_sums_give_the_per_entry_bits(rows: int, data: Data) -> None:
    """A batch small enough for the stacked derivative sums (STACKED_CELLS) gets exactly the
    bits of the per-entry row-wise sums the large batches use."""
    import scaling_cli.fit.objective as objective

    rng = np.random.default_rng(rows)
    theta = np.vstack(THETAS)[rng.integers(0, 3, rows)] + rng.normal(0, 0.05, (rows, 5))
    w = rng.poisson(1.0, (rows, len(data))).astype(float)
    stacked = objective._evaluate_block(theta, data, w, 2, 1e-3)
    saved = objective.STACKED_CELLS
    try:
        objective.STACKED_CELLS = 0  # every batch per entry
        per_entry = objective._evaluate_block(theta, data, w, 2, 1e-3)
    finally:
        objective.STACKED_CELLS = saved
    assert rows * len(data) <= saved or rows == 300  # the small ones take the stacked path
    for a, b in zip(stacked, per_entry, strict=True):
        assert a is not None and b is not None and np.array_equal(a, b)


@pytest.mark.parametrize("rows", [1, 40])
def test_the_objective_alone_has_the_bits_it_has_beside_its_derivatives(
    rows: int, data: Data
) -> None:
    """Line searches and screens ask for the objective alone, which skips the softmax
    weights the derivatives need; Newton compares it with objectives evaluated beside
    derivatives, so the two must agree to the bit (residuals too)."""
    from scaling_cli.fit.objective import residuals

    rng = np.random.default_rng(rows)
    theta = np.vstack(THETAS)[rng.integers(0, 3, rows)] + rng.normal(0, 0.05, (rows, 5))
    w = rng.poisson(1.0, (rows, len(data))).astype(float)
    alone, _, _ = evaluate(theta, data, w, order=0)
    for order in (1, 2):
        assert np.array_equal(alone, evaluate(theta, data, w, order=order)[0])
    f = (w * huber(residuals(theta, data))).sum(axis=1)
    assert np.array_equal(f, alone)


def test_compacted_rows_weigh_the_same_runs(data: Data) -> None:
    """Each weighting evaluated on the runs it counts: the same objective, gradient and
    Hessian as on every run (to rounding), a row's runs in order, and the ladder's own
    smallest values kept for the search's scales."""
    rng = np.random.default_rng(5)
    n = len(data)
    w = rng.multinomial(n, np.ones(n) / n, size=6).astype(float)
    w[0] = 1.0  # one row weighs every run: nothing to leave out
    w[1, : n // 2] = 0.0
    assert data.compact(w)[0] is data
    w = w[1:]  # without it, each row keeps as many runs as the busiest row counts
    counted, kept = data.compact(w)
    k = int((w != 0).sum(axis=1).max())
    assert counted.log_n.shape == kept.shape == (5, k)
    assert k < n
    assert (counted.min_log_n, counted.min_log_d, counted.min_log_l) == (
        data.log_n.min(), data.log_d.min(), data.log_l.min())
    runs = np.flatnonzero(w[0])  # row 0's runs, in their order, then padding at weight 0
    assert np.array_equal(kept[0][: runs.size], w[0][runs])
    assert np.array_equal(counted.log_l[0][: runs.size], data.log_l[runs])
    assert not kept[0][runs.size:].any()
    theta = np.tile(THETAS[0], (5, 1))
    full = evaluate(theta, data, w, order=2)
    compact = evaluate(theta, counted, kept, order=2)
    for a, b in zip(full, compact, strict=True):
        assert a is not None and b is not None
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12 * np.abs(a).max())
    # the rows of a compacted set are its weightings' own runs; a 1-D set is every run
    assert np.array_equal(counted.rows(np.array([3, 1])).log_l, counted.log_l[[3, 1]])
    assert counted.rows(np.arange(5)) is counted
    assert data.rows(np.array([0])) is data
