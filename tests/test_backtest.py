"""Backtests: rolling-origin folds, single split, coverage bookkeeping, the CLI table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scaling_cli.errors import FitError, UsageError
from scaling_cli.fit.build import FitSettings
from scaling_cli.forecast.backtest import backtest
from scaling_cli.read.runs import runset_from_arrays

from .conftest import synthetic_ladder
from .test_cli import SAMPLE, run


@pytest.fixture(scope="module")
def ladder():
    n, d, loss = synthetic_ladder(noise=0.005, sizes=6, seed=8,
                                  budgets=(1e17, 1e18, 1e19, 1e20, 1e21))
    return runset_from_arrays(n, d, loss)


def test_rolling_folds_train_below_and_predict_above(ladder) -> None:
    result = backtest(ladder, FitSettings(replicates=60), folds=3)
    assert 1 <= len(result.folds) <= 3
    for fold in result.folds:
        assert all(h.compute_flops >= fold.threshold_flops for h in fold.held_out)
        assert fold.largest_train_flops < fold.threshold_flops
        assert fold.train_runs + len(fold.held_out) == 30
    # A well-specified law with 0.5% noise forecasts held-out losses within a few percent.
    median, worst, coverage = result.pooled()
    assert median < 0.02 and worst < 0.1
    assert coverage is not None and coverage >= 0.7


def test_holdout_largest_is_one_fold(ladder) -> None:
    result = backtest(ladder, FitSettings(replicates=60), holdout_largest=6)
    assert len(result.folds) == 1 and len(result.folds[0].held_out) == 6
    with pytest.raises(UsageError):
        backtest(ladder, FitSettings(replicates=40), holdout_largest=30)


def test_prediction_interval_contains_the_surface_interval(ladder) -> None:
    fold = backtest(ladder, FitSettings(replicates=100), holdout_largest=6).folds[0]
    for h in fold.held_out:
        assert h.prediction_low <= h.predicted_loss.low <= h.predicted_loss.value
        assert h.predicted_loss.value <= h.predicted_loss.high <= h.prediction_high
        assert h.covered == (h.prediction_low <= h.actual_loss <= h.prediction_high)


def test_no_identifiable_fold_is_an_error() -> None:
    n, d, loss = synthetic_ladder(sizes=3, budgets=(1e18, 1e19))
    with pytest.raises(FitError, match="no backtest fold has enough smaller-compute runs"):
        backtest(runset_from_arrays(n, d, loss), FitSettings(replicates=40))


def test_backtest_cli_json_and_table() -> None:
    code, out, err = run("backtest", SAMPLE, "--holdout-largest", "7", "--bootstrap", "60",
                         "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema"] == "scaling-cli/backtest"
    fold = doc["folds"][0]
    assert len(fold["held_out"]) == 7 and fold["train_runs"] == 42
    h = fold["held_out"][0]
    assert set(h) >= {"id", "actual_loss", "predicted_loss", "prediction_interval",
                      "relative_error", "covered", "extrapolation"}
    assert np.isfinite(doc["summary"]["median_abs_relative_error"])
    code, out, _ = run("backtest", SAMPLE, "--holdout-largest", "7", "--bootstrap", "60")
    assert code == 0 and "Backtest: fit below a compute threshold" in out
    assert "held-out predictions: median |error|" in out
    assert "Largest errors (losses in nats/token;" in out  # every number's unit named


def test_plot_marks_the_held_out_runs(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from scaling_cli.forecast.backtest import holdout_split
    from scaling_cli.read.runs import load_runs

    out = tmp_path / "residuals.png"
    code, _, err = run("plot", SAMPLE, "--kind", "residuals", "--holdout-largest", "7",
                       "--bootstrap", "40", "-o", str(out))
    assert code == 0, err
    assert out.stat().st_size > 20_000 and "wrote" in err
    runs = load_runs([SAMPLE])
    model, fold = holdout_split(runs, 7, FitSettings(replicates=40))
    assert model.inputs.runs_used == 42 and len(fold.held_out) == 7
    assert {h.run_id for h in fold.held_out} == {r.run_id for r in runs.runs
                                                 if 6 * r.params * r.tokens > 9e20}
