"""Calibration study: do the tool's nominal 80% / 95% bootstrap intervals cover the truth?

Each *ladder* draws a true law and a design, simulates losses

    L_i = L_true(N_i, D_i) * exp(eps_i),     eps_i ~ N(0, sigma^2),

runs the tool's global fit (:func:`scaling_cli.fit.search.fit_law`, default settings, as
``scaling fit`` does) and its bootstrap (:func:`scaling_cli.fit.bootstrap.bootstrap`), and
records, for every interval *method* (a resampling scheme x an interval construction from
the list below), whether the interval covers the true value of

    E, A, B, alpha, beta,   N*, D*, L(N*, D*) at C = 100 x the largest run's 6 N D.

Empirical coverage over ladders is reported with its Monte-Carlo standard error
sqrt(p (1 - p) / ladders). Ladders whose fit the tool would refuse (optimum not verified)
are counted and left out: the tool prints no interval for them.

Truth per ladder: alpha, beta ~ U(0.25, 0.45); E ~ U(1.5, 2.3); A and B set so that the
A and B terms are U(0.3, 1.5) nats at N = 1e8 and D = 2e9. Designs:

* isoflop: budgets 1e17 ... 1e20 (log-spaced); at each, ``k`` sizes from one shared
  log grid of model sizes (step 1.2 / (k - 1) decades) centred on the true optimum
  times a per-ladder misguess of 10^U(-0.3, 0.3); D = C / (6 N);
* grid: ``k`` sizes 10^7 ... 10^9 x ``m`` token counts 10^8.7 ... 10^11 (x the misguess).

Resampling schemes (``--schemes``):

* ``run``: runs with replacement (the tool's default); ``size``: whole model sizes with
  replacement (``--resample-by group`` with group = N);
* ``residual``: fixed design, new losses log L*_i = log Lhat_i + e*_i with e* drawn with
  replacement from the centred residuals, inflated by sqrt(n / (n - 5));
* ``wild``: fixed design, e*_i = (log L_i - log Lhat_i) v_i with Rademacher v_i = +/-1.

The two fixed-design schemes refit each replicate as the tool's bootstrap does (Newton
from the full-data optimum and the replicate's two best screened candidates, the complete
global fit when none converges).

Interval constructions, for a quantity with estimate t, replicates t*_1..R and
t = (1 - confidence) / 2; Q(q) is the q-quantile of the replicates, Phi the normal cdf:

* percentile  [Q(t), Q(1 - t)]                      (the tool's, Efron 1979)
* basic       [2 t - Q(1 - t), 2 t - Q(t)], on log t for positive quantities
* BC          [Q(Phi(2 z0 + z_t)), Q(Phi(2 z0 + z_(1-t)))],
              z0 = Phi^-1(#{t* < t} / R + #{t* = t} / 2R)
* BCa         Q(Phi(z0 + (z0 + z) / (1 - a (z0 + z)))) for z = z_t, z_(1-t), with the
              jackknife acceleration a = sum u^3 / (6 (sum u^2)^1.5), u_i = mean(t_()) -
              t_(i), each run (or size) left out once and refitted by Newton from the
              full-data optimum (Efron 1987; DiCiccio & Efron 1996, eq. 6.6)

Run:  python benchmarks/calibration.py                  (full study, see benchmarks/README.md)
      python benchmarks/calibration.py --quick          (~2 minutes on an idle core)
      --schemes run,size,residual,wild adds the other schemes (each costs 1-3x "run");
      --save FILE.npz keeps every ladder's replicates, --load FILE.npz re-tabulates them.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    # One BLAS thread, set before numpy loads: the machine is shared and every matrix here
    # is small (see the Speed section of benchmarks/README.md).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.bootstrap import bootstrap
from scaling_cli.fit.newton import polish
from scaling_cli.fit.objective import Data, huber, residuals
from scaling_cli.fit.search import FitResult, fit_law
from scaling_cli.forecast.intervals import percentile_interval
from scaling_cli.law import Law, optimal_allocation, predict_loss

Array = npt.NDArray[np.float64]

QUANTITIES = ("E", "A", "B", "alpha", "beta", "N*", "D*", "L*")
POSITIVE = np.array([True, True, True, False, False, True, True, True])
FORECAST = (5, 6, 7)  # N*, D*, L*: the quantities with the +/-5 point target
LEVELS = (0.80, 0.95)
EXTRAPOLATION = 100.0  # target budget = this x the largest run's compute


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    design: str  # "isoflop" or "grid"
    shape: tuple[int, int]  # (budgets, sizes per budget) or (sizes, token counts)
    sigma: float  # noise sd of log loss

    @property
    def runs(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def name(self) -> str:
        return f"{self.design} {self.runs} runs, {100 * self.sigma:g}% noise"


FULL = (
    Scenario("isoflop", (5, 5), 0.005),
    Scenario("isoflop", (5, 5), 0.02),
    Scenario("isoflop", (6, 8), 0.01),
    Scenario("isoflop", (6, 8), 0.03),
    Scenario("isoflop", (8, 12), 0.02),
    Scenario("isoflop", (12, 25), 0.01),
    Scenario("isoflop", (12, 25), 0.03),
    Scenario("grid", (5, 5), 0.01),
    Scenario("grid", (7, 7), 0.02),
    Scenario("grid", (10, 10), 0.005),
    Scenario("grid", (10, 10), 0.03),
    Scenario("grid", (15, 20), 0.02),
)
QUICK = (FULL[1], FULL[4], FULL[8], FULL[10])


def draw_truth(rng: np.random.Generator) -> Law:
    alpha, beta = rng.uniform(0.25, 0.45, 2)
    a_term, b_term = rng.uniform(0.3, 1.5, 2)
    return Law(float(rng.uniform(1.5, 2.3)), float(a_term * 1e8**alpha),
               float(b_term * 2e9**beta), float(alpha), float(beta))


def design(scenario: Scenario, truth: Law, rng: np.random.Generator) -> tuple[Array, Array]:
    """(N, D) of the ladder's runs."""
    miss = rng.uniform(-0.3, 0.3)  # the practitioner's misguess of the optimum, decades
    a, b = scenario.shape
    if scenario.design == "grid":
        nn, dd = np.meshgrid(np.logspace(7.0 + miss, 9.0 + miss, a),
                             np.logspace(8.7 + miss, 11.0 + miss, b), indexing="ij")
        return nn.ravel(), dd.ravel()
    step = 1.2 / (b - 1)
    ns, ds = [], []
    for c in np.logspace(17, 20, a):
        centre = math.log10(float(optimal_allocation(truth, c).params)) + miss
        first = round(centre / step - (b - 1) / 2)
        n = 10.0 ** (step * np.arange(first, first + b))
        ns.append(n)
        ds.append(c / (6 * n))
    return np.concatenate(ns), np.concatenate(ds)


