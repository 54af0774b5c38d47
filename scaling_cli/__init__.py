"""scaling_cli: fit a Chinchilla-style loss surface to run logs and plan compute-optimal runs.

A library first, with a thin command line (``scaling``) at the edge; every command is one
call below. A notebook session (docs/api.md)::

    import scaling_cli as sc

    runs = sc.load_runs(["sample_runs/"])                    # read: run logs -> RunSet
    model = sc.fit_runs(runs, sc.FitSettings(replicates=1000))  # fit: runs -> Model
    answer = sc.optimal(model, [1e24])                       # forecast: Model -> answer
    answer.rows[0].params.value, answer.warnings

Data flow one way, and the package's folders are its stages:
``read`` (text -> validated data) -> ``fit`` (data -> laws) -> ``forecast`` (laws -> answers,
with their warnings) -> ``render`` (answers -> JSON, tables, plots) -> ``cli``.
Importing this package is cheap: the names below load their stage on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scaling_cli.version import __version__

# Public name -> the module that defines it (loaded on first access).
_API = {
    "load_runs": "scaling_cli.read.runs",
    "runset_from_arrays": "scaling_cli.read.runs",
    "RunSet": "scaling_cli.read.runs",
    "read_fit_file": "scaling_cli.read.fitfile",
    "published_model": "scaling_cli.read.presets",
    "load_presets": "scaling_cli.read.presets",
    "read_plan_file": "scaling_cli.read.planfile",
    "Plan": "scaling_cli.read.planfile",
    "make_hardware": "scaling_cli.read.hardware",
    "parse_budget": "scaling_cli.read.hardware",
    "FitSettings": "scaling_cli.fit.build",
    "fit_runs": "scaling_cli.fit.build",
    "optimal": "scaling_cli.forecast.answers",
    "fixed_size": "scaling_cli.forecast.answers",
    "target": "scaling_cli.forecast.answers",
    "predict": "scaling_cli.forecast.answers",
    "check_plan": "scaling_cli.forecast.checks",
    "backtest": "scaling_cli.forecast.backtest",
    "compare_methods": "scaling_cli.forecast.compare",
    "Estimate": "scaling_cli.forecast.intervals",
    "Law": "scaling_cli.law",
    "Model": "scaling_cli.model",
    "ScalingError": "scaling_cli.errors",
}
# (no alias "fit": once the stage package scaling_cli.fit is imported, that name is it)
_ALIASES = {"load_fit": "read_fit_file", "published_law": "published_model"}

__all__ = [
    "Estimate",
    "FitSettings",
    "Law",
    "Model",
    "Plan",
    "RunSet",
    "ScalingError",
    "__version__",
    "backtest",
    "check_plan",
    "compare_methods",
    "fit_runs",
    "fixed_size",
    "load_fit",
    "load_presets",
    "load_runs",
    "make_hardware",
    "optimal",
    "parse_budget",
    "predict",
    "published_law",
    "published_model",
    "read_fit_file",
    "read_plan_file",
    "runset_from_arrays",
    "target",
]

if TYPE_CHECKING:
    from scaling_cli.errors import ScalingError
    from scaling_cli.fit.build import FitSettings, fit_runs
    from scaling_cli.forecast.answers import fixed_size, optimal, predict, target
    from scaling_cli.forecast.backtest import backtest
    from scaling_cli.forecast.checks import check_plan
    from scaling_cli.forecast.compare import compare_methods
    from scaling_cli.forecast.intervals import Estimate
    from scaling_cli.law import Law
    from scaling_cli.model import Model
    from scaling_cli.read.fitfile import read_fit_file
    from scaling_cli.read.fitfile import read_fit_file as load_fit
    from scaling_cli.read.hardware import make_hardware, parse_budget
    from scaling_cli.read.planfile import Plan, read_plan_file
    from scaling_cli.read.presets import load_presets, published_model
    from scaling_cli.read.presets import published_model as published_law
    from scaling_cli.read.runs import RunSet, load_runs, runset_from_arrays


def __getattr__(name: str) -> Any:
    """Load a public name's stage on first use (PEP 562): ``import scaling_cli`` stays cheap."""
    target = _ALIASES.get(name, name)
    if target in _API:
        return getattr(importlib.import_module(_API[target]), target)
    raise AttributeError(f"module 'scaling_cli' has no attribute {name!r}")
