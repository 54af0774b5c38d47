"""A law with its bootstrap replicates and where it came from: what every stage hands on.

A :class:`Model` is made by fitting run logs (:func:`scaling_cli.fit.build.fit_runs`), by
reading a fit file (:func:`scaling_cli.read.fitfile.read_fit_file`) or from a published
preset (:func:`scaling_cli.read.presets.published_model`), and consumed by the forecast
stage. This module holds only the records (frozen, typed, units in the names); the work
that fills them lives in the stages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaling_cli.law import Law

__all__ = [
    "MAX_FOLD_FACTOR",
    "PRIOR_PER_DECADE",
    "PRIOR_PER_DECADE_EPOCHS",
    "Z_975",
    "BootstrapSummary",
    "FitSummary",
    "FormError",
    "FormSummary",
    "InputSummary",
    "Model",
    "RunData",
    "t_quantile_975",
]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RunData:
    """The runs behind a fit, as columns (kept so plots, backtests and fit files show them)."""

    ids: tuple[str, ...]
    params: Array
    tokens: Array
    loss: Array
    compute_flops: Array  # each run's own flops, else k N D
    groups: tuple[str, ...] | None  # group labels when the runs carry them ("" where not)
    # Passes over its data each run made, D / U as read (NaN where the run gave no unique
    # token count), when any run gave one. ``tokens`` of a run with epochs > 1 are the
    # fresh tokens it is worth, unless the runs were read with repeated_data = "fresh"
    # (:meth:`scaling_cli.read.runs.RunSet.columns`).
    epochs: Array | None = None
    # The tokens D each run saw, where ``tokens`` holds the D' repeated runs are worth
    # (None: ``tokens`` are the tokens as read); what tables show a user of their runs.
    tokens_seen: Array | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def tokens_read(self) -> Array:
        """The tokens each run saw, as its log gave them."""
        return self.tokens if self.tokens_seen is None else self.tokens_seen

    def subset(self, keep: npt.NDArray[np.bool_]) -> RunData:
        """The runs where ``keep`` is True, in the same order."""
        index = np.flatnonzero(keep)
        return RunData(tuple(self.ids[i] for i in index), self.params[index],
                       self.tokens[index], self.loss[index], self.compute_flops[index],
                       None if self.groups is None else tuple(self.groups[i] for i in index),
                       None if self.epochs is None else self.epochs[index],
                       None if self.tokens_seen is None else self.tokens_seen[index])


@dataclass(frozen=True)
class InputSummary:
    """What was fitted: counts, hash and ranges of the runs (the reach of the data)."""

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
    tokens_per_param_min: float | None = None  # None in fit files older than these fields
    tokens_per_param_max: float | None = None
    epochs_max: float | None = None  # most epochs D/U of any run, when any gave unique tokens

    @classmethod
    def of(cls, runs: RunData, *, runs_excluded: int, sha256: str,
           sources: tuple[str, ...]) -> InputSummary:
        ratio = runs.tokens / runs.params
        return cls(
            runs_used=len(runs), runs_excluded=runs_excluded, sha256=sha256, sources=sources,
            distinct_params=len(set(runs.params.tolist())),
            distinct_tokens=len(set(runs.tokens.tolist())),
            params_min=float(runs.params.min()), params_max=float(runs.params.max()),
            tokens_min=float(runs.tokens.min()), tokens_max=float(runs.tokens.max()),
            compute_flops_max=float(runs.compute_flops.max()),
            groups=None if runs.groups is None else len({g for g in runs.groups if g}) or None,
            tokens_per_param_min=float(ratio.min()), tokens_per_param_max=float(ratio.max()),
            epochs_max=None if runs.epochs is None or np.isnan(runs.epochs).all()
            else float(np.nanmax(runs.epochs)),
        )


@dataclass(frozen=True)
class FitSummary:
    """The fit's health facts (see :mod:`scaling_cli.fit.health`)."""

    method: str
    objective: float
    huber_delta: float
    verified: bool
    gradient_max: float
    newton_decrement: float
    condition_number: float
    flat_direction: dict[str, float]  # unit eigenvector of the smallest Hessian eigenvalue
    starts: int
    starts_converged: int
    starts_agreeing: int
    at_bounds: tuple[str, ...]
    residual_mad: float  # median |log residual| across runs
    large_residuals: tuple[tuple[str, float], ...]  # (run id, log residual), worst first
    constraints: dict[str, object]