def quantities(law: Law, budget: float) -> Array:
    """(R, 8) values of E, A, B, alpha, beta, N*, D*, L* for replicate laws, (8,) for one."""
    single = np.ndim(law.E) == 0
    col = Law(*(np.atleast_1d(np.asarray(v, dtype=float))[:, None]
                for v in (law.E, law.A, law.B, law.alpha, law.beta)))
    with np.errstate(invalid="ignore"):  # NaN rows: failed jackknife refits
        opt = optimal_allocation(col, np.array([[budget]]))
    out = np.column_stack([col.E[:, 0], col.A[:, 0], col.B[:, 0], col.alpha[:, 0],
                           col.beta[:, 0], opt.params[:, 0], opt.tokens[:, 0], opt.loss[:, 0]])
    return out[0] if single else out


# --------------------------------------------------------------------------- one ladder


@dataclass(frozen=True)
class Ladder:
    """One simulated ladder: truth, point estimate, and each scheme's replicate values."""

    scenario: int  # index into the study's scenarios
    verified: bool
    truth: Array  # (8,)
    point: Array  # (8,)
    replicates: dict[str, Array]  # scheme -> (R, 8), converged replicates only
    jackknife: dict[str, Array]  # scheme -> (units, 8), NaN rows where a refit failed
    failed: dict[str, int]  # scheme -> replicates with no converged start


def _jackknife_theta(data: Data, fit: FitResult, unit: npt.NDArray[np.intp]) -> Array:
    """Leave-one-unit-out optima: Newton from the full-data optimum (NaN if not converged)."""
    n_units = int(unit.max()) + 1
    weights = (unit[None, :] != np.arange(n_units)[:, None]).astype(float)
    res = polish(np.repeat(fit.theta[None], n_units, axis=0), data, weights,
                 delta=fit.delta)
    theta = res.theta.copy()
    theta[~res.converged] = np.nan
    return theta


