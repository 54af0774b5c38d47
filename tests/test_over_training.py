"""The over-training correction (fit layer and forecast layer): a ladder whose held-out
over-trained runs come out worse than the law forecasts has its loss forecasts above the
fitted tokens per parameter raised by the bias it measured, said in the forecast's warnings,
carried in JSON and in fit files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from scaling_cli.cli import app
from scaling_cli.fit.build import FitSettings, fit_runs
from scaling_cli.fit.evidence import HeldOut
from scaling_cli.fit.forms import BIAS_PRIOR_DECADES2, MIN_POINTS_PER_AXIS, form_error, over_bias
from scaling_cli.forecast.answers import fixed_size, predict
from scaling_cli.forecast.intervals import Estimate
from scaling_cli.law import Law, predict_loss
from scaling_cli.model import FormError
from scaling_cli.read.fitfile import read_fit_file
from scaling_cli.read.runs import runset_from_arrays
from tests.conftest import SHARED, shared_csv

LAW = Law(E=1.8, A=500.0, B=1500.0, alpha=0.34, beta=0.30)


def above(log_error: float, over: float, ratio: float | None = None) -> HeldOut:
    """A held-out run ``over`` decades above its fold's tokens per parameter."""
    return HeldOut("ratio up", "r", log_error, 0.0, over if ratio is None else ratio,
                   over_decades=over)


# --------------------------------------------------------------------------- fit layer


def test_the_bias_is_the_slope_through_the_origin_shrunk_toward_none() -> None:
    u = np.linspace(0.1, 0.8, 12)
    e = 0.05 * u + 0.01 * (-1) ** np.arange(12)
    rows = tuple(above(float(a), float(b)) for a, b in zip(e, u, strict=True))
    expected = float(np.sum(e * u) / (np.sum(u * u) + BIAS_PRIOR_DECADES2))
    assert over_bias(rows) == pytest.approx(expected, rel=1e-12)
    assert 0 < over_bias(rows) < 0.05  # shrunk: sum(u^2) = 2.8 decades^2 against a prior of 1
    many = rows * 20  # the same errors 20 times over: the evidence outweighs the prior
    assert over_bias(many) == pytest.approx(0.05, rel=0.05)
    assert over_bias(tuple(above(-float(a), float(b)) for a, b in zip(e, u, strict=True))) < 0


def test_no_bias_without_enough_held_out_runs_above() -> None:
    few = tuple(above(0.1, 0.5) for _ in range(MIN_POINTS_PER_AXIS - 1))
    assert over_bias(few) == 0.0
    inside = few + tuple(above(0.1, 0.02) for _ in range(20))  # 0.02 decades: not above
    assert over_bias(inside) == 0.0
    assert over_bias((*few, above(0.1, 0.5))) > 0


def test_the_scales_keep_the_bias_and_the_tails_are_judged_after_it() -> None:
    """The per-decade scales are fitted to the raw held-out errors (the correction is itself
    an estimate: its error stays in the interval); the tail factor judges the runs as the
    corrected forecasts would have met them."""
    rng = np.random.default_rng(3)
    u = rng.uniform(0.1, 1.0, 200)
    e = 0.06 * u + rng.normal(0.0, 0.003, u.size)
    rows = tuple(above(float(a), float(b)) for a, b in zip(e, u, strict=True))
    # the same errors, with no over-training reach recorded: nothing is corrected
    unsigned = tuple(above(float(a), 0.0, ratio=float(b)) for a, b in zip(e, u, strict=True))
    corrected, plain = form_error(rows, 0.001), form_error(unsigned, 0.001)
    assert corrected.over_bias_per_decade == pytest.approx(over_bias(rows))
    assert plain.over_bias_per_decade == 0.0
    assert corrected.per_decade_ratio == plain.per_decade_ratio
    assert corrected.held_out_log_sd == plain.held_out_log_sd
    assert corrected.tail_factor <= plain.tail_factor


