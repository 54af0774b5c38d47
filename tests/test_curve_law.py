"""Schedule-aware loss-curve laws: schedules, the math, the fitter, the bootstrap, the answers.

Layers: schedule constructors and the logged-lr expansion; properties of S1, S2 and the
Multi-Power reduction (against naive sums and closed forms); exact Jacobians; recovery of
known parameters from synthetic curves; determinism; exact error messages; and the published
numbers on Luo et al.'s real curves (skipped when ../shared/data is absent).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scaling_cli.errors import FitError, InputError, UsageError
from scaling_cli.fit.curve_bootstrap import bootstrap_curves
from scaling_cli.fit.curve_law import (
    CurveFeatures,
    MultiPowerParams,
    ScheduledCurve,
    TissueParams,
    annealing_momentum_area,
    curve_loss,
    multi_power_reduction,
    params_theta,
    predict_terms,
)
from scaling_cli.fit.curve_schedule import (
    COOLDOWN_SHAPES,
    Schedule,
    constant_schedule,
    cosine_schedule,
    schedule_from_log,
    step_schedule,
    with_cooldown,
    wsd_schedule,
)
from scaling_cli.fit.curve_search import CurveData, fit_curves
from scaling_cli.forecast.curve import (
    predict_curve,
    predict_final,
    predict_under,
    prepare_curve_model,
)
from tests.conftest import shared_csv

MPL = MultiPowerParams(L0=2.5, A=0.6, alpha=0.45, B=300.0, C=2.0, beta=0.6, gamma=0.6)
TISSUE = TissueParams(L0=2.5, A=0.6, alpha=0.45, B=0.4)


def naive_reduction(lr: np.ndarray, steps: np.ndarray, C: float, beta: float,
                    gamma: float) -> np.ndarray:
    """F(t) = sum_{k=1}^{t} (eta_{k-1} - eta_k)(1 - (C eta_k^-gamma S_k(t) + 1)^-beta), term by
    term (O(n T)): the yardstick for the compressed kernel."""
    floor = 1e-6 * lr.max()
    cs = np.cumsum(lr)
    out = np.empty(steps.size)
    for i, t in enumerate(steps):
        k = np.arange(1, t + 1)
        s_k = cs[t] - cs[k - 1]
        g = 1 - (C * np.maximum(lr[k], floor) ** -gamma * s_k + 1) ** -beta
        out[i] = np.sum((lr[k - 1] - lr[k]) * g)
    return out


def three_schedules(total: int = 6000, warmup: int = 300) -> list[Schedule]:
    return [
        cosine_schedule(total_steps=total, peak_lr=1e-3, final_lr=1e-4, warmup_steps=warmup,
                        name="cosine"),
        constant_schedule(total_steps=total, peak_lr=1e-3, warmup_steps=warmup,
                          name="constant"),
        step_schedule(total_steps=total, peak_lr=1e-3, drop_step=total // 2, drop_lr=3e-4,
                      warmup_steps=warmup, name="step"),
    ]


def synthetic_curves(params: MultiPowerParams | TissueParams, *, noise: float = 0.0,
                     seed: int = 0) -> list[ScheduledCurve]:
    rng = np.random.default_rng(seed)
    curves = []
    for schedule in three_schedules():
        steps = np.arange(300, schedule.total_steps, 50)
        loss = curve_loss(params, schedule, steps) * np.exp(rng.normal(0, noise, steps.size))
        curves.append(ScheduledCurve(schedule.name, schedule, steps, loss))
    return curves


# --------------------------------------------------------------------------- schedules


def test_constructors_follow_the_documented_conventions() -> None:
    s = cosine_schedule(total_steps=1000, peak_lr=1e-3, final_lr=1e-4, warmup_steps=100)
    assert s.lr[0] == 0 and s.lr[99] == pytest.approx(1e-3) and s.lr[100] == pytest.approx(1e-3)
    assert s.peak_step == 99
    assert np.all(np.diff(s.lr[100:]) < 0) and s.lr[-1] > 1e-4
    assert s.lr[-1] == pytest.approx(1e-4, rel=1e-4)
    c = constant_schedule(total_steps=500, peak_lr=2e-4)
    assert np.all(c.lr == 2e-4) and c.total_steps == 500
    d = step_schedule(total_steps=500, peak_lr=2e-4, drop_step=300, drop_lr=5e-5)
    assert d.lr[299] == 2e-4 and d.lr[300] == 5e-5 and np.all(d.lr[300:] == 5e-5)


@pytest.mark.parametrize("shape", COOLDOWN_SHAPES)
def test_cooldowns_fall_monotonically_from_the_peak_to_the_final_lr(shape: str) -> None:
    s = wsd_schedule(total_steps=2000, peak_lr=1e-3, final_lr=1e-5, cooldown_steps=400,
                     shape=shape, warmup_steps=100)  # type: ignore[arg-type]
    tail = s.lr[1600:]
    assert tail[0] == pytest.approx(1e-3) and np.all(np.diff(tail) < 0)
    assert np.all(s.lr[100:1600] == pytest.approx(1e-3))
    assert 1e-5 < tail[-1] < 1e-3 * 0.05  # one step short of the final value
    assert s.total_steps == 2000


def test_with_cooldown_keeps_the_past_and_appends_the_cooldown() -> None:
    base = constant_schedule(total_steps=3000, peak_lr=1e-3, warmup_steps=100)
    cooled = with_cooldown(base, start_step=1000, cooldown_steps=500, final_lr=0.0,
                           shape="1-sqrt")
    assert cooled.total_steps == 1500
    assert np.array_equal(cooled.lr[:1000], base.lr[:1000])
    assert cooled.lr[1000] == 1e-3 and cooled.lr[-1] < 1e-3 * (1 - np.sqrt(499 / 500)) + 1e-12


def test_a_logged_lr_column_expands_to_the_exact_schedule() -> None:
    # Logged every 128 steps like Luo et al.'s curves, with the step-down logged at 4000.
    exact = step_schedule(total_steps=8000, peak_lr=3e-4, drop_step=4000, drop_lr=9e-5,
                          warmup_steps=1000)
    steps = np.unique(np.r_[np.arange(1000, 8000, 128), 4000])
    logged = schedule_from_log(steps, exact.lr[steps], warmup_steps=1000)
    assert np.array_equal(logged.lr[: steps[-1] + 1], exact.lr[: steps[-1] + 1])
    smooth = cosine_schedule(total_steps=8000, peak_lr=3e-4, final_lr=3e-5, warmup_steps=1000)
    steps = np.arange(1000, 8000, 128)
    logged = schedule_from_log(steps, smooth.lr[steps], warmup_steps=1000)
    # linear interpolation of a cosine between knots 128 apart: error <= h^2 max|eta''| / 8
    bound = 128**2 / 8 * 0.5 * (3e-4 - 3e-5) * (np.pi / 7000) ** 2
    gap = np.abs(logged.lr[: steps[-1] + 1] - smooth.lr[: steps[-1] + 1])
    assert bound / 2 < gap.max() <= bound


def test_schedule_errors_name_the_field_and_the_fix() -> None:
    with pytest.raises(InputError) as bad_lr:
        Schedule(np.array([1e-3, -1e-3, 1e-3]), "mine")
    assert str(bad_lr.value) == ("lr: schedule 'mine': the learning rate at step 1 is "
                                 "-0.001; it must be finite and >= 0")
    with pytest.raises(InputError) as unsorted:
        schedule_from_log([0, 128, 128], [1e-3, 1e-3, 1e-3], name="run.csv")
    assert str(unsorted.value) == ("step: run.csv: row 3: step 128 does not increase; sort "
                                   "the log by step and drop duplicate rows")
    with pytest.raises(UsageError) as inside:
        schedule_from_log([100, 228], [1e-3, 1e-3], warmup_steps=2000, name="run.csv")
    assert str(inside.value) == ("warmup_steps: run.csv: the log starts at step 100, inside a "
                                 "warm-up of 2,000 steps; log lr from step 0 or shorten "
                                 "warmup_steps")
    with pytest.raises(UsageError) as shape:
        wsd_schedule(total_steps=100, peak_lr=1e-3, final_lr=0.0, cooldown_steps=10,
                     shape="exponential")
    assert str(shape.value) == ("final_lr: an exponential cooldown cannot reach 0: give "
                                "final_lr > 0 or another shape")


# --------------------------------------------------------------------------- math


def test_a_constant_schedule_has_no_annealing_term() -> None:
    s = constant_schedule(total_steps=5000, peak_lr=1e-3)
    steps = np.arange(1, 5000, 37)
    features = CurveFeatures.build(s, steps)
    assert np.all(annealing_momentum_area(s, steps) == 0)
    assert np.all(multi_power_reduction(features, 2.0, 0.6, 0.6)[0] == 0)
    loss = curve_loss(MPL, s, steps)
    assert np.all(np.diff(loss) < 0)  # pure power law in S1: strictly falling
    assert np.allclose(loss, MPL.L0 + MPL.A * (1e-3 * (steps + 1)) ** -MPL.alpha)


def test_tissue_momentum_area_of_one_drop_has_its_closed_form() -> None:
    # A drop d at step k: m_i = d lambda^(i-k) for i >= k, so S2(t) = d (1 - lambda^(t-k+1))
    # / (1 - lambda).
    s = step_schedule(total_steps=6000, peak_lr=1e-3, drop_step=2000, drop_lr=4e-4)
    steps = np.arange(1, 6000, 13)
    got = annealing_momentum_area(s, steps, decay=0.999)
    expect = np.where(steps >= 2000, 6e-4 * (1 - 0.999 ** (steps - 1999)) / 0.001, 0.0)
    assert np.allclose(got, expect, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("schedule", [
    *three_schedules(9000, 500),
    wsd_schedule(total_steps=9000, peak_lr=1e-3, final_lr=1e-5, cooldown_steps=1500,
                 shape="exponential", warmup_steps=700),
    cosine_schedule(total_steps=9000, peak_lr=1e-3, final_lr=0.0, warmup_steps=0),
], ids=lambda s: s.name)
def test_compressed_reduction_matches_the_naive_sum(schedule: Schedule) -> None:
    steps = np.r_[1, 2, 17, np.arange(600, schedule.total_steps, 97), schedule.total_steps - 1]
    features = CurveFeatures.build(schedule, steps)
    for c, beta, gamma in [(2.0, 0.6, 0.6), (0.05, 1.5, 0.1), (30.0, 0.2, 1.2)]:
        got = multi_power_reduction(features, c, beta, gamma)[0]
        want = naive_reduction(schedule.lr, steps, c, beta, gamma)
        assert np.abs(got - want).max() <= 1e-6 * max(np.abs(want).max(), 1e-6)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(50, 1500), st.floats(0.05, 1.0)), min_size=1,
                max_size=5), st.integers(0, 400))
@example([(50, 0.75), (50, 1.0)], 21)
def test_compressed_reduction_matches_the_naive_sum_on_random_staircases(
        pieces: list[tuple[int, float]], warmup: int) -> None:
    lr = np.concatenate([np.full(n, 1e-3 * level) for n, level in pieces])
    if warmup >= 2:
        lr = np.r_[lr[0] * np.arange(warmup) / (warmup - 1), lr]
    if lr.size < 3:
        return
    schedule = Schedule(lr, "staircase")
    steps = np.unique(np.linspace(1, lr.size - 1, 25).astype(int))
    got = multi_power_reduction(CurveFeatures.build(schedule, steps), 2.0, 0.6, 0.6)[0]
    want = naive_reduction(lr, steps, 2.0, 0.6, 0.6)
    # a warm-up ending inside a 16-step block is the quadrature's worst case: 1.5e-6 of F's
    # scale (1.2e-9 in F, < 1e-6 in loss); smooth schedules stay within 1e-6 (test above)
    assert np.abs(got - want).max() <= 1e-5 * max(np.abs(want).max(), 1e-6)


def test_annealing_lowers_the_loss_and_the_effect_grows_after_the_drop() -> None:
    const = constant_schedule(total_steps=6000, peak_lr=1e-3, warmup_steps=300)
    drop = step_schedule(total_steps=6000, peak_lr=1e-3, drop_step=3000, drop_lr=3e-4,
                         warmup_steps=300)
    steps = np.arange(3000, 6000, 50)
    reduction = multi_power_reduction(CurveFeatures.build(drop, steps), 2.0, 0.6, 0.6)[0]
    base = multi_power_reduction(CurveFeatures.build(const, steps), 2.0, 0.6, 0.6)[0]
    assert np.all(np.diff(reduction - base) > 0)  # G(S_k(t)) rises with t
    gap = curve_loss(MPL, drop, steps) - curve_loss(MPL, const, steps)
    assert gap[1] < 0  # right after the drop, the lower lr wins
    gap_t = curve_loss(TISSUE, drop, steps) - curve_loss(TISSUE, const, steps)
    assert gap_t[1] < 0


@pytest.mark.parametrize("params", [MPL, TISSUE], ids=["multi-power", "tissue"])
def test_jacobian_matches_central_differences(params: MultiPowerParams | TissueParams) -> None:
    schedule = three_schedules()[0]
    features = CurveFeatures.build(schedule, np.arange(300, 6000, 100))
    theta = params_theta(params)
    _, jac = predict_terms(params.law, theta, features, jacobian=True)
    assert jac is not None
    for j in range(theta.size):
        h = 1e-6 * max(abs(theta[j]), 1.0)
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        numeric = (predict_terms(params.law, up, features)[0]
                   - predict_terms(params.law, down, features)[0]) / (2 * h)
        assert np.allclose(jac[:, j], numeric, rtol=1e-5, atol=1e-9 * np.abs(numeric).max())


# --------------------------------------------------------------------------- fitting


@pytest.mark.parametrize("params", [MPL, TISSUE], ids=["multi-power", "tissue"])
def test_fit_recovers_known_parameters_from_exact_curves(
        params: MultiPowerParams | TissueParams) -> None:
    fit = fit_curves(synthetic_curves(params), law=params.law)
    assert fit.verified and fit.starts_failed == 0 and fit.starts_agreeing >= 2
    assert np.allclose(fit.params.values(), params.values(), rtol=2e-3)


def test_fit_on_noisy_curves_predicts_an_unseen_schedule() -> None:
    curves = synthetic_curves(MPL, noise=2e-4, seed=3)
    fit = fit_curves(curves, law="multi-power")
    assert fit.verified
    unseen = wsd_schedule(total_steps=6000, peak_lr=1e-3, final_lr=1e-4, cooldown_steps=1000,
                          shape="linear", warmup_steps=300)
    steps = np.arange(300, 6000, 50)
    error = curve_loss(fit.params, unseen, steps) / curve_loss(MPL, unseen, steps) - 1
    assert np.abs(error).max() < 1e-3


def test_too_few_points_is_a_fit_error() -> None:
    s = three_schedules()[1]
    curve = ScheduledCurve("short", s, np.array([400, 800, 1200]), np.array([3.0, 2.9, 2.85]))
    with pytest.raises(FitError) as err:
        fit_curves([curve], law="tissue")
    assert str(err.value) == ("curves: 3 logged points cannot fit the tissue law's 4 "
                              "parameters; log the loss more often or give more curves")


def test_curve_errors_name_the_row_and_the_fix() -> None:
    s = three_schedules()[1]
    with pytest.raises(InputError) as unsorted:
        ScheduledCurve("run-a", s, np.array([400, 400]), np.array([3.0, 2.9]))
    assert str(unsorted.value) == ("step: curve 'run-a': row 2: step 400 does not increase; "
                                   "sort the curve by step and drop duplicate rows")
    with pytest.raises(InputError) as beyond:
        ScheduledCurve("run-a", s, np.array([400, 7000]), np.array([3.0, 2.9]))
    assert str(beyond.value) == ("step: curve 'run-a': logged steps 400..7000 must lie within "
                                 "the schedule's steps 1..5999; give the schedule the run's "
                                 "full length")
    with pytest.raises(InputError) as nan:
        ScheduledCurve("run-a", s, np.array([400, 500]), np.array([3.0, np.nan]))
    assert str(nan.value) == ("loss: curve 'run-a': row 2 (step 500): loss nan must be a "
                              "finite number > 0")


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_is_deterministic_for_a_seed_and_counts_failures() -> None:
    data = CurveData.build(synthetic_curves(TISSUE, noise=5e-4, seed=1))
    fit = fit_curves(data, law="tissue")
    a = bootstrap_curves(data, fit, n_resamples=12, seed=7)
    b = bootstrap_curves(data, fit, n_resamples=12, seed=7)
    c = bootstrap_curves(data, fit, n_resamples=12, seed=8)
    assert a.thetas.tobytes() == b.thetas.tobytes()
    assert not np.array_equal(a.thetas, c.thetas)
    assert a.failed == int((~a.ok).sum()) and a.block_points == (15, 15, 15)
    spread = np.nanstd(a.thetas, axis=0)
    assert np.all(spread > 0) and np.all(spread < 0.05 * np.maximum(np.abs(fit.theta), 0.1))


def test_resampling_whole_curves_needs_three_curves() -> None:
    data = CurveData.build(synthetic_curves(TISSUE)[:2])
    fit = fit_curves(data, law="tissue")
    with pytest.raises(UsageError) as err:
        bootstrap_curves(data, fit, scheme="curves")
    assert str(err.value) == ("scheme: resampling whole curves needs 3 or more curves, got 2; "
                              "use scheme 'blocks'")


# --------------------------------------------------------------------------- answers


def test_answers_share_one_computation_and_are_deterministic() -> None:
    curves = synthetic_curves(TISSUE, noise=3e-4, seed=2)
    run = curves[0].until(3000)
    kwargs = {"reference": curves[1:], "law": "tissue", "n_resamples": 30, "seed": 5}
    model = prepare_curve_model(run, **kwargs)  # type: ignore[arg-type]
    final = predict_final(model)
    again = predict_final(prepare_curve_model(run, **kwargs))  # type: ignore[arg-type]
    assert final == again
    assert final.step == 5999 and final.observed_until_step == 3000
    assert final.low <= final.bootstrap_low <= final.loss <= final.bootstrap_high <= final.high
    # the cosine still anneals after step 3000: errors across schedules count too
    assert len(final.backtest_errors) == 3 and len(final.transfer_errors) == 3
    assert final.allowance == max(map(abs, final.backtest_errors + final.transfer_errors))
    truth = curve_loss(TISSUE, run.schedule, [5999])[0]
    assert final.low <= truth <= final.high
    rows = predict_curve(model, every=500)
    assert rows.step[-1] == 5999
    assert (rows.loss[-1], rows.low[-1], rows.high[-1]) == (final.loss, final.low, final.high)
    assert np.all((rows.low <= rows.loss) & (rows.loss <= rows.high))
    assert rows.allowance == final.allowance
    other = wsd_schedule(total_steps=6000, peak_lr=1e-3, final_lr=1e-4, cooldown_steps=1000,
                         warmup_steps=300, name="wsd")
    alt = predict_under(model, other)
    assert len(alt.transfer_errors) == 3 and alt.allowance >= max(alt.transfer_errors)


def test_a_constant_future_is_judged_by_the_runs_own_backtests() -> None:
    curves = synthetic_curves(TISSUE, noise=3e-4, seed=6)
    model = prepare_curve_model(curves[1].until(3000), reference=[curves[0], curves[2]],
                                law="tissue", n_resamples=20)
    final = predict_final(model)  # constant lr ahead: a pure power-law extrapolation
    assert final.transfer_errors == () and len(final.backtest_errors) == 3
    assert final.allowance == max(map(abs, final.backtest_errors))
    assert final.warnings == ()


def test_a_reference_too_short_to_fit_alone_is_named_in_a_warning() -> None:
    curves = synthetic_curves(TISSUE, noise=3e-4, seed=5)
    tiny = curves[0].until(450)  # 4 points: the law cannot be refitted on it alone
    model = prepare_curve_model(curves[2].until(3000), reference=[tiny], law="tissue",
                                n_resamples=10)
    assert len(tiny) == 4 and len(model.transfer_errors) == 1
    assert ("the law could not be refitted without 'step[:3000]': its error across schedules "
            "is measured on the other curves only") in model.warnings


def test_a_run_that_never_annealed_warns_about_the_annealing_term() -> None:
    curves = synthetic_curves(TISSUE, noise=3e-4, seed=4)
    model = prepare_curve_model(curves[1].until(3000), law="tissue", n_resamples=20)
    cooled = with_cooldown(curves[1].schedule, start_step=4000, cooldown_steps=2000,
                           final_lr=1e-5)
    answer = predict_under(model, cooled)
    assert ("schedule 'constant+linear_cooldown_4000_2000' lowers the learning rate, but no "
            "curve fitted ever did: the law's annealing term is not determined by them; give "
            "reference curves that anneal") in answer.warnings
    assert any(w.startswith("one curve was fitted") for w in answer.warnings)
    with pytest.raises(UsageError) as err:
        predict_final(prepare_curve_model(reference=curves, law="tissue", n_resamples=20))
    assert str(err.value) == ("run: the model has no run in flight; give `run` to "
                              "prepare_curve_model or ask predict_under for a schedule")


# --------------------------------------------------------------------------- real curves

SIZES = ("25M", "100M", "400M")
TRAIN = ("cosine_24000", "constant_24000", "wsdcon_9")
TEST = ("constant_72000", "cosine_72000", "wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3",
        "wsdcon_18")
PUBLISHED = {  # Luo et al.'s released parameters (L0, A, alpha, B, C, beta, gamma)
    "25M": (3.04045406, 0.52468604, 0.50786857, 363.78751622, 2.06560812, 0.58279013,
            0.64142257),
    "100M": (2.6514477, 0.60115152, 0.45295811, 437.9464276, 2.13245612, 0.59785199,
             0.65523644),
    "400M": (2.37474466, 0.65421216, 0.42878731, 523.42464371, 2.02462735, 0.59350493,
             0.63472457),
}
PUBLISHED_ERRORS = {"25M": (0.00110, 0.00409), "100M": (0.00142, 0.00583),
                    "400M": (0.00168, 0.00995)}


def read_curve(size: str, name: str, *, exact: bool = False) -> ScheduledCurve:
    path: Path = shared_csv(f"loss_curves/{size}/{name}.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    step = np.array([int(r["step"]) for r in rows])
    lr = np.array([float(r["lr"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    schedule = source_schedule(name) if exact else schedule_from_log(step, lr, warmup_steps=2160,
                                                                     name=name)
    return ScheduledCurve(name, schedule, step, loss)


def source_schedule(name: str) -> Schedule:
    """The source's schedules from our constructors (all: linear warm-up over 2,160 steps)."""
    common = {"peak_lr": 3e-4, "warmup_steps": 2160, "name": name}
    kind, _, rest = name.partition("_")
    if kind == "cosine":
        return cosine_schedule(total_steps=int(rest), final_lr=3e-5, **common)  # type: ignore
    if kind == "constant":
        return constant_schedule(total_steps=int(rest), **common)  # type: ignore[arg-type]
    if kind == "wsdcon":  # the data switch at step 8,000 of 16,000 (logged to 14,144)
        return step_schedule(total_steps=16000, drop_step=8000, drop_lr=int(rest) * 1e-5,
                             **common)  # type: ignore[arg-type]
    shape = "linear" if kind == "wsdld" else "exponential"
    return wsd_schedule(total_steps=24000, final_lr=3e-5, cooldown_steps=4000, shape=shape,
                        **common)  # type: ignore[arg-type]


