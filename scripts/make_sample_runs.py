"""Generate the bundled, SYNTHETIC ladder in sample_runs/ (deterministic: same seed, same files).

The runs are drawn from a stated law, not from real training:

    L(N, D) = 1.85 + 520 / N^0.34 + 1900 / D^0.36      (nats/token)

on an isoFLOP design: 7 budgets from 1e18 to 1e21 FLOPs (C = 6 N D), 7 model sizes per
budget spread over ~1.2 decades around that budget's optimum, each loss multiplied by
exp(eps), eps ~ Normal(0, 0.005) (0.5% noise in log loss, typical seed-to-seed variation).
One extra run is logged as diverged and excluded, to show the `exclude` field.

    python scripts/make_sample_runs.py            # rewrites sample_runs/*.yaml
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

LAW = {"E": 1.85, "A": 520.0, "B": 1900.0, "alpha": 0.34, "beta": 0.36}
BUDGETS = (1e18, 3e18, 1e19, 3e19, 1e20, 3e20, 1e21)
SIZES_PER_BUDGET = 7
NOISE = 0.005
SEED = 20241125
OUT = Path(__file__).resolve().parent.parent / "sample_runs"


def loss(n: float, d: float) -> float:
    return LAW["E"] + LAW["A"] / n ** LAW["alpha"] + LAW["B"] / d ** LAW["beta"]


def n_opt(c: float) -> float:
    a, b = LAW["alpha"], LAW["beta"]
    g = (a * LAW["A"] / (b * LAW["B"])) ** (1 / (a + b))
    return g * (c / 6) ** (b / (a + b))


def count(x: float) -> str:
    """3 significant digits with a suffix, the way people write model sizes: 124M, 1.61B."""
    for suffix, f in (("T", 1e12), ("B", 1e9), ("M", 1e6)):
        if x >= f:
            return f"{float(f'{x / f:.3g}'):g}{suffix}"
    return f"{x:.3g}"


def main() -> None:
    rng = np.random.default_rng(SEED)
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.yaml"):
        old.unlink()
    for c in BUDGETS:
        centre = math.log10(n_opt(c))
        lines = [f"# Synthetic isoFLOP slice at C = {c:.0e} FLOPs (C = 6ND); see "
                 "scripts/make_sample_runs.py", "runs:"]
        for log_n in np.linspace(centre - 0.6, centre + 0.6, SIZES_PER_BUDGET):
            n = float(f"{10 ** log_n:.3g}")
            d = float(f"{c / (6 * n):.3g}")
            observed = loss(n, d) * math.exp(rng.normal(0.0, NOISE))
            lines += [f"  - id: c{c:.0e}-n{count(n)}".replace("+", ""),
                      f"    params: {count(n)}",
                      f"    tokens: {count(d)}",
                      f"    loss: {observed:.4f}",
                      "    tags: [isoflop, synthetic]"]
        (OUT / f"isoflop_{c:.0e}.yaml".replace("+", "")).write_text("\n".join(lines) + "\n")
    (OUT / "diverged.yaml").write_text(
        "# A run that diverged: kept in the log for the record, left out of the fit.\n"
        "id: c3e20-n2.5B-lr3e-3\nparams: 2.5B\ntokens: 20B\nloss: 7.91\n"
        "exclude: true\nexclude_reason: loss spike at step 14k (lr 3e-3), never recovered\n"
    )


if __name__ == "__main__":
    main()