def simulate(scenario: Scenario, rng: np.random.Generator) -> tuple[Law, Array, Array, Array]:
    truth = draw_truth(rng)
    n, d = design(scenario, truth, rng)
    loss = predict_loss(truth, n, d) * np.exp(rng.normal(0.0, scenario.sigma, n.size))
    return truth, n, d, loss


def _refit(data: Data, fit: FitResult, log_loss: Array) -> Array:
    """Optima (R, 5) for new losses on the same design, found as the tool's bootstrap finds
    a replicate's: screen the full-data candidates, Newton from the full-data optimum and
    the two best, the complete global fit when no start converges (NaN if that fails too)."""
    cands = np.vstack([fit.basins, fit.candidates[:256]])
    screened = residuals(cands, data)  # (C, n): residuals for the observed losses
    out = np.full((len(log_loss), 5), np.nan)
    for r, y in enumerate(log_loss):
        new = Data(data.log_n, data.log_d, y)
        f = huber(screened + (data.log_l - y), fit.delta).sum(axis=1)
        starts = np.vstack([fit.theta[None], cands[np.argsort(f, kind="stable")[:2]]])
        res = polish(starts, new, np.ones(len(y)), delta=fit.delta, max_iter=60)
        obj = np.where(res.converged, res.objective, np.inf)
        if np.isfinite(obj).any():
            out[r] = res.theta[np.argmin(obj)]
            continue
        full = fit_law(new)
        if full.starts_converged:
            out[r] = full.theta
    return out


def fixed_design_losses(fit: FitResult, log_loss: Array, scheme: str, replicates: int,
                        rng: np.random.Generator) -> Array:
    """(R, n) new log losses: fitted + resampled residuals, or fitted + wild residuals."""
    n = log_loss.size
    fitted = log_loss + fit.residuals  # residuals are log L_pred - log L_obs
    if scheme == "residual":
        pool = (np.median(fit.residuals) - fit.residuals) * math.sqrt(n / (n - 5))
        return np.asarray(fitted + pool[rng.integers(0, n, size=(replicates, n))])
    signs = rng.choice([-1.0, 1.0], size=(replicates, n))
    return np.asarray(fitted - fit.residuals * signs)


def run_ladder(scenarios: Sequence[Scenario], index: int, replicates: int, seed: int,
               schemes: Sequence[str]) -> Ladder:
    rng = np.random.default_rng(seed)
    truth, n, d, loss = simulate(scenarios[index], rng)
    data = Data.from_arrays(n, d, loss)
    fit = fit_law(data)
    budget = EXTRAPOLATION * float(np.max(6 * n * d))
    boot_seed = int(rng.integers(2**31))
    reps, jack, failed = {}, {}, {}
    for scheme in schemes if fit.verified else ():
        groups = [f"{x:.6e}" for x in n] if scheme == "size" else None
        if scheme in ("run", "size"):
            boot = bootstrap(data, fit, replicates=replicates, seed=boot_seed, groups=groups)
            theta, failed[scheme] = boot.good, boot.failed
        else:
            new = fixed_design_losses(fit, data.log_l, scheme, replicates,
                                      np.random.default_rng(boot_seed))
            all_theta = _refit(data, fit, new)
            ok = np.isfinite(all_theta[:, 0])
            theta, failed[scheme] = all_theta[ok], int((~ok).sum())
        unit = (np.arange(len(data)) if groups is None
                else np.unique(np.asarray(groups), return_inverse=True)[1])
        reps[scheme] = quantities(Law.from_theta(theta), budget)
        jack[scheme] = quantities(Law.from_theta(_jackknife_theta(data, fit, unit)), budget)
    return Ladder(index, fit.verified, quantities(truth, budget), quantities(fit.law, budget),
                  reps, jack, failed)


def ladder_seed(seed: int, scenario_index: int, ladder: int) -> int:
    ss = np.random.SeedSequence(seed, spawn_key=(scenario_index, ladder))
    return int(ss.generate_state(1)[0])


