"""Coverage summaries of honesty outcomes, as Markdown tables and a JSON document.

For a set of forecasts (point p, interval [lo, hi]) of observed losses y (and, for
simulations, the noise-free expected losses m):

    coverage       mean(lo <= y <= hi)
    optimistic     mean(y > hi)       the run came out worse than the interval allowed
    pessimistic    mean(y < lo)
    median |err|   median |p - y| / y;   median err: median (p - y) / y (< 0: optimistic)
    median width   median (hi - lo) / p
    covers truth   mean(lo <= m <= hi)  (simulations only)

Pooled figures count a target once per split that forecasts it (rolling origins overlap),
and "targets (runs)" gives the distinct training runs among them: rows of one run are not
independent. Distance bins use the factors of :class:`benchmarks.honesty.splits.Distances`.
Everything here is a pure function of the outcomes: the same outcomes give byte-identical
text (timings are left out on purpose).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.honesty.evaluate import Outcome

__all__ = [
    "COMPUTE_BINS",
    "DN_BINS",
    "Summary",
    "json_document",
    "markdown_report",
    "summarise",
]

Array = npt.NDArray[np.float64]
SCHEMA = "scaling-cli/honesty-rows/1"
KINDS = ("largest", "rolling", "tokens_per_param", "epochs")
# (label, low, high] on log10 of the factor beyond the fitted range
COMPUTE_BINS = (("<=1x", -math.inf, 0.0), ("1-2x", 0.0, math.log10(2)),
                ("2-4x", math.log10(2), math.log10(4)), ("4-10x", math.log10(4), 1.0),
                ("10-100x", 1.0, 2.0), (">100x", 2.0, math.inf))
DN_BINS = (("inside", -math.inf, 0.0), ("1-2x", 0.0, math.log10(2)),
           ("2-4x", math.log10(2), math.log10(4)), ("4-8x", math.log10(4), math.log10(8)),
           ("8-16x", math.log10(8), math.log10(16)), ("16-32x", math.log10(16), math.log10(32)),
           (">32x", math.log10(32), math.inf))


@dataclass(frozen=True)
class Summary:
    splits: int
    refused: int
    targets: int
    runs: int
    coverage: float
    optimistic: float
    pessimistic: float
    median_abs_error: float
    median_error: float
    median_width: float
    covers_truth: float | None


def _cat(parts: Iterable[Array]) -> Array:
    chunks = list(parts)
    return np.concatenate(chunks) if chunks else np.empty(0)


def summarise(outcomes: Sequence[Outcome], keep: Callable[[Outcome], Array] | None = None
              ) -> Summary:
    """Pooled figures over ``outcomes`` (refusals counted, not scored); ``keep`` selects
    target rows within each outcome (e.g. a distance bin)."""
    used = [o for o in outcomes if o.refused is None]
    masks = [np.ones(o.point.size, bool) if keep is None else keep(o) for o in used]
    y = _cat(o.actual[m] for o, m in zip(used, masks, strict=True))
    p = _cat(o.point[m] for o, m in zip(used, masks, strict=True))
    lo = _cat(o.low[m] for o, m in zip(used, masks, strict=True))
    hi = _cat(o.high[m] for o, m in zip(used, masks, strict=True))
    runs = {(o.split.ladder.name, g) for o, m in zip(used, masks, strict=True)
            for g in o.split.ladder.group[o.split.test][m]}
    sims = [(o, m) for o, m in zip(used, masks, strict=True) if o.expected is not None]
    truth = None
    if sims and sum(int(m.sum()) for _, m in sims):
        e = _cat(o.expected[m] for o, m in sims if o.expected is not None)
        e_lo = _cat(o.low[m] for o, m in sims)
        e_hi = _cat(o.high[m] for o, m in sims)
        truth = float(np.mean((e_lo <= e) & (e <= e_hi)))
    nan = math.nan
    err = (p - y) / y if y.size else np.empty(0)
    return Summary(
        len(outcomes), len(outcomes) - len(used), int(y.size), len(runs),
        float(np.mean((lo <= y) & (y <= hi))) if y.size else nan,
        float(np.mean(y > hi)) if y.size else nan, float(np.mean(y < lo)) if y.size else nan,
        float(np.median(np.abs(err))) if y.size else nan,
        float(np.median(err)) if y.size else nan,
        float(np.median((hi - lo) / p)) if y.size else nan, truth)


# --------------------------------------------------------------------------- formatting


def _pct(x: float | None, digits: int = 0) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> str:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _stats(s: Summary, truth: bool) -> list[str]:
    cells = [f"{s.splits}" + (f" ({s.refused})" if s.refused else ""),
             f"{s.targets} ({s.runs})", _pct(s.coverage), _pct(s.optimistic),
             _pct(s.pessimistic), _pct(s.median_abs_error, 2), _pct(s.median_error, 2),
             _pct(s.median_width, 1)]
    return cells + ([_pct(s.covers_truth)] if truth else [])


STATS = ["splits (refused)", "targets (runs)", "coverage", "optimistic", "pessimistic",
         "median abs err", "median err", "median width"]


def _methods(outcomes: Sequence[Outcome]) -> list[str]:
    return list(dict.fromkeys(o.method for o in outcomes))


def _real(o: Outcome) -> bool:
    return o.split.ladder.family == "real"


def _bin_mask(values: Callable[[Outcome], Array], low: float, high: float
              ) -> Callable[[Outcome], Array]:
    def keep(o: Outcome) -> Array:
        v = values(o)
        return np.asarray((v > low) & (v <= high))

    return keep


def _dn_outside(o: Outcome) -> Array:
    """log10 factor beyond the fitted D/N range: > 0 above it, -1 marks 'below', 0 inside."""
    d = o.distances
    return np.where(d.log_dn_above > 0, d.log_dn_above,
                    np.where(d.log_dn_below < 0, -1.0, 0.0))


def _distance_tables(outcomes: Sequence[Outcome], values: Callable[[Outcome], Array],
                     bins: Sequence[tuple[str, float, float]], below: bool = False) -> str:
    """Per method: rows = distance bins; per data group, coverage, optimistic share, median
    signed error, median width and the number of targets in the bin."""
    groups = {"real": [o for o in outcomes if _real(o)],
              "sim control": [o for o in outcomes if o.split.ladder.family == "control"],
              "sim misspecified": [o for o in outcomes if not _real(o)
                                   and o.split.ladder.family != "control"]}
    groups = {k: v for k, v in groups.items() if v}
    edges = list(bins)
    if below:  # _dn_outside marks rows below the fitted range with -1
        edges = [("below", -math.inf, -0.5), ("inside", -0.5, 0.0), *bins[1:]]
    header = ["factor beyond fit"]
    for g in groups:
        header += [f"{g}: coverage", "opt", "err", "width", "n"]
    out = []
    for method in _methods(outcomes):
        rows = []
        for label, low, high in edges:
            cells = [label]
            for members in groups.values():
                s = summarise([o for o in members if o.method == method],
                              _bin_mask(values, low, high))
                cells += (["–"] * 4 + ["0"] if not s.targets else
                          [_pct(s.coverage), _pct(s.optimistic), _pct(s.median_error, 2),
                           _pct(s.median_width, 1), str(s.targets)])
            rows.append(cells)
        out += [f"Method `{method}` (err: median of (forecast - actual) / actual; width: "
                "median of (high - low) / forecast):", "", _table(header, rows), ""]
    return "\n".join(out)


def _grouped(outcomes: Sequence[Outcome], key: Callable[[Outcome], str], order: Sequence[str],
             truth: bool) -> list[list[str]]:
    rows = []
    for name in order:
        for method in _methods(outcomes):
            chosen = [o for o in outcomes if key(o) == name and o.method == method]
            if chosen:
                rows.append([name, method, *_stats(summarise(chosen), truth)])
    return rows


def markdown_report(outcomes: Sequence[Outcome], *, skipped: Sequence[str] = (),
                    settings: Mapping[str, Any] | None = None) -> str:
    """The tables of the honesty report (see the module docstring for every column)."""
    real = [o for o in outcomes if _real(o)]
    sim = [o for o in outcomes if not _real(o)]
    parts = ["# Honesty of nominal 95% loss intervals", ""]
    if settings:
        parts += ["Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()), ""]
    parts += ["Coverage = share of held-out runs inside the interval; optimistic = the run "
              "came out above the interval (forecast too low); err = (forecast - actual) / "
              "actual; width = (high - low) / forecast. Targets counted once per split.", ""]
    if real:
        kinds = [k for k in KINDS if any(o.split.kind == k for o in real)]
        rows = _grouped(real, lambda o: o.split.kind, kinds, False)
        rows += _grouped(real, lambda o: "all", ["all"], False)
        parts += ["## Real ladders, pooled by split kind", "",
                  _table(["split kind", "method", *STATS], rows, 2), ""]
        names = list(dict.fromkeys(o.split.ladder.name for o in real))
        rows = _grouped(real, lambda o: o.split.ladder.name, names, False)
        parts += ["## Real ladders, pooled over each ladder's splits", "",
                  _table(["ladder", "method", *STATS], rows, 2), ""]
    if sim:
        families = list(dict.fromkeys(o.split.ladder.family for o in sim))
        rows = _grouped(sim, lambda o: o.split.ladder.family, families, True)
        parts += ["## Simulated ladders, pooled by truth family", "",
                  _table(["family", "method", *STATS, "covers truth"], rows, 2), ""]
        kinds = [k for k in KINDS if any(o.split.kind == k for o in sim)]
        header = ["family", "method", *kinds]
        rows = []
        for fam in families:
            for method in _methods(sim):
                cells = [fam, method]
                for kind in kinds:
                    chosen = [o for o in sim if o.split.ladder.family == fam
                              and o.method == method and o.split.kind == kind]
                    s = summarise(chosen)
                    cells.append("–" if not s.targets else
                                 f"{_pct(s.coverage)} / {_pct(s.covers_truth)}")
                rows.append(cells)
        parts += ["Coverage of the observed loss / of the noise-free truth, by split kind:", "",
                  _table(header, rows, 2), ""]
    parts += ["## Coverage by compute extrapolation (C / largest fitted C)", "",
              _distance_tables(outcomes, lambda o: o.distances.log_compute, COMPUTE_BINS),
              "## Coverage by tokens/param extrapolation (D/N beyond the fitted D/N range)", "",
              _distance_tables(outcomes, _dn_outside, DN_BINS, below=True)]
    parts += ["## Every ladder and split", "", _detail(outcomes), ""]
    refusals = [o for o in outcomes if o.refused is not None]
    if refusals:
        parts += ["## Refused", ""]
        parts += [f"- {o.split.ladder.name} / {o.split.name} / {o.method}: {o.refused}"
                  for o in refusals]
        parts.append("")
    if skipped:
        parts += ["## Splits that could not be made", ""] + [f"- {s}" for s in skipped] + [""]
    return "\n".join(parts)


def _detail(outcomes: Sequence[Outcome]) -> str:
    rows = []
    for o in outcomes:
        s = summarise([o])
        reach = "–"
        if o.refused is None:
            d = o.distances
            reach = (f"{10 ** float(d.log_compute.max()):.3g}x C, "
                     f"{10 ** max(float(d.log_dn_above.max()), 0.0):.3g}x D/N")
        rows.append([o.split.ladder.name, o.split.name, o.method, str(int(o.split.train.sum())),
                     reach, *_stats(s, True)[1:]])
    return _table(["ladder", "split", "method", "train rows", "max reach", *STATS[1:],
                   "covers truth"], rows, 3)


# --------------------------------------------------------------------------- JSON


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def json_document(outcomes: Sequence[Outcome], *, skipped: Sequence[str] = (),
                  settings: Mapping[str, Any] | None = None) -> str:
    """Every outcome and every forecast target row (schema ``scaling-cli/honesty-rows/1``);
    NaN becomes null, key order is fixed, the text is deterministic."""
    splits, rows = [], []
    for o in outcomes:
        sp, lad = o.split, o.split.ladder
        splits.append({"method": o.method, "family": lad.family, "ladder": lad.name,
                       "kind": sp.kind, "split": sp.name, "train_rows": int(sp.train.sum()),
                       "targets": int(sp.test.sum()), "refused": o.refused})
        if o.refused is not None:
            continue
        index = np.flatnonzero(sp.test)
        expected = o.expected
        unique = lad.unique_tokens
        d = o.distances
        for j, i in enumerate(index):
            y = float(lad.loss[i])
            rows.append({
                "method": o.method, "family": lad.family, "ladder": lad.name, "kind": sp.kind,
                "split": sp.name, "row": int(i), "group": str(lad.group[i]),
                "params": float(lad.params[i]), "tokens": float(lad.tokens[i]),
                "compute_flops": float(lad.compute_flops[i]),
                "unique_tokens": None if unique is None else float(unique[i]),
                "actual_loss": y,
                "expected_loss": None if expected is None else float(expected[j]),
                "point": float(o.point[j]), "low": float(o.low[j]), "high": float(o.high[j]),
                "covered": bool(o.low[j] <= y <= o.high[j]), "optimistic": bool(y > o.high[j]),
                "log_compute": _num(float(d.log_compute[j])),
                "log_params": _num(float(d.log_params[j])),
                "log_dn_above": _num(float(d.log_dn_above[j])),
                "log_dn_below": _num(float(d.log_dn_below[j])),
                "log_epochs": _num(float(d.log_epochs[j])),
            })
    def dump(x: object) -> str:
        return json.dumps(x, separators=(",", ":"), allow_nan=False)

    head = {"schema": SCHEMA, "settings": dict(settings or {}), "skipped": list(skipped)}
    lines = [dump(head)[:-1] + ',\n"splits":[']  # one split or row per line: diffable
    lines.append(",\n".join(dump(x) for x in splits) + '],\n"rows":[')
    lines.append(",\n".join(dump(x) for x in rows) + "]}\n")
    return "\n".join(lines)
