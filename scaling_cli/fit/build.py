"""Runs -> :class:`~scaling_cli.model.Model`: the one fitting call behind every command.

:func:`fit_runs` checks that the runs can identify the law, fits it globally
(:mod:`scaling_cli.fit.search`), verifies the optimum, bootstraps it
(:mod:`scaling_cli.fit.bootstrap`) and keeps the facts every output reports
(``FitSummary``, ``BootstrapSummary``, ``InputSummary``) with the fit's warnings.

Where the bootstrap would run on one process anyway (up to ~1,500 runs at 1,000 replicates;
more than ``SMALL_LADDER`` resampled runs or groups, whose replicates are rarely hard) and
``workers`` allow two, a second process fits the full form and bootstraps it, while this
one scores the forms on held-out folds (the tied form first: it does not need that fit,
which then comes from the second process) and calibrates their error; when the full form
is chosen this process then joins in on the replicate batches left (from the last:
:func:`~scaling_cli.fit.bootstrap.bootstrap_beside`), else it stops that process and
bootstraps the chosen form here, as always. The results are the same bytes either way (a
batch's replicates do not depend on the process they run in); a progress bar then jumps to
its end. Measured on Epoch's 240 runs in-process (8 alternating pairs): 0.82 s -> 0.70 s
(medians) without the join; as typed (12 pairs), fitting the full form in the second
process instead of before the fork: 0.69 -> 0.64 s.
Its typed, validated configuration is :class:`~scaling_cli.fit.settings.FitSettings`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from scaling_cli.errors import FitError, InputError
from scaling_cli.fit.bootstrap import (
    REPLICATE_COST_RUNS,
    BootstrapResult,
    bootstrap,
    bootstrap_beside,
    bootstrap_work,
    worker_count,
)
from scaling_cli.fit.evidence import SMALL_LADDER, HeldOut, calibration, folds
from scaling_cli.fit.forms import (
    FORM_CONSTRAINTS,
    FormChoice,
    candidate_forms,
    choose_form,
    form_error,
)
from scaling_cli.fit.health import (
    check_identifiable,
    fit_warnings,
    repeated_data_warnings,
    summarise_fit,
)
from scaling_cli.fit.newton import polish
from scaling_cli.fit.objective import Data
from scaling_cli.fit.processes import Work, limit_blas_threads, map_together
from scaling_cli.fit.refit import REPLICATE_RTOL
from scaling_cli.fit.search import METHODS, FitResult, SearchSettings, fit_law
from scaling_cli.fit.settings import (
    MAX_REPLICATES,
    METHOD_NAMES,
    MIN_REPLICATES,
    RESAMPLE_BY,
    FitSettings,
)
from scaling_cli.law import Law
from scaling_cli.model import (
    BootstrapSummary,
    FormError,
    FormSummary,
    InputSummary,
    Model,
    RunData,
)
from scaling_cli.read.runs import RunSet

__all__ = [
    "EVIDENCE_MAX_RUNS",
    "MAX_REPLICATES",
    "METHOD_NAMES",
    "MIN_REPLICATES",
    "RESAMPLE_BY",
    "FitSettings",
    "evidence_runs",
    "fit_runs",
]

# Replicates per held-out fold when measuring how much of its error is statistical: the sd
# of log L at each held-out run, not a tail quantile, so a few dozen suffice.
CALIBRATION_REPLICATES = 40
# Runs beyond which the held-out evidence is measured on an even sample of them
# (:func:`evidence_runs`); every real ladder we know is below it.
EVIDENCE_MAX_RUNS = 1000
# The other form stays a plausible answer (included in every total interval) unless its
# held-out error is this many times the chosen form's.
PLAUSIBLE_RMSE_RATIO = 1.5
# The folds' bootstrap replicates (calibration) are searched in two processes, when workers
# allow, only after a form choice this slow for its size: their cost follows the fold fits'.
# Measured in CPU seconds (choose_form, then calibration on one process / two; the form
# choice's two forms may run in two processes): a hard 16-run ladder 0.6 s
# (37 ms per run), then 1.2 / 0.65 s, and since Newton looks at the face E = 0 (fold fits
# no longer crawl there) 0.28-0.37 s, then 1.05 / 0.57 s; Epoch's 240 runs 0.25 s (1 ms per
# run), then 0.1 s, where a fork cost what it won; 1,000 clean runs 0.55 s (0.55 ms per
# run), then 0.17 / 0.24 s.
HARD_EVIDENCE_SECONDS = 0.15
HARD_EVIDENCE_SECONDS_PER_RUN = 0.005
# The least bootstrap work (replicates x (runs + REPLICATE_COST_RUNS), ~0.2-0.5 us a unit)
# worth a second process beside the form evidence (fit_runs): Epoch's 240 runs x 1,000
# replicates (1.24e6) 0.77x as typed; 1,000 runs x 200 replicates (4e5) 0.94-1.03x.
MIN_OVERLAP_WORK = 1_000_000
# The two candidate forms are fitted and scored in two processes (workers allowing) on ladders
# of at most this many runs: where hard, degenerate fold fits make the form choice cost
# seconds. Measured as typed, paired, both trees byte-compiled: a hard 16-run ladder 0.93x,
# a Porian et al. 131-point ladder's `predict` 0.91x; 10,000 runs (1,000 evidence runs)
# 1.00x, and at 100,000 runs the fork added ~10 MB to the peak memory.
FORMS_SIDE_BY_SIDE_RUNS = 500
# Intervals built from more degenerate replicates (a vanished term) than this are flagged.
DEGENERATE_SHARE = 0.10
Progress = Callable[[int, int], None]


def fit_runs(runs: RunSet, settings: FitSettings | None = None, *,
             progress: Progress | None = None) -> Model:
    """Choose the form on held-out evidence, fit it, verify the optimum (FitError if it
    cannot be verified), estimate the form's error beyond the runs, bootstrap."""

    settings = settings or FitSettings()
    k = settings.flops_per_param_token
    columns = runs.columns(k, repeated_data=settings.repeated_data)
    search = SearchSettings(delta=METHODS[settings.method][0])
    evidence = evidence_runs(columns)
    data = Data.from_arrays(columns.params, columns.tokens, columns.loss)
    if not _bootstrap_beside_pays(runs, settings, evidence, data):
        chosen = _choose_and_fit(runs, settings, columns, evidence, data, search, None)
        if chosen.hard and settings.workers >= 2 and settings.replicates > 0:
            # hard evidence, hard replicates: the calibration's batches and the bootstrap's
            # in one queue of processes (neither waits on the other's slowest batch)
            boot = bootstrap_work(data, chosen.fit, replicates=settings.replicates,
                                  seed=settings.seed, groups=_groups(runs, settings.resample_by),
                                  settings=search)
            with limit_blas_threads(1):
                held_out, done = map_together([chosen.calibration, boot], settings.workers)
            return _with_bootstrap(_measured(chosen, held_out), runs, settings, data, done,
                                   progress)
        measured = _measured(chosen, _calibrated(chosen, settings.workers))
        return _with_bootstrap(measured, runs, settings, data, None, progress)

    def fit_full() -> FitResult:  # (in the second process, which then bootstraps it)
        return fit_law(data, settings=search, constraints=FORM_CONSTRAINTS["full"])

    measured, early = bootstrap_beside(
        lambda full: _fit_and_measure(runs, settings, columns, evidence, data, search, full),
        lambda measured, full: measured.law_fit is full, data, fit_full,
        replicates=settings.replicates, seed=settings.seed,
        groups=_groups(runs, settings.resample_by), settings=search)
    return _with_bootstrap(measured, runs, settings, data, early, progress)


