"""Planning mathematics: algebraic properties (hypothesis), brute-force cross-checks,
replicate vectorisation, and the data-constrained law on Muennighoff et al.'s C4 runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from scaling_cli.errors import InputError, UsageError
from scaling_cli.forecast.band import near_optimal_band
from scaling_cli.forecast.data_limits import (
    R_D_STAR,
    data_constrained,
    effective_data,
    effective_params,
    predict_loss_data_constrained,
)
from scaling_cli.forecast.intervals import percentile_interval
from scaling_cli.forecast.sizing import fixed_size, inference_aware, target_loss, tokens_to_reach
from scaling_cli.law import Law, optimal_allocation, predict_loss

from .conftest import read_csv, shared_csv

laws = st.builds(
    Law,
    E=st.floats(0.5, 3.0), A=st.floats(10.0, 1e4), B=st.floats(10.0, 1e5),
    alpha=st.floats(0.1, 1.0), beta=st.floats(0.1, 1.0),
)
budgets = st.floats(1e18, 1e27)
ks = st.sampled_from([2.0, 6.0, 8.0])
EPOCH = Law(1.8172, 482.01, 2085.43, 0.3478, 0.3658)
REPLICATES = Law(np.array([1.7, 1.8, 1.9]), np.array([400.0, 500.0, 300.0]),
                 np.array([400.0, 2000.0, 1500.0]), np.array([0.34, 0.35, 0.30]),
                 np.array([0.28, 0.37, 0.33]))


def _replicate(r: int) -> Law:
    return Law(*(float(np.asarray(v)[r]) for v in (REPLICATES.E, REPLICATES.A, REPLICATES.B,
                                                    REPLICATES.alpha, REPLICATES.beta)))


# --------------------------------------------------------------------------- near-optimal band


@settings(max_examples=50)
@given(laws, budgets, st.floats(1e-4, 0.2), ks)
def test_band_edges_lose_exactly_eps_and_contain_the_optimum(
    law: Law, c: float, eps: float, k: float
) -> None:
    band = near_optimal_band(law, c, tolerance=eps, flops_per_param_token=k)
    assert band.params_smallest < band.params < band.params_largest
    for n, d in ((band.params_smallest, band.tokens_at_smallest),
                 (band.params_largest, band.tokens_at_largest)):
        assert k * n * d == pytest.approx(c, rel=1e-9)
        assert predict_loss(law, n, d) == pytest.approx((1 + eps) * band.loss, rel=1e-10)


@settings(max_examples=30)
@given(laws, budgets)
def test_band_widens_with_tolerance(law: Law, c: float) -> None:
    narrow = near_optimal_band(law, c, tolerance=0.001)
    wide = near_optimal_band(law, c, tolerance=0.01)
    assert wide.params_smallest < narrow.params_smallest
    assert wide.params_largest > narrow.params_largest


def test_band_on_epoch_law_is_wide() -> None:
    # The isoFLOP minimum is flat: within 0.5% of the best loss at 1e24 FLOPs lies
    # a ~8x range of model sizes (34B to 269B around N* = 96B).
    band = near_optimal_band(EPOCH, 1e24)
    assert float(band.params) == pytest.approx(9.586e10, rel=1e-3)
    assert float(band.params_smallest) == pytest.approx(3.3986e10, rel=1e-3)
    assert float(band.params_largest) == pytest.approx(2.6867e11, rel=1e-3)


@pytest.mark.parametrize("eps", [0.0, -0.1, 1.0])
def test_band_rejects_bad_tolerance(eps: float) -> None:
    with pytest.raises(UsageError, match="strictly between 0 and 1"):
        near_optimal_band(EPOCH, 1e24, tolerance=eps)


# --------------------------------------------------------------------------- fixed size


@given(laws, budgets, ks)
def test_fixed_size_at_the_optimum_has_no_penalty(law: Law, c: float, k: float) -> None:
    best = optimal_allocation(law, c, flops_per_param_token=k)
    plan = fixed_size(law, c, best.params, flops_per_param_token=k)
    assert abs(float(plan.compute_penalty)) < 1e-9
    assert abs(float(plan.loss_penalty)) < 1e-9 * float(plan.loss)
    assert float(plan.tokens) == pytest.approx(float(best.tokens), rel=1e-12)


@given(laws, budgets, st.floats(-2.0, 2.0).filter(lambda x: abs(x) > 1e-3))
def test_fixed_size_penalties_are_consistent(law: Law, c: float, shift: float) -> None:
    n = optimal_allocation(law, c).params * 10.0**shift
    plan = fixed_size(law, c, n)
    assert plan.loss_penalty > 0 and plan.compute_penalty > 0
    assert float(plan.loss) == pytest.approx(float(plan.loss_optimal + plan.loss_penalty),
                                             rel=1e-12)
    # the optimal allocation reaches the fixed size's loss at exactly C_eq
    assert float(optimal_allocation(law, plan.compute_equivalent_flops).loss) == pytest.approx(
        float(plan.loss), rel=1e-10)
    assert float(c / plan.compute_equivalent_flops - 1) == pytest.approx(
        float(plan.compute_penalty), rel=1e-6, abs=1e-12)


def test_fixed_7b_at_1e24_is_heavily_overtrained() -> None:
    plan = fixed_size(EPOCH, 1e24, 7e9)
    assert float(plan.tokens_per_param) == pytest.approx(1e24 / 6 / 7e9 / 7e9, rel=1e-12)
    assert float(plan.compute_penalty) == pytest.approx(7.38, abs=0.01)  # 8.4x the compute


# --------------------------------------------------------------------------- target loss


@given(laws, budgets, ks)
def test_target_loss_inverts_the_optimal_loss(law: Law, c: float, k: float) -> None:
    best = optimal_allocation(law, c, flops_per_param_token=k)
    plan = target_loss(law, best.loss, flops_per_param_token=k)
    assert bool(plan.reachable)
    # relative error of L - E is amplified by 1/gamma when L is close to E
    rel = 1e-13 * float(best.loss / (best.loss - law.E)) / (law.alpha * law.beta /
                                                          (law.alpha + law.beta)) + 1e-12
    assert float(plan.compute_flops) == pytest.approx(c, rel=rel)
    assert float(plan.params) == pytest.approx(float(best.params), rel=rel)
    assert float(plan.tokens) == pytest.approx(float(best.tokens), rel=rel)


@given(laws, st.floats(1e-6, 1.0))
def test_target_loss_round_trip_from_loss(law: Law, excess: float) -> None:
    loss = law.E + excess
    plan = target_loss(law, loss)
    assert float(optimal_allocation(law, plan.compute_flops).loss) == pytest.approx(loss,
                                                                                    rel=1e-12)


def test_unreachable_targets_are_flagged_not_nan() -> None:
    plan = target_loss(EPOCH, [1.8, EPOCH.E, 2.0])
    assert plan.reachable.tolist() == [False, False, True]
    assert np.isinf(plan.compute_flops[:2]).all() and np.isinf(plan.params[:2]).all()
    assert not np.isnan(plan.compute_flops).any()
    reps = target_loss(REPLICATES.as_column(), np.array([[1.75, 1.85]]))
    assert reps.reachable.shape == (3, 2)
    assert reps.reachable[:, 1].tolist() == [True, True, False]
    per_target = [target_loss(REPLICATES, t).unreachable_fraction for t in (1.75, 1.85)]
    assert per_target == pytest.approx([2 / 3, 1 / 3])


@given(laws, st.floats(1e6, 1e12), st.floats(1e-3, 0.5))
def test_tokens_to_reach_inverts_predict_loss(law: Law, n: float, excess: float) -> None:
    loss = float(predict_loss(law, n, 1e12)) * (1 + excess)
    d = tokens_to_reach(law, n, loss)
    assert float(predict_loss(law, n, d)) == pytest.approx(loss, rel=1e-10)
    floor = law.E + law.A * n**-law.alpha
    assert math.isinf(float(tokens_to_reach(law, n, floor * (1 - 1e-12))))


# --------------------------------------------------------------------------- inference-aware


@given(laws, budgets, ks)
def test_inference_aware_with_no_inference_is_chinchilla(law: Law, c: float, k: float) -> None:
    loss = optimal_allocation(law, c, flops_per_param_token=k).loss
    plan = inference_aware(law, loss, 0.0, flops_per_param_token=k)
    chin = target_loss(law, loss, flops_per_param_token=k)
    assert float(plan.params) == pytest.approx(float(chin.params), rel=1e-9)
    assert float(plan.tokens) == pytest.approx(float(chin.tokens), rel=1e-9)
    assert float(plan.inference_flops) == 0.0


@settings(max_examples=60)
@given(laws, budgets, st.floats(1e9, 1e16))
def test_inference_aware_is_the_constrained_minimum(law: Law, c: float, t: float) -> None:
    loss = float(optimal_allocation(law, c).loss)
    plan = inference_aware(law, loss, t)
    assert float(predict_loss(law, plan.params, plan.tokens)) == pytest.approx(loss, rel=1e-10)
    assert plan.params <= plan.params_chinchilla * (1 + 1e-12)
    assert plan.tokens >= plan.tokens_chinchilla * (1 - 1e-12)
    assert plan.total_flops <= plan.total_flops_chinchilla * (1 + 1e-12)

    def total(x: float) -> float:  # brute force over log N along the iso-loss curve
        d = tokens_to_reach(law, math.exp(x), loss)
        return float(math.log(6 * math.exp(x) * d + 2 * math.exp(x) * t))

    x0 = math.log(float(plan.params))
    x_min = math.log(law.A / (loss - law.E)) / law.alpha  # below it no D reaches the loss
    res = minimize_scalar(total, bounds=(max(x0 - 3, x_min + 1e-6), x0 + 3), method="bounded",
                          options={"xatol": 1e-9})
    assert total(x0) <= res.fun + 1e-9


def test_inference_shrinks_the_model_monotonically() -> None:
    plan = inference_aware(EPOCH, 2.0, np.array([0.0, 1e12, 1e13, 1e14]))
    assert np.all(np.diff(plan.params) < 0) and np.all(np.diff(plan.tokens) > 0)
    saving = 1 - plan.total_flops / plan.total_flops_chinchilla
    assert abs(saving[0]) < 1e-12 and np.all(np.diff(saving) > 0)
    below = inference_aware(EPOCH, 1.5, 1e12)
    assert not bool(below.reachable) and math.isinf(float(below.params))


# --------------------------------------------------------------------------- data-constrained


@given(st.floats(1e6, 1e14), st.floats(1.0, 1e3))
def test_effective_data_is_d_without_repeats(d: float, ratio: float) -> None:
    assert float(effective_data(d, d * ratio)) == d


@given(st.floats(1e6, 1e12), st.floats(1.0 + 1e-6, 1e4))
def test_effective_data_discounts_repeats(u: float, epochs: float) -> None:
    d_eff = float(effective_data(u * epochs, u))
    assert u <= d_eff < u * epochs
    assert d_eff <= u * (1 + R_D_STAR)
    assert float(effective_data(u * epochs, u, r_star=math.inf)) == pytest.approx(u * epochs)


def test_effective_data_plateaus() -> None:
    u = 1e9
    assert float(effective_data(u * 1e4, u)) == pytest.approx(u * (1 + R_D_STAR), rel=1e-12)
    # the paper's worked example: R*_D = 3, U = 1, R_D = 4 (five epochs) -> D' = 3.21
    assert float(effective_data(5.0 * 1e6, 1e6, r_star=3.0)) / 1e6 == pytest.approx(3.21,
                                                                                   abs=0.005)


@given(laws, st.floats(1e-3, 1e3), st.floats(1e9, 1e13), st.floats(1.0, 100.0))
def test_effective_params_only_discount_excess(
    law: Law, size: float, u: float, epochs: float
) -> None:
    # U_N is the size whose compute-optimal data is U: D* = c^b / G = U at c = (G U)^(1/b)
    g = (law.alpha * law.A / (law.beta * law.B)) ** (1 / (law.alpha + law.beta))
    c = (g * u) ** ((law.alpha + law.beta) / law.alpha)
    u_n = float(optimal_allocation(law, 6 * c).params)
    n = u_n * size
    n_eff = float(effective_params(law, n, u * epochs, u))
    if size <= 1 - 1e-9:
        assert n_eff == pytest.approx(n, rel=1e-12)
    elif size >= 1 + 1e-9:
        assert u_n <= n_eff < n
    assert float(effective_params(law, n, u * epochs, u, r_star=math.inf)) == pytest.approx(
        n, rel=1e-12)


@settings(max_examples=25)
@given(laws, budgets, st.floats(1.0, 1e3))
def test_plenty_of_data_gives_chinchilla(law: Law, c: float, spare: float) -> None:
    best = optimal_allocation(law, c)
    plan = data_constrained(law, c, best.tokens * spare)
    assert not bool(plan.data_limited)
    assert float(plan.params) == float(best.params)
    assert float(plan.loss) == pytest.approx(float(best.loss), rel=1e-12)
    assert float(plan.epochs) <= 1.0 + 1e-12


@settings(max_examples=25, deadline=None)
@given(laws, budgets, st.floats(1e-4, 0.9))
def test_data_constrained_plan_beats_a_dense_scan(law: Law, c: float, share: float) -> None:
    best = optimal_allocation(law, c)
    u = best.tokens * share
    plan = data_constrained(law, c, u)
    assert bool(plan.data_limited)
    assert float(plan.tokens) == pytest.approx(c / 6 / float(plan.params), rel=1e-12)
    assert float(plan.epochs) == pytest.approx(float(plan.tokens) / u, rel=1e-12)
    assert plan.loss >= plan.loss_unlimited * (1 - 1e-12)
    assert plan.loss <= plan.loss_chinchilla_repeated * (1 + 1e-12)
    n = np.geomspace(float(best.params) * share**3 * 1e-5, float(best.params) * 1e5, 40001)
    scan = predict_loss_data_constrained(law, n, c / 6 / n, u)
    assert float(plan.loss) <= float(scan.min()) * (1 + 1e-12)


def test_data_constrained_repeats_more_than_chinchilla_would() -> None:
    plan = data_constrained(EPOCH, np.array([1e23, 1e24, 1e25]), 1e11)
    assert plan.data_limited.all()
    # Muennighoff et al.: with repeated data, spend extra compute on epochs faster than on
    # parameters; the optimum is smaller and longer-trained than Chinchilla's.
    assert np.all(plan.params < plan.params_chinchilla)
    assert np.all(plan.epochs > plan.epochs_chinchilla)
    assert np.all(plan.effective_tokens < plan.tokens)


def test_bad_decay_constants_and_inputs_are_refused() -> None:
    with pytest.raises(UsageError, match="R\\*_D must be positive"):
        effective_data(1e9, 1e8, r_star=0.0)
    with pytest.raises(InputError, match="unique_tokens: must be positive"):
        data_constrained(EPOCH, 1e24, -1.0)


# --------------------------------------------------------------------------- vectorisation


ARGMIN_FIELDS = {"params", "tokens", "epochs", "effective_params", "effective_tokens"}


def test_replicate_columns_match_scalar_loops() -> None:
    cols = REPLICATES.as_column()
    c = np.array([[1e21, 1e24]])
    results = {
        "band": (near_optimal_band(cols, c), lambda law, cc: near_optimal_band(law, cc)),
        "fixed": (fixed_size(cols, c, 7e9), lambda law, cc: fixed_size(law, cc, 7e9)),
        "data": (data_constrained(cols, c, 3e10), lambda law, cc: data_constrained(law, cc, 3e10)),
    }
    for name, (vector, scalar) in results.items():
        for r in range(3):
            for j in range(2):
                one = scalar(_replicate(r), float(c[0, j]))
                for field in vars(one):
                    got, want = getattr(vector, field), getattr(one, field)
                    if isinstance(want, float):
                        continue
                    assert np.shape(got) == (3, 2), (name, field)
                    # the data-constrained argmin is determined to ~1e-7 (flat minimum)
                    rel = 1e-6 if name == "data" and field in ARGMIN_FIELDS else 1e-9
                    assert got[r, j] == pytest.approx(float(want), rel=rel), (name, field)
    losses = np.array([[1.95, 2.2]])
    tl = target_loss(cols, losses)
    ia = inference_aware(cols, losses, 1e13)
    for r in range(3):
        for j in range(2):
            assert tl.compute_flops[r, j] == pytest.approx(
                float(target_loss(_replicate(r), losses[0, j]).compute_flops), rel=1e-12)
            assert ia.params[r, j] == pytest.approx(
                float(inference_aware(_replicate(r), losses[0, j], 1e13).params), rel=1e-12)


def test_censored_interval_treats_inf_as_unreachable() -> None:
    finite = np.arange(1.0, 101.0)
    assert percentile_interval(finite, 0.9, censored=True) == pytest.approx(
        tuple(np.percentile(finite, [5, 95])))
    some = np.concatenate([finite, [np.inf] * 3, [np.nan]])
    low, high = percentile_interval(some, 0.9, censored=True)
    assert math.isfinite(high) and low == pytest.approx(np.percentile(some[:103], 5))
    many = np.concatenate([finite, [np.inf] * 10])
    assert percentile_interval(many, 0.9, censored=True)[1] == math.inf
    assert all(math.isnan(v) for v in percentile_interval([np.nan], 0.9, censored=True))


# --------------------------------------------------------------------------- real data


def _log_rmse(pred: np.ndarray, obs: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.log(pred) - np.log(obs)) ** 2)))


@pytest.mark.slow
def test_effective_data_explains_repeated_runs_on_c4() -> None:
    """Muennighoff et al.'s 308 finished C4 runs: fit the base law on the 41 single-epoch
    runs, then predict the 267 multi-epoch runs with L(N, D) and with L(N, D').

    Measured (log-loss RMSE on the multi-epoch runs): L(N, D) 0.254, L(N, D') 0.188.
    With the paper's published base law (alpha = beta = 0.3527) the full data-constrained
    law L(N', D') gives 0.190 against 0.322 for L(N, D) and 0.262 for L(N, D').
    """
    from scaling_cli.fit.objective import Data
    from scaling_cli.fit.search import fit_law

    rows = [r for r in read_csv(shared_csv("datablations_c4.csv")) if r["unfinished"] == "0"]
    n, d, u, loss, epochs = (np.array([float(r[key]) for r in rows])
                             for key in ("params", "tokens", "unique_tokens", "loss", "epochs"))
    single, multi = epochs <= 1, epochs > 1
    assert (single.sum(), multi.sum()) == (41, 267)

    law = fit_law(Data.from_arrays(n[single], d[single], loss[single])).law
    base = _log_rmse(predict_loss(law, n[multi], d[multi]), loss[multi])
    data_only = _log_rmse(predict_loss_data_constrained(
        law, n[multi], d[multi], u[multi], r_n_star=math.inf), loss[multi])
    assert base == pytest.approx(0.254, abs=0.005)
    assert data_only == pytest.approx(0.188, abs=0.005)

    paper = Law(math.exp(0.6254804), math.exp(6.255414), math.exp(7.3049974),
                0.3526596, 0.3526596)
    paper_base = _log_rmse(predict_loss(paper, n[multi], d[multi]), loss[multi])
    paper_data = _log_rmse(predict_loss_data_constrained(
        paper, n[multi], d[multi], u[multi], r_n_star=math.inf), loss[multi])
    paper_full = _log_rmse(predict_loss_data_constrained(paper, n[multi], d[multi], u[multi]),
                           loss[multi])
    assert paper_full < paper_data < paper_base
    assert (paper_base, paper_data, paper_full) == pytest.approx((0.322, 0.262, 0.190),
                                                                 abs=0.005)
