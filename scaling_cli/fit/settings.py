"""How to fit and bootstrap: :class:`FitSettings`, validated once on construction (errors
name the setting), and the limits it enforces. Kept apart from the pipeline
(:mod:`scaling_cli.fit.build`) so that commands answering from a published law or a fit
file validate their options without importing the fitting code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scaling_cli.errors import UsageError
from scaling_cli.fit.constraints import Constraints
from scaling_cli.law import DEFAULT_FLOPS_PER_PARAM_TOKEN
from scaling_cli.read.plausible import PLAUSIBLE

__all__ = ["FORMS", "MAX_REPLICATES", "METHOD_NAMES", "MIN_REPLICATES", "REPEATED_DATA",
           "RESAMPLE_BY", "FitSettings"]

# Each replicate is a fit (~1 ms on 240 runs): 100,000 take minutes and a few MB; more is a
# typo (1e9 would ask for 37 GiB before failing) rather than extra precision.
MAX_REPLICATES = 100_000
# Fewer cannot put an order statistic in each 2.5% tail of a 95% interval: such an
# "interval" can exclude its own point, so it is refused rather than printed.
MIN_REPLICATES = 40
METHOD_NAMES = ("approach3", "lsq")
RESAMPLE_BY = ("auto", "run", "group")
FORMS = ("auto", "full", "tied")
# How runs that repeated their data are fitted: at the fresh tokens they are worth
# (Muennighoff et al. 2023), or as if every token had been new.
REPEATED_DATA = ("effective", "fresh")


@dataclass(frozen=True, kw_only=True)
class FitSettings:
    """How to fit and bootstrap, validated once on construction (errors name the setting).

    ``workers`` is the number of processes for the bootstrap (results never depend on it).
    """

    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN
    replicates: int = 1000
    seed: int = 0
    resample_by: str = "auto"
    workers: int = 1
    method: str = "approach3"
    constraints: Constraints = field(default_factory=Constraints)
    allow_unverified: bool = False
    form: str = "auto"  # "auto" (chosen on held-out evidence), "full" or "tied"
    repeated_data: str = "effective"  # see REPEATED_DATA and RunSet.columns

    def __post_init__(self) -> None:
        k = self.flops_per_param_token
        low, high = PLAUSIBLE["flops_per_param_token"]
        if not low <= k <= high:
            raise UsageError(f"{k!r} is outside {low:g} to {high:g}: k in C = k*N*D is about 6 "
                             "for training (2 for a forward pass only)",
                             field="flops_per_param_token")
        if not 0 <= self.replicates <= MAX_REPLICATES:
            raise UsageError(f"{self.replicates:,} is over the limit of {MAX_REPLICATES:,} "
                             "replicates; 1,000 (the default) is enough for 95% intervals",
                             field="replicates")
        if 0 < self.replicates < MIN_REPLICATES:
            raise UsageError(f"{self.replicates} is too few for an interval (at least "
                             f"{MIN_REPLICATES}); give 0 for no intervals, or 1,000 (the "
                             "default)", field="replicates")
        if not 0 <= self.seed < 2**63:
            raise UsageError(f"{self.seed} is out of range; give a whole number from 0 to "
                             "2**63 - 1", field="seed")
        if self.resample_by not in RESAMPLE_BY:
            raise UsageError(f"{self.resample_by!r}: use auto, run or group",
                             field="resample_by")
        if self.method not in METHOD_NAMES:
            raise UsageError(f"{self.method!r}: use one of {', '.join(METHOD_NAMES)}",
                             field="method")
        if self.workers < 1:
            raise UsageError(f"{self.workers}: give at least 1 process", field="workers")
        if self.form not in FORMS:
            raise UsageError(f"{self.form!r} is not a form; choose auto, full or tied",
                             field="form")
        if self.repeated_data not in REPEATED_DATA:
            raise UsageError(f"{self.repeated_data!r}: use effective (repeated tokens count "
                             "as the fresh tokens they are worth) or fresh",
                             field="repeated_data")
        if self.form != "auto" and not self.constraints.is_free:
            raise UsageError(f"{self.form!r} with fixed or tied parameters: the constraints "
                             "already give the form; drop one of them", field="form")

    @classmethod
    def with_constraints(cls, fixed: Mapping[str, float] | None = None, *,
                         tie_exponents: bool = False, **settings: object) -> FitSettings:
        return cls(constraints=Constraints.make(fixed, tie_exponents=tie_exponents),
                   **settings)  # type: ignore[arg-type]
