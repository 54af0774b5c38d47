"""Second opinions: N* at a budget under each fitting method, side by side.

The statistical interval of one method says nothing about the choice of method. Fitting the
same runs three ways — Approach 3 (Huber on log residuals), least squares on log residuals,
and Approach 2 (isoFLOP parabolas, when the runs have isoFLOP slices) — and showing the
spread of their N* gives a model-uncertainty error bar beside the statistical one.
All methods use the same bootstrap resamples (same seed, same run or group draws).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from scaling_cli.fit.approach2 import BIAS_NOTE, approach2
from scaling_cli.fit.bootstrap import resample_weights
from scaling_cli.fit.build import METHOD_NAMES, FitSettings, fit_runs
from scaling_cli.fit.search import METHODS
from scaling_cli.forecast.answers import optimal
from scaling_cli.forecast.extrapolation import FittedRange, reach
from scaling_cli.forecast.intervals import Estimate, percentile_interval
from scaling_cli.model import Model, RunData
from scaling_cli.read.runs import RunSet
from scaling_cli.units import format_flops

__all__ = ["Comparison", "MethodRow", "compare_methods"]


@dataclass(frozen=True)
class MethodRow:
    method: str
    description: str
    params: Estimate | None  # None when the method does not apply to these runs
    tokens: Estimate | None
    exponent: Estimate | None  # a in N* ~ C^a
    note: str


@dataclass(frozen=True)
class Comparison:
    compute_flops: float
    confidence: float
    rows: tuple[MethodRow, ...]
    models: tuple[Model, ...]  # the Approach-3-style fits, for provenance
    warnings: tuple[str, ...]

    @property
    def params_spread(self) -> float | None:
        """max / min of N* across the methods that apply (None if fewer than two)."""
        values = [r.params.value for r in self.rows
                  if r.params is not None and "degenerate" not in r.note]
        return max(values) / min(values) if len(values) >= 2 else None


def _estimate(value: float, draws: object, confidence: float) -> Estimate:
    if draws is None:
        return Estimate(value)
    return Estimate(value, *percentile_interval(draws, confidence))  # type: ignore[arg-type]


def _law_row(model: Model, method: str, budget: float, confidence: float) -> MethodRow:
    forecast = optimal(model, [budget], confidence=confidence).rows[0]
    samples = model.sample_law
    exponent = _estimate(float(model.law.compute_exponent),
                         None if samples is None else samples.compute_exponent, confidence)
    notes = []
    if model.fit is not None and not model.fit.verified:
        notes.append("UNVERIFIED optimum")
    if method == "lsq":
        notes.append("no outlier protection: large residuals pull it")
    if forecast.tokens_per_param.value < 1 or forecast.params.value <= 0:
        notes.append(f"degenerate: {forecast.tokens_per_param.value:.2g} tokens/param")
    return MethodRow(method, METHODS[method][1], forecast.params, forecast.tokens, exponent,
                     "; ".join(notes))


def _approach2_row(runs: RunData, budget: float, k: float, confidence: float,
                   replicates: int, seed: int, groups: list[str] | None) -> MethodRow:
    description = "isoFLOP parabolas, Hoffmann et al. Approach 2"
    weights = resample_weights(len(runs.ids), groups, replicates, seed) if replicates else None
    point, reps = approach2(runs.params, runs.loss, runs.compute_flops, weights)
    if not point.usable:
        return MethodRow("approach2", description, None, None, None,
                         "not applicable: needs >= 2 isoFLOP slices with >= 3 model sizes "
                         "and an interior minimum")
    n_star = float(point.params_at(budget))
    draws = None
    a_draws = None
    if len(reps):
        good = np.isfinite(reps[:, 0])
        a_draws = reps[good, 0]
        draws = np.exp(reps[good, 1] + reps[good, 0] * np.log(budget))
    params = _estimate(n_star, draws, confidence)
    tokens = _estimate(budget / (k * n_star), None if draws is None else budget / (k * draws),
                       confidence)
    used = len(point.slice_params)
    note = (f"{used} slices used, {point.skipped_few_sizes + point.skipped_outside} skipped; "
            f"{BIAS_NOTE}")
    return MethodRow("approach2", description, params, tokens,
                     _estimate(point.exponent, a_draws, confidence), note)


def compare_methods(runs: RunSet, budget: float, settings: FitSettings | None = None, *,
                    confidence: float = 0.95) -> Comparison:
    """Fit ``runs`` with every method and report N*, D* and a at ``budget`` for each.

    A method whose N* is degenerate (fewer than one token per parameter, or a vanished
    term) is shown with that note, and the spread across methods leaves it out.
    """
    settings = settings or FitSettings()
    models = tuple(fit_runs(runs, replace(settings, method=method, allow_unverified=True))
                   for method in METHOD_NAMES)
    rows = [_law_row(m, method, budget, confidence)
            for m, method in zip(models, METHOD_NAMES, strict=True)]
    data = models[0].runs
    groups = None
    if data is not None and models[0].boot is not None and \
            models[0].boot.resample_by == "group":
        groups = [g or f"\x00run:{i}" for g, i in zip(data.groups or (), data.ids, strict=True)]
    if data is not None:
        rows.append(_approach2_row(data, budget, settings.flops_per_param_token, confidence,
                                   settings.replicates, settings.seed, groups))
    where = None
    if rows[0].params is not None and rows[0].tokens is not None:
        where = reach(FittedRange.of(models[0].inputs, data), compute_flops=budget,
                      params=rows[0].params.value, tokens=rows[0].tokens.value,
                      what=f"budget {format_flops(budget)} FLOPs (approach3 N*, D*)")
    warnings = [*models[0].warnings, *(where.warnings if where else ())]
    warnings += [f"{r.method}: N* at {format_flops(budget)} FLOPs is degenerate "
                 f"({r.note.rsplit('degenerate: ', 1)[-1]}); left out of the spread"
                 for r in rows if "degenerate" in r.note]
    return Comparison(budget, confidence, tuple(rows), models,
                      tuple(dict.fromkeys(warnings)))
