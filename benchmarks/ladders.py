"""Synthetic ladders of any size, and run logs written from them (for the scale benchmark).

A ladder of ``n`` runs is an isoFLOP design drawn from a known law (the test suite's
L = 1.8 + 400/N^0.33 + 1800/D^0.36): ``b ~ sqrt(n / 3)`` budgets log-spaced over 1e17 to
1e22 FLOPs, each with about n / b model sizes spread over +/- 0.7 decades around the true
compute-optimal size, D = C / (6 N), and log-normal noise of 1% on the loss:

    L_i = (E + A / N_i^alpha + B / D_i^beta) * exp(eps_i),   eps_i ~ N(0, 0.01^2).

Many sizes and budgets make the law identifiable at every n, so the fit and bootstrap do
the same kind of work from 1e2 to 1e5 runs. Runs are written either as one YAML file with a
``runs:`` list or as a directory with one YAML file per run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["TRUE_LAW", "isoflop_ladder", "write_per_run_dir", "write_runs_list"]

Array = npt.NDArray[np.float64]
TRUE_LAW = {"E": 1.8, "A": 400.0, "B": 1800.0, "alpha": 0.33, "beta": 0.36}


def isoflop_ladder(n: int, *, noise: float = 0.01, seed: int = 0) -> tuple[Array, Array, Array]:
    """(params, tokens, loss) of an ``n``-run isoFLOP ladder from :data:`TRUE_LAW`."""
    if n < 12:
        raise ValueError("a ladder needs at least 12 runs (4 budgets x 3 sizes)")
    e, a_coef, b_coef = TRUE_LAW["E"], TRUE_LAW["A"], TRUE_LAW["B"]
    alpha, beta = TRUE_LAW["alpha"], TRUE_LAW["beta"]
    budgets = max(4, round((n / 3) ** 0.5))
    per_budget = np.full(budgets, n // budgets)
    per_budget[: n % budgets] += 1
    a = beta / (alpha + beta)
    g = (alpha * a_coef / (beta * b_coef)) ** (1 / (alpha + beta))
    ns, ds = [], []
    for c, k in zip(np.geomspace(1e17, 1e22, budgets), per_budget, strict=True):
        centre = np.log10(g * (c / 6) ** a)
        params = 10 ** np.linspace(centre - 0.7, centre + 0.7, int(k))
        ns.append(params)
        ds.append(c / (6 * params))
    params, tokens = np.concatenate(ns), np.concatenate(ds)
    rng = np.random.default_rng(seed)
    loss = (e + a_coef / params**alpha + b_coef / tokens**beta) * np.exp(
        rng.normal(0.0, noise, n))
    return params, tokens, loss


def _entry(i: int, params: float, tokens: float, loss: float, indent: str) -> str:
    return (f"id: run-{i:06d}\n{indent}params: {params:.17g}\n{indent}tokens: {tokens:.17g}\n"
            f"{indent}loss: {loss:.17g}\n")


def write_runs_list(path: Path, params: Array, tokens: Array, loss: Array) -> Path:
    """One YAML file with a ``runs:`` list."""
    parts = ["runs:\n"]
    for i, (n, d, lo) in enumerate(zip(params, tokens, loss, strict=True)):
        parts.append("  - " + _entry(i, float(n), float(d), float(lo), "    "))
    path.write_text("".join(parts), encoding="utf-8")
    return path


def write_per_run_dir(path: Path, params: Array, tokens: Array, loss: Array) -> Path:
    """A directory holding one YAML file per run (``run-000000.yaml``, ...)."""
    path.mkdir(parents=True, exist_ok=True)
    for i, (n, d, lo) in enumerate(zip(params, tokens, loss, strict=True)):
        (path / f"run-{i:06d}.yaml").write_text(_entry(i, float(n), float(d), float(lo), ""),
                                                encoding="utf-8")
    return path
