"""Fit health: can the runs identify the law, and should the fit be trusted?

Everything here is computed from a :class:`~scaling_cli.fit.search.FitResult` and the runs, and
lands in every output (briefly in the table, fully in JSON):

- verification: converged (Newton decrement), agreement across starts, failed starts;
- parameters at bounds / vanished terms (a degenerate law);
- identifiability: the Hessian's condition number and its flattest direction, i.e. the
  unit eigenvector v of the smallest eigenvalue lambda_min: moving the free parameters by
  t v raises the objective by only lambda_min t^2 / 2 (the classic A-alpha ridge);
- runs with large residuals: |r_i| > max(5 * 1.4826 * median|r|, 0.02), robust to the
  outliers themselves;
- too few distinct model sizes or token counts: an error below ``MIN_DISTINCT``, a warning
  below ``WARN_DISTINCT``;
- runs that repeated their data: what the fit assumed of them (``repeated_data``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from scaling_cli.errors import FitError
from scaling_cli.fit.constraints import Constraints
from scaling_cli.law import R_D_STAR
from scaling_cli.model import FitSummary, RunData

if TYPE_CHECKING:
    from scaling_cli.fit.search import FitResult

__all__ = [
    "MIN_DISTINCT",
    "WARN_DISTINCT",
    "check_identifiable",
    "fit_warnings",
    "repeated_data_warnings",
    "summarise_fit",
]

MIN_DISTINCT = 3
WARN_DISTINCT = 5
WARN_SPARE_RUNS = 5  # fewer runs than free parameters + this: warn
LARGE_RESIDUAL_FLOOR = 0.02


def check_identifiable(params: Iterable[float], tokens: Iterable[float],
                       constraints: Constraints | int | None = None) -> list[str]:
    """Raise FitError unless the runs can identify the free parameters; warn when barely.

    Needed: at least one run more than there are free parameters (a fit with no residual
    degree of freedom checks nothing), two or more distinct model sizes, token counts and
    tokens per parameter, and three distinct sizes (token counts) where alpha (beta) is
    free and untied: E, A and alpha each need their own evidence along N. So 5 runs with
    distinct N and tokens per parameter identify the tied law (E, A, B, alpha = beta).
    """
    params, tokens = list(params), list(tokens)
    n_runs = len(params)
    if isinstance(constraints, int):  # a count of free parameters of some other law
        free, names = constraints, {"alpha", "beta"} if constraints >= 5 else set()
        constraints = Constraints()
    else:
        constraints = constraints or Constraints()
        free, names = constraints.n_free, set(constraints.free_names())
    n_distinct, d_distinct = len(set(params)), len(set(tokens))
    ratios = len({round(d / n, 12) for n, d in zip(params, tokens, strict=True)})
    untied = not constraints.tie_exponents
    need_n = MIN_DISTINCT if untied and "alpha" in names else 2
    need_d = MIN_DISTINCT if untied and "beta" in names else 2
    if n_runs < free + 1 or n_distinct < need_n or d_distinct < need_d or ratios < 2:
        raise FitError(
            f"too few runs to identify the law: {n_runs} runs, {n_distinct} sizes, "
            f"{d_distinct} token counts, {ratios} tokens/param ratios; {free} free parameters "
            f"need {free + 1} runs, {need_n} sizes, {need_d} token counts, 2 ratios (add runs, "
            "tie the exponents with `tie_exponents`, or use a published `law`)"
        )
    warnings = []
    if n_runs < free + WARN_SPARE_RUNS:
        warnings.append(f"only {n_runs} runs for {free} free parameters: every interval rests "
                        "on very few runs, and the fit cannot check itself by holding runs out")
    if n_distinct < WARN_DISTINCT or d_distinct < WARN_DISTINCT:
        warnings.append(
            f"only {n_distinct} distinct model sizes and {d_distinct} distinct token counts: "
            "the exponents are weakly identified; expect wide intervals"
        )
    return warnings


def summarise_fit(fit: FitResult, run_ids: Sequence[str], method: str) -> FitSummary:
    """The health facts of ``fit`` (``run_ids`` in fit order, to name large residuals)."""
    import numpy as np

    r = fit.residuals
    mad = float(np.median(np.abs(r)))
    limit = max(5 * 1.4826 * mad, LARGE_RESIDUAL_FLOOR)
    worst = np.argsort(-np.abs(r), kind="stable")
    large = tuple((run_ids[i], float(r[i])) for i in worst if abs(r[i]) > limit)
    return FitSummary(
        method=method, objective=fit.objective, huber_delta=fit.delta, verified=fit.verified,
        gradient_max=fit.gradient_max, newton_decrement=fit.newton_decrement,
        condition_number=fit.condition_number, flat_direction=_flat_direction(fit),
        starts=fit.starts, starts_converged=fit.starts_converged,
        starts_agreeing=fit.starts_agreeing, at_bounds=fit.at_bounds, residual_mad=mad,
        large_residuals=large, constraints=fit.constraints.describe(),
    )


def _flat_direction(fit: FitResult) -> dict[str, float]:
    import numpy as np

    names = fit.constraints.free_names()
    ev = fit.hessian_vectors[:, 0]
    ev = ev * np.sign(ev[np.argmax(np.abs(ev))])  # a deterministic sign
    labels = {"E": "log_E", "A": "log_A", "B": "log_B", "beta": "beta",
              "alpha": "alpha=beta" if fit.constraints.tie_exponents else "alpha"}
    return {labels[n]: round(float(v), 6) for n, v in zip(names, ev, strict=True)}


def fit_warnings(summary: FitSummary) -> list[str]:
    """What a user must know about the fit before trusting a forecast from it."""
    out = []
    if not summary.verified:
        out.append("the fit's optimum is NOT verified (`allow_unverified`): do not trust it")
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


def repeated_data_warnings(runs: RunData, repeated_data: str) -> list[str]:
    """What the fit assumed about runs that repeated their data (epochs D/U > 1)."""
    if runs.epochs is None:
        return []
    repeated = runs.epochs > 1 + 1e-9
    if not repeated.any():
        return []
    count = f"{int(repeated.sum())} of {len(runs)} runs repeated their data (up to " \
            f"{_epochs_text(float(runs.epochs[repeated].max()))} epochs)"
    if repeated_data == "fresh":
        return [f"{count} and are fitted as if every token were new (repeated_data = "
                "fresh): the law takes repeated tokens for fresh ones, and its forecasts for "
                "fresh data come out too pessimistic"]
    return [f"{count}: the law is fitted to the fresh tokens they are worth, "
            f"D' = U (1 + R* (1 - exp(-(D/U - 1) / R*))) with R* = {R_D_STAR:.4g} "
            "(Muennighoff et al. 2023, fitted on C4), not to the D they saw; forecasts at "
            "(N, D) are for fresh data (predict --unique-tokens for repeated data); "
            "repeated_data = fresh fits every token as new"]


def _epochs_text(epochs: float) -> str:
    return f"{epochs:,.0f}" if epochs >= 100 else f"{epochs:.3g}"
