"""Two recipes' run logs -> :class:`JointFit`: the one fitting call behind ``scaling compare``.

:func:`fit_ladders` checks that each ladder can identify its own parameters, fits both
jointly (:mod:`scaling_cli.fit.joint`: shared exponents by default), verifies the optimum,
runs the joint bootstrap (:mod:`scaling_cli.fit.joint_bootstrap`) and returns one
:class:`~scaling_cli.model.Model` per ladder whose replicate laws are paired row by row
(row r of both came from the same joint refit), so every answer that needs both ladders
(:mod:`scaling_cli.forecast.recipes`) is evaluated on matching replicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import FitError, InputError, UsageError
from scaling_cli.fit.build import FitSettings
from scaling_cli.model import BootstrapSummary, FitSummary, InputSummary, Model, RunData
from scaling_cli.read.runs import RunSet

if TYPE_CHECKING:
    from scaling_cli.fit.joint import JointResult

__all__ = ["JointFit", "fit_ladders"]

Progress = Callable[[int, int], None]
Array = npt.NDArray[np.float64]
_OWN_PARAMETERS = {"separate": 5, "shared": 3, "pinned": 2}


@dataclass(frozen=True)
class JointFit:
    """Both ladders' laws fitted together, with the joint fit's facts and warnings.

    ``baseline.samples`` and ``variant.samples`` hold the converged joint replicates, row r
    of each from the same refit; each model's ``fit`` is the joint fit's summary.
    """

    mode: str  # "shared", "separate" or "pinned" (see scaling_cli.fit.joint)
    shared: tuple[str, ...]  # law parameters both ladders share, e.g. ("alpha", "beta")
    parameters: tuple[str, ...]  # the free parameters, in the fit's order
    baseline: Model
    variant: Model
    summary: FitSummary
    boot: BootstrapSummary | None
    warnings: tuple[str, ...]


def fit_ladders(baseline: RunSet, variant: RunSet, settings: FitSettings | None = None, *,
                mode: str = "shared", progress: Progress | None = None) -> JointFit:
    """Fit ``baseline`` and ``variant`` jointly and bootstrap them together (module doc).
    Tokens are taken as the runs saw them, whatever ``settings.repeated_data`` says:
    repeating data is one of the recipes a comparison measures, not an error to correct."""
    from scaling_cli.fit.health import check_identifiable, fit_warnings
    from scaling_cli.fit.joint import JointProblem, Layout, fit_joint
    from scaling_cli.fit.joint_bootstrap import bootstrap_joint
    from scaling_cli.fit.objective import Data
    from scaling_cli.fit.search import METHODS

    settings = settings or FitSettings()
    if not settings.constraints.is_free:
        raise UsageError("fixed or tied parameters do not apply to a joint fit; choose what "
                         "the ladders share with `mode` (shared, separate or pinned)")
    layout = Layout.of(mode)
    k = settings.flops_per_param_token
    columns = (baseline.columns(k, repeated_data="fresh"),
               variant.columns(k, repeated_data="fresh"))
    warnings: list[str] = []
    for name, runs in zip(("baseline", "variant"), columns, strict=True):
        try:
            warnings += [f"{name} ladder: {w}" for w in
                         check_identifiable(runs.params, runs.tokens, _OWN_PARAMETERS[mode])]
        except FitError as exc:
            raise FitError(f"{name} ladder: {exc.problem}") from None
    delta = METHODS[settings.method][0]
    problem = JointProblem(layout, tuple(Data.from_arrays(c.params, c.tokens, c.loss)
                                         for c in columns), delta)  # type: ignore[arg-type]
    fit = fit_joint(problem)
    if not fit.verified and not settings.allow_unverified:
        raise FitError(
            f"the joint fit's optimum could not be verified ({fit.starts_agreeing} of "
            f"{fit.starts} starts agree, Newton decrement {fit.newton_decrement:.2g}); the "
            "ladders may not identify the laws. Try `mode` separate, add runs, or pass "
            "`allow_unverified` to see the unverified fit")
    summary = _summary(fit, columns, settings.method, mode, layout.shared)
    warnings += fit_warnings(summary)
    boot: BootstrapSummary | None = None
    samples: tuple[Array | None, Array | None] = (None, None)
    if settings.replicates > 0:
        result = bootstrap_joint(problem, fit, replicates=settings.replicates,
                                 seed=settings.seed,
                                 groups=(_groups("baseline", columns[0], settings.resample_by),
                                         _groups("variant", columns[1], settings.resample_by)),
                                 progress=progress)
        good = result.phi[result.converged]
        samples = layout.thetas(good) if len(good) else (np.empty((0, 5)), np.empty((0, 5)))
        by = "group" if "group" in result.resample_by else "run"
        boot = BootstrapSummary(result.replicates, result.failed, result.n_degenerate,
                                settings.seed, by, sum(result.n_units))
        warnings += _bootstrap_warnings(boot)
    models = tuple(
        Model(law, samples[j], "runs", k,
              InputSummary.of(columns[j], runs_excluded=len(runs.excluded), sha256=runs.sha256,
                              sources=runs.sources),
              summary, boot, tuple(runs.warnings), columns[j])
        for j, (law, runs) in enumerate(zip(fit.laws, (baseline, variant), strict=True)))
    return JointFit(mode, layout.shared, layout.names, models[0], models[1], summary, boot,
                    tuple(dict.fromkeys(warnings)))


def _summary(fit: JointResult, columns: tuple[RunData, RunData], method: str, mode: str,
             shared: tuple[str, ...]) -> FitSummary:
    """The joint fit's health facts, in the single fit's record (residuals of both ladders,
    run ids prefixed by their ladder)."""
    from scaling_cli.fit.health import LARGE_RESIDUAL_FLOOR

    r = np.concatenate(fit.residuals)
    ids = [f"{name}:{i}" for name, c in zip(("baseline", "variant"), columns, strict=True)
           for i in c.ids]
    mad = float(np.median(np.abs(r)))
    limit = max(5 * 1.4826 * mad, LARGE_RESIDUAL_FLOOR)
    worst = np.argsort(-np.abs(r), kind="stable")
    vector = fit.hessian_vectors[:, 0]
    vector = vector * np.sign(vector[np.argmax(np.abs(vector))])  # a deterministic sign
    return FitSummary(
        method=method, objective=fit.objective, huber_delta=fit.delta, verified=fit.verified,
        gradient_max=fit.gradient_max, newton_decrement=fit.newton_decrement,
        condition_number=fit.condition_number,
        flat_direction={n: round(float(v), 6)
                        for n, v in zip(fit.layout.names, vector, strict=True)},
        starts=fit.starts, starts_converged=fit.starts_converged,
        starts_agreeing=fit.starts_agreeing, at_bounds=fit.at_bounds, residual_mad=mad,
        large_residuals=tuple((ids[i], float(r[i])) for i in worst if abs(r[i]) > limit),
        constraints={"fixed": {}, "tied_exponents": False, "mode": mode,
                     "shared": list(shared)})


def _groups(name: str, runs: RunData, resample_by: str) -> list[str] | None:
    """Resampling units of one ladder, as :func:`scaling_cli.fit.build.fit_runs` chooses
    them: None (runs), or a label per run (with ``auto``, an unlabelled run is its own unit)."""
    labels = runs.groups or ("",) * len(runs)
    if resample_by == "run" or (resample_by == "auto" and not any(labels)):
        return None
    if resample_by == "group" and not all(labels):
        missing = runs.ids[labels.index("")]
        raise InputError(f"{name} ladder: run {missing!r}: field 'group' is missing; "
                         "resampling by group (`resample_by`) needs a group on every run")
    return [g if g else f"\x00run:{i}" for g, i in zip(labels, runs.ids, strict=True)]


def _bootstrap_warnings(boot: BootstrapSummary) -> list[str]:
    out = []
    if boot.failed:
        out.append(f"{boot.failed} of {boot.replicates} joint bootstrap replicates failed to "
                   "converge and are left out of the intervals")
    if boot.degenerate > 0.05 * boot.replicates:
        out.append(f"{boot.degenerate} of {boot.replicates} joint bootstrap replicates are "
                   "degenerate (a term vanished): the ladders barely identify the laws")
    return out
