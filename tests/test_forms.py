"""The law's form chosen on held-out runs, and the form error measured from them
(fit/evidence.py, fit/forms.py, model.FormError): math, recovery and choice."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import nnls

from scaling_cli.errors import FitError
from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.evidence import HeldOut, folds, reach_decades
from scaling_cli.fit.forms import (
    FLOOR_PER_DECADE,
    MAX_TAIL_FACTOR,
    choose_form,
    form_error,
    nnls_small,
    tail_factor,
)
from scaling_cli.law import Law, predict_loss
from scaling_cli.model import PRIOR_PER_DECADE, FormError, RunData


def rundata(n: np.ndarray, d: np.ndarray, loss: np.ndarray) -> RunData:
    return RunData(tuple(f"r{i}" for i in range(n.size)), n, d, loss, 6.0 * n * d, None)


def ladder(law: Law, *, noise: float = 0.0, seed: int = 0, sizes: int = 6,
           ratios: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 80.0)) -> RunData:
    """A grid ladder: ``sizes`` model sizes from 20M, each at ``ratios`` tokens/param."""
    n = np.repeat(2e7 * 2.0 ** np.arange(sizes), len(ratios))
    d = n * np.tile(ratios, sizes)
    loss = predict_loss(law, n, d)
    if noise:
        loss = loss * np.exp(np.random.default_rng(seed).normal(0.0, noise, loss.size))
    return rundata(n, d, loss)


CHINCHILLA = Law(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
TIED = Law(E=1.8, A=500.0, B=1500.0, alpha=0.33, beta=0.33)


# --------------------------------------------------------------------------- nnls_small


def test_small_nnls_matches_scipys_active_set_solver() -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        k = int(rng.integers(1, 5))
        n = int(rng.integers(k, 40))
        design = np.column_stack([np.ones(n), *(rng.random(n) ** 2 * 5 * rng.random()
                                                for _ in range(k - 1))])
        target = rng.normal(size=n) * rng.random()
        ours = nnls_small(design, target)
        theirs, _ = nnls(design, target)
        assert np.all(ours >= 0)
        sse_ours, sse_theirs = (float(np.sum((design @ x - target) ** 2)) for x in (ours, theirs))
        assert sse_ours <= sse_theirs * (1 + 1e-9) + 1e-20


def test_small_nnls_holds_a_negative_direction_at_zero() -> None:
    design = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    target = np.array([3.0, 2.0, 1.0, 0.0])  # falling: the slope wants to be negative
    np.testing.assert_allclose(nnls_small(design, target), [1.5, 0.0])


# --------------------------------------------------------------------------- evidence


def test_reach_is_zero_inside_and_decades_outside() -> None:
    np.testing.assert_allclose(reach_decades(np.array([5.0, 10.0, 1000.0, 0.1]), 1.0, 10.0),
                               [0.0, 0.0, 2.0, 1.0])


def test_folds_hold_out_the_runs_a_forecast_reaches_for() -> None:
    runs = ladder(CHINCHILLA)
    made = folds(runs, Constraints())
    names = [name for name, _ in made]
    assert names[:1] == ["compute"] and "size" in names
    assert {"ratio up", "ratio down"} <= set(names)
    for name, held in made:
        train = ~held
        assert held.any() and train.sum() >= len(runs) / 3
        if name == "compute":
            assert runs.compute_flops[held].min() > runs.compute_flops[train].max() * 0.999
        if name == "size":
            assert runs.params[held].min() > runs.params[train].max()


def test_no_fold_when_the_training_part_cannot_identify_the_law() -> None:
    runs = ladder(CHINCHILLA, sizes=3, ratios=(10.0, 20.0))  # 6 runs: too few to hold any out
    assert folds(runs, Constraints()) == []


# --------------------------------------------------------------------------- form error


def held(log_error: float, compute: float = 0.0, ratio: float = 0.0, params: float = 0.0,
         stat: float = 0.0) -> HeldOut:
    return HeldOut("f", "r", log_error, compute, ratio, params, stat)


def test_form_error_recovers_per_decade_growth_along_each_tested_axis() -> None:
    # errors exactly a_c * u_c and a_r * u_r (alternating signs), noise-free
    rng = np.random.default_rng(1)
    rows = []
    for i in range(60):
        u_c, u_r = rng.uniform(0, 2), rng.uniform(0, 1.5)
        e = math.sqrt((0.01 * u_c) ** 2 + (0.04 * u_r) ** 2 + 0.005**2) * (-1) ** i
        rows.append(held(e, u_c, u_r))
    error = form_error(tuple(rows), 0.001)
    assert error.source == "ladder" and error.points == 60
    assert error.per_decade_compute == pytest.approx(0.01, rel=0.05)
    assert error.per_decade_ratio == pytest.approx(0.04, rel=0.05)
    assert error.noise_log_sd == pytest.approx(0.005, rel=0.05)
    assert error.per_decade_params == PRIOR_PER_DECADE[2]  # untested: the prior


def test_what_the_bootstrap_explains_is_not_counted_twice() -> None:
    rows = tuple(held(0.03 * (-1) ** i, compute=1.0, stat=0.03) for i in range(40))
    error = form_error(rows, 0.0)
    assert error.per_decade_compute == FLOOR_PER_DECADE  # all of it was statistical


def test_no_held_out_runs_means_the_prior() -> None:
    error = form_error((), 0.004)
    assert error.source == "prior" and error.noise_log_sd == 0.004
    assert (error.per_decade_compute, error.per_decade_ratio,
            error.per_decade_params) == PRIOR_PER_DECADE


def test_form_sd_grows_in_quadrature_and_adds_the_held_out_level_beyond_the_runs() -> None:
    error = FormError(0.01, 0.05, 0.02, 0.004, "ladder", 30, held_out_log_sd=0.008)
    assert error.sd(0.0, 0.0) == 0.0  # inside the runs: no form error
    assert error.sd(2.0, 1.0) == pytest.approx(math.sqrt(0.02**2 + 0.05**2 + 0.008**2))
    assert error.sd(0.1, 0.0) == pytest.approx(math.hypot(0.001, 0.008))  # just beyond


def test_a_fold_that_reached_little_barely_moves_the_prior() -> None:
    # 12% misses at 0.25 decades by a few fold runs: not evidence of 0.5/decade growth
    rows = tuple(held(-0.12, compute=0.25) for _ in range(3)) + tuple(
        held(0.005 * (-1) ** i, compute=0.1) for i in range(12))
    error = form_error(rows, 0.005)
    assert PRIOR_PER_DECADE[0] < error.per_decade_compute < 0.1
    assert error.held_out_log_sd > 0.03  # the level the ladder showed is kept beyond the runs


# --------------------------------------------------------------------------- choice


def test_the_full_form_is_kept_when_the_exponents_differ() -> None:
    choice = choose_form(ladder(CHINCHILLA, noise=0.003, seed=2))
    assert choice.form == "full"
    assert choice.reason.startswith("lower out-of-sample error on")
    scores = {s.form: s.rmse_log for s in choice.scores}
    assert scores["full"] < scores["tied"]


def test_the_tied_form_wins_only_by_a_clear_margin() -> None:
    choice = choose_form(ladder(TIED, noise=0.01, seed=3, sizes=4,
                                ratios=(10.0, 20.0, 40.0)))
    scores = {s.form: s.rmse_log for s in choice.scores}
    if choice.form == "tied":
        assert scores["tied"] < 0.9 * scores["full"]
    else:
        assert not scores["tied"] < 0.9 * scores["full"]


def test_a_full_form_kept_by_the_margin_does_not_claim_the_lower_error() -> None:
    from scaling_cli.fit import forms

    choice = choose_form(ladder(TIED, noise=0.01, seed=3, sizes=4, ratios=(10.0, 20.0, 40.0)))
    scores = {s.form: s.rmse_log for s in choice.scores}
    assert choice.form == "full" and scores["tied"] < scores["full"]  # (between the rules)
    assert choice.reason.startswith("kept: the tied form's out-of-sample error on")
    assert "is not 10% lower" in choice.reason and forms.SWITCH_MARGIN == 0.10


def test_a_forced_form_is_used_and_said_so() -> None:
    choice = choose_form(ladder(CHINCHILLA), form="tied")
    assert choice.form == "tied" and choice.reason == "the form asked for"
    assert choice.constraints.tie_exponents


def test_five_runs_fit_only_the_tied_form() -> None:
    n = np.array([1e8, 2e8, 4e8, 8e8, 1.6e9])
    d = n * np.array([5.0, 10.0, 20.0, 40.0, 80.0])
    runs = rundata(n, d, predict_loss(TIED, n, d))
    choice = choose_form(runs)
    assert choice.form == "tied" and choice.reason == "the only form these runs identify"


def test_neither_form_identifiable_is_the_full_forms_error() -> None:
    n = np.array([1e8, 2e8, 4e8])
    runs = rundata(n, n * 20, predict_loss(TIED, n, n * 20))
    with pytest.raises(FitError, match="too few runs to identify the law: 3 runs"):
        choose_form(runs)


def test_huge_ladders_measure_the_evidence_on_an_even_sample(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from scaling_cli.fit import build

    small = ladder(CHINCHILLA, noise=0.01)  # 30 runs
    assert build.evidence_runs(small) is small  # every real ladder: all runs
    monkeypatch.setattr(build, "EVIDENCE_MAX_RUNS", 12)
    sample = build.evidence_runs(small)
    assert len(sample) == 12
    assert set(sample.ids) <= set(small.ids)
    compute = small.compute_flops
    assert sample.compute_flops.min() == compute.min()  # spread over the whole range
    assert sample.compute_flops.max() == compute.max()
    assert build.evidence_runs(small).ids == sample.ids  # deterministic


# --------------------------------------------------------------------------- tail factor


def _calibrated(rows: tuple[HeldOut, ...], error: FormError) -> float:
    """Share of held-out runs inside the nominal-95% total interval the error gives them."""
    inside = [abs(h.log_error) <= 1.959964 * math.hypot(
        h.stat_log_sd, error.total_sd(h.compute_decades, h.ratio_decades, h.params_decades))
        for h in rows]
    return float(np.mean(inside))


def test_normal_held_out_errors_need_no_tail_factor() -> None:
    rng = np.random.default_rng(3)
    rows = tuple(held(float(rng.normal(0.0, math.hypot(0.02 * u, 0.005))), compute=float(u))
                 for u in rng.uniform(0.2, 2.0, 400))
    error = form_error(rows, 0.005)
    assert 1.0 <= error.tail_factor < 1.15
    assert 0.94 <= _calibrated(rows, error) <= 0.985


def test_heavy_tails_widen_until_the_ladders_own_runs_are_held() -> None:
    rng = np.random.default_rng(4)
    u = rng.uniform(0.2, 2.0, 200)
    scale = np.where(np.arange(200) % 5 == 0, 10.0, 1.0)  # one run in 5 misfit 10x worse
    rows = tuple(held(float(e), compute=float(c))
                 for e, c in zip(rng.normal(0.0, 0.02 * u * scale), u, strict=True))
    error = form_error(rows, 0.002)
    assert error.tail_factor > 1.05
    assert _calibrated(rows, error) >= 0.95
    assert _calibrated(rows, replace(error, tail_factor=1.0)) < 0.95


def test_few_held_out_runs_must_all_be_held_and_the_factor_is_capped() -> None:
    rows = tuple(held(e, compute=1.0, stat=0.01) for e in (0.01, -0.02, 0.015, 0.09))
    error = form_error(rows, 0.001)
    assert _calibrated(rows, error) == 1.0  # n < 19: the conformal rank is the largest need
    far = FormError(0.01, 0.01, 0.01, 0.001, "ladder", 4)
    e, s = np.array([0.01, 0.9]), np.zeros(2)
    axes = {"compute": np.ones(2), "ratio": np.zeros(2), "params": np.zeros(2)}
    assert tail_factor(far, e, s, axes) == MAX_TAIL_FACTOR
    calm = tuple(held(e, compute=1.0) for e in (0.001, -0.002))
    assert form_error(calm, 0.001).tail_factor == 1.0  # never narrower than the fit says


# --------------------------------------------------------------------------- fold fits


@pytest.mark.parametrize(("law", "noise", "sizes", "ratios", "form"), [
    (CHINCHILLA, 0.01, 6, (5.0, 10.0, 20.0, 40.0, 80.0), "full"),
    (TIED, 0.01, 5, (5.0, 10.0, 20.0, 40.0), "tied"),
    (CHINCHILLA, 0.03, 4, (10.0, 17.0, 30.0, 50.0), "full"),  # 16 runs, half a decade: hard
    (TIED, 0.03, 4, (10.0, 17.0, 30.0, 50.0), "full"),
    (CHINCHILLA, 0.05, 5, (5.0, 10.0, 20.0, 40.0), "tied"),
], ids=["grid", "tied", "hard-16", "hard-16-b", "noisy-tied"])
@pytest.mark.parametrize("seed", [7, 8, 9])
def test_fold_fits_reach_the_complete_search_optimum(
        law: Law, noise: float, sizes: int, ratios: tuple[float, ...], form: str,
        seed: int) -> None:
    """The folds are fitted by the batched re-search from the form's full fit; each must
    reach the optimum a complete global fit of its training runs finds (the objective to
    the replicate tolerance, and the same predictions where the optimum is identified)."""
    from scaling_cli.fit.forms import FORM_CONSTRAINTS
    from scaling_cli.fit.objective import Data, evaluate
    from scaling_cli.fit.search import fit_law

    runs = ladder(law, noise=noise, seed=seed, sizes=sizes, ratios=ratios)
    choice = choose_form(runs, form=form)
    constraints = FORM_CONSTRAINTS[form]
    splits = folds(runs, constraints)
    score = choice.score_of(form)
    assert score is not None and score.folds == len(splits) > 0
    data = Data.from_arrays(runs.params, runs.tokens, runs.loss)
    for (_, held), theta in zip(splits, score.thetas, strict=True):
        train = np.flatnonzero(~held)
        full = fit_law(data.subset(train), constraints=constraints)
        ours = float(evaluate(theta[None], data.subset(train), np.ones(train.size))[0][0])
        assert ours <= full.objective * (1 + 1e-6) + 1e-15
        if full.verified and full.condition_number < 1e8:
            ahead = predict_loss(Law.from_theta(theta), runs.params[held], runs.tokens[held])
            assert np.allclose(ahead, predict_loss(full.law, runs.params[held],
                                                   runs.tokens[held]), rtol=1e-4)


# --------------------------------------------------------------------------- fold factor


def test_student_t_quantiles_table_and_expansion() -> None:
    from scipy.stats import t as student_t

    from scaling_cli.model import Z_975, t_quantile_975

    for df in (1, 2, 3, 5, 10, 11, 15, 30, 100, 1000):
        assert t_quantile_975(df) == pytest.approx(student_t.ppf(0.975, df), rel=1e-3)
    values = [t_quantile_975(df) for df in range(1, 200)]
    assert all(a > b for a, b in itertools.pairwise(values))  # falls toward z
    assert values[-1] > Z_975


def test_the_form_error_is_widened_for_scales_from_few_folds() -> None:
    """The tail factor is calibrated first; then the form error alone (not the scatter) is
    multiplied by t_0.975(k) / z for scales estimated from k held-out folds."""
    from scaling_cli.model import MAX_FOLD_FACTOR

    rng = np.random.default_rng(5)
    rows = tuple(held(float(rng.normal(0.0, math.hypot(0.02 * u, 0.005))), compute=float(u))
                 for u in rng.uniform(0.2, 2.0, 60))
    plain, five = form_error(rows, 0.005), form_error(rows, 0.005, 5)
    assert (plain.folds, plain.fold_factor, five.folds) == (0, 1.0, 5)
    assert five.fold_factor == pytest.approx(2.570582 / 1.959964, rel=1e-6)  # 1.3116
    assert five.tail_factor == plain.tail_factor
    assert five.sd(1.5, 0.0) == pytest.approx(five.fold_factor * plain.sd(1.5, 0.0))
    noise_only = five.total_sd(0.0, 0.0)  # inside the runs: the scatter, not widened
    assert noise_only == pytest.approx(plain.total_sd(0.0, 0.0))
    assert five.total_sd(2.0, 0.0) > plain.total_sd(2.0, 0.0)
    assert form_error(rows, 0.005, 1).fold_factor == MAX_FOLD_FACTOR  # t(1) = 12.7: capped
    assert FormError.prior(0.005).fold_factor == 1.0  # no folds, the prior as it is


def test_the_two_forms_scored_in_two_processes_give_the_one_process_choice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from scaling_cli.fit import evidence

    runs = ladder(CHINCHILLA, noise=0.02, seed=7, sizes=4)
    where: dict[str, int] = {}
    original = evidence.score

    def spy(form: str, *args: object, **kwargs: object) -> object:
        where[form] = os.getpid()
        return original(form, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("scaling_cli.fit.forms.score", spy)
    one = choose_form(runs)
    two = choose_form(runs, workers=2)
    assert where["full"] == os.getpid()  # (the tied form's pid was the fork's: not seen here)
    assert (two.form, two.reason, two.scores) == (one.form, one.reason, one.scores)
    for a, b in zip(one.scores, two.scores, strict=True):
        assert a.thetas.tobytes() == b.thetas.tobytes()
    for name in one.fits:
        assert one.fits[name].theta.tobytes() == two.fits[name].theta.tobytes()


def test_a_form_fitted_elsewhere_is_scored_last_and_changes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """choose_form(fits={"full": get}) asks for the full fit (made in another process)
    only after scoring the tied form, and chooses exactly as without it."""
    from scaling_cli.fit import evidence
    from scaling_cli.fit.objective import Data
    from scaling_cli.fit.search import fit_law

    runs = ladder(CHINCHILLA, noise=0.01, seed=4)
    plain = choose_form(runs)
    scored: list[str] = []
    original = evidence.score

    def spy(form: str, *args: object, **kwargs: object) -> object:
        scored.append(form)
        return original(form, *args, **kwargs)  # type: ignore[arg-type]

    def get() -> object:
        asked.append(list(scored))
        return fit_law(Data.from_arrays(runs.params, runs.tokens, runs.loss))

    asked: list[list[str]] = []
    monkeypatch.setattr("scaling_cli.fit.forms.score", spy)
    given = choose_form(runs, fits={"full": get})  # type: ignore[dict-item]
    assert asked == [["tied"]] and scored == ["tied", "full"]
    assert [s.form for s in given.scores] == ["full", "tied"]  # reported in the usual order
    assert (given.form, given.reason, given.scores) == (plain.form, plain.reason, plain.scores)
    for a, b in zip(plain.scores, given.scores, strict=True):
        assert a.thetas.tobytes() == b.thetas.tobytes()


# --------------------------------------------------------------------------- degenerate fits


def test_a_degenerate_point_fit_takes_at_least_the_prior_scales() -> None:
    """A point fit with a parameter on its bound (E -> 0 here) is one the runs cannot
    identify: its folds' small held-out errors cannot vouch for its extrapolation, so each
    per-decade scale is at least the prior's. The same design with E = 1.9 keeps the
    ladder's own (smaller) scales."""
    from scaling_cli.fit.build import FitSettings, fit_runs
    from scaling_cli.read.runs import runset_from_arrays

    n = np.repeat(2e7 * 2.0 ** np.arange(6), 5)
    d = n * np.tile([5.0, 10.0, 20.0, 40.0, 80.0], 6)
    noise = np.exp(np.random.default_rng(0).normal(0.0, 0.003, n.size))
    scales = {}
    for e in (1.9, 0.0):
        loss = (e + 400.0 / n**0.34 + 1500.0 / d**0.3) * noise
        model = fit_runs(runset_from_arrays(n.tolist(), d.tolist(), loss.tolist()),
                         FitSettings(replicates=100, seed=0))
        error = model.form_error
        assert error is not None and error.source == "ladder"
        scales[e] = (error.per_decade_compute, error.per_decade_ratio, error.per_decade_params)
    assert all(s < p for s, p in zip(scales[1.9], PRIOR_PER_DECADE, strict=True))
    assert scales[0.0] == PRIOR_PER_DECADE


def test_form_error_can_be_held_at_least_at_the_prior() -> None:
    rows = tuple(HeldOut("compute", "r", 0.001 * (-1) ** i, 1.0, 0.5, 0.3) for i in range(40))
    free, held = form_error(rows, 0.001), form_error(rows, 0.001, at_least_prior=True)
    assert free.per_decade_compute < PRIOR_PER_DECADE[0]
    assert (held.per_decade_compute, held.per_decade_ratio,
            held.per_decade_params) == PRIOR_PER_DECADE