@dataclass(frozen=True)
class BootstrapSummary:
    """How the replicates were drawn and how many of them to trust."""

    replicates: int
    failed: int
    degenerate: int
    seed: int
    resample_by: str
    n_units: int


# What public ladders show a form errs by, per decade of extrapolation on the log-loss scale
# (compute, tokens per parameter, model size): assumed for a direction a ladder cannot test
# (benchmarks/README.md, "Are the intervals honest?").
PRIOR_PER_DECADE = (0.02, 0.05, 0.02)
# ... and per decade of epochs beyond the most any fitted run repeated its data (a run at
# D' of repeated data): as tokens per parameter, the data axis it extends.
PRIOR_PER_DECADE_EPOCHS = 0.05
Z_975 = 1.959963984540054  # the standard normal's 97.5% quantile
MAX_FOLD_FACTOR = 3.0  # a single fold (t_0.975(1) = 12.7) widens by this much, not 6.5x
# Student t's 97.5% quantiles for 1-10 degrees of freedom (no scipy on the fit's path)
_T975 = (12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851,
         2.364624252, 2.306004135, 2.262157163, 2.228138852)


def t_quantile_975(df: int) -> float:
    """Student t's 97.5% quantile with ``df`` >= 1 degrees of freedom: tabulated up to 10,
    beyond by the Cornish-Fisher expansion z + (z^3 + z) / (4 df) + (5 z^5 + 16 z^3 + 3 z) /
    (96 df^2) (within 0.1% from 11 on: 2.1990 against 2.2010)."""
    if df <= len(_T975):
        return _T975[df - 1]
    z = Z_975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class FormError:
    """How wrong the fitted form is beyond the runs, on the log-loss scale (see
    :mod:`scaling_cli.fit.forms`): sigma_form(u)^2 = m^2 [(a_c u_c)^2 + (a_r u_r)^2 +
    (a_n u_n)^2 + (a_e u_e)^2] for a forecast u_c decades of compute, u_r of tokens per
    parameter, u_n of model size and u_e of epochs (repeated data) beyond the fitted runs,
    m = :attr:`fold_factor` for scales estimated from a few held-out folds."""

    per_decade_compute: float
    per_decade_ratio: float
    per_decade_params: float
    noise_log_sd: float  # one run's scatter around the law, out of sample, log scale
    source: str  # "ladder" (estimated from held-out runs, floored by the prior) or "prior"
    points: int  # held-out runs the estimate rests on
    held_out_log_sd: float = 0.0  # rms held-out error that neither bootstrap nor noise explains
    # >= 1: how much the form error and scatter must grow for the nominal-95% interval to
    # hold the ladder's own held-out runs (heavy tails that the moment fit above misses)
    tail_factor: float = 1.0
    per_decade_epochs: float = PRIOR_PER_DECADE_EPOCHS
    folds: int = 0  # held-out folds the scales above were estimated from (0: none, the prior)
    # held-out log error per decade of tokens per parameter above the fitted runs (> 0: the
    # law forecast over-trained runs too low); loss forecasts up there are raised by it
    over_bias_per_decade: float = 0.0

    def over_correction(self, ratio_decades_above: float) -> float:
        """The factor a loss forecast ``ratio_decades_above`` decades of tokens per
        parameter above the fitted runs is multiplied by: exp(b u), b =
        ``over_bias_per_decade`` (1 inside the runs' range or below it)."""
        # (capped exponent: a pathological slope far out must not overflow)
        return math.exp(min(700.0, self.over_bias_per_decade * max(0.0, ratio_decades_above)))

    @property
    def fold_factor(self) -> float:
        """How much wider the form's error is taken than its estimate, for an estimate
        from ``folds`` held-out folds: t_0.975(folds) / z_0.975, at most ``MAX_FOLD_FACTOR``
        (1 without folds). A fold's held-out runs share one fold fit, so the scales rest on
        ``folds`` draws, not on as many runs; a forecast's error from a scale estimated on
        k draws is Student-t distributed with k degrees of freedom (5 folds: x1.31)."""
        if self.folds <= 0:
            return 1.0
        return min(MAX_FOLD_FACTOR, t_quantile_975(self.folds) / Z_975)

    @classmethod
    def prior(cls, noise_log_sd: float, source: str = "prior") -> FormError:
        """The form error assumed without held-out evidence."""
        compute, ratio, params = PRIOR_PER_DECADE
        return cls(compute, ratio, params, noise_log_sd, source, 0)

    def sd(self, compute_decades: float, ratio_decades: float,
           params_decades: float = 0.0, epochs_decades: float = 0.0) -> float:
        """sigma_form at a forecast u decades beyond the runs (log scale): the per-decade
        growth, and never less than the held-out error the ladder already showed once the
        forecast leaves the runs' range."""
        grown = ((self.per_decade_compute * compute_decades) ** 2
                 + (self.per_decade_ratio * ratio_decades) ** 2
                 + (self.per_decade_params * params_decades) ** 2
                 + (self.per_decade_epochs * epochs_decades) ** 2)
        beyond = max(compute_decades, ratio_decades, params_decades, epochs_decades) > 0
        return self.fold_factor * float(
            np.sqrt(grown + (self.held_out_log_sd ** 2 if beyond else 0.0)))

    def total_sd(self, compute_decades: float, ratio_decades: float,
                 params_decades: float = 0.0, epochs_decades: float = 0.0, *,
                 run_noise: bool = True) -> float:
        """What a forecast's statistical interval is widened by (log scale): the form's
        error :meth:`sd` and, for the loss one run will reach, its scatter, in quadrature,
        times ``tail_factor``."""
        sd = self.sd(compute_decades, ratio_decades, params_decades, epochs_decades)
        return self.tail_factor * (float(np.hypot(sd, self.noise_log_sd)) if run_noise else sd)


