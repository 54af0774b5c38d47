"""Second opinions: N* at a budget under each fitting method, side by side.

The statistical interval of one method says nothing about the choice of method. Fitting the
same runs three ways — Approach 3 (Huber on log residuals), least squares on log residuals,
and Approach 2 (isoFLOP parabolas, when the runs have isoFLOP slices) — and showing the
spread of their N* gives a model-uncertainty error bar beside the statistical one.
All methods use the same bootstrap resamples (same seed, same run or group draws).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.search import METHODS
from scaling_cli.fit.approach2 import BIAS_NOTE, approach2
from scaling_cli.model import Model, RunData, build_model
from scaling_cli.forecast.answers import Estimate, compute_optimal, estimate
from scaling_cli.fit.bootstrap import resample_weights
from scaling_cli.read.runs import RunSet

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
    rows: tuple[MethodRow, ...]
    models: tuple[Model, ...]  # the Approach-3-style fits, for provenance

    @property
    def params_spread(self) -> float | None:
        """max / min of N* across the methods that apply (None if fewer than two)."""
        values = [r.params.value for r in self.rows if r.params is not None]
        return max(values) / min(values) if len(values) >= 2 else None


def _law_row(model: Model, method: str, budget: float, confidence: float) -> MethodRow:
    forecast = compute_optimal(model, [budget], confidence)[0]
    samples = model.sample_law
    exponent = estimate(float(model.law.compute_exponent),
                        None if samples is None else samples.compute_exponent, confidence)
    note = "" if method != "lsq" else "no outlier protection: large residuals pull it"
    if model.fit is not None and not model.fit.verified:
        note = "UNVERIFIED optimum; " + note
    return MethodRow(method, METHODS[method][1], forecast.params, forecast.tokens, exponent,
                     note)


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
    params = estimate(n_star, draws, confidence)
    tokens = estimate(budget / (k * n_star), None if draws is None else budget / (k * draws),
                      confidence)
    used = len(point.slice_params)
    note = (f"{used} slices used, {point.skipped_few_sizes + point.skipped_outside} skipped; "
            f"{BIAS_NOTE}")
    return MethodRow("approach2", description, params, tokens,
                     estimate(point.exponent, a_draws, confidence), note)


def compare_methods(
    runs: RunSet,
    budget: float,
    *,
    confidence: float = 0.95,
    flops_per_param_token: float = 6.0,
    replicates: int = 1000,
    seed: int = 0,
    resample_by: str = "auto",
    workers: int = 1,
    constraints: Constraints | None = None,
) -> Comparison:
    """Fit ``runs`` with every method and report N*, D* and a at ``budget`` for each."""
    models = tuple(
        build_model(runs, flops_per_param_token=flops_per_param_token, replicates=replicates,
                    seed=seed, resample_by=resample_by, workers=workers, method=method,
                    constraints=constraints, allow_unverified=True)
        for method in METHODS
    )
    rows = [_law_row(m, method, budget, confidence)
            for m, method in zip(models, METHODS, strict=True)]
    data = models[0].runs
    assert data is not None
    groups = None
    if models[0].boot is not None and models[0].boot.resample_by == "group":
        groups = [g or f"\x00run:{i}" for g, i in zip(data.groups or (), data.ids,
                                                        strict=True)]
    rows.append(_approach2_row(data, budget, flops_per_param_token, confidence, replicates,
                               seed, groups))
    return Comparison(budget, tuple(rows), models)