def test_held_out_runs_on_repeated_data_do_not_measure_the_bias() -> None:
    from scaling_cli.fit.evidence import folds, score
    from scaling_cli.fit.objective import Data
    from scaling_cli.fit.search import fit_law
    from scaling_cli.model import RunData

    n = np.repeat(2e7 * 2.0 ** np.arange(8), 5)
    d = n * np.tile([5.0, 10.0, 20.0, 40.0, 80.0], 8)
    loss = predict_loss(LAW, n, d)
    for epochs, reached in ((np.ones(n.size), True), (np.where(d / n > 30, 4.0, 1.0), False)):
        runs = RunData(tuple(f"r{i}" for i in range(n.size)), n, d, loss, 6.0 * n * d, None,
                       epochs=epochs)
        fit = fit_law(Data.from_arrays(n, d, loss))
        held = score("full", runs, fit, folds(runs, fit.constraints)).held_out
        assert any(h.over_decades > 0 for h in held) is reached


def test_the_correction_applies_above_the_runs_only() -> None:
    error = FormError(0.02, 0.05, 0.02, 0.01, "ladder", 40, over_bias_per_decade=0.04)
    assert error.over_correction(0.0) == 1.0
    assert error.over_correction(-1.0) == 1.0  # below the fitted ratios: no correction
    assert error.over_correction(1.5) == pytest.approx(np.exp(0.06))


def test_an_estimate_scales_as_a_whole() -> None:
    est = Estimate(2.0, 1.9, 2.2, 1.8, 2.4)
    assert est.scaled(1.0) is est
    assert est.scaled(1.5) == Estimate(3.0, 1.9 * 1.5, 2.2 * 1.5, 1.8 * 1.5, 2.4 * 1.5)
    assert Estimate(2.0).scaled(2.0) == Estimate(4.0)


# --------------------------------------------------------------------------- forecast layer