def _bootstrap_beside_pays(runs: RunSet, settings: FitSettings, evidence: RunData,
                           data: Data) -> bool:
    """Whether the full form is fitted to every run, and bootstrapped, in a second process
    while this one scores the forms (the tied form first: it does not wait for that fit).

    Only where the bootstrap has ``MIN_OVERLAP_WORK`` to do (less does not pay for the
    second process), the count rule gives it one process anyway
    (:func:`~scaling_cli.fit.bootstrap.worker_count`), the evidence is every run, the full
    form is a candidate, and the bootstrap resamples more than ``SMALL_LADDER`` units (runs,
    or groups): resamples of a few units are often degenerate and slow to refit, and then
    want both cores (the bootstrap's own timing decides; Porian et al.'s 131-point ladders
    of 16 training runs took 3.7 s instead of 1.7 s in one process beside the evidence)."""
    return not (settings.replicates <= 0 or settings.workers < 2
                or len(evidence) != len(data) or len(data) <= SMALL_LADDER
                or settings.form not in {"auto", "full"}
                or worker_count(settings.workers, runs=len(data),
                                replicates=settings.replicates) != 1
                or "full" not in candidate_forms(evidence, settings.form, settings.constraints)
                or _units(runs, settings) <= SMALL_LADDER
                or settings.replicates * (len(data) + REPLICATE_COST_RUNS) < MIN_OVERLAP_WORK)


