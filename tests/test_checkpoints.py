"""Checkpoints into the ladder (issue 13 §3): which rows each mode adds, the curve-law
correction and its check, the groups the bootstrap resamples, the warnings, exact errors,
and the `--checkpoints` option through the shared option parsing.

Synthetic ladders are drawn from a known loss-curve law (Tissue et al.'s, so the correction
is exactly right when the law is) and written as JSON Lines logs with the formats' own
writer; the real-data measurement is benchmarks/checkpoints.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from scaling_cli.cli.options import CheckpointsOpt, KOpt, LawOpt, RunsArg, law_request
from scaling_cli.errors import InputError, UsageError
from scaling_cli.fit.build import FitSettings, fit_runs
from scaling_cli.fit.checkpoints import (
    CheckpointSettings,
    correction_check,
    finished_at,
    load_checkpoint_runs,
)
from scaling_cli.fit.curve_law import ScheduledCurve, TissueParams, curve_loss
from scaling_cli.fit.curve_schedule import Schedule, constant_schedule, cosine_schedule
from scaling_cli.read.logs import LogSettings, Reduction
from scaling_cli.read.runs import load_runs

from .logwriters import write_jsonl

LAW = TissueParams(L0=2.2, A=0.7, alpha=0.4, B=0.3)
PEAK, WARMUP, TOKENS_PER_STEP = 1e-3, 100, 2**20
LENGTHS = (1000, 2000, 4000, 8000)


def cosine(total: int) -> Schedule:
    return cosine_schedule(total_steps=total + 1, peak_lr=PEAK, final_lr=0.1 * PEAK,
                           warmup_steps=WARMUP, name=f"cosine-{total}")


def cyclic(total: int) -> Schedule:
    """Constant, a cooldown to 10% ending at total/2, back to the peak, a final cooldown."""
    lr = np.full(total + 1, PEAK)
    lr[:WARMUP] = PEAK * np.arange(WARMUP) / (WARMUP - 1)
    half, length = total // 2, total // 10
    lr[half - length: half + 1] = np.linspace(PEAK, 0.1 * PEAK, length + 1)
    lr[total - length:] = np.linspace(PEAK, 0.1 * PEAK, length + 1)
    return Schedule(lr, f"cyclic-{total}")


def ladder(root: Path, *, sizes: tuple[float, ...] = (70e6, 160e6),
           extra: dict[str, Schedule] | None = None, noise: float = 0.0) -> Path:
    """One JSON Lines log per run: cosine runs of each length at each size, logged every
    100 steps (and twice during the warm-up, as trainers log from the start) with the lr
    and tokens; a size's law is LAW with A scaled by N."""
    rng = np.random.default_rng(1)
    runs = {f"n{int(n / 1e6)}m-{t}": (n, cosine(t)) for n in sizes for t in LENGTHS}
    runs.update({k: (sizes[0], s) for k, s in (extra or {}).items()})
    for run_id, (n, schedule) in runs.items():
        steps = np.r_[10, 50, np.arange(100, schedule.total_steps, 100)]
        law = TissueParams(LAW.L0, LAW.A * (70e6 / n) ** 0.3, LAW.alpha, LAW.B)
        loss = curve_loss(law, schedule, steps) * np.exp(rng.normal(0, noise, steps.size))
        rows: list[dict[str, Any]] = [
            {"step": int(s), "loss": float(v), "lr": float(schedule.lr[s]),
             "tokens": int(s) * TOKENS_PER_STEP} for s, v in zip(steps, loss, strict=True)]
        rows[0]["n_params"] = n
        write_jsonl(root / "logs" / f"{run_id}.jsonl", rows)
    return root / "logs"


def load(logs: Path, mode: str, **kwargs: Any) -> Any:
    settings = CheckpointSettings(mode=mode, **kwargs)  # type: ignore[arg-type]
    return load_checkpoint_runs([str(logs)], settings=settings)


