"""Two recipes' ladders: the joint fit, its bootstrap, the compute multiplier in closed form,
the crossover, the pinned-asymptote identity, and the real ladders (skipped when absent)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_cli.errors import FitError, UsageError
from scaling_cli.fit.build import FitSettings
from scaling_cli.fit.joint import JointProblem, Layout, fit_joint, polish_joint
from scaling_cli.fit.joint_bootstrap import bootstrap_joint
from scaling_cli.fit.ladders import JointFit, fit_ladders
from scaling_cli.fit.objective import Data
from scaling_cli.fit.search import fit_law
from scaling_cli.forecast.recipes import (
    compare_recipes,
    compute_multiplier,
    crossover_compute,
    frontier,
    speedup_from_losses,
)
from scaling_cli.law import Law, optimal_allocation
from scaling_cli.read.runs import RunSet, load_runs, runset_from_arrays

from .conftest import shared_csv, synthetic_ladder

BASE = {"E": 1.8, "A": 400.0, "B": 1800.0, "alpha": 0.33, "beta": 0.36}
GAMMA = 0.33 * 0.36 / (0.33 + 0.36)
BUDGETS = (1e18, 3e18, 1e19, 3e19, 1e20, 3e20, 1e21)


def ladder_data(noise: float = 0.0, seed: int = 0, **law: float) -> Data:
    return Data.from_arrays(*synthetic_ladder(**{**BASE, **law}, budgets=BUDGETS, noise=noise,
                                              seed=seed))


def runset(noise: float = 0.0, seed: int = 0, **law: float) -> RunSet:
    n, d, loss = synthetic_ladder(**{**BASE, **law}, budgets=BUDGETS, noise=noise, seed=seed)
    return runset_from_arrays(n, d, loss)


# --------------------------------------------------------------------------- the joint fit


def test_layout_maps_free_parameters_onto_both_ladders() -> None:
    shared = Layout.of("shared")
    assert shared.names == ("baseline.log_E", "baseline.log_A", "baseline.log_B",
                            "variant.log_E", "variant.log_A", "variant.log_B", "alpha", "beta")
    assert Layout.of("pinned").names == ("baseline.log_A", "baseline.log_B", "variant.log_A",
                                         "variant.log_B", "log_E", "alpha", "beta")
    assert Layout.of("separate").size == 10 and Layout.of("separate").shared == ()
    assert Layout.of("pinned").shared == ("E", "alpha", "beta")
    theta = (np.array([[0.5, 6.0, 7.0, 0.3, 0.4]]), np.array([[0.6, 5.0, 8.0, 0.3, 0.4]]))
    t0, t1 = shared.thetas(shared.to_phi(*theta))
    np.testing.assert_array_equal(t0, theta[0])
    np.testing.assert_array_equal(t1, theta[1])
    with pytest.raises(UsageError, match=r"^mode: 'tied': use one of shared, separate, pinned$"):
        Layout.of("tied")


@pytest.mark.parametrize("mode", ["shared", "separate", "pinned"])
def test_joint_gradient_and_hessian_match_finite_differences(mode: str) -> None:
    layout = Layout.of(mode)
    problem = JointProblem(layout, (ladder_data(0.02, 1), ladder_data(0.02, 2, E=1.7)), 0.01)
    rng = np.random.default_rng(0)
    base = layout.to_phi([0.6, 6.0, 7.5, 0.33, 0.36], [0.5, 5.8, 7.4, 0.33, 0.36])[0]
    w = (np.ones(len(problem.data[0])), rng.integers(0, 3, len(problem.data[1])).astype(float))
    for _ in range(3):
        phi = base + rng.normal(0, 0.05, layout.size)
        _, g, h = problem.evaluate(phi[None], (w[0][None], w[1][None]))
        step = 1e-6
        for i in range(layout.size):
            e = np.zeros(layout.size)
            e[i] = step
            f_up, g_up, _ = problem.evaluate((phi + e)[None], (w[0][None], w[1][None]))
            f_dn, g_dn, _ = problem.evaluate((phi - e)[None], (w[0][None], w[1][None]))
            assert (f_up - f_dn)[0] / (2 * step) == pytest.approx(g[0, i], rel=1e-5, abs=1e-8)
            np.testing.assert_allclose((g_up - g_dn)[0] / (2 * step), h[0, i], rtol=1e-4,
                                       atol=1e-6)


def test_separate_mode_is_exactly_the_two_single_fits() -> None:
    data = (ladder_data(0.01, 1), ladder_data(0.01, 2, E=1.7, A=300.0, B=1500.0))
    joint = fit_joint(JointProblem(Layout.of("separate"), data, 1e-3))
    single = [fit_law(d) for d in data]
    assert joint.verified
    assert joint.objective == pytest.approx(single[0].objective + single[1].objective, rel=1e-9)
    for law, fit in zip(joint.laws, single, strict=True):
        np.testing.assert_allclose(law.as_tuple(), fit.law.as_tuple(), rtol=1e-6)


@pytest.mark.parametrize(("mode", "variant"), [
    ("shared", {"E": 1.65, "A": 300.0, "B": 2500.0}),
    ("pinned", {"A": 250.0, "B": 1200.0}),
])
def test_noise_free_ladders_recover_their_laws(mode: str, variant: dict[str, float]) -> None:
    problem = JointProblem(Layout.of(mode), (ladder_data(), ladder_data(**variant)), 1e-3)
    fit = fit_joint(problem)
    assert fit.verified and fit.starts_agreeing >= 2 and fit.at_bounds == ()
    for law, truth in zip(fit.laws, (BASE, {**BASE, **variant}), strict=True):
        np.testing.assert_allclose(law.as_tuple(), [truth[k] for k in ("E", "A", "B", "alpha",
                                                                       "beta")], rtol=1e-5)


def test_polish_stops_at_a_verified_minimum_from_a_perturbed_start() -> None:
    layout = Layout.of("shared")
    problem = JointProblem(layout, (ladder_data(), ladder_data(E=1.65)), 1e-3)
    truth = layout.to_phi([*np.log([1.8, 400.0, 1800.0]).tolist(), 0.33, 0.36],
                          [*np.log([1.65, 400.0, 1800.0]).tolist(), 0.33, 0.36])
    w = (np.ones(len(problem.data[0])), np.ones(len(problem.data[1])))
    res = polish_joint(truth + 0.05, problem, w)
    assert res.converged[0]
    np.testing.assert_allclose(res.phi[0], truth[0], atol=1e-6)


def test_joint_bootstrap_is_seeded_paired_and_draws_each_ladder_independently() -> None:
    problem = JointProblem(Layout.of("shared"),
                           (ladder_data(0.01, 1), ladder_data(0.01, 2, E=1.7)), 1e-3)
    fit = fit_joint(problem)
    one = bootstrap_joint(problem, fit, replicates=64, seed=3)
    two = bootstrap_joint(problem, fit, replicates=64, seed=3)
    other = bootstrap_joint(problem, fit, replicates=64, seed=4)
    np.testing.assert_array_equal(one.phi, two.phi)
    assert not np.array_equal(one.phi, other.phi)
    assert one.failed == 0 and one.n_units == (len(problem.data[0]), len(problem.data[1]))
    assert one.resample_by == ("run", "run")
    # shared exponents move together in both ladders' replicates (one column each)
    t0, t1 = problem.layout.thetas(one.phi)
    np.testing.assert_array_equal(t0[:, 3:], t1[:, 3:])


def test_fit_ladders_pairs_the_replicates_of_both_models() -> None:
    fit = fit_ladders(runset(0.01, 1), runset(0.01, 2, E=1.7),
                      FitSettings(replicates=60, seed=0))
    assert fit.mode == "shared" and fit.shared == ("alpha", "beta")
    assert fit.baseline.samples is not None and fit.variant.samples is not None
    assert fit.baseline.samples.shape == fit.variant.samples.shape == (60, 5)
    np.testing.assert_array_equal(fit.baseline.samples[:, 3:], fit.variant.samples[:, 3:])
    assert fit.summary.verified and fit.boot is not None and fit.boot.n_units == 2 * 42
    assert fit.summary.constraints["mode"] == "shared"


def test_fit_ladders_errors_name_the_ladder_and_the_setting() -> None:
    few = runset_from_arrays([1e8, 2e8, 4e8], [1e9, 2e9, 4e9], [3.0, 2.9, 2.8])
    with pytest.raises(FitError, match=r"^variant ladder: too few runs to identify the law: 3 "
                                       r"runs, 3 sizes"):
        fit_ladders(runset(), few, FitSettings(replicates=0))
    with pytest.raises(UsageError) as info:
        fit_ladders(runset(), runset(), FitSettings.with_constraints({"E": 1.7},
                                                                     replicates=0))
    assert str(info.value) == ("fixed or tied parameters do not apply to a joint fit; choose "
                               "what the ladders share with `mode` (shared, separate or "
                               "pinned)")


# --------------------------------------------------------------------------- closed forms

laws = st.builds(
    Law, E=st.floats(1.0, 3.0), A=st.floats(50.0, 5000.0), B=st.floats(50.0, 5000.0),
    alpha=st.floats(0.15, 0.7), beta=st.floats(0.15, 0.7))


@settings(max_examples=60, deadline=None)
@given(law=laws, log_c=st.floats(math.log(1e15), math.log(1e28)))
def test_frontier_is_the_compute_optimal_loss(law: Law, log_c: float) -> None:
    c = math.exp(log_c)
    front = frontier(law)
    assert float(front.loss(c)) == pytest.approx(float(optimal_allocation(law, c).loss),
                                                 rel=1e-12)
    assert float(front.gamma) == pytest.approx(law.alpha * law.beta / (law.alpha + law.beta))
    assert float(front.compute_for(front.loss(c))) == pytest.approx(c, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(baseline=laws, variant=laws, log_c=st.floats(math.log(1e16), math.log(1e26)))
def test_multiplier_means_the_baseline_matches_the_variant_at_k_times_the_compute(
        baseline: Law, variant: Law, log_c: float) -> None:
    c = math.exp(log_c)
    k = float(compute_multiplier(baseline, variant, c))
    loss_v = float(frontier(variant).loss(c))
    if loss_v <= baseline.E:
        assert k == math.inf
    else:
        assert float(frontier(baseline).loss(k * c)) == pytest.approx(loss_v, rel=1e-10)


def test_pinned_asymptote_gives_one_multiplier_equal_to_the_identity() -> None:
    baseline = Law(1.8, 400.0, 1800.0, 0.33, 0.36)
    variant = Law(1.8, 250.0, 1100.0, 0.33, 0.36)
    budgets = np.geomspace(1e17, 1e27, 11)
    k = compute_multiplier(baseline, variant, budgets)
    np.testing.assert_allclose(k, k[0], rtol=1e-10)
    loss_b, loss_v = frontier(baseline).loss(3e21), frontier(variant).loss(3e21)
    assert float(speedup_from_losses(loss_b, loss_v, 1.8, GAMMA)) == pytest.approx(k[0],
                                                                                  rel=1e-10)
    # the ratio of the two K's to the power 1/gamma, and the variant is better: k > 1
    ratio = math.exp(float(frontier(baseline).log_K - frontier(variant).log_K))
    assert k[0] == pytest.approx(ratio ** (1 / GAMMA), rel=1e-10) and k[0] > 1
    t, variant_wins = crossover_compute(baseline, variant)
    assert float(t) == 0.0 and bool(variant_wins)


def test_crossover_in_closed_form_with_shared_exponents() -> None:
    # lower E, larger K: the variant loses at small budgets and wins above the crossover
    baseline, variant = Law(1.9, 400.0, 1800.0, 0.33, 0.36), Law(1.8, 600.0, 2600.0, 0.33, 0.36)
    t, variant_wins = crossover_compute(baseline, variant)
    fb, fv = frontier(baseline), frontier(variant)
    assert bool(variant_wins) and 1e16 < float(t) < 1e26
    assert float(fb.loss(t)) == pytest.approx(float(fv.loss(t)), rel=1e-12)
    assert float(compute_multiplier(baseline, variant, float(t))) == pytest.approx(1, rel=1e-9)
    assert compute_multiplier(baseline, variant, float(t) / 10) < 1
    assert compute_multiplier(baseline, variant, float(t) * 10) > 1


def test_crossover_with_separate_exponents_matches_a_brute_force_scan() -> None:
    rng = np.random.default_rng(5)
    count = 400
    draw = {"E": (1.5, 2.5), "A": (50.0, 8000.0), "B": (50.0, 8000.0), "alpha": (0.2, 0.6),
            "beta": (0.2, 0.6)}

    def law() -> Law:
        return Law(*(rng.uniform(*draw[k], count) for k in ("E", "A", "B", "alpha", "beta")))

    baseline, variant = law(), law()
    t, variant_wins = crossover_compute(baseline, variant)
    fb, fv = frontier(baseline), frontier(variant)
    x = np.linspace(0.0, math.log(1e50), 200_001)
    low, high = 6 * math.exp(x[0] + 1), 6 * math.exp(x[-1] - 1)
    crossing = 0
    for i in range(count):
        d = (fv.E[i] + np.exp(fv.log_K[i] - fv.gamma[i] * x)) - \
            (fb.E[i] + np.exp(fb.log_K[i] - fb.gamma[i] * x))
        changes = np.flatnonzero(np.sign(d[1:]) != np.sign(d[:-1]))
        largest = 6 * math.exp(x[changes[-1]]) if changes.size else 0.0
        assert (low < largest < high) == (low < t[i] < high), i
        if low < largest < high:
            crossing += 1
            assert math.log(t[i] / largest) == pytest.approx(0, abs=2e-3), i
        assert bool(variant_wins[i]) == bool(d[-1] < 0), i
    assert crossing > 100  # the scan tested real crossings, not only their absence


# --------------------------------------------------------------------------- answers


@pytest.fixture(scope="module")
def twice_as_good() -> JointFit:
    """A variant worth exactly 2x compute at every budget (shared E and exponents, K / 2^g)."""
    scale = 2.0 ** -GAMMA
    return fit_ladders(runset(0.003, 1), runset(0.003, 2, A=400.0 * scale, B=1800.0 * scale),
                       FitSettings(replicates=200, seed=0), mode="pinned")


def test_a_known_multiplier_is_recovered_with_an_interval(twice_as_good: JointFit) -> None:
    result = compare_recipes(twice_as_good, [1e19, 1e24])
    for row in result.rows:
        k = row.multiplier
        assert k.low is not None and k.high is not None
        assert k.low < 2.0 < k.high and k.value == pytest.approx(2.0, rel=0.1)
        assert row.verdict == "variant better" and row.variant_better_fraction == 1.0
        assert row.loss_variant.value < row.loss_baseline.value
    assert result.rows[0].multiplier.value == pytest.approx(result.rows[1].multiplier.value,
                                                            rel=1e-9)
    assert result.speedup is not None
    assert result.speedup.value == pytest.approx(result.rows[0].multiplier.value, rel=1e-9)
    assert result.crossover.compute_flops is None and result.crossover.winner_at_scale == \
        "variant"
    # 1e24 FLOPs is 1,000x past the largest run, and the baseline is evaluated at ~2e24
    assert any(w.startswith("baseline ladder at k x 1e24 = ") for w in result.warnings)
    assert any(w.startswith("variant ladder at 1e24 FLOPs: 1e24 FLOPs is 1,000x beyond")
               for w in result.warnings)


def test_compare_recipes_refuses_bad_budgets(twice_as_good: JointFit) -> None:
    with pytest.raises(UsageError, match=r"^budget: give at least one budget, e\.g\. 1e21$"):
        compare_recipes(twice_as_good, [])
    with pytest.raises(UsageError, match=r"^budget: budgets must be positive FLOP counts"):
        compare_recipes(twice_as_good, [-1.0])


# --------------------------------------------------------------------------- real ladders

PORIAN = {"base": "rw|base|short|kaplan|standard|val",
          "tuned": "rw|tuned|short|const|standard|val",
          "cosine": "rw|base|short|chinchilla|standard|val"}


def porian(config: str) -> RunSet:
    path = shared_csv("porian_isoflop.csv")
    return load_runs([str(path)], columns={"group": "train_run_key"},
                     where=[f"config_id=={PORIAN[config]}"])


@pytest.mark.slow
def test_porian_tuned_optimizer_wins_small_and_loses_at_scale() -> None:
    """Porian et al. 2024, RefinedWeb: tuned AdamW with a constant learning rate against
    the base optimizer with the long (Kaplan) cosine: 1.4x compute at 1e17 FLOPs, a crossover
    near 5e18, and no evidence of a gain beyond the runs (resampled by training run)."""
    fit = fit_ladders(porian("base"), porian("tuned"), FitSettings(replicates=200, seed=0))
    assert fit.summary.verified and fit.boot is not None and fit.boot.resample_by == "group"
    result = compare_recipes(fit, [1e17, 1e19, 1e21])
    small, _, large = result.rows
    assert round(small.multiplier.value, 2) == 1.41 and small.verdict == "variant better"
    assert large.verdict == "unclear" and large.multiplier.value < 0.5
    cross = result.crossover
    assert cross.direction == "variant stops winning" and cross.compute_flops is not None
    assert 1e18 < cross.compute_flops.value < 1e19


@pytest.mark.slow
def test_porian_cosine_decay_pinned_speedup() -> None:
    """Tailoring the cosine to each budget (Chinchilla) against the fixed long cosine: with
    one shared asymptote, a constant 1.36x compute whose interval starts near 1 (1.02 to
    1.84 with 1,000 replicates; 0.99 to 1.78 with these 200)."""
    fit = fit_ladders(porian("base"), porian("cosine"), FitSettings(replicates=200, seed=0),
                      mode="pinned")
    result = compare_recipes(fit, [1e19])
    speedup = result.speedup
    assert speedup is not None and speedup.low is not None and speedup.high is not None
    assert round(speedup.value, 2) == 1.36
    assert 0.95 < speedup.low < 1.05 and 1.6 < speedup.high < 2.0
    assert result.rows[0].multiplier.value == pytest.approx(result.speedup.value, rel=1e-9)


@pytest.mark.slow
def test_datablations_heavy_repetition_costs_compute() -> None:
    """Muennighoff et al. 2023 (C4): runs repeating their data more than 16 times against
    single-epoch runs lose ever more compute as budgets grow (0.06x at 1e20)."""
    path = str(shared_csv("datablations_c4.csv"))
    single = load_runs([path], where=["unfinished==0", "epochs==1"])
    repeated = load_runs([path], where=["unfinished==0", "epochs>16"])
    fit = fit_ladders(single, repeated, FitSettings(replicates=200, seed=0))
    rows = compare_recipes(fit, [1e20, 1e22]).rows
    assert [r.verdict for r in rows] == ["baseline better", "baseline better"]
    assert rows[0].multiplier.high is not None and rows[0].multiplier.high < 0.2
    assert rows[1].multiplier.value < rows[0].multiplier.value