def _units(runs: RunSet, settings: FitSettings) -> int:
    """How many units the bootstrap resamples: groups, or runs (0 where the groups are
    refused: the error comes from the fit itself, in its order)."""
    try:
        groups = _groups(runs, settings.resample_by)
    except InputError:
        return 0
    return len(runs) if groups is None else len(set(groups))


def _fit_and_measure(runs: RunSet, settings: FitSettings, columns: RunData, evidence: RunData,
                     data: Data, search: SearchSettings,
                     full: Callable[[], FitResult] | None) -> _Measured:
    """Choose the form, fit and verify it, measure its error beyond the runs (all but the
    bootstrap); ``full``: the full form's fit, made elsewhere (waits for it when called)."""
    chosen = _choose_and_fit(runs, settings, columns, evidence, data, search, full)
    return _measured(chosen, _calibrated(chosen, settings.workers))


@dataclass(frozen=True)
class _Chosen:
    """The chosen form fitted and verified: the model but for its form error, and the work
    that measures that error (the folds' bootstraps)."""

    model: Model  # its form error still the prior's
    fit: FitResult
    search: SearchSettings
    noise: float  # the fit's robust log scatter
    folds: int
    calibration: Work[tuple[HeldOut, ...]]
    hard: bool  # the form choice was slow for its size: so will the replicates be


def _choose_and_fit(runs: RunSet, settings: FitSettings, columns: RunData, evidence: RunData,
                    data: Data, search: SearchSettings,
                    full: Callable[[], FitResult] | None) -> _Chosen:
    """Choose the form, fit and verify it; the calibration still to run."""
    with limit_blas_threads(1):  # small products, or split across processes already
        started = _cpu_seconds()
        # the two forms side by side on small ladders (unless the full form's bootstrap
        # already has the other core)
        side = full is None and len(evidence) <= FORMS_SIDE_BY_SIDE_RUNS
        choice = choose_form(evidence, form=settings.form, given=settings.constraints,
                             settings=search, fits=None if full is None else {"full": full},
                             workers=settings.workers if side else 1)
        hard = _hard_evidence(_cpu_seconds() - started, len(evidence))
    warnings = repeated_data_warnings(columns, settings.repeated_data)
    warnings += check_identifiable(columns.params, columns.tokens, choice.constraints)
    fit = _main_fit(choice, evidence, data, search)
    if not fit.verified and not settings.allow_unverified:
        raise FitError(
            f"the fit's optimum could not be verified ({fit.starts_agreeing} of {fit.starts} "
            f"starts agree, Newton decrement {fit.newton_decrement:.2g}); the runs may not "
            "identify the law. Add runs over a wider range of sizes and tokens, or pass "
            "`allow_unverified` to see the unverified fit"
        )
    summary = summarise_fit(fit, columns.ids, settings.method)
    warnings += fit_warnings(summary)
    noise = 1.4826 * float(np.median(np.abs(fit.residuals)))
    chosen = choice.score_of(choice.form)
    splits = folds(evidence, choice.constraints)
    # split each held-out error: the fold's bootstrap vs the form's own error
    measure: Work[tuple[HeldOut, ...]] = Work.done(())
    if chosen is not None and splits and settings.replicates > 0:
        measure = calibration(evidence, choice.fits[choice.form], splits, chosen.thetas,
                              replicates=CALIBRATION_REPLICATES, seed=settings.seed)
    inputs = InputSummary.of(columns, runs_excluded=len(runs.excluded), sha256=runs.sha256,
                             sources=runs.sources)
    model = Model(fit.law, None, "runs", settings.flops_per_param_token, inputs, summary, None,
                  tuple(runs.warnings) + tuple(warnings), columns,
                  _form_summary(choice, evidence, data, search), FormError.prior(noise))
    return _Chosen(model, fit, search, noise, len(splits), measure, hard)