def run_study(scenarios: Sequence[Scenario], ladders: int, replicates: int, seed: int,
              schemes: Sequence[str] = ("run",),
              progress: Callable[[str], None] | None = None) -> list[Ladder]:
    out: list[Ladder] = []
    start = time.perf_counter()
    for si, scenario in enumerate(scenarios):
        for i in range(ladders):
            out.append(run_ladder(scenarios, si, replicates, ladder_seed(seed, si, i), schemes))
        if progress is not None:
            progress(f"[{si + 1}/{len(scenarios)}] {scenario.name}: {ladders} ladders, "
                     f"{time.perf_counter() - start:.0f} s elapsed")
    return out


# --------------------------------------------------------------------------- methods

_NORMAL = NormalDist()


def basic_interval(point: float, reps: Array, confidence: float,
                   log: bool) -> tuple[float, float]:
    """[2 t - Q(1 - tail), 2 t - Q(tail)], reflected on log t when ``log``."""
    if log:
        low, high = basic_interval(math.log(point), np.log(reps), confidence, False)
        return math.exp(low), math.exp(high)
    q_low, q_high = percentile_interval(reps, confidence)
    return 2 * point - q_high, 2 * point - q_low


def bias_correction(point: float, reps: Array) -> float:
    """z0 = Phi^-1(share of replicates below t, ties half), clipped to [1/2R, 1 - 1/2R]."""
    below = (np.count_nonzero(reps < point) + 0.5 * np.count_nonzero(reps == point)) / reps.size
    edge = 0.5 / reps.size
    return _NORMAL.inv_cdf(min(max(below, edge), 1 - edge))


def acceleration(jackknife: Array) -> float:
    """a = sum u^3 / (6 (sum u^2)^1.5), u_i = mean - t_(i); 0 if the values do not vary."""
    j = jackknife[np.isfinite(jackknife)]
    u = j.mean() - j if j.size >= 3 else np.zeros(1)
    scale = float(np.abs(u).max())
    if not scale > 0:
        return 0.0
    u = u / scale  # a is scale-free; this keeps u^3 and (sum u^2)^1.5 representable
    return float(np.sum(u**3) / (6 * float(np.sum(u * u)) ** 1.5))


def bca_interval(point: float, reps: Array, confidence: float,
                 jackknife: Array | None = None) -> tuple[float, float]:
    """BCa interval (BC without ``jackknife``): quantiles at the adjusted probabilities."""
    z0 = bias_correction(point, reps)
    a = 0.0 if jackknife is None else acceleration(jackknife)
    tail = (1 - confidence) / 2
    probs = []
    for z in (_NORMAL.inv_cdf(tail), _NORMAL.inv_cdf(1 - tail)):
        denom = 1 - a * (z0 + z)
        # A huge |a| flips the denominator: the adjustment broke down; take the extreme.
        probs.append(_NORMAL.cdf(z0 + (z0 + z) / denom) if denom > 0 else float(z > 0))
    low, high = np.quantile(reps, probs)
    return float(low), float(high)


Construction = Callable[[float, Array, Array, float, bool], tuple[float, float]]

CONSTRUCTIONS: dict[str, Construction] = {
    "percentile": lambda p, r, j, c, pos: percentile_interval(r, c),
    "basic": lambda p, r, j, c, pos: basic_interval(p, r, c, pos),
    "BC": lambda p, r, j, c, pos: bca_interval(p, r, c),
    "BCa": lambda p, r, j, c, pos: bca_interval(p, r, c, j),
}
SCHEMES = ("run", "size", "residual", "wild")


def evaluate_method(ladder: Ladder, method: tuple[str, str]) -> tuple[Array, Array]:
    """(levels, 8) covered flags and interval widths (log(high/low) for positive
    quantities, high - low for the exponents)."""
    scheme, construction = method
    make = CONSTRUCTIONS[construction]
    covered = np.zeros((len(LEVELS), len(QUANTITIES)))
    width = np.full((len(LEVELS), len(QUANTITIES)), np.nan)
    reps, jack = ladder.replicates[scheme], ladder.jackknife[scheme]
    if reps.shape[0] == 0:  # every replicate failed: no interval, nothing covered
        return covered, width
    for li, level in enumerate(LEVELS):
        for q, positive in enumerate(POSITIVE):
            low, high = make(float(ladder.point[q]), reps[:, q], jack[:, q], level,
                             bool(positive))
            covered[li, q] = low <= ladder.truth[q] <= high
            if positive and low > 0:
                width[li, q] = math.log(high / low)
            elif not positive:
                width[li, q] = high - low
    return covered, width


