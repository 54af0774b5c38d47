"""Where the decision answers get their inputs, shared by the planning commands
(``optimal --hparams``, ``check`` with a variant ladder) and the decision commands
(``compare``, ``hparams``): a hyperparameter law from a preset, a saved fit or a sweep file,
and a variant ladder fitted jointly with the baseline."""

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scaling_cli.cli.options import LawRequest, progress_bar
from scaling_cli.errors import UsageError

if TYPE_CHECKING:
    from scaling_cli.fit.hparams import HparamFit
    from scaling_cli.fit.ladders import JointFit
    from scaling_cli.forecast.hparams import HparamPreset

__all__ = ["HparamsOpt", "SeqLenOpt", "hparam_source", "variant_fit"]

HparamsOpt = Annotated[str | None, typer.Option(
    "--hparams", help="A hyperparameter law: a published one (step-law-2025, "
                      "deepseek-llm-2024), a fit saved by `scaling hparams -o FILE`, or a "
                      "sweep file (.csv/.yaml with the standard fields).", metavar="SOURCE",
    rich_help_panel="Hyperparameters")]
SeqLenOpt = Annotated[str | None, typer.Option(
    "--seq-len", help="Tokens per sequence: reads batches given in sequences and reports "
                      "batch sizes in sequences too.", metavar="TOKENS",
    rich_help_panel="Hyperparameters")]


def hparam_source(text: str, seed: int = 0) -> "HparamFit | HparamPreset":
    """A published hyperparameter law by name, a saved sweep fit (.json), or a sweep file
    in the standard fields (fitted with the paper's rule and 1,000 cell replicates)."""
    from scaling_cli.fit.hparams import fit_hparams
    from scaling_cli.forecast.hparams import load_hparam_presets, read_hparam_file
    from scaling_cli.read.sweeps import read_sweeps

    presets = load_hparam_presets()
    if text in presets:
        return presets[text]
    suffix = Path(text).suffix.lower()
    if suffix == ".json":
        return read_hparam_file(text)
    if suffix in (".csv", ".yaml", ".yml"):
        return fit_hparams(read_sweeps([text]), seed=seed)
    raise UsageError(f"{text!r} is neither a published law ({', '.join(presets)}) nor a "
                     "saved fit (.json) or sweep file (.csv, .yaml)", field="hparams")


def variant_fit(request: LawRequest, paths: Sequence[str], where: Sequence[str],
                mode: str) -> "JointFit":
    """The baseline runs of ``request`` and the variant's ``paths`` (read with the same
    options, filtered by ``where`` alone), fitted jointly."""
    from scaling_cli.fit.ladders import fit_ladders

    if not request.paths:
        raise UsageError("needs the baseline's run logs (`runs`): a joint fit refits both "
                         "ladders, not a fit file or a published law", field="variant_runs")
    variant = replace(request, paths=tuple(paths), where=tuple(where))
    settings = request.settings
    baseline, variant_runs = request.runs(), variant.runs()  # each with its own status line
    with progress_bar(0 if settings is None else settings.replicates, quiet=request.quiet,
                      what="joint bootstrap") as tick:
        return fit_ladders(baseline, variant_runs, settings, mode=mode, progress=tick)