def _calibrated(chosen: _Chosen, workers: int) -> tuple[HeldOut, ...]:
    """The calibration run on its own: in two processes only after hard evidence."""
    with limit_blas_threads(1):
        return chosen.calibration.run(workers if chosen.hard else 1)


def _measured(chosen: _Chosen, held_out: tuple[HeldOut, ...]) -> _Measured:
    """The model with the form error its held-out errors give."""
    # a degenerate point fit (a parameter on its bound, a vanished term): its folds cannot
    # vouch for its extrapolation, so its scales are at least the prior's
    error = form_error(held_out, chosen.noise, chosen.folds if held_out else 0,
                       at_least_prior=bool(chosen.fit.at_bounds))
    return _Measured(replace(chosen.model, form_error=error), chosen.fit, chosen.search)


@dataclass(frozen=True)
class _Measured:
    """A model without its bootstrap yet, and the fit the bootstrap starts from."""

    model: Model
    law_fit: FitResult
    search: SearchSettings


def _with_bootstrap(measured: _Measured, runs: RunSet, settings: FitSettings, data: Data,
                    done: BootstrapResult | None, progress: Progress | None) -> Model:
    """The model with its bootstrap: ``done`` when a second process already ran it for this
    fit, else run here."""
    if settings.replicates <= 0:
        return measured.model
    if done is None:
        result = bootstrap(data, measured.law_fit, replicates=settings.replicates,
                           seed=settings.seed, groups=_groups(runs, settings.resample_by),
                           workers=settings.workers, progress=progress,
                           settings=measured.search)
    else:
        result = done
        if progress is not None:
            progress(settings.replicates, settings.replicates)
    boot = BootstrapSummary(result.replicates, result.failed, result.n_degenerate,
                            settings.seed, result.resample_by, result.n_units)
    return replace(measured.model, samples=result.good, boot=boot,
                   warnings=measured.model.warnings + tuple(_bootstrap_warnings(boot)))


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended: the form choice's
    cost whether one process or two did it (its second form may run in a fork)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _hard_evidence(seconds: float, runs: int) -> bool:
    """Whether the form choice's fold fits were slow for their size: the folds' bootstrap
    replicates will be too (flat, degenerate basins), and are then worth a second process."""
    return seconds >= HARD_EVIDENCE_SECONDS and seconds / runs >= HARD_EVIDENCE_SECONDS_PER_RUN


def _main_fit(choice: FormChoice, evidence: RunData, data: Data,
              search: SearchSettings) -> FitResult:
    """The chosen form fitted to every run: the evidence's fit when the evidence is every
    run, else a complete global fit of them all."""
    if len(evidence) == len(data) and choice.form in choice.fits:
        return choice.fits[choice.form]
    return fit_law(data, settings=search, constraints=choice.constraints)