@dataclass(frozen=True)
class Coverage:
    ladders: int
    refused: int
    coverage: Array  # (levels, 8)
    stderr: Array  # (levels, 8)
    width: Array  # (levels, 8) median width


def summarise(ladders: Sequence[Ladder], method: tuple[str, str]) -> Coverage:
    used = [lad for lad in ladders if lad.verified]
    if not used:
        nan = np.full((len(LEVELS), len(QUANTITIES)), np.nan)
        return Coverage(0, len(ladders), nan, nan, nan)
    results = [evaluate_method(lad, method) for lad in used]
    p = np.mean([c for c, _ in results], axis=0)
    return Coverage(len(used), len(ladders) - len(used), p,
                    np.sqrt(p * (1 - p) / len(used)),
                    np.nanmedian([w for _, w in results], axis=0))


# --------------------------------------------------------------------------- tables


def _cell(p: float, se: float) -> str:
    return f"{100 * p:.0f} ± {100 * se:.0f}"


def table_methods(ladders: Sequence[Ladder], methods: Sequence[tuple[str, str]]) -> str:
    """Coverage pooled over every ladder of every scenario, one row per method."""
    cols = [f"{q} {100 * lv:.0f}%" for q in ("N*", "D*", "L*") for lv in LEVELS]
    cols += [f"{q} 95%" for q in QUANTITIES[:5]] + ["N* 95% width"]
    lines = ["| resample by | interval | " + " | ".join(cols) + " |",
             "| --- | --- |" + " ---: |" * len(cols)]
    for method in methods:
        s = summarise(ladders, method)
        cells = [_cell(s.coverage[li, q], s.stderr[li, q])
                 for q in FORECAST for li in range(len(LEVELS))]
        cells += [_cell(s.coverage[1, q], s.stderr[1, q]) for q in range(5)]
        cells.append(f"{math.exp(s.width[1, 5]):.2f}x")
        lines.append(f"| {method[0]} | {method[1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_scenarios(ladders: Sequence[Ladder], scenarios: Sequence[Scenario],
                    methods: Sequence[tuple[str, str]]) -> str:
    """Per scenario: coverage of N*, D*, L* at 80% / 95% for each method, and widths."""
    head = ["scenario", "ladders (refused)", "method"]
    head += [f"{q} {100 * lv:.0f}%" for q in ("N*", "D*", "L*") for lv in LEVELS]
    head += ["N* 95% width", "L* 95% width"]
    lines = ["| " + " | ".join(head) + " |", "| --- | ---: | --- |" + " ---: |" * 8]
    for si, scenario in enumerate(scenarios):
        mine = [lad for lad in ladders if lad.scenario == si]
        for method in methods:
            s = summarise(mine, method)
            cells = [_cell(s.coverage[li, q], s.stderr[li, q])
                     for q in FORECAST for li in range(len(LEVELS))]
            lines.append(f"| {scenario.name} | {s.ladders} ({s.refused}) | "
                         f"{method[0]} {method[1]} | " + " | ".join(cells)
                         + f" | {math.exp(s.width[1, 5]):.2f}x"
                         + f" | {100 * math.expm1(s.width[1, 7]):.1f}% |")
    return "\n".join(lines)