def test_source_schedules_match_the_logged_lr_column() -> None:
    for name in (*TRAIN, *TEST):
        curve = read_curve("25M", name)
        exact = source_schedule(name)
        assert np.allclose(exact.lr[curve.step], curve.schedule.lr[curve.step], rtol=1e-9)


def held_out_errors(fit_params: MultiPowerParams | TissueParams, size: str,
                *, exact: bool = False) -> tuple[float, float]:
    """(PredE, WorstE): the source's test metrics, means over the six test curves of the
    mean and of the max relative error."""
    means, worsts = [], []
    for name in TEST:
        curve = read_curve(size, name, exact=exact)
        rel = np.abs(curve_loss(fit_params, curve.schedule, curve.step) / curve.loss - 1)
        means.append(rel.mean())
        worsts.append(rel.max())
    return float(np.mean(means)), float(np.mean(worsts))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("exact", [True, False], ids=["constructed", "logged-lr"])
def test_published_parameters_reproduce_the_published_test_errors(size: str,
                                                                  exact: bool) -> None:
    pred_e, worst_e = held_out_errors(MultiPowerParams(*PUBLISHED[size]), size, exact=exact)
    assert round(pred_e, 5) == PUBLISHED_ERRORS[size][0]
    assert round(worst_e, 5) == PUBLISHED_ERRORS[size][1]