def evidence_runs(runs: RunData) -> RunData:
    """The runs the held-out evidence (form choice, form error) is measured on: all of them
    up to ``EVIDENCE_MAX_RUNS``; beyond, that many spread evenly over the runs sorted by
    compute (deterministic). The form error is a handful of per-decade scales: 1,000
    held-out-capable runs pin them down, and refitting 100,000 runs a dozen times for them
    cost 14 of a 19 s command. The law itself is always fitted to every run."""
    n = len(runs)
    if n <= EVIDENCE_MAX_RUNS:
        return runs
    order = np.argsort(runs.compute_flops, kind="stable")
    keep = np.zeros(n, dtype=bool)
    keep[order[np.linspace(0, n - 1, EVIDENCE_MAX_RUNS).round().astype(np.intp)]] = True
    return runs.subset(keep)


def _form_summary(choice: FormChoice, evidence: RunData, data: Data,
                  search: SearchSettings) -> FormSummary:
    """The choice, and the other candidate's point fit when the held-out evidence leaves it
    plausible (a second opinion every forecast's total interval includes)."""
    scores = tuple((s.form, s.folds, s.points, s.rmse_log) for s in choice.scores)
    chosen = choice.score_of(choice.form)
    others = [s for s in choice.scores if s.form != choice.form]
    if not others or chosen is None:
        return FormSummary(choice.form, choice.reason, scores)
    other = others[0]
    if chosen.folds and other.folds and other.rmse_log > PLAUSIBLE_RMSE_RATIO * chosen.rmse_log:
        return FormSummary(choice.form, choice.reason, scores, other.form)
    return FormSummary(choice.form, choice.reason, scores, other.form,
                       _second_opinion(choice.fits.get(other.form), evidence, data, search))


def _second_opinion(fit: FitResult | None, evidence: RunData, data: Data,
                    search: SearchSettings) -> Law | None:
    """The other form's law on every run (None where its fit did not converge): its fit on
    the evidence runs when they are every run, else that fit polished on all of them
    (Newton from a fit to an even sample of them; a second global search over 100,000 runs
    cost 0.5 s of a 6 s command for an answer used only to widen intervals)."""
    if fit is None or not fit.starts_converged:
        return None
    if len(evidence) == len(data):
        return fit.law
    with np.errstate(all="ignore"):
        polished = polish(fit.theta[None], data, np.ones(len(data)), delta=search.delta,
                          constraints=fit.constraints, converged_rtol=REPLICATE_RTOL)
    return Law.from_theta(polished.theta[0]) if polished.converged[0] else None


def _bootstrap_warnings(boot: BootstrapSummary) -> list[str]:
    out = []
    if boot.failed:
        out.append(f"{boot.failed} of {boot.replicates} bootstrap replicates failed to "
                   "converge and are left out of the intervals")
    if boot.degenerate > DEGENERATE_SHARE * boot.replicates:
        share = boot.degenerate / boot.replicates
        out.append(f"every interval is built from {share:.0%} degenerate bootstrap replicates "
                   f"({boot.degenerate} of {boot.replicates}: a term of the law vanished in "
                   "them); the runs barely identify the law: tie the exponents "
                   "(`tie_exponents`) or add runs over a wider range")
    return out


def _groups(runs: RunSet, resample_by: str) -> list[str] | None:
    labelled = runs.table.groups
    if resample_by == "run" or (resample_by == "auto" and all(g is None for g in labelled)):
        return None
    if any(g is None for g in labelled):
        missing = next(r for r in runs.runs if r.group is None)
        if resample_by == "group":
            raise InputError(f"{missing.where}: field 'group' is missing; resampling by group "
                             "(`resample_by`) needs a group on every run")
        # auto with partial labels: unlabelled runs are their own group
    return [g if g is not None else f"\x00run:{run_id}"
            for g, run_id in zip(labelled, runs.table.ids, strict=True)]