# --------------------------------------------------------------------------- schedules


def test_a_finished_counterpart_keeps_the_runs_schedule_family() -> None:
    long = cosine(8000)
    short = finished_at(long, 2000)
    assert short.total_steps == 2001 and np.array_equal(short.lr[:WARMUP], long.lr[:WARMUP])
    assert np.abs(short.lr - cosine(2000).lr).max() <= 1e-3 * PEAK  # a cosine over 2,000
    flat = constant_schedule(total_steps=8001, peak_lr=PEAK, warmup_steps=WARMUP)
    cooled = finished_at(flat, 4999)
    assert np.all(cooled.lr[:4000] == flat.lr[:4000]) and cooled.lr[4000] == PEAK
    assert cooled.lr[-1] == pytest.approx(PEAK / 1000) and np.all(np.diff(cooled.lr[4000:]) < 0)
    with pytest.raises(UsageError) as err:
        finished_at(long, 50)
    assert str(err.value) == ("step: step 50 must lie after the warm-up (99) and within the "
                              "schedule (8,000)")


def test_the_law_that_made_the_curves_corrects_them_exactly() -> None:
    members = [ScheduledCurve(f"c{t}", cosine(t), np.arange(200, t + 1, 100),
                              curve_loss(LAW, cosine(t), np.arange(200, t + 1, 100)))
               for t in LENGTHS]
    check = correction_check(members, LAW)
    assert check.pairs == 6 and check.passed
    assert check.corrected_error < 1e-4 < 0.005 < check.uncorrected_error


# --------------------------------------------------------------------------- modes


def test_final_is_the_ladder_as_load_runs_reads_it(tmp_path: Path) -> None:
    logs = ladder(tmp_path)
    assert load(logs, "final") == load_runs([str(logs)])


def test_corrected_checkpoints_are_what_shorter_runs_reached(tmp_path: Path) -> None:
    logs = ladder(tmp_path)
    runs = load(logs, "corrected", per_run=4, min_fraction=0.1)
    finals = {r.run_id: r for r in load_runs([str(logs)]).runs}
    extra = [r for r in runs.runs if "@" in r.run_id]
    assert len(runs.runs) == len(finals) + len(extra) and len(extra) == 32
    assert {r.group for r in runs.runs} == set(finals)  # every row grouped by its run
    long = [r.run_id for r in extra if r.group == "n70m-8000"]
    assert long == ["n70m-8000@1.46801B", "n70m-8000@2.62144B", "n70m-8000@4.71859B",
                    "n70m-8000@838.861M"]  # log-spaced from 1/10 of the run's steps
    as_logged = load(logs, "all", per_run=4, min_fraction=0.1)
    raw = {r.run_id: r.loss for r in as_logged.runs}
    for row in extra:  # what a cosine run that ends there reaches, not what was logged
        size = row.params
        law = TissueParams(LAW.L0, LAW.A * (70e6 / size) ** 0.3, LAW.alpha, LAW.B)
        step = round(row.tokens / TOKENS_PER_STEP)
        truth = curve_loss(law, cosine(step), [step])[0]
        assert row.loss == pytest.approx(truth, rel=1e-3)
        assert abs(raw[row.run_id] / truth - 1) > 10 * abs(row.loss / truth - 1)
    assert runs.warnings == ("32 checkpoint rows from 8 of 8 logged runs were added "
                             "(corrected); each run's rows are resampled together",)
    assert [r.run_id for r in as_logged.runs] == [r.run_id for r in runs.runs]
    assert as_logged.warnings[0] == (
        "26 checkpoints of 8 runs are used as if they were finished runs, but their learning "
        "rate had not decayed (or is not known): their losses are not a finished run's (biased "
        "high late in a run, Hoffmann et al. 2022, Fig. A1; often low early in it); use "
        "`checkpoints` corrected")