def truth(n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """LAW, 6% worse per decade of tokens per parameter above 20: a form the fitted law
    cannot follow beyond its runs."""
    return np.asarray(predict_loss(LAW, n, d) * np.exp(
        0.06 * np.maximum(0.0, np.log10(d / n / 20.0))))


@pytest.fixture(scope="module")
def over_trained() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8 sizes from 20M, each at 5-80 tokens per parameter, 0.3% noise."""
    n = np.repeat(2e7 * 2.0 ** np.arange(8), 5)
    d = n * np.tile([5.0, 10.0, 20.0, 40.0, 80.0], 8)
    loss = truth(n, d) * np.exp(np.random.default_rng(0).normal(0.0, 0.003, n.size))
    return n, d, loss


def test_an_over_trained_forecast_is_raised_toward_the_truth_and_says_so(
        over_trained: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    n, d, loss = over_trained
    model = fit_runs(runset_from_arrays(n.tolist(), d.tolist(), loss.tolist()),
                     FitSettings(replicates=100, seed=0))
    assert model.form_error is not None and model.form_error.over_bias_per_decade > 0.01
    out = predict(model, [1e9, 1e9], [640e9, 20e9])  # 8x above the runs' ratios; inside
    over, inside = out.rows
    law = predict_loss(model.law, np.array([1e9, 1e9]), np.array([640e9, 20e9]))
    actual = truth(np.array([1e9]), np.array([640e9]))[0]
    assert over.loss.value == pytest.approx(
        float(law[0]) * model.form_error.over_correction(np.log10(8.0)), rel=1e-12)
    assert abs(over.loss.value - actual) < 0.7 * abs(float(law[0]) - actual)
    assert over.loss.total_low is not None and over.loss.total_high is not None
    assert over.loss.total_low <= actual <= over.loss.total_high
    assert inside.loss.value == float(law[1])  # inside the fitted ratios: the law's own
    said = [w for w in out.warnings if "loss raised" in w]
    assert len(said) == 1 and said[0].startswith("prediction at N = 1e+09, D = 6.4e+11: loss "
                                                  "raised 1.")
    # a fixed size trained far past its optimum is corrected the same way
    fixed = fixed_size(model, [6 * 1e9 * 640e9], 1e9)
    assert fixed.rows[0].loss.value == pytest.approx(over.loss.value, rel=1e-9)
    assert any("at the fixed size: loss raised" in w for w in fixed.warnings)


def write_runs(path: Path, n: np.ndarray, d: np.ndarray, loss: np.ndarray) -> Path:
    path.write_text("run_id,params,tokens,loss\n" + "".join(
        f"r{i},{float(a)!r},{float(b)!r},{float(c)!r}\n"
        for i, (a, b, c) in enumerate(zip(n, d, loss, strict=True))))
    return path


def test_the_bias_is_in_json_and_in_fit_files(
        tmp_path: Path, over_trained: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    runs = write_runs(tmp_path / "runs.csv", *over_trained)
    fit = tmp_path / "fit.json"
    made = CliRunner().invoke(app, ["fit", str(runs), "--bootstrap", "100", "-o", str(fit),
                                    "-q"])
    assert made.exit_code == 0, made.output
    bias = json.loads(fit.read_text())["form"]["form_error"]["over_bias_per_decade"]
    assert bias > 0.01
    error = read_fit_file(str(fit)).form_error
    assert error is not None and error.over_bias_per_decade == bias
    args = ["predict", "--params", "1e9", "--tokens", "6.4e11", "-f", "json"]
    direct = CliRunner().invoke(app, [*args[:1], str(runs), *args[1:], "--bootstrap", "100"])
    from_file = CliRunner().invoke(app, [*args[:1], "--fit", str(fit), *args[1:]])
    assert direct.exit_code == from_file.exit_code == 0
    a, b = json.loads(direct.stdout), json.loads(from_file.stdout)
    assert a["predictions"] == b["predictions"]
    assert any("loss raised" in w for w in b["warnings"])


def test_a_checked_plan_judges_the_corrected_loss_and_says_so(
        tmp_path: Path, over_trained: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    runs = write_runs(tmp_path / "runs.csv", *over_trained)
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: small-long\nparams: 1B\ntokens: 640B\nlimits:\n  max_loss: 9\n")
    out = CliRunner().invoke(app, ["check", str(plan), "--runs", str(runs), "--bootstrap",
                                   "100", "-f", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    said = [w for w in doc["warnings"] if "loss raised" in w]
    assert len(said) == 1 and said[0].startswith("plan 'small-long': loss raised 1.")
    predicted = CliRunner().invoke(app, ["predict", str(runs), "--params", "1e9", "--tokens",
                                         "6.4e11", "--bootstrap", "100", "-f", "json"])
    value = json.loads(predicted.stdout)["predictions"][0]["loss"]["value"]
    assert [c["value"] for c in doc["checks"] if c["limit_name"] == "max_loss"] == [value]


# --------------------------------------------------------------------------- real ladders


@pytest.fixture(scope="module")
def porian_kaplan() -> Any:
    """Porian et al.'s rw / short / kaplan / attention-inclusive configuration (126 points):
    a ladder whose over-trained runs the law forecasts too low."""
    from benchmarks.honesty.ladders import porian_configs

    shared_csv("porian_isoflop.csv")
    return next(lad for lad in porian_configs(SHARED)
                if lad.name == "porian:rw|base|short|kaplan|attention|train")


def test_on_a_real_ladder_over_trained_forecasts_come_closer(porian_kaplan: Any) -> None:
    """Fit on the runs up to 31 tokens per parameter, forecast the ones trained up to 32x
    beyond (the honesty harness's split): the correction the ladder measured on its own
    folds halves the forecasts' median error, and the total intervals still hold them."""
    from benchmarks.honesty.evaluate import ladder_runs
    from benchmarks.honesty.splits import tokens_per_param_splits

    split = next(s for s in tokens_per_param_splits(porian_kaplan)[0]
                 if s.name.startswith("D/N<=31"))
    model = fit_runs(ladder_runs(split.train_ladder()), FitSettings(replicates=100, seed=0))
    assert model.form_error is not None and model.form_error.over_bias_per_decade > 0.02
    test = split.test_ladder()
    rows = predict(model, test.params.tolist(), test.tokens.tolist()).rows
    corrected = np.array([r.loss.value for r in rows])
    law = predict_loss(model.law, test.params, test.tokens)
    error = np.median(np.abs(corrected / test.loss - 1))
    assert error < 0.5 * np.median(np.abs(law / test.loss - 1))
    covered = [r.loss.total_low <= y <= r.loss.total_high  # type: ignore[operator]
               for r, y in zip(rows, test.loss, strict=True)]
    assert np.mean(covered) >= 0.9


def test_a_backtest_fold_says_how_many_of_its_forecasts_were_corrected(
        porian_kaplan: Any) -> None:
    from benchmarks.honesty.evaluate import ladder_runs
    from scaling_cli.forecast.backtest import backtest

    result = backtest(ladder_runs(porian_kaplan), FitSettings(replicates=100, seed=0))
    said = [w for f in result.folds for w in f.warnings if "forecasts raised" in w]
    assert said and all("per decade above its runs' most tokens/param" in w for w in said)

