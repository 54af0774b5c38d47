"""fit_runs bootstraps the full form in a second process while it scores the forms (where
the bootstrap would run on one process anyway): the same model, byte for byte."""

from __future__ import annotations

import pytest

from scaling_cli.fit import build
from scaling_cli.fit.build import FitSettings, fit_runs
from scaling_cli.model import Model
from scaling_cli.read.runs import RunSet, runset_from_arrays

from .conftest import synthetic_ladder


def _same(a: Model, b: Model) -> None:
    assert a.samples is not None and b.samples is not None
    assert a.samples.tobytes() == b.samples.tobytes()
    assert (a.law, a.boot, a.fit, a.warnings, a.form, a.form_error) == (
        b.law, b.boot, b.fit, b.warnings, b.form, b.form_error)


def _ladder(alpha: float, beta: float, seed: int) -> RunSet:
    n, d, loss = synthetic_ladder(alpha=alpha, beta=beta, sizes=30, noise=0.01, seed=seed)
    return runset_from_arrays(n, d, loss)


@pytest.mark.parametrize(("alpha", "beta", "form"), [(0.34, 0.28, "full"),
                                                     (0.33, 0.33, "tied")])  # (bootstrapped
# here after all: the other process's full-form bootstrap is dropped)
def test_the_overlapped_bootstrap_gives_the_one_process_model(
        monkeypatch: pytest.MonkeyPatch, alpha: float, beta: float, form: str | None) -> None:
    runs = _ladder(alpha, beta, seed=5)
    started: list[bool] = []
    pays = build._bootstrap_beside_pays

    def spy(*args: object, **kwargs: object) -> bool:
        got = pays(*args, **kwargs)  # type: ignore[arg-type]
        started.append(got)
        return got

    monkeypatch.setattr(build, "_bootstrap_beside_pays", spy)
    ticks: list[tuple[int, int]] = []
    two = fit_runs(runs, FitSettings(replicates=1000, workers=2),
                   progress=lambda done, total: ticks.append((done, total)))
    one = fit_runs(runs, FitSettings(replicates=1000, workers=1))
    assert started == [True, False]  # overlapped with two workers only
    assert ticks[-1] == (1000, 1000)  # the progress bar ends full
    assert two.form is not None and two.form.form == form
    _same(two, one)


def test_no_overlap_where_it_cannot_pay_or_apply() -> None:
    runs = _ladder(0.34, 0.28, seed=1)
    columns = runs.columns(6.0)
    data = build.Data.from_arrays(columns.params, columns.tokens, columns.loss)
    pays = build._bootstrap_beside_pays
    assert pays(runs, FitSettings(replicates=1000, workers=2), columns, data)
    for settings in (FitSettings(replicates=0, workers=2), FitSettings(workers=1),
                     FitSettings(replicates=1000, workers=2, form="tied"),
                     FitSettings(replicates=200, workers=2),  # too little work to pay
                     FitSettings(replicates=10_000, workers=2)):  # the count rule: 2 processes
        assert not pays(runs, settings, columns, data)
    small = runset_from_arrays(*[a[:: 2][:60] for a in synthetic_ladder(sizes=30)])
    cols = small.columns(6.0)
    assert not pays(small, FitSettings(replicates=1000, workers=2), cols,
                    build.Data.from_arrays(cols.params, cols.tokens, cols.loss))
    n, d, loss = synthetic_ladder(alpha=0.34, beta=0.28, sizes=30, noise=0.01, seed=1)
    grouped = runset_from_arrays(n, d, loss, groups=[f"g{i % 16}" for i in range(n.size)])
    assert not pays(grouped, FitSettings(replicates=1000, workers=2), columns, data)
    assert pays(grouped, FitSettings(replicates=1000, workers=2, resample_by="run"), columns,
                data)  # 120 runs resampled one by one


def test_a_fit_error_in_this_process_ends_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _ladder(0.34, 0.28, seed=2)

    def fail(*args: object, **kwargs: object) -> object:
        raise build.FitError("no optimum")

    monkeypatch.setattr(build, "_main_fit", fail)
    with pytest.raises(build.FitError, match="no optimum"):
        fit_runs(runs, FitSettings(replicates=1000, workers=2))


def test_the_forms_go_side_by_side_only_on_small_ladders_with_a_free_core(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    choose = build.choose_form

    def spy(*args: object, **kwargs: object) -> object:
        asked.append(int(kwargs.get("workers", 1)))  # type: ignore[call-overload]
        return choose(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "choose_form", spy)
    small = _ladder(0.34, 0.28, seed=3)  # 120 runs
    fit_runs(small, FitSettings(replicates=200, workers=2))  # no early bootstrap: side by side
    fit_runs(small, FitSettings(replicates=1000, workers=2))  # the bootstrap has the core
    fit_runs(small, FitSettings(replicates=200, workers=1))
    monkeypatch.setattr(build, "FORMS_SIDE_BY_SIDE_RUNS", 100)  # a ladder above the limit
    fit_runs(small, FitSettings(replicates=200, workers=2))
    assert asked == [2, 1, 1, 1]


def test_after_hard_evidence_calibration_and_bootstrap_share_one_queue(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A hard ladder (slow fold fits) with two workers: the folds' replicates and the
    bootstrap's go to one queue of two processes; the model is the one-process model."""
    import numpy as np

    rng = np.random.default_rng(3)
    n = np.repeat([2e7, 3e7, 4.5e7, 7e7], 4)
    d = np.tile([4e8, 7e8, 1.2e9, 2e9], 4)
    loss = (1.8 + 400 / n**0.33 + 1800 / d**0.36) * np.exp(rng.normal(0, 0.03, n.size))
    runs = runset_from_arrays(n, d, loss)
    monkeypatch.setattr(build, "_hard_evidence", lambda seconds, runs: True)  # (timing aside)
    queued: list[int] = []
    together = build.map_together

    def spy(works: object, workers: int) -> object:
        queued.append(workers)
        return together(works, workers)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "map_together", spy)
    ticks: list[tuple[int, int]] = []
    two = fit_runs(runs, FitSettings(replicates=300, workers=2),
                   progress=lambda done, total: ticks.append((done, total)))
    one = fit_runs(runs, FitSettings(replicates=300, workers=1))
    assert queued == [2] and ticks[-1] == (300, 300)
    _same(two, one)