def test_the_bootstrap_resamples_a_runs_rows_together(tmp_path: Path) -> None:
    runs = load(ladder(tmp_path, sizes=(70e6, 160e6, 410e6)), "corrected", per_run=2)
    model = fit_runs(runs, FitSettings(replicates=40, seed=0, allow_unverified=True))
    assert model.boot is not None
    assert (model.boot.resample_by, model.boot.n_units) == ("group", 12)
    assert runs.columns(6.0).groups == tuple(r.group for r in runs.runs)


def test_cooldowns_keep_the_ends_of_cooldowns_and_leave_out_runs_never_cooled(
        tmp_path: Path) -> None:
    flat = constant_schedule(total_steps=4001, peak_lr=PEAK, warmup_steps=WARMUP)
    logs = ladder(tmp_path, sizes=(70e6,), extra={"cyclic": cyclic(6000), "trunk": flat})
    runs = load(logs, "cooldowns")
    ids = [r.run_id for r in runs.runs]
    assert "trunk" not in ids and "cyclic@3.14573B" in ids  # the end of its first cooldown
    assert sum("@" in i for i in ids) == 1
    assert runs.warnings == (
        "1 run left out of the ladder, its learning rate not cooled down at the end (a "
        "constant-lr trunk?): 'trunk'; use `checkpoints` corrected to correct such runs "
        "instead",
        "1 checkpoint rows from 1 of 6 logged runs were added (cooldowns); each run's rows "
        "are resampled together")


def test_a_constant_run_is_corrected_to_what_a_cooldown_would_reach(tmp_path: Path) -> None:
    flat = constant_schedule(total_steps=8001, peak_lr=PEAK, warmup_steps=WARMUP)
    logs = ladder(tmp_path, sizes=(70e6,), extra={"trunk": flat})
    runs = {r.run_id: r for r in load(logs, "corrected", per_run=2).runs}
    logged = {r.run_id: r for r in load_runs([str(logs)]).runs}
    cooled = curve_loss(LAW, finished_at(flat, 7999), [7999])[0]
    assert runs["trunk"].loss == pytest.approx(cooled, rel=1e-4)
    assert runs["trunk"].loss < logged["trunk"].loss
    assert runs["n70m-8000"].loss == logged["n70m-8000"].loss  # annealed: as logged


def test_refusals(tmp_path: Path) -> None:
    logs = ladder(tmp_path, sizes=(70e6,))
    bare = tmp_path / "bare"
    write_jsonl(bare / "r.jsonl", [{"step": 100, "loss": 3.0, "tokens": 1e8, "n_params": 7e7},
                                   {"step": 200, "loss": 2.9, "tokens": 2e8}])
    with pytest.raises(InputError) as err:
        load(bare, "corrected")
    assert str(err.value) == (f"{bare}/r.jsonl (id 'r'): field 'lr': no learning rate was "
                              "logged, and `checkpoints` corrected needs the run's schedule; "
                              "log the lr (or map its key with `column` lr=KEY)")
    table = tmp_path / "runs.yaml"
    table.write_text("id: a\nparams: 70M\ntokens: 1B\nloss: 3\n")
    with pytest.raises(InputError) as err:
        load(table, "all")
    assert str(err.value) == ("no run of the ladder has a loss curve; `checkpoints` reads the "
                              "curves of training logs (hand-made tables hold final losses "
                              "only)")
    with pytest.raises(UsageError) as usage:
        load_checkpoint_runs([str(logs)], settings=CheckpointSettings(mode="all"),
                             logs=LogSettings(reduce=Reduction.parse("at:1B")))
    assert str(usage.value) == ("`checkpoints` and `reduce` at: both make rows from a run's "
                                "checkpoints; use one of them")
    with pytest.raises(UsageError) as usage:
        CheckpointSettings(mode="some")  # type: ignore[arg-type]
    assert str(usage.value) == "checkpoints: 'some': choose one of final, cooldowns, " \
                               "corrected, all"


