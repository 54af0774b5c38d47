"""The law and its closed-form optimum: algebraic properties, checked by hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from scaling_cli.law import Law, optimal_allocation, predict_loss
from scaling_cli.read.presets import load_presets

laws = st.builds(
    Law,
    E=st.floats(0.5, 3.0), A=st.floats(10.0, 1e4), B=st.floats(10.0, 1e5),
    alpha=st.floats(0.05, 1.0), beta=st.floats(0.05, 1.0),
)
budgets = st.floats(1e15, 1e30)
ks = st.sampled_from([2.0, 6.0, 8.0])


@given(laws, budgets, ks)
def test_allocation_spends_the_budget(law: Law, c: float, k: float) -> None:
    a = optimal_allocation(law, c, flops_per_param_token=k)
    assert k * a.params * a.tokens == pytest.approx(c, rel=1e-9)


@given(laws, budgets, st.floats(1.5, 100.0))
def test_allocation_grows_with_budget(law: Law, c: float, factor: float) -> None:
    small, big = optimal_allocation(law, c), optimal_allocation(law, c * factor)
    assert big.params > small.params and big.tokens > small.tokens
    assert big.loss < small.loss


@given(laws, budgets)
def test_predicted_loss_exceeds_irreducible(law: Law, c: float) -> None:
    a = optimal_allocation(law, c)
    assert a.loss > law.E


@settings(max_examples=40)
@given(laws, st.floats(1e18, 1e26))
def test_closed_form_is_the_isoflop_minimum(law: Law, c: float) -> None:
    # Minimise L(N, C/(6N)) numerically over log N and compare with the closed form.
    res = minimize_scalar(lambda x: float(predict_loss(law, np.exp(x), c / (6 * np.exp(x)))),
                          bounds=(np.log(1e2), np.log(c / 6 / 1e2)), method="bounded",
                          options={"xatol": 1e-10})
    a = optimal_allocation(law, c)
    assert float(predict_loss(law, np.exp(res.x), c / 6 / np.exp(res.x))) >= a.loss * (1 - 1e-12)


def test_loss_is_finite_at_extremes() -> None:
    law = Law(1.69, 406.4, 410.7, 0.34, 0.28)
    n = np.array([1e6, 1e30, 1e6, 1e30])
    d = np.array([1e6, 1e30, 1e30, 1e6])
    loss = predict_loss(law, n, d)
    assert np.all(np.isfinite(loss)) and loss[1] == pytest.approx(1.69, abs=1e-5)
    a = optimal_allocation(law, np.array([1e6, 1e30]))
    assert np.all(np.isfinite(a.params)) and np.all(np.isfinite(a.tokens))


def test_presets_reproduce_published_tokens_per_param() -> None:
    # ../shared/data/README.md: rounded Hoffmann ~93, unrounded ~59 tokens/param at
    # Chinchilla's budget (5.76e23 FLOPs); Epoch ~20.
    presets = load_presets()
    ratio = {name: float(optimal_allocation(p.law, 5.76e23).tokens_per_param)
             for name, p in presets.items()}
    assert ratio["hoffmann-2022"] == pytest.approx(93, abs=1)
    assert ratio["hoffmann-2022-unrounded"] == pytest.approx(59, abs=1)
    assert ratio["epoch-2024"] == pytest.approx(18.4, abs=0.5)
    assert all(p.citation for p in presets.values())


def test_replicate_arrays_broadcast_against_budgets() -> None:
    law = Law(np.array([1.7, 1.8]), np.array([400.0, 500.0]), np.array([400.0, 2000.0]),
              np.array([0.34, 0.35]), np.array([0.28, 0.37]))
    a = optimal_allocation(Law.stacked(law, None), np.array([[1e22, 1e24]]))
    assert a.params.shape == (2, 2)
    single = optimal_allocation(Law(1.8, 500.0, 2000.0, 0.35, 0.37), 1e24)
    assert a.params[1, 1] == pytest.approx(single.params, rel=1e-12)


@settings(max_examples=60)
@given(laws, budgets)
def test_plain_float_path_equals_the_array_path(law: Law, c: float) -> None:
    # There is one numeric path: a scalar budget and a one-element array give the same bits.
    from scaling_cli.forecast.band import near_optimal_band

    scalar = optimal_allocation(law, c)
    array = optimal_allocation(law, np.array([c]))
    for field in ("params", "tokens", "loss"):
        assert float(getattr(scalar, field)) == float(getattr(array, field)[0])
    band_s, band_a = near_optimal_band(law, c), near_optimal_band(law, np.array([c]))
    assert band_s.params_smallest == pytest.approx(band_a.params_smallest[0], rel=1e-9)
    assert band_s.params_largest == pytest.approx(band_a.params_largest[0], rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.floats(1.0, 3.0), st.floats(10.0, 5e3), st.floats(10.0, 5e4), st.floats(0.05, 1.5),
       st.floats(0.05, 1.5), st.floats(1e18, 1e28))
def test_a_point_is_the_same_number_with_or_without_replicates(
        e: float, a: float, b: float, alpha: float, beta: float, c: float) -> None:
    # One numeric path: the point of a stacked evaluation (row 0) is bit for bit the point
    # computed alone, so a preset's answer and a fitted model's point never differ by rounding.
    from scaling_cli.forecast.answers import optimal
    from scaling_cli.model import Model

    law = Law(e, a, b, alpha, beta)
    replicates = np.array([[np.log(e), np.log(a), np.log(b), alpha, beta]] * 50)
    alone = optimal(Model(law, None, "test", 6.0), [c]).rows[0]
    paired = optimal(Model(law, replicates * (1 + 1e-3), "test", 6.0), [c]).rows[0]
    for name in ("params", "tokens", "tokens_per_param", "loss"):
        assert getattr(alone, name).value == getattr(paired, name).value, name