@dataclass(frozen=True)
class FormSummary:
    """Which form of the law was used and why, with every candidate's out-of-sample record
    as (form, folds, held-out runs, rms log error)."""

    form: str  # "full", "tied" or "given" (the user's own constraints)
    reason: str
    scores: tuple[tuple[str, int, int, float], ...]
    alternative: str | None = None  # the other candidate form, when there is one
    alternative_law: Law | None = None  # its point fit (a second opinion on N*, D*)


@dataclass(frozen=True)
class Model:
    """Point law, replicate laws (converged replicates only), and where they came from.

    ``warnings`` are the fit's own (identifiability, health, failed replicates); every
    forecast made from the model adds its own to its result.
    """

    law: Law
    samples: Array | None  # (R, 5): log E, log A, log B, alpha, beta
    source: str  # "runs", "preset:<name>" or "fit-file:<path>"
    flops_per_param_token: float
    inputs: InputSummary | None = None
    fit: FitSummary | None = None
    boot: BootstrapSummary | None = None
    warnings: tuple[str, ...] = ()
    runs: RunData | None = None
    form: FormSummary | None = None
    form_error: FormError | None = None

    @property
    def sample_law(self) -> Law | None:
        return None if self.samples is None else Law.from_theta(self.samples)

    @property
    def stacked_law(self) -> Law:
        """The point law in row 0 and every replicate law below it (see Law.stacked)."""
        return Law.stacked(self.law, self.sample_law)