def test_a_group_whose_law_corrects_badly_is_left_out(tmp_path: Path) -> None:
    """Curves no loss-curve law describes (the loss depends on the step alone, whatever the
    schedule): a checkpoint IS the shorter run's final, and any correction is worse."""
    logs = tmp_path / "logs"
    for t in LENGTHS:
        steps = np.arange(100, t + 1, 100)
        loss = 2.5 + 30.0 * steps ** -0.3
        write_jsonl(logs / f"r{t}.jsonl", [
            {"step": int(s), "loss": float(v), "lr": float(cosine(t).lr[s]),
             "tokens": int(s) * TOKENS_PER_STEP, **({"n_params": 7e7} if s == 100 else {})}
            for s, v in zip(steps, loss, strict=True)])
    runs = load(logs, "corrected")
    assert not any("@" in r.run_id for r in runs.runs)
    assert runs.warnings[0].startswith(
        "the 70M-parameter runs at peak lr 0.001 ('r1000', 'r2000', 'r4000' ...): the curve "
        "law corrects worse than no correction where it can be checked (median error ")


# --------------------------------------------------------------------------- the option


def option_app() -> typer.Typer:
    """A command declaring the shared options as the ladder commands do (the commands
    themselves gain --checkpoints where the lead wires it)."""
    app = typer.Typer()

    @app.command()
    def ladder_rows(ctx: typer.Context, runs: RunsArg = None, law: LawOpt = None,
                    k: KOpt = "6", checkpoints: CheckpointsOpt = "final",
                    bootstrap: Annotated[str, typer.Option("--bootstrap")] = "0") -> None:
        loaded = law_request(ctx).runs()
        typer.echo(f"{len(loaded.runs)} {sum('@' in r.run_id for r in loaded.runs)}")

    @app.command()
    def other() -> None:  # two commands, so the command is named on the command line
        pass

    return app


def test_the_option_turns_curves_into_rows_before_the_fit(tmp_path: Path) -> None:
    logs = str(ladder(tmp_path, sizes=(70e6,)))
    runner = CliRunner()
    app = option_app()
    assert runner.invoke(app, ["ladder-rows", logs]).stdout == "4 0\n"
    assert runner.invoke(app, ["ladder-rows", logs, "--checkpoints", "all"]).stdout == "36 32\n"
    bad = runner.invoke(app, ["ladder-rows", logs, "--checkpoints", "most"])
    assert bad.exit_code == 1 and isinstance(bad.exception, UsageError)
    assert bad.exception.render(lambda s: "--" + s) == (
        "--checkpoints: 'most': choose one of final, cooldowns, corrected, all")
    wasted = runner.invoke(app, ["ladder-rows", "--law", "epoch-2024", "--checkpoints", "all"])
    assert isinstance(wasted.exception, UsageError)
    assert str(wasted.exception).startswith("--checkpoints shapes a fit of run logs")


def test_a_correction_that_cannot_be_checked_is_not_used(tmp_path: Path) -> None:
    logs = ladder(tmp_path, sizes=(70e6,))
    steps = np.r_[10, 50, np.arange(100, 4001, 100)]
    lone = cosine(4000)
    write_jsonl(logs / "lone.jsonl", [
        {"step": int(s), "loss": float(v), "lr": float(lone.lr[s]),
         "tokens": int(s) * TOKENS_PER_STEP, **({"n_params": 4e8} if s == 10 else {})}
        for s, v in zip(steps, curve_loss(LAW, lone, steps), strict=True)])
    runs = load(logs, "corrected")
    assert not any(r.group == "lone" and "@" in r.run_id for r in runs.runs)
    assert runs.warnings[0] == (
        "the 400M-parameter runs at peak lr 0.001 ('lone'): the curve law's correction cannot "
        "be checked (0 pairs of a shorter finished run and a longer run of this size and peak "
        "lr; 3 needed); their checkpoints are left out")