def table_diagnostics(ladders: Sequence[Ladder], schemes: Sequence[str]) -> str:
    """Why the constructions behave as they do, per scheme, for N* and L*:

    * the share of ladders whose truth lies in the central 50% of the replicates (50% if
      the replicates spread like the estimator does; more if they spread too widely);
    * how often the truth lies above the estimate when BC's z0 > 0.2 (the replicates lie
      mostly below the estimate, which BC reads as an estimator biased low, so it moves the
      interval up) and when z0 < -0.2: BC helps only if these are above and below 50%.
    """
    lines = ["| resample by | quantity | truth in central 50% of replicates | "
             "truth above estimate when z0 > 0.2 | ... when z0 < -0.2 |",
             "| --- | --- | ---: | ---: | ---: |"]
    used = [lad for lad in ladders if lad.verified]
    for scheme in schemes:
        for q in (5, 7):
            inner, up_pos, up_neg = [], [], []
            for lad in used:
                reps = lad.replicates[scheme][:, q]
                if reps.size == 0:
                    continue
                lo, hi = np.quantile(reps, [0.25, 0.75])
                inner.append(lo <= lad.truth[q] <= hi)
                z0 = bias_correction(float(lad.point[q]), reps)
                above = lad.truth[q] > lad.point[q]
                if z0 > 0.2:
                    up_pos.append(above)
                elif z0 < -0.2:
                    up_neg.append(above)
            cells = [f"{100 * np.mean(v):.0f}% (of {len(v)})" if v else "–"
                     for v in (inner, up_pos, up_neg)]
            lines.append(f"| {scheme} | {QUANTITIES[q]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- cache


def save(path: Path, ladders: Sequence[Ladder], meta: dict[str, object]) -> None:
    arrays: dict[str, npt.ArrayLike] = {"meta": np.array(repr(meta))}
    for i, lad in enumerate(ladders):
        arrays[f"{i}/head"] = np.concatenate([[lad.scenario, lad.verified], lad.truth,
                                              lad.point])
        for scheme in lad.replicates:
            arrays[f"{i}/rep/{scheme}"] = lad.replicates[scheme]
            arrays[f"{i}/jack/{scheme}"] = lad.jackknife[scheme]
            arrays[f"{i}/failed/{scheme}"] = np.array(lad.failed[scheme])
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def load(path: Path) -> tuple[list[Ladder], dict[str, object]]:
    import ast

    with np.load(path) as z:
        meta = ast.literal_eval(str(z["meta"]))
        keys = set(z.files)
        out = []
        i = 0
        while f"{i}/head" in keys:
            head = z[f"{i}/head"]
            schemes = [k.rsplit("/", 1)[1] for k in keys if k.startswith(f"{i}/rep/")]
            out.append(Ladder(int(head[0]), bool(head[1]), head[2:10], head[10:18],
                              {s: z[f"{i}/rep/{s}"] for s in schemes},
                              {s: z[f"{i}/jack/{s}"] for s in schemes},
                              {s: int(z[f"{i}/failed/{s}"]) for s in schemes}))
            i += 1
    return out, meta


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="4 scenarios x 15 ladders x 200 replicates")
    parser.add_argument("--ladders", type=int, help="ladders per scenario (full: 80)")
    parser.add_argument("--replicates", type=int, help="bootstrap replicates (full: 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schemes", default="run",
                        help=f"comma list of {', '.join(SCHEMES)} (default: run)")
    parser.add_argument("--save", type=Path, help="keep every ladder's replicates (.npz)")
    parser.add_argument("--load", type=Path, help="tabulate a saved study instead")
    args = parser.parse_args(argv)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.load:
        ladders, meta = load(args.load)
        scenarios = FULL if meta["scenarios"] == "full" else QUICK
    else:
        scenarios = QUICK if args.quick else FULL
        meta = {"scenarios": "quick" if args.quick else "full",
                "ladders": args.ladders or (15 if args.quick else 80),
                "replicates": args.replicates or (200 if args.quick else 300),
                "seed": args.seed, "schemes": args.schemes}
        schemes = tuple(s.strip() for s in args.schemes.split(","))
        if not set(schemes) <= set(SCHEMES):
            parser.error(f"--schemes {args.schemes!r}: a comma list of {', '.join(SCHEMES)}")
        say(f"{len(scenarios)} scenarios x {meta['ladders']} ladders x "
            f"{meta['replicates']} replicates, seed {args.seed}, schemes {args.schemes}")
        ladders = run_study(scenarios, int(str(meta["ladders"])), int(str(meta["replicates"])),
                            args.seed, schemes, say)
        if args.save:
            save(args.save, ladders, meta)
    schemes = tuple(str(meta["schemes"]).split(","))
    methods = [(s, c) for s in schemes for c in CONSTRUCTIONS]
    print(f"Coverage in % (± Monte-Carlo s.e.), {len(scenarios)} scenarios x "
          f"{meta['ladders']} ladders, {meta['replicates']} replicates, seed {meta['seed']}; "
          f"widths are medians (x = high/low; % = high/low - 1):\n")
    print(table_methods(ladders, methods))
    print("\nPer scenario:\n")
    print(table_scenarios(ladders, scenarios, methods))
    print("\nDiagnostics:\n")
    print(table_diagnostics(ladders, schemes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
