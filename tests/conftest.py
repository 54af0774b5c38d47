"""Shared fixtures: a fixed console width, the shared real data (skipped when absent),
and synthetic ladders drawn from known laws."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# CI gates on the suite, so property tests draw the same examples on every run (a failure is
# reproducible, never a coin flip); HYPOTHESIS_PROFILE=explore searches afresh while developing.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SCALING_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _fixed_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich sizes tables from COLUMNS when not on a terminal; fix it so wrapping is stable.
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def shared_csv(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (public reference data lives outside the repo; "
                    "set SCALING_SHARED_DATA to its directory to run this check)")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def epoch_rows() -> list[dict[str, str]]:
    rows = read_csv(shared_csv("chinchilla_epoch_svg.csv"))
    return [r for r in rows if r["epoch_default_fit"] == "1"]


def synthetic_ladder(
    *, E: float = 1.8, A: float = 400.0, B: float = 1800.0, alpha: float = 0.33,
    beta: float = 0.36, budgets: tuple[float, ...] = (1e18, 1e19, 1e20, 1e21),
    sizes: int = 6, noise: float = 0.0, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An isoFLOP ladder (C = 6ND) from a known law, with multiplicative log-normal noise."""
    rng = np.random.default_rng(seed)
    a = beta / (alpha + beta)
    g = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    ns, ds = [], []
    for c in budgets:
        centre = np.log10(g * (c / 6) ** a)
        for log_n in np.linspace(centre - 0.7, centre + 0.7, sizes):
            ns.append(10**log_n)
            ds.append(c / (6 * 10**log_n))
    n, d = np.array(ns), np.array(ds)
    loss = (E + A / n**alpha + B / d**beta) * np.exp(rng.normal(0, noise, n.size))
    return n, d, loss


def sweep_rows() -> list[str]:
    """A learning-rate x batch sweep as CSV lines (header first): 3 sizes x 2 token counts,
    5 learning rates around lr* = 2 N^-0.7 D^0.3 and 3 batch sizes around 5e5 each."""
    rows = ["id,params,tokens,lr,batch,loss"]
    for n in (1e8, 2e8, 4e8):
        for d in (2e9, 8e9):
            best = 2.0 * n**-0.7 * d**0.3
            for i, f in enumerate((0.25, 0.5, 1.0, 2.0, 4.0)):
                for j, b in enumerate((2.5e5, 5e5, 1e6)):
                    loss = 3.0 + 0.02 * math.log(f) ** 2 + 0.01 * math.log(b / 5e5) ** 2
                    rows.append(f"r{n:.0e}-{d:.0e}-{i}{j},{n!r},{d!r},{best * f!r},{b!r},"
                                f"{loss!r}")
    return rows
