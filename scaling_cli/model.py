"""A fitted (or published) law with its bootstrap replicates and provenance: what planners use.

:func:`build_model` is the one core call behind every command that reads runs:
validate that the runs can identify the law, fit it globally, verify the optimum,
bootstrap it, and keep the facts (``FitSummary``, ``BootstrapSummary``, ``InputSummary``)
that every output reports. :func:`preset_model` does the same for a published law
(no replicates, so no intervals).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scaling_cli.errors import FitError, InputError
from scaling_cli.law import DEFAULT_FLOPS_PER_PARAM_TOKEN, Law, load_presets

if TYPE_CHECKING:  # numpy and the fitting stack load only when a fit is made (fast presets)
    import numpy as np
    import numpy.typing as npt

    Array = npt.NDArray[np.float64]

    from scaling_cli.fit.constraints import Constraints
    from scaling_cli.fit.health import FitSummary
    from scaling_cli.read.runs import RunSet

__all__ = [
    "BootstrapSummary",
    "FitSummary",
    "InputSummary",
    "Model",
    "RunData",
    "build_model",
    "preset_model",
]



@dataclass(frozen=True)
class RunData:
    """The runs behind a fit (kept so plots, backtests and fit files can show them)."""

    ids: tuple[str, ...]
    params: Array
    tokens: Array
    loss: Array
    compute_flops: Array  # each run's own flops, else k N D
    groups: tuple[str, ...] | None  # group labels when the runs carry them

    @classmethod
    def from_runset(cls, runs: RunSet, k: float) -> RunData:
        import numpy as np

        labelled = [r.group for r in runs.runs]
        return cls(
            ids=tuple(r.run_id for r in runs.runs),
            params=np.array([r.params for r in runs.runs]),
            tokens=np.array([r.tokens for r in runs.runs]),
            loss=np.array([r.loss for r in runs.runs]),
            compute_flops=np.array([r.flops if r.flops is not None else k * r.params * r.tokens
                                    for r in runs.runs]),
            groups=None if all(g is None for g in labelled)
            else tuple(g if g is not None else "" for g in labelled),
        )


@dataclass(frozen=True)
class InputSummary:
    runs_used: int
    runs_excluded: int
    sha256: str
    sources: tuple[str, ...]
    distinct_params: int
    distinct_tokens: int
    params_min: float
    params_max: float
    tokens_min: float
    tokens_max: float
    compute_flops_max: float  # largest run's training compute (its own flops, else k N D)
    groups: int | None  # number of groups when runs carry group labels


@dataclass(frozen=True)
class BootstrapSummary:
    replicates: int
    failed: int
    degenerate: int
    seed: int
    resample_by: str
    n_units: int


@dataclass(frozen=True)
class Model:
    """Point law, replicate laws (converged replicates only), and where they came from."""

    law: Law
    samples: Array | None  # (R, 5): log E, log A, log B, alpha, beta
    source: str  # "runs", "preset:<name>" or "fit-file:<path>"
    flops_per_param_token: float
    inputs: InputSummary | None = None
    fit: FitSummary | None = None
    boot: BootstrapSummary | None = None
    warnings: tuple[str, ...] = ()
    runs: RunData | None = None

    @property
    def sample_law(self) -> Law | None:
        return None if self.samples is None else Law.from_theta(self.samples)


def _inputs(runs: RunSet, k: float) -> InputSummary:
    import numpy as np

    params = np.array([r.params for r in runs.runs])
    tokens = np.array([r.tokens for r in runs.runs])
    flops = np.array([r.flops if r.flops is not None else k * r.params * r.tokens
                      for r in runs.runs])
    groups = {r.group for r in runs.runs if r.group is not None}
    return InputSummary(
        runs_used=len(runs.runs), runs_excluded=len(runs.excluded), sha256=runs.sha256,
        sources=runs.sources, distinct_params=len(set(params.tolist())),
        distinct_tokens=len(set(tokens.tolist())), params_min=float(params.min()),
        params_max=float(params.max()), tokens_min=float(tokens.min()),
        tokens_max=float(tokens.max()), compute_flops_max=float(flops.max()),
        groups=len(groups) if groups else None,
    )


def build_model(
    runs: RunSet,
    *,
    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
    replicates: int = 1000,
    seed: int = 0,
    resample_by: str = "auto",
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    allow_unverified: bool = False,
    method: str = "approach3",
    constraints: Constraints | None = None,
) -> Model:
    """Fit and bootstrap ``runs``; raise FitError when the optimum cannot be verified."""
    from scaling_cli.fit.constraints import Constraints
    from scaling_cli.fit.health import check_identifiable, summarise_fit
    from scaling_cli.fit.search import METHODS, SearchSettings, fit_law
    from scaling_cli.fit.objective import Data
    from scaling_cli.fit.bootstrap import bootstrap

    if resample_by not in {"auto", "run", "group"}:
        raise InputError(f"--resample-by {resample_by!r}: use auto, run or group")
    if method not in METHODS:
        raise InputError(f"--method {method!r}: use one of {', '.join(METHODS)}")
    constraints = constraints or Constraints()
    warnings = check_identifiable([r.params for r in runs.runs], [r.tokens for r in runs.runs],
                                  constraints.n_free)
    data = Data.from_arrays([r.params for r in runs.runs], [r.tokens for r in runs.runs],
                            [r.loss for r in runs.runs])
    settings = SearchSettings(delta=METHODS[method][0])
    fit = fit_law(data, settings=settings, constraints=constraints)
    if not fit.verified and not allow_unverified:
        raise FitError(
            f"the fit's optimum could not be verified ({fit.starts_agreeing} of {fit.starts} "
            f"starts agree, Newton decrement {fit.newton_decrement:.2g}); the runs may not "
            "identify the law. Add runs over a wider range of sizes and tokens, or pass "
            "--allow-unverified to see the unverified fit"
        )
    summary = summarise_fit(fit, [r.run_id for r in runs.runs], method)
    warnings += _fit_warnings(summary)
    groups = _groups(runs, resample_by)
    boot = None
    samples = None
    if replicates > 0:
        result = bootstrap(data, fit, replicates=replicates, seed=seed, groups=groups,
                           workers=workers, progress=progress, settings=settings)
        samples = result.good
        boot = BootstrapSummary(result.replicates, result.failed, result.n_degenerate, seed,
                                result.resample_by, result.n_units)
        if result.failed:
            warnings.append(f"{result.failed} of {result.replicates} bootstrap replicates "
                            "failed to converge and are left out of the intervals")
        if result.n_degenerate > 0.05 * result.replicates:
            warnings.append(f"{result.n_degenerate} of {result.replicates} bootstrap "
                            "replicates are degenerate (a term vanished): the data barely "
                            "identify the law")
    return Model(fit.law, samples, "runs", flops_per_param_token,
                 _inputs(runs, flops_per_param_token), summary, boot,
                 tuple(runs.warnings) + tuple(warnings),
                 RunData.from_runset(runs, flops_per_param_token))


def _fit_warnings(summary: FitSummary) -> list[str]:
    out = []
    if not summary.verified:
        out.append("the fit's optimum is NOT verified (--allow-unverified): do not trust it")
    if summary.at_bounds:
        out.append(f"degenerate fit: {', '.join(summary.at_bounds)} at the edge of the search "
                   "box (a power-law term vanished); the forecast extrapolates a different law")
    if summary.large_residuals:
        shown = ", ".join(f"{rid} ({r:+.3f})" for rid, r in summary.large_residuals[:3])
        more = len(summary.large_residuals) - 3
        out.append(f"{len(summary.large_residuals)} run(s) with large log residuals: {shown}"
                   f"{f' and {more} more' if more > 0 else ''}; check them for bugs or "
                   "divergence (exclude: true keeps them out)")
    return out


def _groups(runs: RunSet, resample_by: str) -> list[str] | None:
    labelled = [r.group for r in runs.runs]
    if resample_by == "run" or (resample_by == "auto" and all(g is None for g in labelled)):
        return None
    if any(g is None for g in labelled):
        missing = next(r for r in runs.runs if r.group is None)
        if resample_by == "group":
            raise InputError(f"{missing.where}: field 'group' is missing; --resample-by group "
                             "needs a group on every run")
        # auto with partial labels: unlabelled runs are their own group
    return [r.group if r.group is not None else f"\x00run:{r.run_id}" for r in runs.runs]


def preset_model(name: str, *,
                 flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN) -> Model:
    """A published law (``configs/laws.toml``): a point estimate with no replicates."""
    presets = load_presets()
    if name not in presets:
        raise InputError(f"--law {name!r}: unknown law; choose one of "
                         f"{', '.join(sorted(presets))} (see `scaling laws`)")
    return Model(presets[name].law, None, f"preset:{name}", flops_per_param_token)
