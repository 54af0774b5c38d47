"""The honesty harness (benchmarks/honesty) measures what it claims: real ladders built as
documented, splits that only fit on smaller runs, simulated truths that depart from the
fitted form in the stated way, exact coverage arithmetic, and a baseline adapter that
reproduces the tool's own backtest intervals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from benchmarks.honesty.evaluate import (
    Targets,
    current_methods,
    current_predictor,
    evaluate,
    noise_interval,
)
from benchmarks.honesty.ladders import (
    Ladder,
    datablations,
    epoch_chinchilla,
    make_ladder,
    misfit_checkpoints,
    misfit_final,
    misfit_rows,
    porian_configs,
    resolve_data_dir,
)
from benchmarks.honesty.misspecified import (
    FULL_SCENARIOS,
    R_OPT,
    Scenario,
    draw,
    draw_base,
    simulate,
    simulated_ladders,
)
from benchmarks.honesty.report import json_document, markdown_report, summarise
from benchmarks.honesty.splits import (
    Split,
    largest_split,
    rolling_splits,
    standard_splits,
    tokens_per_param_splits,
)
from scaling_cli.errors import FitError, InputError

from .conftest import SHARED, shared_csv

Array = npt.NDArray[np.float64]
Triple = tuple[Array, Array, Array]

# --------------------------------------------------------------------------- real ladders


def test_epoch_and_porian_ladders() -> None:
    shared_csv("chinchilla_epoch_svg.csv")
    shared_csv("porian_isoflop.csv")
    epoch = epoch_chinchilla(SHARED)
    assert len(epoch) == 240 and epoch.n_groups == 240 and epoch.target.all()
    assert np.allclose(epoch.compute_flops, 6 * epoch.params * epoch.tokens)
    porian = porian_configs(SHARED)
    assert len(porian) == 15 and sum(len(lad) for lad in porian) == 1745
    assert all(lad.grouped and lad.n_groups <= 16 for lad in porian)
    cosine = next(lad for lad in porian
                  if lad.name == "porian:rw|base|short|chinchilla|standard|val")
    assert len(cosine) == 88 and cosine.n_groups == 16


def test_datablations_ladders() -> None:
    shared_csv("datablations_c4.csv")
    single, repeated = datablations(SHARED)
    assert len(single) == 41 and single.epochs is not None and np.allclose(single.epochs, 1.0)
    assert len(repeated) == 294  # 308 finished, minus 12 dedup and 2 opt_shape runs
    assert repeated.epochs is not None and repeated.epochs.max() == pytest.approx(9000)


def test_misfit_ladders_drop_the_mislabelled_sweep_only() -> None:
    shared_csv("misfit_checkpoints.csv")
    rows = misfit_rows(SHARED)
    assert rows.dropped_sweeps == ("2024_11_10-23_08_29_sweep_test",)
    assert (rows.dropped_rows, rows.dropped_runs, rows.repeated_steps) == (168, 21, 0)
    best = misfit_final(SHARED, rows)[0]
    assert best.name == "misfit-final:best-lr"
    dn = best.tokens_per_param
    assert dn.min() == pytest.approx(1.37, abs=0.01) and dn.max() == pytest.approx(218.4, abs=0.1)
    # one run per (size, length): no duplicated (N, D) cell
    assert len({(n, d) for n, d in zip(best.params, best.tokens, strict=True)}) == len(best)
    ckpt = misfit_checkpoints(SHARED, rows)
    assert ckpt.n_groups == len(best) and int(ckpt.target.sum()) == len(best)
    final = ckpt.subset(ckpt.target)
    assert sorted(final.loss.tolist()) == sorted(best.loss.tolist())


def test_missing_data_directory_is_one_clear_error(tmp_path: Path) -> None:
    missing = f"{tmp_path}/nowhere"
    with pytest.raises(InputError, match=r"nowhere: shared data directory not found \(--data\)"):
        resolve_data_dir(missing)
    with pytest.raises(InputError, match=r"\$SCALING_SHARED_DATA"):
        resolve_data_dir(environ={"SCALING_SHARED_DATA": missing})


def test_bad_number_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "chinchilla_epoch_svg.csv").write_text(
        "run_id,params,tokens,loss,epoch_default_fit\na,1e8,2e9,3.1,1\nb,2e8,2e9,oops,1\n")
    with pytest.raises(InputError, match=r"chinchilla_epoch_svg.csv: line 3: field 'loss'"):
        epoch_chinchilla(tmp_path)


# --------------------------------------------------------------------------- splits


def _grid(target: list[bool] | None = None) -> Ladder:
    """5 sizes x 4 tokens/param ratios, loss from a known law (values do not matter here)."""
    n, r = np.meshgrid(np.logspace(7, 9, 5), [2.0, 8.0, 32.0, 128.0], indexing="ij")
    params, tokens = n.ravel(), (n * r).ravel()
    loss = 1.8 + 400 / params**0.33 + 1800 / tokens**0.36
    return make_ladder("grid", "", params, tokens, loss, [f"r{i}" for i in range(20)],
                       target=target)


def test_largest_split_fits_only_smaller_compute() -> None:
    lad = _grid()
    split = largest_split(lad, 4)
    assert not isinstance(split, str)
    c = lad.compute_flops
    assert int(split.test.sum()) == 4 and set(np.flatnonzero(split.test)) == set(np.argsort(c)[-4:])
    assert c[split.train].max() < c[split.test].min()
    assert not (split.train & split.test).any()


def test_distances_are_log_factors_against_the_training_rows() -> None:
    lad = _grid()
    (split, *_), _ = tokens_per_param_splits(lad, beyond=(16.0,))  # fit D/N <= 128/16
    dn = lad.tokens_per_param
    assert dn[split.train].min() == pytest.approx(2.0)
    assert dn[split.train].max() == pytest.approx(8.0)
    d = split.distances()
    test = split.test
    assert np.allclose(d.log_dn_above, np.log10(dn[test] / 8.0))
    assert np.allclose(d.log_dn_below, np.log10(dn[test] / 2.0))
    assert np.allclose(d.log_compute,
                       np.log10(lad.compute_flops[test] / lad.compute_flops[split.train].max()))
    assert np.allclose(d.log_params, np.log10(lad.params[test] / 1e9))  # largest size: 1e9
    assert math.isclose(float(d.log_dn_above.max()), math.log10(16.0))
    assert np.isnan(d.log_epochs).all()


def test_only_target_rows_are_forecast_and_rolling_origins_grow() -> None:
    target = [i % 4 == 3 for i in range(20)]  # like checkpoints: only some rows are final
    lad = _grid(target)
    splits, skipped = rolling_splits(lad)
    assert splits and not skipped
    for s in splits:
        assert lad.target[s.test].all()
        assert lad.compute_flops[s.train].max() < lad.compute_flops[s.test].min()
    sizes = [int(s.train.sum()) for s in splits]
    assert sizes == sorted(sizes) and len(splits) <= 4


def test_untrainable_and_duplicate_splits_are_reported_not_dropped() -> None:
    lad = _grid()
    made = largest_split(lad, 17)  # leaves 3 runs: cannot identify five parameters
    assert isinstance(made, str) and "cannot identify the law (3 rows" in made
    plan = standard_splits(lad)
    names = [s.name for s in plan.splits]
    assert len(names) == len(set(names))
    masks = {(s.train.tobytes(), s.test.tobytes()) for s in plan.splits}
    assert len(masks) == len(plan.splits)  # no split evaluated twice


# --------------------------------------------------------------------------- simulations


def test_families_share_base_design_and_noise_and_depart_as_documented() -> None:
    scenario = Scenario("grid", (6, 6), 0.01)
    ladders = {f: simulate(f, scenario, [3, 0, 0]) for f in
               ("control", "interaction", "second-n", "broken-d", "tpp-curve", "repeated")}
    ctrl = ladders["control"]
    assert ctrl.expected_loss is not None
    for lad in ladders.values():
        assert np.array_equal(lad.params, ctrl.params) and np.array_equal(lad.tokens, ctrl.tokens)
        assert lad.expected_loss is not None
        # same noise draws: observed / expected is the same for every family
        assert np.allclose(lad.loss / lad.expected_loss, ctrl.loss / ctrl.expected_loss)
    base = {name: lad.expected_loss / ctrl.expected_loss for name, lad in ladders.items()
            if lad.expected_loss is not None}
    assert (base["interaction"] > 1).all() and (base["second-n"] > 1).all()
    assert (base["broken-d"] >= 1).all() and base["broken-d"].max() > 1.01
    r0 = draw("tpp-curve", scenario, [3, 0, 0]).truth["r0"]
    dn = ctrl.tokens_per_param
    assert np.allclose(base["tpp-curve"][dn <= r0], 1.0) and (base["tpp-curve"][dn > r0] > 1).all()
    rep = ladders["repeated"]
    assert rep.unique_tokens is not None and rep.epochs is not None
    fresh = rep.epochs <= 1
    assert np.allclose(base["repeated"][fresh], 1.0) and (base["repeated"][~fresh] > 1).all()


def test_simulations_are_seeded_realistic_and_noisy_as_stated() -> None:
    a = simulate("control", FULL_SCENARIOS[2], [0, 2, 0])
    b = simulate("control", FULL_SCENARIOS[2], [0, 2, 0])
    c = simulate("control", FULL_SCENARIOS[2], [0, 2, 1])
    assert np.array_equal(a.loss, b.loss) and not np.array_equal(a.loss, c.loss)
    assert a.expected_loss is not None
    eps = np.log(a.loss / a.expected_loss)
    assert len(a) == 300 and 0.017 < eps.std() < 0.023  # sigma = 2%
    sizes = {len(lad) for lad in simulated_ladders(replicates=1)}
    assert min(sizes) == 16 and max(sizes) == 300
    rng = np.random.default_rng(5)
    for _ in range(50):
        law = draw_base(rng)
        n_opt = law.optimal_params(1e19)
        assert R_OPT[0] * 0.999 <= 1e19 / 6 / n_opt**2 <= R_OPT[1] * 1.001


# --------------------------------------------------------------------------- evaluation


def _control_splits() -> tuple[Ladder, list[Split]]:
    lad = simulate("control", FULL_SCENARIOS[0], [0, 0, 0])
    return lad, list(standard_splits(lad).splits)


def test_coverage_arithmetic_with_known_intervals() -> None:
    lad, splits = _control_splits()
    seen: list[int] = []

    def oracle(train: Ladder, targets: Targets, /) -> Triple:
        seen.append(len(train))
        assert not hasattr(targets, "loss")
        # the truth of a simulation is a deterministic function of (N, D): recover it
        index = [int(np.flatnonzero((lad.params == n) & (lad.tokens == d))[0])
                 for n, d in zip(targets.params, targets.tokens, strict=True)]
        y = lad.loss[index]
        return y, y * 0.999, y * 1.001  # always covers

    def too_low(train: Ladder, targets: Targets, /) -> Triple:
        p = np.full(len(targets), 0.5)
        return p, p * 0.9, p * 1.1  # below every loss: every miss optimistic

    def refuses(train: Ladder, targets: Targets, /) -> Triple:
        raise FitError("the fit's optimum could not be verified")

    out = evaluate({"oracle": oracle, "too-low": too_low, "refuses": refuses}, splits)
    assert seen == [int(s.train.sum()) for s in splits]
    by = {m: [o for o in out if o.method == m] for m in ("oracle", "too-low", "refuses")}
    s = summarise(by["oracle"])
    assert (s.coverage, s.optimistic, s.pessimistic, s.refused) == (1.0, 0.0, 0.0, 0)
    assert s.targets == sum(int(sp.test.sum()) for sp in splits)
    assert s.median_width == pytest.approx(0.002)
    low = summarise(by["too-low"])
    assert (low.coverage, low.optimistic, low.covers_truth) == (0.0, 1.0, 0.0)
    assert low.median_error < -0.5
    refused = summarise(by["refuses"])
    assert refused.refused == len(splits) and refused.targets == 0
    text = markdown_report(out)
    assert "## Refused" in text and "FitError: the fit's optimum could not be verified" in text


def test_half_covered_ladder_gives_exactly_half() -> None:
    lad, splits = _control_splits()
    split = splits[0]

    def alternating(train: Ladder, targets: Targets, /) -> Triple:
        truth = lad.loss[split.test]
        p = truth.copy()
        p[1::2] *= 0.5  # every second interval lies far below its run
        return p, p * 0.99, p * 1.01

    (o,) = evaluate({"alt": alternating}, [split])
    s = summarise([o])
    k = int(split.test.sum())
    assert s.coverage == pytest.approx(math.ceil(k / 2) / k)
    assert s.optimistic == pytest.approx((k // 2) / k) and s.pessimistic == 0.0


def test_predictor_contract_is_enforced() -> None:
    _, splits = _control_splits()

    def wrong_shape(train: Ladder, targets: Targets, /) -> Triple:
        return np.ones(1), np.ones(1), np.ones(1)

    def nan(train: Ladder, targets: Targets, /) -> Triple:
        p = np.full(len(targets), np.nan)
        return p, p, p

    with pytest.raises(ValueError, match="must return \\(point, low, high\\)"):
        evaluate({"bad": wrong_shape}, splits[:1])
    (o,) = evaluate({"nan": nan}, splits[:1])
    assert o.refused is not None and o.refused.startswith("non-finite forecast")


def test_json_rows_are_complete_and_deterministic() -> None:
    _, splits = _control_splits()

    def fixed(train: Ladder, targets: Targets, /) -> Triple:
        p = 1.8 + 400 / targets.params**0.33 + 1800 / targets.tokens**0.36
        return p, p * 0.98, p * 1.02

    texts = [json_document(evaluate({"fixed": fixed}, splits), settings={"seed": 0})
             for _ in range(2)]
    assert texts[0] == texts[1]
    doc = json.loads(texts[0])
    assert doc["schema"] == "scaling-cli/honesty-rows/1"
    assert len(doc["rows"]) == sum(int(s.test.sum()) for s in splits)
    row = doc["rows"][0]
    assert row["covered"] == (row["low"] <= row["actual_loss"] <= row["high"])
    assert row["expected_loss"] is not None and row["log_epochs"] is None


# --------------------------------------------------------------------------- today's tool


def test_current_adapter_reproduces_the_tools_backtest_forecast() -> None:
    """The "current" interval is the one the tool's own backtest scores for the same split
    (an independent path: backtest subsets the runs, fits and predicts itself)."""
    from scaling_cli.fit.build import FitSettings
    from scaling_cli.forecast.backtest import holdout_split
    from scaling_cli.read.runs import runset_from_arrays

    lad, _ = _control_splits()
    split = largest_split(lad, 6)
    assert not isinstance(split, str)
    runs = runset_from_arrays(lad.params.tolist(), lad.tokens.tolist(), lad.loss.tolist())
    _, fold = holdout_split(runs, 6, FitSettings(replicates=200, seed=4, workers=1))
    point, low, high = current_predictor(split.train_ladder(), Targets.of(split.test_ladder()),
                                         replicates=200, seed=4)["current"]
    held = {(h.params, h.tokens): h for h in fold.held_out}
    assert len(held) == len(point) == 6
    for j, (n, d) in enumerate(zip(lad.params[split.test], lad.tokens[split.test],
                                   strict=True)):
        h = held[(n, d)]
        assert point[j] == pytest.approx(h.predicted_loss.value, rel=1e-12)
        assert (low[j], high[j]) == pytest.approx((h.predicted_loss.low,
                                                   h.predicted_loss.high), rel=1e-12)


def test_noise_interval_reflects_residuals_as_the_old_backtest_did() -> None:
    reps = np.array([[1.0, 2.0], [1.1, 2.2], [0.9, 1.8], [1.2, 2.4], [1.05, 2.1]])
    fitted = np.full(3, 2.0)
    # every residual log(fitted / observed) = +0.1: each replicate is scaled by e^0.1,
    # whatever the draws (observed below fitted pushes the interval UP: reflected)
    low, high = noise_interval(reps, fitted, fitted * math.exp(-0.1), seed=0, confidence=0.5)
    scale = math.exp(0.1)
    assert low == pytest.approx(np.percentile(reps, 25, axis=0) * scale, rel=1e-12)
    assert high == pytest.approx(np.percentile(reps, 75, axis=0) * scale, rel=1e-12)
    mixed = fitted * np.exp([-0.2, 0.0, 0.2])
    a = noise_interval(reps, fitted, mixed, seed=3, confidence=0.9)
    b = noise_interval(reps, fitted, mixed, seed=3, confidence=0.9)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert (a[0] >= reps.min(axis=0) * math.exp(-0.2) - 1e-12).all()
    assert (a[1] <= reps.max(axis=0) * math.exp(0.2) + 1e-12).all()


def test_current_baseline_smoke_on_a_correctly_specified_ladder() -> None:
    _, splits = _control_splits()
    chosen = [s for s in splits if s.kind in ("largest", "tokens_per_param")]
    assert len(chosen) == 3
    out = evaluate(current_methods(replicates=200, seed=0), chosen)
    assert not [o.refused for o in out if o.refused]
    mean = summarise([o for o in out if o.method == "current"])
    noisy = summarise([o for o in out if o.method == "current+noise"])
    assert mean.covers_truth is not None and mean.covers_truth >= 0.8
    assert noisy.median_width > mean.median_width  # run-to-run noise widens the interval
    assert noisy.coverage >= mean.coverage
