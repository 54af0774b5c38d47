"""How far a forecast reaches beyond the fitted runs, and when that deserves a warning.

Three axes, each a factor relative to the range the fitted runs cover:

    reach(x) = x / max(fitted)   if x > max(fitted)      (> 1: beyond the largest)
             = x / min(fitted)   if x < min(fitted)      (< 1: below the smallest)
             = 1                 otherwise               (inside the data)

for x = training compute C, model size N and tokens per parameter D/N. A law fitted on
runs of 20 tokens/param says little about 640; one fitted up to 1e21 FLOPs is extrapolated
1000x at 1e24. A fourth axis, epochs (D/U: passes over U unique tokens), counts only
upwards, from the most any fitted run repeated its data (1 for fresh data): D' values
repeats as Muennighoff et al. measured them, and a ladder that repeated its data 4 times
cannot check that valuation at 100. Every forecast carries its :class:`Reach`, and a
warning when a factor passes its threshold (``WARN_FACTORS``, documented in the README):

- compute more than 100x beyond the largest run (or 100x below the smallest);
- model size more than 10x beyond the largest (or below the smallest) run's;
- tokens per parameter more than 2x outside the fitted range, either way (over-training
  4x beyond the fitted ratios already made real forecasts ~2% optimistic);
- epochs more than 2x beyond the most of any fitted run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scaling_cli.model import InputSummary, RunData
from scaling_cli.units import format_count, format_factor, format_flops

__all__ = ["WARN_FACTORS", "FittedRange", "Reach", "reach"]

WARN_FACTORS = {"compute_flops": 100.0, "params": 10.0, "tokens_per_param": 2.0,
                "epochs": 2.0}


@dataclass(frozen=True)
class FittedRange:
    """The ranges the fitted runs cover (compute, size, tokens per parameter) and the most
    epochs any of them trained (1: fresh data, or not known)."""

    compute_flops: tuple[float, float]
    params: tuple[float, float]
    tokens_per_param: tuple[float, float]
    epochs_max: float = 1.0

    @classmethod
    def of(cls, inputs: InputSummary | None, runs: RunData | None) -> FittedRange | None:
        """From the runs when kept, else the fit's input summary; None for a published law."""
        if runs is not None and len(runs):
            ratio = runs.tokens / runs.params
            epochs = 1.0 if runs.epochs is None else float(np.nanmax(
                np.append(runs.epochs, 1.0)))
            return cls((float(runs.compute_flops.min()), float(runs.compute_flops.max())),
                       (float(runs.params.min()), float(runs.params.max())),
                       (float(ratio.min()), float(ratio.max())), max(1.0, epochs))
        if inputs is None:
            return None
        ratio_min = inputs.tokens_per_param_min
        ratio_max = inputs.tokens_per_param_max
        return cls((math.nan, inputs.compute_flops_max), (inputs.params_min, inputs.params_max),
                   (math.nan if ratio_min is None else ratio_min,
                    math.nan if ratio_max is None else ratio_max),
                   max(1.0, inputs.epochs_max or 1.0))


@dataclass(frozen=True)
class Reach:
    """Factors beyond the fitted range (1 inside; > 1 above; < 1 below) and the warnings."""

    compute_flops: float
    params: float
    tokens_per_param: float
    warnings: tuple[str, ...] = ()
    epochs: float = 1.0  # epochs / the most of any fitted run, when above it (else 1)

    @property
    def beyond(self) -> bool:
        """Whether any factor passes its warning threshold."""
        return bool(self.warnings)


def _factor(x: float, span: tuple[float, float]) -> float:
    low, high = span
    if math.isfinite(high) and x > high:
        return x / high
    if math.isfinite(low) and x < low:
        return x / low
    return 1.0


def _times(factor: float) -> str:
    shown = factor if factor >= 1 else 1 / factor
    return format_factor(shown)


def reach(fitted: FittedRange | None, *, compute_flops: float, params: float,
          tokens: float, what: str, epochs: float = 1.0) -> Reach | None:
    """The reach of a forecast at (C, N, D) (D: the fresh tokens the data is worth) with
    ``epochs`` passes over its data; ``what`` names it in warnings (e.g. "budget 1e24
    FLOPs"). None without fitted runs (a published law has no data to reach from)."""
    if fitted is None:
        return None
    ratio = tokens / params
    factors = {"compute_flops": _factor(compute_flops, fitted.compute_flops),
               "params": _factor(params, fitted.params),
               "tokens_per_param": _factor(ratio, fitted.tokens_per_param),
               "epochs": max(1.0, epochs / fitted.epochs_max) if math.isfinite(epochs)
               else 1.0}
    warnings = []
    for axis, factor in factors.items():
        limit = WARN_FACTORS[axis]
        if not (factor > limit or factor < 1 / limit):
            continue
        above = factor > 1
        if axis == "compute_flops":
            text = (f"{format_flops(compute_flops)} FLOPs is {_times(factor)} "
                    f"{'beyond the largest' if above else 'below the smallest'} run's compute")
        elif axis == "params":
            text = (f"{format_count(params)} parameters is {_times(factor)} "
                    f"{'beyond the largest' if above else 'below the smallest'} fitted model")
        elif axis == "epochs":
            text = (f"{epochs:.3g} epochs of repeated data is {_times(factor)} the most any "
                    f"fitted run trained ({fitted.epochs_max:.3g}); D' values the repeats "
                    "as Muennighoff et al. measured them, which these runs cannot confirm")
        else:
            side = "above the most" if above else "below the fewest"
            text = (f"{ratio:.3g} tokens/param is {_times(factor)} {side} tokens per "
                    "parameter of any fitted run")
        warnings.append(f"{what}: {text}: an extrapolation the fitted runs cannot check")
    return Reach(factors["compute_flops"], factors["params"], factors["tokens_per_param"],
                 tuple(warnings), factors["epochs"])
