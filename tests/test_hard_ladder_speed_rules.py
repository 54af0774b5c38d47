"""The replicate search's shortcuts on a hard ladder change no bit of any result.

A 4 x 4 grid of 16 runs with 3% noise: most bootstrap replicates are degenerate (a term
vanishes), many starts crawl, and the search escalates to the exponents' profile and to the
complete global search. Its speed comes from doing the same arithmetic in fewer numpy
calls: several step lengths of a Newton line search evaluated at once, and every
backtracking length on the profile at once. Each must give exactly the bits of the
one-length-at-a-time computation, and no row may depend on the rows batched beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import scaling_cli.fit.newton as newton
import scaling_cli.fit.profile as profile
from scaling_cli.fit.bootstrap import resample_weights
from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.objective import Data, evaluate
from scaling_cli.fit.refit import REPLICATE_RTOL, Refit
from scaling_cli.fit.search import fit_law

DELTA = 1e-3


def _hard_ladder() -> Data:
    rng = np.random.default_rng(3)
    n = np.repeat([2e7, 3e7, 4.5e7, 7e7], 4)
    d = np.tile([4e8, 7e8, 1.2e9, 2e9], 4)
    loss = (1.8 + 400 / n**0.33 + 1800 / d**0.36) * np.exp(rng.normal(0, 0.03, n.size))
    return Data.from_arrays(n, d, loss)


def _starts(data: Data, constraints: Constraints, reps: int) -> tuple[np.ndarray, np.ndarray]:
    """Replicate starts as the refit makes them: each replicate from the full-data optimum
    and its two best grid cells."""
    fit = fit_law(data, constraints=constraints)
    weights = resample_weights(len(data), None, reps, seed=5)
    cells = np.arange(2 * reps) % len(fit.candidates)
    starts = np.vstack([np.tile(fit.theta, (reps, 1)), fit.candidates[cells]])
    return starts, np.vstack([weights] * 3)


def _same(a: newton.Polished, b: newton.Polished) -> bool:
    return all(np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True)
               for name in ("theta", "objective", "gradient", "decrement", "min_eigenvalue",
                            "iterations", "converged"))


@pytest.mark.parametrize("constraints", [Constraints(), Constraints(tie_exponents=True)])
def test_line_search_lengths_tried_together_give_the_same_bits(
    monkeypatch: pytest.MonkeyPatch, constraints: Constraints,
) -> None:
    data = _hard_ladder()
    starts, weights = _starts(data, constraints, 40)
    together = newton.polish(starts, data, weights, max_iter=60, constraints=constraints,
                             converged_rtol=REPLICATE_RTOL)
    monkeypatch.setattr(newton, "LINE_SEARCH_CELLS", 0)  # one length per evaluation
    one_by_one = newton.polish(starts, data, weights, max_iter=60, constraints=constraints,
                               converged_rtol=REPLICATE_RTOL)
    assert _same(together, one_by_one)
    assert (together.iterations == 60).any()  # some starts crawl: long line searches ran


@pytest.mark.parametrize("constraints", [Constraints(), Constraints(tie_exponents=True)])
def test_profile_backtracking_lengths_tried_together_give_the_same_bits(
    monkeypatch: pytest.MonkeyPatch, constraints: Constraints,
) -> None:
    data = _hard_ladder()
    starts, weights = _starts(data, constraints, 12)
    kw = {"delta": DELTA, "constraints": constraints, "converged_rtol": REPLICATE_RTOL}
    together = profile.profile_polish(starts, data, weights, **kw)
    monkeypatch.setattr(profile, "BACKTRACK_CELLS", 0)  # one length per profile
    one_by_one = profile.profile_polish(starts, data, weights, **kw)
    assert _same(together, one_by_one)


def test_a_replicates_optimum_does_not_depend_on_its_batch() -> None:
    """Searched in one batch or in pieces (the stuck rows, which take the profile search
    and the complete global search, alone among them), every row gets the same bits."""
    data = _hard_ladder()
    fit = fit_law(data)
    refit = Refit.around(fit, data)
    weights = resample_weights(len(data), None, 96, seed=0)
    theta, ok = refit.search(weights, fit.theta)
    assert (~np.isfinite(theta).all(axis=1) | ok).all()
    for part in (slice(0, 40), slice(40, 41), slice(41, 96)):
        t, k = refit.search(weights[part], fit.theta)
        assert np.array_equal(t, theta[part], equal_nan=True)
        assert np.array_equal(k, ok[part])


def test_free_derivatives_without_constraints_are_the_multiplied_out_bits() -> None:
    """P = I: g and H pass through where every entry is finite and nonzero; rows with a
    zero (of either sign), an inf or a NaN get exactly what P^T g and P^T H P give."""
    space = newton.Space(Constraints())
    rng = np.random.default_rng(0)
    g = rng.normal(size=(9, 5))
    h = rng.normal(size=(9, 5, 5))
    g[1, 2], h[2, 3, 1], h[3, 0, 0], h[4, 4, 4] = 0.0, -0.0, np.inf, np.nan
    h[5] = -0.0
    g[6, 0], h[7, 2, 2] = -np.inf, 0.0
    with np.errstate(invalid="ignore"):  # 0 * inf
        fast_g, fast_h = space.free_derivatives(g, h)
        slow_g = g @ space.p
        slow_h = np.einsum("ki,skl,lj->sij", space.p, h, space.p)
    for fast, slow in ((fast_g, slow_g), (fast_h, slow_h)):
        assert np.array_equal(fast, slow, equal_nan=True)
        assert np.array_equal(np.signbit(fast), np.signbit(slow))
    assert np.isinf(fast_h[3, 0, 0]) and np.isnan(fast_h[3, 0, 1])  # 0 * inf spreads NaN


# --------------------------------------------------------------------------- calibration's fork


def _calibration_inputs() -> tuple[Any, Any, Any, np.ndarray]:
    """The hard ladder as runs, its full fit, its folds and their fold fits."""
    from scaling_cli.fit.evidence import folds, score
    from scaling_cli.model import RunData

    data = _hard_ladder()
    n, d, loss = np.exp(data.log_n), np.exp(data.log_d), np.exp(data.log_l)
    runs = RunData(tuple(f"r{i:02d}" for i in range(n.size)), n, d, loss, 6 * n * d, None)
    fit = fit_law(data)
    splits = folds(runs, Constraints())
    thetas = score("full", runs, fit, splits).thetas
    return runs, fit, splits, thetas


def test_calibration_on_two_processes_gives_the_same_held_out_errors() -> None:
    """The folds' replicates in two fixed halves, one per process, give the bits of both
    halves searched here (results never depend on workers)."""
    from scaling_cli.fit.evidence import calibrate

    runs, fit, splits, thetas = _calibration_inputs()
    one = calibrate(runs, fit, splits, thetas, replicates=40, seed=0, workers=1)
    two = calibrate(runs, fit, splits, thetas, replicates=40, seed=0, workers=2)
    assert one == two and len(one) > 0


def test_calibration_forks_only_after_slow_fold_fits_for_the_ladders_size() -> None:
    from scaling_cli.fit.build import _hard_evidence

    assert _hard_evidence(0.6, 16)  # a hard 16-run ladder: 37 ms per run
    assert not _hard_evidence(0.25, 240)  # Epoch's runs
    assert not _hard_evidence(0.55, 1000)  # 1,000 clean runs: slow by size alone
    assert _hard_evidence(0.28, 16)  # the same, its fold fits no longer crawling to E = 0
    assert not _hard_evidence(0.1, 16)  # fast, however small


def test_calibration_leaves_out_replicates_only_the_complete_search_would_reach(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A fold's bootstrap sd is a robust spread (1.4826 x MAD) of its converged replicates:
    those the cheap search cannot settle are left out of it, not handed to the complete
    global search (which cost 40% of a hard 16-run ladder's calibration). The bootstrap's
    own replicates still get that search: its intervals count every replicate."""
    import scaling_cli.fit.refit as refit_module
    from scaling_cli.fit.evidence import calibrate

    runs, fit, splits, thetas = _calibration_inputs()
    data = _hard_ladder()
    complete = refit_module.fit_law_many
    calls: list[int] = []

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return complete(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(refit_module, "fit_law_many", counting)
    held = calibrate(runs, fit, splits, thetas, replicates=40, seed=0, workers=1)
    assert held and not calls and all(h.stat_log_sd > 0 for h in held)
    # (the look at the face E = 0 settles most replicates: 1 of these 400 needs the last resort)
    weights = resample_weights(len(data), None, 400, seed=2)
    kept, ok = Refit.around(fit, data, last_resort=False).search(weights, fit.theta)
    full, ok_full = Refit.around(fit, data).search(weights, fit.theta)
    assert calls and (~ok).sum() > (~ok_full).sum()  # the hard ladder needs the last resort
    same = ok  # where the cheap search converged, the last resort changes nothing
    assert np.array_equal(kept[same], full[same])


def test_the_trust_region_lets_a_term_slide_along_its_valley_in_one_step() -> None:
    """A step that keeps A N^-alpha fixed at the smallest run (log A rising by log N_min per
    unit of alpha) is measured by its change in alpha alone: not shortened 16-fold, as a
    cap on log A itself did (100-iteration crawls of degenerate replicates)."""
    data = _hard_ladder()
    space = newton.Space(Constraints())
    sizes = space.step_sizes(data)
    log_n_min = float(data.log_n.min())
    valley = np.array([[0.0, 0.8 * log_n_min, 0.0, 0.8, 0.0]])  # (log E, log A, log B, a, b)
    h = np.eye(5)[None]
    full = newton.newton_step(-valley, h, sizes)  # the Newton step is the valley step itself
    assert np.allclose(full, valley, rtol=1e-12)
    capped = newton.newton_step(-valley, h)  # theta's own units: log A capped at 1
    assert np.abs(capped).max() == pytest.approx(newton.MAX_STEP)
    # a step that moves the term at N_min is still capped in the term's log
    lift = np.array([[0.0, 3.0, 0.0, 0.0, 0.0]])
    assert np.abs(newton.newton_step(-lift, h, sizes)).max() == pytest.approx(newton.MAX_STEP)


def test_starts_crawling_towards_e_zero_reach_the_face_optimum_the_complete_search_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Replicates whose optimum has E = 0 crawl down log E for hundreds of Newton steps.
    Looked at on the face E = 0 after FACE_PROBE_AT steps (in a polish long enough to
    look), more of them converge, every such end point a Karush-Kuhn-Tucker point (raising
    E would not lower the objective), and nearly all of them (from one grid cell each) the
    complete global search's optimum for their weights: the searches that use the polish
    take the best of several starts."""
    data = _hard_ladder()
    fit = fit_law(data)
    weights = resample_weights(len(data), None, 200, seed=11)
    starts = fit.candidates[np.arange(len(weights)) % 40]  # grid cells, as the searches start
    kw = {"max_iter": 200, "delta": DELTA, "constraints": Constraints(),
          "converged_rtol": REPLICATE_RTOL}
    with np.errstate(all="ignore"):
        with_face = newton.polish(starts, data, weights, **kw)
        monkeypatch.setattr(newton, "FACE_PROBE_AT", 10**9)  # never looks at the face
        without = newton.polish(starts, data, weights, **kw)
    gained = np.flatnonzero(with_face.converged & ~without.converged)
    assert gained.size >= 3
    assert (with_face.theta[gained, 0] == newton.BOUNDS[0, 0]).all()  # on the face
    _, g, _ = evaluate(with_face.theta[gained], data, weights[gained], order=1, delta=DELTA)
    assert g is not None
    slope_e = g[:, 0] / np.exp(newton.BOUNDS[0, 0])  # df/dE at E = 0
    assert (slope_e * np.exp(data.log_l.min())
            >= -REPLICATE_RTOL * with_face.objective[gained]).all()
    above = [with_face.objective[row] > fit_law(data, weights=weights[row]).objective
             * (1 + 1e-6) for row in gained]
    assert sum(above) <= 0.1 * gained.size  # 2 of 32: a local optimum of another basin


def test_a_start_not_moved_to_the_face_ends_where_uninterrupted_newton_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The look at the face splits Newton's iterations in two; the iteration is memoryless,
    so every start it does not move ends with exactly the bits of one uninterrupted run,
    and a polish too short to look is that run itself."""
    data = _hard_ladder()
    starts, weights = _starts(data, Constraints(), 40)
    kw = {"max_iter": 200, "constraints": Constraints(), "converged_rtol": REPLICATE_RTOL}
    split = newton.polish(starts, data, weights, **kw)
    short = newton.polish(starts, data, weights, **{**kw, "max_iter": 60})
    monkeypatch.setattr(newton, "FACE_PROBE_AT", 10**9)
    whole = newton.polish(starts, data, weights, **kw)
    assert _same(short, newton.polish(starts, data, weights, **{**kw, "max_iter": 60}))
    same = (split.theta == whole.theta).all(axis=1)
    assert len(starts) // 2 < same.sum() < len(starts)  # some moved, most did not
    for name in ("objective", "decrement", "iterations", "converged"):
        assert np.array_equal(getattr(split, name)[same], getattr(whole, name)[same])
    assert (split.objective[~same] <= whole.objective[~same] * (1 + 1e-9)).all()  # no higher


def test_the_calibration_and_the_bootstrap_in_one_queue_give_what_each_gives_alone() -> None:
    """map_together: the folds' replicates and the bootstrap's, one queue for two processes,
    give the bits each gives on its own in one process."""
    from scaling_cli.fit.bootstrap import bootstrap, bootstrap_work
    from scaling_cli.fit.evidence import calibrate, calibration
    from scaling_cli.fit.processes import map_together

    runs, fit, splits, thetas = _calibration_inputs()
    data = _hard_ladder()
    held, boot = map_together([calibration(runs, fit, splits, thetas, replicates=40, seed=0),
                               bootstrap_work(data, fit, replicates=200, seed=1)], 2)
    assert held == calibrate(runs, fit, splits, thetas, replicates=40, seed=0, workers=1)
    alone = bootstrap(data, fit, replicates=200, seed=1, workers=1)
    assert boot.theta.tobytes() == alone.theta.tobytes()
    assert (boot.converged == alone.converged).all() and boot.failed == alone.failed


def test_no_replicate_stops_on_the_face_e_zero_beside_a_lower_minimum() -> None:
    """On the face E = 0 the gradient in log E vanishes whatever df/dE is, so a degenerate
    replicate's own start could stop there although raising E lowers the objective (6 of
    these 48 replicates, up to 60% above the complete search's optimum). Such a point is
    not converged (Karush-Kuhn-Tucker: df/dE >= -rtol f / L_min) and the search goes on:
    the replicates now match a complete global search of each, but one whose better basin
    lies far away (alpha 4.5 against 0.06), where no start of the refit reaches."""
    from dataclasses import replace

    from scaling_cli.fit.bootstrap import bootstrap
    from scaling_cli.fit.search import SearchSettings

    data = _hard_ladder()
    fit = fit_law(data)
    boot = bootstrap(data, fit, replicates=48, seed=5, workers=1)
    weights = resample_weights(len(data), None, 48, seed=5)
    assert boot.failed == 0
    f, g, _ = evaluate(boot.theta, data, weights, order=1)
    assert g is not None
    face = boot.theta[:, 0] <= newton.BOUNDS[0, 0] + 1e-9
    assert face.sum() >= 10  # (the ladder's degenerate replicates: the check is exercised)
    slope_e = g[face, 0] / np.exp(boot.theta[face, 0]) * np.exp(data.log_l.min())
    assert (slope_e >= -REPLICATE_RTOL * f[face]).all()
    settings = replace(SearchSettings(), converged_rtol=REPLICATE_RTOL)
    complete = np.array([fit_law(data, weights=w, settings=settings).objective
                         for w in weights])
    assert (f / complete - 1.0 > 1e-7).sum() <= 1


def test_replicates_still_crawling_after_their_polish_look_at_the_face_once() -> None:
    """A replicate's polish (60 steps) is too short to look at the face E = 0 on its way;
    the starts still crawling when it ends look once (polish_crawled): those whose E
    shrinks towards a face optimum converge there (on the face, Karush-Kuhn-Tucker, below
    where they had got to, nearly all at the complete search's optimum), the others come
    back where they were, unconverged, for the profile search."""
    data = _hard_ladder()
    fit = fit_law(data)
    weights = resample_weights(len(data), None, 200, seed=11)
    starts = fit.candidates[np.arange(len(weights)) % 40]
    kw = {"delta": DELTA, "constraints": Constraints(), "converged_rtol": REPLICATE_RTOL}
    with np.errstate(all="ignore"):
        short = newton.polish(starts, data, weights, max_iter=60, **kw)
        crawling = np.flatnonzero(~short.converged)
        looked = newton.polish_crawled(short.theta[crawling], data, weights[crawling],
                                       max_iter=60, **kw)
    on = looked.converged
    assert on.sum() >= 5 and (~on).sum() >= 1  # both kinds exercised
    assert (looked.theta[on, 0] == newton.BOUNDS[0, 0]).all()
    assert (looked.objective[on] < short.objective[crawling[on]]).all()
    _, g, _ = evaluate(looked.theta[on], data, weights[crawling[on]], order=1, delta=DELTA)
    assert g is not None
    slope_e = g[:, 0] / np.exp(newton.BOUNDS[0, 0]) * np.exp(data.log_l.min())
    assert (slope_e >= -REPLICATE_RTOL * looked.objective[on]).all()
    assert np.array_equal(looked.theta[~on], short.theta[crawling[~on]])
    above = [looked.objective[i] > fit_law(data, weights=weights[row]).objective * (1 + 1e-6)
             for i, row in enumerate(crawling) if on[i]]
    assert sum(above) <= 0.1 * on.sum()


def test_a_replicate_never_polishes_its_own_start_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fitted optimum is both every replicate's own start and the first screened
    candidate (the fit's basins lead the screen); a candidate within the agreement
    tolerance of a row's own start ranks last, so its second start is another point."""
    import scaling_cli.fit.refit as refit

    data = _hard_ladder()
    fit = fit_law(data)
    weights = resample_weights(len(data), None, 40, seed=2)
    seen: list[np.ndarray] = []
    polish_best = refit._polish_best

    def spy(theta0: np.ndarray, *args: Any) -> Any:
        seen.append(theta0.copy())
        return polish_best(theta0, *args)

    monkeypatch.setattr(refit, "_polish_best", spy)
    with np.errstate(all="ignore"):
        Refit.around(fit, data).search(weights, fit.theta)
    first = seen[0].reshape(len(weights), refit.REPLICATE_STARTS, 5)
    assert np.abs(fit.basins[0] - fit.theta).max() <= 1e-3  # the duplicate exists
    assert (first[:, 0] == fit.theta).all()
    assert (np.abs(first[:, 1:] - fit.theta).max(axis=2) > 1e-3).all()


def test_crawling_replicates_settle_on_the_face_instead_of_the_profile_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The refit hands rows still crawling after their polish to polish_crawled before the
    profile search: fewer rows reach the profile search (46 against 55 here), and nearly
    none ends higher (none here; a face optimum can be a local one)."""
    import scaling_cli.fit.refit as refit

    data = _hard_ladder()
    fit = fit_law(data)
    weights = resample_weights(len(data), None, 120, seed=7)
    profiled: list[int] = []
    profile_best = refit._profile_best

    def spy(theta0: np.ndarray, data_: Data, w: np.ndarray, *args: Any) -> Any:
        profiled.append(w.shape[0])
        return profile_best(theta0, data_, w, *args)

    monkeypatch.setattr(refit, "_profile_best", spy)
    with np.errstate(all="ignore"):
        theta, ok = Refit.around(fit, data).search(weights, fit.theta)
        with_look = sum(profiled)
        profiled.clear()
        monkeypatch.setattr(refit, "polish_crawled", _nothing_settles)
        theta_without, ok_without = Refit.around(fit, data).search(weights, fit.theta)
    without = sum(profiled)
    assert with_look < without
    f = evaluate(theta, data, weights)[0]
    f_without = evaluate(theta_without, data, weights)[0]
    assert ok.all() and ok_without.all()
    assert (f <= f_without * (1 + 1e-6)).mean() >= 0.97


def _nothing_settles(theta0: np.ndarray, data: Data, w: np.ndarray, **kw: Any) -> Any:
    """polish_crawled as if no face optimum were a minimum: every row back unconverged."""
    from dataclasses import replace

    kw.pop("max_iter")
    where = newton.polish(theta0, data, w, max_iter=0, **kw)
    return replace(where, converged=np.zeros(len(theta0), dtype=bool))
