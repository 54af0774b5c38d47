"""Runs that repeated their data: read with their epochs, fitted at the fresh tokens they are
worth (Muennighoff et al. 2023), forecast with --unique-tokens; and measured on the real
repeated-data ladder (datablations, skipped without the shared data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scaling_cli.errors import UsageError
from scaling_cli.fit.build import FitSettings, fit_runs
from scaling_cli.forecast.answers import predict
from scaling_cli.forecast.data_limits import predict_loss_data_constrained
from scaling_cli.law import R_D_STAR, Law, effective_tokens, predict_loss
from scaling_cli.read.fitfile import read_fit_file
from scaling_cli.read.runs import runset_from_arrays

from .conftest import read_csv, shared_csv
from .test_cli import run

TRUTH = Law(E=1.8, A=400.0, B=1800.0, alpha=0.33, beta=0.36)


def repeated_ladder(noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, ...]:
    """A grid ladder where half the runs repeat 1/4 to 1/40 of their tokens' worth of data;
    losses from TRUTH at the fresh tokens each run is worth."""
    rng = np.random.default_rng(seed)
    n = np.repeat(np.geomspace(2e7, 6e8, 6), 6)
    d = np.tile(np.geomspace(4e8, 3e10, 6), 6)
    epochs = np.where(np.arange(n.size) % 2 == 0, 1.0, np.tile([4.0, 10.0, 40.0], 12))
    unique = d / epochs
    loss = predict_loss(TRUTH, n, effective_tokens(d, unique)) * np.exp(
        rng.normal(0.0, noise, n.size))
    return n, d, unique, loss


def write_ladder(path: Path, *columns: np.ndarray) -> Path:
    """The ladder as a CSV run table (params, tokens, unique_tokens, loss), ids r0, r1, ..."""
    n, d, unique, loss = columns
    rows = ["id,params,tokens,loss,unique_tokens"]
    rows += [f"r{i},{float(a)!r},{float(b)!r},{float(c)!r},{float(u)!r}"
             for i, (a, b, c, u) in enumerate(zip(n, d, loss, unique, strict=True))]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ the formula


def test_effective_tokens_is_d_when_nothing_repeats() -> None:
    d = np.array([1e9, 2e9, 3e9])
    assert effective_tokens(d, np.array([1e9, 5e9, np.nan])).tolist() == d.tolist()


def test_effective_tokens_matches_the_papers_equation() -> None:
    u, epochs = 1e9, 5.0
    r = epochs - 1
    expected = u + u * R_D_STAR * (1 - np.exp(-r / R_D_STAR))
    assert float(effective_tokens(u * epochs, u)) == pytest.approx(expected, rel=1e-14)
    assert float(effective_tokens(u * 1e6, u)) == pytest.approx(u * (1 + R_D_STAR), rel=1e-9)
    assert float(effective_tokens(u * epochs, u, r_star=np.inf)) == pytest.approx(u * epochs)


# ------------------------------------------------------------------------------ reading


def test_columns_carry_epochs_and_fit_at_effective_tokens() -> None:
    n, d, unique, loss = repeated_ladder()
    runs = runset_from_arrays(n.tolist(), d.tolist(), loss.tolist(), unique_tokens=unique.tolist())
    cols = runs.columns(6.0)
    assert cols.epochs is not None
    np.testing.assert_allclose(cols.epochs, d / unique, rtol=1e-15)
    np.testing.assert_allclose(cols.tokens, effective_tokens(d, unique), rtol=1e-15)
    np.testing.assert_allclose(cols.compute_flops, 6.0 * n * d, rtol=1e-15)  # tokens seen
    fresh = runs.columns(6.0, repeated_data="fresh")
    np.testing.assert_array_equal(fresh.tokens, d)
    assert runs.subset([True, False] * 18).columns(6.0).epochs.shape == (18,)  # type: ignore[union-attr]


def test_runs_without_unique_counts_have_no_epochs_column() -> None:
    n, d, _, loss = repeated_ladder()
    cols = runset_from_arrays(n.tolist(), d.tolist(), loss.tolist()).columns(6.0)
    assert cols.epochs is None
    np.testing.assert_array_equal(cols.tokens, d)


def test_unknown_unique_counts_leave_a_run_fresh() -> None:
    n, d, unique, loss = repeated_ladder()
    given: list[float | None] = [None if i % 3 == 0 else float(u) for i, u in enumerate(unique)]
    cols = runset_from_arrays(n.tolist(), d.tolist(), loss.tolist(),
                              unique_tokens=given).columns(6.0)
    assert cols.epochs is not None
    assert np.isnan(cols.epochs[::3]).all()
    np.testing.assert_array_equal(cols.tokens[::3], d[::3])


# ------------------------------------------------------------------------------ fitting


def test_fit_recovers_the_law_only_when_repetition_is_valued() -> None:
    n, d, unique, loss = repeated_ladder()
    runs = runset_from_arrays(n.tolist(), d.tolist(), loss.tolist(), unique_tokens=unique.tolist())
    effective = fit_runs(runs, FitSettings(replicates=0, form="full"))
    fresh = fit_runs(runs, FitSettings(replicates=0, form="full", repeated_data="fresh"))
    assert effective.law.alpha == pytest.approx(TRUTH.alpha, rel=1e-4)
    assert effective.law.beta == pytest.approx(TRUTH.beta, rel=1e-4)
    assert pytest.approx(TRUTH.E, rel=1e-4) == effective.law.E
    # taking repeated tokens for fresh ones misfits the same runs
    assert effective.fit is not None and fresh.fit is not None
    assert fresh.fit.objective > 100 * max(effective.fit.objective, 1e-12)
    assert any("18 of 36 runs repeated their data (up to 40 epochs)" in w
               and "fresh tokens they are worth" in w for w in effective.warnings)
    assert any("as if every token were new" in w for w in fresh.warnings)


def test_no_repetition_no_warning_and_same_fit() -> None:
    n, d, _, loss = repeated_ladder()
    plain = fit_runs(runset_from_arrays(n.tolist(), d.tolist(), loss.tolist()),
                     FitSettings(replicates=0))
    counted = fit_runs(runset_from_arrays(n.tolist(), d.tolist(), loss.tolist(),
                                          unique_tokens=(2 * d).tolist()),
                       FitSettings(replicates=0))
    assert plain.law == counted.law
    assert not any("repeated their data" in w for w in (*plain.warnings, *counted.warnings))


def test_repeated_data_setting_is_validated() -> None:
    with pytest.raises(UsageError, match="use effective"):
        FitSettings(repeated_data="sometimes")


# ------------------------------------------------------------------------------ forecasting


def test_predict_values_repeated_data_as_the_fit_does() -> None:
    n, d, unique, loss = repeated_ladder(noise=0.01)
    model = fit_runs(runset_from_arrays(n.tolist(), d.tolist(), loss.tolist(),
                                        unique_tokens=unique.tolist()),
                     FitSettings(replicates=100, form="full"))
    at_n, at_d = [1e9, 1e9, 3e9], [2e10, 2e10, 6e10]
    out = predict(model, at_n, at_d, unique_tokens=[None, 2e9, 1e9])
    plain = predict(model, at_n, at_d)
    assert out.rows[0].loss == plain.rows[0].loss  # fresh data: the plain forecast
    for j, u in ((1, 2e9), (2, 1e9)):
        row = out.rows[j]
        expected = predict_loss(model.law, at_n[j], effective_tokens(at_d[j], u))
        assert row.unique_tokens == u
        assert row.loss.value == pytest.approx(float(expected), rel=1e-12)
        assert row.loss.value > plain.rows[j].loss.value  # repeats are worth less
        assert row.loss.low is not None and row.loss.high is not None
        assert row.loss.low <= row.loss.value <= row.loss.high
    with pytest.raises(UsageError, match="one unique-token count per"):
        predict(model, at_n, at_d, unique_tokens=[1e9])


def test_predict_warns_where_parameters_exceed_what_the_data_feeds() -> None:
    n, d, unique, loss = repeated_ladder(noise=0.01)
    model = fit_runs(runset_from_arrays(n.tolist(), d.tolist(), loss.tolist(),
                                        unique_tokens=unique.tolist()),
                     FitSettings(replicates=0, form="full"))
    big = predict(model, [1e12], [4e11], unique_tokens=[1e9])
    small = predict(model, [1e8], [4e11], unique_tokens=[1e11])
    assert any("exceed what the data can feed" in w for w in big.warnings)
    assert not any("exceed what the data can feed" in w for w in small.warnings)
    worth = predict_loss_data_constrained(model.law, 1e12, 4e11, 1e9)
    assert float(worth) > big.rows[0].loss.value  # the loss it says would be higher


def test_cli_predict_unique_tokens_and_fit_file_round_trip(tmp_path: Path) -> None:
    n, d, unique, loss = repeated_ladder(noise=0.01)
    path = write_ladder(tmp_path / "ladder.csv", n, d, unique, loss)
    code, out, err = run("predict", str(path), "-N", "1e9", "-D", "2e10", "-N", "1e9", "-D",
                         "2e10", "--unique-tokens", "2e9", "--bootstrap", "100", "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert [p["unique_tokens"] for p in doc["predictions"]] == [2e9, 2e9]
    assert any("repeated their data" in w for w in doc["warnings"])
    code, _, err = run("predict", str(path), "-N", "1e9", "-D", "2e10", "--unique-tokens", "1e9",
                       "--unique-tokens", "2e9", "--bootstrap", "100")
    assert code == 2 and "--unique-tokens" in err and "one per pair" in err
    code, _, err = run("fit", str(path), "--repeated-data", "twice", "--bootstrap", "0")
    assert code == 2 and "--repeated-data" in err and "effective" in err
    saved = tmp_path / "fit.json"
    code, _, err = run("fit", str(path), "--bootstrap", "100", "-o", str(saved))
    assert code == 0, err
    model = read_fit_file(str(saved))
    assert model.runs is not None and model.runs.epochs is not None
    order = [int(i[1:]) for i in model.runs.ids]  # runs come back sorted by id
    np.testing.assert_allclose(model.runs.epochs, (d / unique)[order], rtol=1e-12)
    code, out, err = run("predict", "--fit", str(saved), "-N", "1e9", "-D", "2e10",
                         "--unique-tokens", "2e9", "-f", "json")
    assert code == 0, err
    first = json.loads(out)["predictions"][0]["loss"]["value"]
    assert first == pytest.approx(doc["predictions"][0]["loss"]["value"], rel=1e-12)


# ------------------------------------------------------------------------------ real ladder


def test_datablations_forecasts_of_more_epochs_lose_their_optimism() -> None:
    """Fit the finished C4 runs with at most 4 epochs, forecast those with more: counting
    repeated tokens as fresh is optimistic (median error -4.7% in the honesty benchmark);
    valuing them at D' removes most of that bias. (R*_D was fitted by Muennighoff et al. on
    these runs, so this checks the wiring, not R*_D's transfer to other data.)"""
    rows = [r for r in read_csv(shared_csv("datablations_c4.csv"))
            if r["unfinished"] == "0" and not r["variant"]]
    n = np.array([float(r["params"]) for r in rows])
    d = np.array([float(r["tokens"]) for r in rows])
    u = np.array([float(r["unique_tokens"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    train, test = d / u <= 4, d / u > 4
    errors = {}
    for how in ("effective", "fresh"):
        model = fit_runs(runset_from_arrays(n[train].tolist(), d[train].tolist(),
                                            loss[train].tolist(),
                                            unique_tokens=u[train].tolist()),
                         FitSettings(replicates=0, repeated_data=how))
        out = predict(model, n[test].tolist(), d[test].tolist(),
                      unique_tokens=u[test].tolist() if how == "effective" else None)
        forecast = np.array([r.loss.value for r in out.rows])
        errors[how] = float(np.median((forecast - loss[test]) / loss[test]))
    assert errors["fresh"] < -0.03  # optimistic: the misses seen on real ladders
    assert abs(errors["effective"]) < abs(errors["fresh"]) / 2


# ------------------------------------------------------------------------------ epochs as reach


def test_a_forecast_past_the_ladders_epochs_warns_and_widens() -> None:
    """A ladder of fresh runs cannot check how repeats are valued: predicting 8 epochs from
    it reaches 8x in epochs (warned, and the total interval grows by the epochs' form error);
    1.5 epochs stays quiet."""
    n, d, _, loss = repeated_ladder(noise=0.01)
    model = fit_runs(runset_from_arrays(n.tolist(), d.tolist(), loss.tolist()),
                     FitSettings(replicates=100, form="full"))
    assert model.form_error is not None
    out = predict(model, [1e8, 1e8], [2e9, 2e9], unique_tokens=[2e9 / 8, 2e9 / 1.5])
    far, near = out.rows
    assert far.reach is not None and near.reach is not None
    assert far.reach.epochs == pytest.approx(8.0) and near.reach.epochs == pytest.approx(1.5)
    assert any("8 epochs of repeated data is 8x the most any fitted run trained" in w
               for w in far.reach.warnings)
    assert not any("epochs" in w for w in near.reach.warnings)
    # the form error counts the decade of epochs at its per-decade scale
    error = model.form_error
    assert error.total_sd(0, 0, 0, np.log10(8.0)) > error.total_sd(0, 0, 0, 0.0)
    assert error.sd(0, 0, 0, 1.0) == pytest.approx(
        error.fold_factor * np.hypot(error.per_decade_epochs, error.held_out_log_sd))


def test_ladders_that_repeat_their_data_measure_the_epochs_error() -> None:
    """Runs spanning 1-40 epochs get an ``epochs`` fold (train on the fewer epochs, predict
    the more), so the epochs' error per decade comes from the ladder; it is in the JSON and
    survives a fit file."""
    from scaling_cli.fit.constraints import Constraints
    from scaling_cli.fit.evidence import folds

    n, d, unique, loss = repeated_ladder(noise=0.01)
    runs = runset_from_arrays(n.tolist(), d.tolist(), loss.tolist(),
                              unique_tokens=unique.tolist())
    names = [name for name, _ in folds(runs.columns(6.0), Constraints())]
    assert "epochs" in names
    fresh = runset_from_arrays(n.tolist(), d.tolist(), loss.tolist())
    assert "epochs" not in [name for name, _ in folds(fresh.columns(6.0), Constraints())]


def test_epochs_reach_and_error_in_documents_and_fit_files(tmp_path: Path) -> None:
    n, d, unique, loss = repeated_ladder(noise=0.01)
    path = write_ladder(tmp_path / "ladder.csv", n, d, unique, loss)
    saved = tmp_path / "fit.json"
    code, out, err = run("fit", str(path), "--bootstrap", "100", "-o", str(saved))
    assert code == 0, err
    assert "per decade of epochs" in out
    doc = json.loads(saved.read_text())
    assert doc["inputs"]["epochs_max"] == pytest.approx(40.0)
    per_decade = doc["form"]["form_error"]["per_decade_epochs"]
    assert per_decade > 0
    model = read_fit_file(str(saved))
    assert model.form_error is not None
    assert model.form_error.per_decade_epochs == per_decade
    code, out, err = run("predict", "--fit", str(saved), "-N", "1e8", "-D", "2e10",
                         "--unique-tokens", "1e8", "-f", "json")
    assert code == 0, err
    reach = json.loads(out)["predictions"][0]["reach"]
    assert reach["epochs"] == pytest.approx(200 / 40)
    assert reach["beyond"] is True


@pytest.mark.parametrize("fmt", ["csv", "yaml"])
def test_a_unique_token_count_that_makes_absurd_epochs_is_refused(tmp_path: Path,
                                                                   fmt: str) -> None:
    """unique_tokens = 1 on a 6.36e9-token run (a unit slip) would pull the fit to D' ~ 16:
    refused with one line naming file, run and field; nothing written."""
    n, d, unique, loss = repeated_ladder()
    unique[3] = 1.0
    if fmt == "csv":
        path = write_ladder(tmp_path / "ladder.csv", n, d, unique, loss)
    else:
        path = tmp_path / "ladder.yaml"
        path.write_text("runs:\n" + "".join(
            f"  - {{id: r{i}, params: {float(a)!r}, tokens: {float(b)!r}, "
            f"loss: {float(c)!r}, unique_tokens: {float(u)!r}}}\n"
            for i, (a, b, c, u) in enumerate(zip(n, d, loss, unique, strict=True))),
            encoding="utf-8")
    out = tmp_path / "fit.json"
    code, _, err = run("fit", str(path), "--bootstrap", "0", "-o", str(out))
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1 and "(id 'r3'): field 'unique_tokens': 1 would make the" in err
    assert "epochs (more than 100,000); check its units" in err


def test_backtests_and_fit_files_show_the_tokens_runs_saw(tmp_path: Path) -> None:
    n, d, unique, loss = repeated_ladder(noise=0.01)
    path = write_ladder(tmp_path / "ladder.csv", n, d, unique, loss)
    code, out, err = run("backtest", str(path), "--holdout-largest", "6", "--bootstrap", "50",
                         "-f", "json")
    assert code == 0, err
    seen = {f"r{i}": float(t) for i, t in enumerate(d)}
    held = [h for fold in json.loads(out)["folds"] for h in fold["held_out"]]
    assert held and all(h["tokens"] == seen[h["id"]] for h in held)  # D as read, not D'
    assert any(unique[int(h["id"][1:])] < seen[h["id"]] for h in held)  # repeated ones too
    saved = tmp_path / "fit.json"
    code, _, err = run("fit", str(path), "--bootstrap", "50", "-o", str(saved))
    assert code == 0, err
    doc = json.loads(saved.read_text())
    order = doc["runs"]["ids"]
    assert doc["runs"]["tokens_seen"] == [seen[i] for i in order]
    worth = effective_tokens(np.array([seen[i] for i in order]),
                             np.array([unique[int(i[1:])] for i in order]))
    assert np.allclose(doc["runs"]["tokens"], worth, rtol=1e-12)
    model = read_fit_file(str(saved))
    assert model.runs is not None and model.runs.tokens_seen is not None
    assert model.runs.tokens_read.tolist() == [seen[i] for i in order]
    del doc["runs"]["tokens_seen"]  # a fit file from before the field: tokens as they are
    saved.write_text(json.dumps(doc))
    older = read_fit_file(str(saved))
    assert older.runs is not None and older.runs.tokens_seen is None
    assert older.runs.tokens_read.tolist() == doc["runs"]["tokens"]