# Measured with this fitter (verified optima; PredE / WorstE on the six test schedules):
# multi-power 0.00137 / 0.00360, 0.00165 / 0.00505, 0.00216 / 0.00630
# tissue      0.00152 / 0.00586, 0.00140 / 0.00682, 0.00182 / 0.00746
FITTED_PRED_E = {"multi-power": {"25M": 0.0014, "100M": 0.0017, "400M": 0.0022},
                 "tissue": {"25M": 0.0016, "100M": 0.0015, "400M": 0.0019}}


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("law", ["multi-power", "tissue"])
def test_fit_on_the_three_training_curves_predicts_the_six_others(size: str, law: str) -> None:
    data = CurveData.build([read_curve(size, n) for n in TRAIN])
    fit = fit_curves(data, law=law)  # type: ignore[arg-type]
    assert fit.starts_failed == 0 and fit.starts_agreeing == fit.starts
    assert held_out_errors(fit.params, size)[0] <= FITTED_PRED_E[law][size]
    if law == "multi-power":  # a better optimum of the source's own objective
        published = params_theta(MultiPowerParams(*PUBLISHED[size]))
        residual = np.log(data.predict("multi-power", published)[0]) - data.log_loss
        huber = np.where(np.abs(residual) <= 1e-3, residual**2 / 2,
                         1e-3 * (np.abs(residual) - 5e-4)).sum()
        assert fit.objective < 0.5 * huber


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 13 target; the verified optimum of the source's "
                   "objective gives 0.00165 (100M) and 0.00216 (400M): the published fit is "
                   "an early-stopped point with a 13x / 7x higher training objective")
def test_multi_power_fit_reaches_the_issue_targets() -> None:
    targets = {"25M": 0.0015, "100M": 0.0015, "400M": 0.0019}
    for size, target in targets.items():
        fit = fit_curves([read_curve(size, n) for n in TRAIN], law="multi-power")
        assert held_out_errors(fit.params, size)[0] <= target


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_final_loss_of_a_long_run_from_its_first_half(size: str) -> None:
    """The run so far (steps <= 36,000 of 72,000) plus the model's three short runs as
    references (what a user calibrating a long run would have); Tissue law, 95%."""
    reference = [read_curve(size, n) for n in TRAIN]
    # Widths measured: constant 0.4-0.8% (its own backtests), cosine 2.3-2.9% (annealing
    # ahead: errors across schedules count). Bounds keep the answers informative.
    for name, widest in (("constant_72000", 0.012), ("cosine_72000", 0.035)):
        full = read_curve(size, name)
        model = prepare_curve_model(full.until(36000), reference=reference, law="tissue",
                                    n_resamples=200, seed=0)
        answer = predict_final(model)
        assert answer.step == full.step[-1] and answer.warnings == ()
        assert answer.low <= full.loss[-1] <= answer.high
        assert answer.high - answer.low < widest * answer.loss
