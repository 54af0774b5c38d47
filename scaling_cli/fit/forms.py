"""Which form of the law to trust on this ladder, and how wrong it is when it extrapolates.

*Forms.* ``full`` fits all five parameters; ``tied`` fits alpha = beta (four: the reduced
form of Gadre et al. 2024 and Muennighoff et al. 2023). Neither is right everywhere: on
real ladders each predicts held-out runs better on some and worse on others. With
``form="auto"`` (the default) both are scored on the ladder's own held-out folds
(:mod:`scaling_cli.fit.evidence`); the tied form is used when its out-of-sample log error
is at least ``SWITCH_MARGIN`` (10%) below the full form's, else the full form: the choice
and its evidence are reported. A form the runs cannot identify is not a
candidate; without any fold (too few runs) the fuller identifiable form is used and the
output says there was no evidence. ``form="full"`` or ``"tied"`` forces one, as do
explicit constraints (``fixed``, ``tie_exponents``).

*Form error.* A fitted form is wrong in ways its bootstrap cannot see: its error grows with
how far a forecast reaches beyond the runs. On the log scale it is modelled as

    sigma_form(u)^2 = (a_c u_c)^2 + (a_r u_r)^2 + (a_n u_n)^2 + (a_e u_e)^2
                      + level^2 (beyond the runs),

u_c, u_r, u_n, u_e the decades of compute, tokens per parameter, model size and epochs of
repeated data beyond the fitted runs (0 inside). :func:`form_error` estimates the
per-decade scales from the chosen form's held-out errors (non-negative least squares of
e^2 - s^2, s the fold fit's bootstrap sd), shrinks each toward ``PRIOR_PER_DECADE`` and
``PRIOR_PER_DECADE_EPOCHS`` (what public ladders show) by the reach the folds
covered, and keeps what neither explains as the level. sigma_noise, a run's own scatter, is
at least 1.4826 times the median absolute log residual of the fit. :func:`tail_factor` then
scales form error and scatter together until the nominal-95% interval holds the ladder's
own held-out runs at the conformal rank: the moments above miss heavy tails. Last, the
form error (not the scatter) is widened by t_0.975(k) / z_0.975 for scales estimated from k
held-out folds (:attr:`~scaling_cli.model.FormError.fold_factor`: x1.31 for 5 folds): the
runs of one fold share one fold fit, so the scales rest on k draws, not on as many runs.
Measured on the real ladders of ``benchmarks/honesty`` (163 splits): ladders below 90%
coverage 6 -> 3, pooled 93% -> 95%, the multi-epoch split 85% -> 90%; on ladders of the
fitted form the total interval stays within 1.44x the bootstrap-plus-scatter width
(benchmarks/README.md, "Honesty on real ladders").

*Over-training bias.* Above the runs' tokens per parameter the form errs one way on real
ladders (over-trained runs come out worse than forecast). :func:`over_bias` measures the
slope per decade from the held-out runs that reached above their fold's ratios, shrunk
toward none; loss forecasts above the fitted ratios are multiplied by exp(b u)
(:meth:`~scaling_cli.model.FormError.over_correction`). The scales above are fitted to the
uncorrected errors (the slope is an estimate; its error stays in the interval); the tail
factor judges the runs as the corrected forecasts met them.

*Degenerate fits.* Where the point fit has a parameter on its bound or a vanished term
(``at_least_prior``), the runs do not identify the law and its folds' small errors cannot
vouch for its extrapolation: each per-decade scale is at least the prior's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import FitError, UsageError
from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.evidence import HeldOut, Score, folds, score
from scaling_cli.fit.health import check_identifiable
from scaling_cli.fit.objective import Data
from scaling_cli.fit.processes import beside_batches
from scaling_cli.fit.search import FitResult, SearchSettings, fit_law
from scaling_cli.fit.settings import FORMS
from scaling_cli.model import PRIOR_PER_DECADE, PRIOR_PER_DECADE_EPOCHS, FormError, RunData

__all__ = [
    "FORMS",
    "FORM_CONSTRAINTS",
    "FormChoice",
    "candidate_forms",
    "choose_form",
    "form_error",
    "nnls_small",
    "tail_factor",
]

FLOOR_PER_DECADE = 0.003  # the least per decade a direction the ladder tested is credited with
PRIOR_WEIGHT_DECADES2 = 4.0  # the prior counts as much as held-out runs summing to 4 decades^2
TAIL_LEVEL = 0.95  # the level the tail factor calibrates the total interval to
TAIL_Z = 1.959963984540054  # its normal quantile
MAX_TAIL_FACTOR = 3.0  # a ladder whose held-out runs need more says so by its wide intervals
SWITCH_MARGIN = 0.10  # the tied form must beat the full one out of sample by this share
MIN_POINTS_PER_AXIS = 8  # held-out runs that reach along an axis before it is estimated
BIAS_PRIOR_DECADES2 = 1.0  # no over-training bias counts as much as runs summing to 1 decade^2
Array = npt.NDArray[np.float64]
FORM_CONSTRAINTS = {"full": Constraints(), "tied": Constraints(tie_exponents=True)}


@dataclass(frozen=True)
class FormChoice:
    """The form used, why, and what the other candidates scored."""

    form: str  # "full", "tied" or "given" (the user's own constraints)
    constraints: Constraints
    reason: str
    scores: tuple[Score, ...]  # out-of-sample record of every candidate form
    # each candidate form fitted to every run the evidence was measured on
    fits: Mapping[str, FitResult] = field(default_factory=dict, compare=False, repr=False)

    def score_of(self, form: str) -> Score | None:
        return next((s for s in self.scores if s.form == form), None)


def candidate_forms(runs: RunData, form: str = "auto",
                    given: Constraints | None = None) -> dict[str, Constraints]:
    """The forms ``form`` asks to score on these runs (auto: each one they identify)."""
    given = given or Constraints()
    if not given.is_free:
        return {"given": given}
    if form not in FORMS:
        raise UsageError(f"{form!r}: use auto, full or tied", field="form")
    if form != "auto":
        return {form: FORM_CONSTRAINTS[form]}
    out = {}
    for name, c in FORM_CONSTRAINTS.items():
        try:
            check_identifiable(runs.params.tolist(), runs.tokens.tolist(), c)
        except FitError:
            continue
        out[name] = c
    return out


def choose_form(runs: RunData, *, form: str = "auto", given: Constraints | None = None,
                settings: SearchSettings | None = None,
                fits: Mapping[str, Callable[[], FitResult]] | None = None,
                workers: int = 1) -> FormChoice:
    """Score the candidate forms on held-out folds and pick the better (module doc).
    ``fits``: how to get candidate forms' fits to all of ``runs`` made elsewhere (e.g. in
    another process: those forms are scored last, so the others' work hides the wait);
    the rest are fitted here. Each form's fold fits start from its fit. With ``workers``
    >= 2 the second form is fitted and scored in a forked process beside the first (the
    same results)."""
    settings = settings or SearchSettings()
    candidates = candidate_forms(runs, form, given)
    if not candidates:  # neither identifiable: the full form's error says what is missing
        check_identifiable(runs.params.tolist(), runs.tokens.tolist(), Constraints())
    data = Data.from_arrays(runs.params, runs.tokens, runs.loss)

    def fit_and_score(name: str) -> tuple[FitResult, Score]:
        c = candidates[name]
        made = (fits or {}).get(name)
        fit = made() if made is not None else fit_law(data, settings=settings, constraints=c)
        return fit, score(name, runs, fit, folds(runs, c))

    names = list(candidates)
    if workers >= 2 and len(names) == 2:
        first, second = beside_batches(lambda: fit_and_score(names[0]), fit_and_score,
                                       names[1:], join=lambda _: True)
        done = dict(zip(names, [first, *(second or [])], strict=True))
    else:  # forms fitted elsewhere last (a stable sort: the same order otherwise)
        done = {name: fit_and_score(name)
                for name in sorted(names, key=lambda name: name in (fits or {}))}
    fitted = {name: done[name][0] for name in names}
    scores = tuple(done[name][1] for name in names)
    if len(candidates) == 1:
        name = next(iter(candidates))
        why = ("the form asked for" if form != "auto" or name == "given" else
               "the only form these runs identify")
        return FormChoice(name, candidates[name], why, scores, fitted)
    scored = [s for s in scores if s.folds > 0]
    if not scored:
        return FormChoice("full", candidates["full"], "no held-out fold is possible with "
                          "these runs, so no evidence: the full form", scores, fitted)
    # The reduced form replaces the full one only when it predicts held-out runs clearly
    # better: a few percent either way is the noise of which runs the folds held out.
    full = next((s for s in scored if s.form == "full"), None)
    best = min(scored, key=lambda s: s.rmse_log * (1.0 if s.form == "full" else
                                                    1.0 / (1.0 - SWITCH_MARGIN)))
    if full is not None and best is not full and not best.rmse_log < (
            1.0 - SWITCH_MARGIN) * full.rmse_log:
        best = full
    other = [s for s in scored if s is not best]
    lower = all(best.rmse_log <= s.rmse_log for s in other)
    why = ((f"lower out-of-sample error on {best.folds} held-out folds ({best.points} runs)"
            if lower else f"kept: the tied form's out-of-sample error on {best.folds} held-out "
            f"folds ({best.points} runs) is not {SWITCH_MARGIN:.0%} lower")
           + f": rms log error {best.rmse_log:.4f}"
           + "".join(f" vs {s.rmse_log:.4f} {s.form}" for s in other))
    return FormChoice(best.form, candidates[best.form], why, scores, fitted)


def nnls_small(design: npt.NDArray[np.float64],
               target: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """argmin ||design x - target|| subject to x >= 0, exactly, for a few columns: the
    optimum is the unconstrained least-squares fit on some subset of the columns (its
    active set), so try every subset (2^k, k <= 5 here) and keep the best feasible one.
    (No scipy import: this runs on every fit, and scipy.optimize costs 0.7 s to import.)"""
    k = design.shape[1]
    best, best_sse = np.zeros(k), float(np.sum(target**2))
    for mask in range(1, 2**k):
        cols = [j for j in range(k) if mask >> j & 1]
        x, *_ = np.linalg.lstsq(design[:, cols], target, rcond=None)
        if np.all(x >= 0):
            full = np.zeros(k)
            full[cols] = x
            sse = float(np.sum((design @ full - target) ** 2))
            if sse < best_sse:
                best, best_sse = full, sse
    return best


def form_error(held_out: tuple[HeldOut, ...], noise_log_sd: float,
               fold_count: int = 0, *, at_least_prior: bool = False) -> FormError:
    """The per-decade form error and the out-of-sample noise from held-out errors of
    ``fold_count`` held-out folds (their count sets :attr:`FormError.fold_factor`).

    Non-negative least squares of what the fold fits' bootstraps do not explain,

        e^2 - s^2  ~  sigma_noise^2 + a_c^2 u_c^2 + a_r^2 u_r^2 + a_n^2 u_n^2 + a_e^2 u_e^2,

    on the held-out runs (an axis enters only when MIN_POINTS_PER_AXIS of them reach along
    it). sigma_noise is at least ``noise_log_sd`` (the fit's in-sample scatter); a tested
    axis is credited with at least FLOOR_PER_DECADE (at least the prior with
    ``at_least_prior``: a degenerate point fit), an untested one with the prior.
    """
    prior = dict(zip(("compute", "ratio", "params"), PRIOR_PER_DECADE, strict=True))
    prior["epochs"] = PRIOR_PER_DECADE_EPOCHS
    if not held_out:
        return FormError.prior(noise_log_sd)
    e = np.array([h.log_error for h in held_out])
    s = np.array([h.stat_log_sd for h in held_out])
    over = np.array([h.over_decades for h in held_out])
    bias = over_bias(held_out)
    axes = {"compute": np.array([h.compute_decades for h in held_out]),
            "ratio": np.array([h.ratio_decades for h in held_out]),
            "params": np.array([h.params_decades for h in held_out]),
            "epochs": np.array([h.epochs_decades for h in held_out])}
    tested = [name for name, u in axes.items() if (u > 0.05).sum() >= MIN_POINTS_PER_AXIS]
    design = np.column_stack([np.ones(e.size), *(axes[name] ** 2 for name in tested)])
    excess = e**2 - s**2
    coef = nnls_small(design, excess)
    noise = max(noise_log_sd, float(np.sqrt(coef[0])))
    estimate = dict(prior)
    for name, c in zip(tested, coef[1:], strict=True):
        # Shrink toward the prior by the reach the folds covered: a few runs half a decade
        # out cannot tell a steep growth from a bad fold (one 14-run fold fit can miss by
        # 12% at 0.3 decades); a ladder whose folds reach far speaks for itself.
        weight = float(np.sum(axes[name] ** 2))
        shrunk = (weight * np.sqrt(c) + PRIOR_WEIGHT_DECADES2 * prior[name]) / (
            weight + PRIOR_WEIGHT_DECADES2)
        estimate[name] = max(prior[name] if at_least_prior else FLOOR_PER_DECADE,
                             float(shrunk))
    # The level the held-out runs missed by that neither the bootstrap, a run's scatter nor
    # the (shrunk) growth explains: every forecast beyond the runs carries it.
    grown = sum(estimate[name] ** 2 * axes[name] ** 2 for name in axes)
    unexplained = float(np.sqrt(max(0.0, float(np.mean(excess - grown)) - noise**2)))
    error = FormError(estimate["compute"], estimate["ratio"], estimate["params"], noise,
                      "ladder" if tested else "prior", len(held_out), unexplained,
                      per_decade_epochs=estimate["epochs"], over_bias_per_decade=bias)
    # the tail factor calibrates the shape the folds showed; the fold factor (set after it,
    # so not absorbed by it) the uncertainty of scales estimated from that few folds
    left = e - bias * over
    return replace(error, tail_factor=tail_factor(error, left, s, axes), folds=fold_count)


def over_bias(held_out: tuple[HeldOut, ...]) -> float:
    """The held-out log error per decade of tokens per parameter above the fold's training
    runs (> 0: the form forecast over-trained runs too low), by least squares through the
    origin shrunk toward no bias by ``BIAS_PRIOR_DECADES2``:

        b = sum(e_i u_i) / (sum(u_i^2) + W),

    u_i the decades held-out run i lay above its fold's most tokens per parameter; 0 unless
    MIN_POINTS_PER_AXIS held-out runs reach 0.05 decades or more above."""
    u = np.array([h.over_decades for h in held_out])
    if (u > 0.05).sum() < MIN_POINTS_PER_AXIS:
        return 0.0
    e = np.array([h.log_error for h in held_out])
    return float(np.sum(e * u) / (np.sum(u * u) + BIAS_PRIOR_DECADES2))


def tail_factor(error: FormError, log_errors: Array, stat_sd: Array,
                axes: dict[str, Array]) -> float:
    """The least f >= 1 for which the nominal-95% total interval holds the ladder's own
    held-out runs at the conformal rank: with g_i = ``error.total_sd`` at run i's reach
    (f = 1) and s_i its fold's bootstrap sd, run i is held when
    |e_i| <= z sqrt(s_i^2 + f^2 g_i^2), i.e. f >= f_i = sqrt((e_i / z)^2 - s_i^2) / g_i;
    f is the ceil(0.95 (n + 1))-th smallest f_i (the largest when n < 19), capped at
    ``MAX_TAIL_FACTOR``. The per-decade scales above are fitted to the errors' mean square;
    this is what their tails add (real ladders' held-out errors are heavier-tailed than
    normal: a few runs that the form misfits by 10-30%)."""
    n = log_errors.size
    if n == 0:
        return 1.0
    epochs = axes.get("epochs", np.zeros(n))  # (no repeated data: no epochs axis)
    g = np.array([error.total_sd(c, r, p, e) for c, r, p, e in
                  zip(axes["compute"], axes["ratio"], axes["params"], epochs, strict=True)])
    needed = np.sqrt(np.maximum((log_errors / TAIL_Z) ** 2 - stat_sd**2, 0.0))
    f = np.where(g > 0, needed / np.where(g > 0, g, 1.0), np.where(needed > 0, np.inf, 0.0))
    rank = min(n, math.ceil(TAIL_LEVEL * (n + 1)))
    return float(min(MAX_TAIL_FACTOR, max(1.0, np.sort(f)[rank - 1])))
