"""`scaling compare`, `hparams` and `shape`: decisions beyond N*.

Is recipe B worth it (a compute multiplier between two fitted ladders), what learning rate
and batch size to train the chosen size with, and which concrete decoder shape to build.
Each command parses its options, makes one library call, and renders.
"""

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from scaling_cli.cli.base import app, handled
from scaling_cli.cli.decision_inputs import SeqLenOpt, variant_fit
from scaling_cli.cli.options import (
    BootOpt,
    ColumnOpt,
    ConfOpt,
    FieldOpt,
    FitOpt,
    FormatOpt,
    InputFormatOpt,
    KOpt,
    LawOpt,
    MethodOpt,
    OutputFormat,
    QuietOpt,
    ResampleOpt,
    RunsArg,
    SeedOpt,
    StepsOpt,
    UnverifiedOpt,
    WhereOpt,
    budgets,
    confidence,
    emit,
    law_request,
    number,
    output_request,
    parse_columns,
    render,
)
from scaling_cli.errors import UsageError
from scaling_cli.render.fields import columns

if TYPE_CHECKING:
    from scaling_cli.fit.hparams import HparamFit
    from scaling_cli.forecast.hparams import HparamPreset

__all__ = ["compare", "hparams", "shape"]

ModeOpt = Annotated[str, typer.Option(
    "--mode", help="What the two ladders share: shared (alpha, beta; the default), separate "
                   "(nothing) or pinned (E, alpha, beta: one asymptote).", metavar="MODE",
    rich_help_panel="Fit")]


@app.command()
@handled
def compare(
    ctx: typer.Context,
    baseline: Annotated[str, typer.Argument(
        help="The baseline recipe's run logs: a file, directory or glob.", show_default=False,
        metavar="BASELINE_RUNS")],
    variant: Annotated[str, typer.Argument(
        help="The variant recipe's run logs (may be the same file, told apart with "
             "--baseline-where/--variant-where).", show_default=False,
        metavar="VARIANT_RUNS")],
    budget: Annotated[list[str], typer.Option(
        "--budget", "-b", help="Training compute in FLOPs, or a range 1e19..1e23 "
                               "(repeatable).", show_default=False, metavar="FLOPS")] = [],  # noqa: B006
    steps: StepsOpt = 5,
    mode: ModeOpt = "shared",
    baseline_where: Annotated[list[str] | None, typer.Option(
        "--baseline-where", help="Filter for the baseline's records only (as --where).",
        metavar="FILTER", rich_help_panel="Inputs")] = None,
    variant_where: Annotated[list[str] | None, typer.Option(
        "--variant-where", help="Filter for the variant's records only (as --where).",
        metavar="FILTER", rich_help_panel="Inputs")] = None,
    column: ColumnOpt = None, where: WhereOpt = None, input_format: InputFormatOpt = "auto",
    k: KOpt = "6", bootstrap: BootOpt = "1000", seed: SeedOpt = 0, level: ConfOpt = "0.95",
    resample_by: ResampleOpt = "auto", allow_unverified: UnverifiedOpt = False,
    method: MethodOpt = "approach3",
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Compute multiplier of a variant recipe over a baseline: L_variant(C) = L_baseline(k*C).

    Fits both ladders jointly (shared exponents unless --mode says otherwise), bootstraps
    them together, and reports k with its interval at each budget, where the winner
    changes, and with --mode pinned the constant speedup. k > 1: the variant is worth k
    times the compute.

    Example: scaling compare runs/adamw/ runs/lion/ --budget 1e19..1e23
    """
    from scaling_cli.forecast.recipes import compare_recipes
    from scaling_cli.render.documents import compare_recipes_document

    given = [b.compute_flops for b in budgets(budget, steps, None)]
    conf = confidence(level)
    out = output_request(ctx, columns("compare-recipes"))
    # Both ladders share every reading and fitting option; the request is built once from
    # the two paths, then split per ladder with its own filters.
    ctx.params["ladders"] = [baseline, variant]
    request = law_request(ctx, runs_key="ladders")
    base = replace(request, paths=(baseline,), where=(*request.where, *(baseline_where or ())))
    fit = variant_fit(base, [variant], (*request.where, *(variant_where or ())), mode)
    emit(compare_recipes_document(compare_recipes(fit, given, confidence=conf)), out)


@app.command()
@handled
def hparams(
    ctx: typer.Context,
    sweeps: Annotated[list[str] | None, typer.Argument(
        help="Sweep files (.csv, .yaml): one run per record with id, params, tokens, lr, "
             "batch and loss (smoothed_loss preferred).", show_default=False,
        metavar="SWEEP...")] = None,
    law: Annotated[str | None, typer.Option(
        "--law", help="A published hyperparameter law instead of a sweep: step-law-2025 or "
                      "deepseek-llm-2024.", metavar="NAME", rich_help_panel="Law source")] = None,
    params: Annotated[list[str], typer.Option(
        "--params", "-N", help="Recommend lr and batch at this size (repeatable, paired with "
                               "--tokens).", metavar="COUNT", show_default=False)] = [],  # noqa: B006
    tokens: Annotated[list[str], typer.Option(
        "--tokens", "-D", help="Training tokens for each --params.", metavar="COUNT",
        show_default=False)] = [],  # noqa: B006
    column: ColumnOpt = None,
    batch_unit: Annotated[str, typer.Option(
        "--batch-unit", help="Unit of the sweep's batch field: tokens or sequences (then "
                             "--seq-len).", metavar="UNIT", rich_help_panel="Inputs")] = "tokens",
    seq_len: SeqLenOpt = None,
    rule: Annotated[str, typer.Option(
        "--rule", help="Near-best settings per cell: tolerance (runs within --tolerance of the "
                       "best; Step Law's rule) or parabola (vertex of a quadratic in log lr).",
        metavar="RULE", rich_help_panel="Fit")] = "tolerance",
    tolerance: Annotated[str, typer.Option(
        "--tolerance", help="Fraction of the cell's best loss for the tolerance rule.",
        metavar="FRACTION", rich_help_panel="Fit")] = "0.0025",
    window: Annotated[str, typer.Option(
        "--window", help="Fraction of the best loss the parabola is fitted over.",
        metavar="FRACTION", rich_help_panel="Fit")] = "0.02",
    loss: Annotated[str, typer.Option(
        "--loss", help="auto (smoothed when every run has it), smoothed or final.",
        metavar="LOSS", rich_help_panel="Fit")] = "auto",
    weighting: Annotated[str, typer.Option(
        "--weighting", help="runs (each near-best run a point; the paper's fit) or cells.",
        metavar="WEIGHTING", rich_help_panel="Fit")] = "runs",
    batch_on_params: Annotated[bool, typer.Option(
        "--batch-on-params", help="Let batch* depend on N too (Step Law: on D only).",
        rich_help_panel="Fit")] = False,
    sensitivity: Annotated[bool, typer.Option(
        "--sensitivity", help="Refit under other near-best rules to show how much they move "
                              "the exponents.", rich_help_panel="Fit")] = False,
    bootstrap: BootOpt = "1000", seed: SeedOpt = 0, level: ConfOpt = "0.95",
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Save the fit (JSON, with replicates) for `--hparams FILE`, "
                               "atomically.", metavar="FILE", rich_help_panel="Output")] = None,
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Learning-rate and batch-size laws from a sweep, with intervals by sweep cell.

    lr* = c N^a D^b and batch* = d D^e (tokens), fitted to each (N, D) cell's near-best runs
    (Li et al. 2025, "Step Law"); or a published law with --law. With --params/--tokens it
    also recommends the settings for those sizes.

    Example: scaling hparams sweep.csv --params 1B --tokens 20B
    """
    from scaling_cli.cli.output import output_target
    from scaling_cli.fit.hparams import fit_hparams, rule_sensitivity
    from scaling_cli.forecast.hparams import law_report, load_hparam_presets, recommend_hparams
    from scaling_cli.read.sweeps import read_sweeps
    from scaling_cli.render.documents import dumps, hparams_document

    if (law is None) == (not sweeps):
        raise UsageError("give sweep files (SWEEP...) or a published law (--law NAME), one "
                         "of the two")
    if len(params) != len(tokens):
        raise UsageError("give --params and --tokens in pairs, e.g. --params 1B --tokens 20B")
    conf = confidence(level)
    out = output_request(ctx, columns(
        "hparams", rows="recommendations" if params else "cells" if sweeps else None))
    length = None if seq_len is None else number("seq_len", seq_len)
    target = None if output is None else output_target(output, inputs=sweeps or ())
    if law is not None:
        presets = load_hparam_presets()
        if law not in presets:
            raise UsageError(f"{law!r}: unknown law; choose one of {', '.join(presets)}",
                             field="law")
        source: HparamFit | HparamPreset = presets[law]
        variants = None
    else:
        sweep = read_sweeps(sweeps or [], columns=parse_columns(column or []),
                            batch_unit=batch_unit, seq_len=length)
        options = {"rule": rule, "tolerance": number("tolerance", tolerance, allow_zero=True),
                   "window": number("window", window), "loss": loss, "weighting": weighting,
                   "batch_on_params": batch_on_params}
        source = fit_hparams(sweep, bootstrap=int(number("bootstrap", bootstrap,
                                                         allow_zero=True)),
                             seed=seed, **options)  # type: ignore[arg-type]
        variants = rule_sensitivity(sweep) if sensitivity else None
    advice = [recommend_hparams(source, number("params", n), number("tokens", d),
                                seq_len=length, confidence=conf)
              for n, d in zip(params, tokens, strict=True)]
    doc = hparams_document(source, law_report(source, confidence=conf),
                           recommendations=advice, sensitivity=variants)
    if target is not None and target.kind == "stdout":  # the fit file is the output
        target.write(dumps(doc))
        return
    shown = {key: value for key, value in doc.items() if key != "replicates"}
    text = render(shown if out.fmt is OutputFormat.table else doc, out)
    if target is None:
        emit(doc, out, text=text)
    else:  # staged: a table or field that fails leaves the old file as it was
        target.write(dumps(doc), then=lambda: emit(doc, out, text=text))


ArchOpt = "Architecture"


@app.command()
@handled
def shape(
    ctx: typer.Context,
    runs: RunsArg = None,
    budget: Annotated[str | None, typer.Option(
        "--budget", "-b", help="Training compute in FLOPs: shapes near the law's N* there, "
                               "with the loss each costs.", metavar="FLOPS",
        show_default=False)] = None,
    params: Annotated[str | None, typer.Option(
        "--params", "-N", help="Shapes near this size instead (no law, no loss cost).",
        metavar="COUNT", show_default=False)] = None,
    params_definition: Annotated[str, typer.Option(
        "--params-definition", help="What the law's N counts: total (Hoffmann et al.) or "
                                    "non_embedding (Kaplan et al., Step Law).",
        metavar="KIND", rich_help_panel=ArchOpt)] = "total",
    vocab: Annotated[int, typer.Option(
        "--vocab", help="Vocabulary size.", metavar="COUNT", rich_help_panel=ArchOpt)] = 32000,
    tied_embeddings: Annotated[bool, typer.Option(
        "--tied-embeddings", help="The output head shares the input embedding.",
        rich_help_panel=ArchOpt)] = False,
    mlp: Annotated[str, typer.Option(
        "--mlp", help="swiglu (3 matrices, FFN 8/3 d) or gelu (2 matrices, FFN 4 d).",
        metavar="KIND", rich_help_panel=ArchOpt)] = "swiglu",
    head_dim: Annotated[int, typer.Option(
        "--head-dim", help="Size of each attention head.", metavar="WIDTH",
        rich_help_panel=ArchOpt)] = 128,
    kv_heads: Annotated[int | None, typer.Option(
        "--kv-heads", help="Key-value heads (grouped-query attention); default: one per "
                           "head.", metavar="COUNT", rich_help_panel=ArchOpt,
        show_default=False)] = None,
    width_multiple: Annotated[int, typer.Option(
        "--width-multiple", help="d_model is a multiple of this.", metavar="WIDTH",
        rich_help_panel=ArchOpt)] = 128,
    aspect: Annotated[str, typer.Option(
        "--aspect-ratio", help="Range of d_model / layers, LOW..HIGH (Kaplan et al. 2020: "
                               "loss is flat from about 20 to 200).", metavar="RANGE",
        rich_help_panel=ArchOpt)] = "32..256",
    count: Annotated[int, typer.Option(
        "--count", help="How many shapes to list.", metavar="COUNT",
        rich_help_panel=ArchOpt)] = 5,
    law: LawOpt = None, fit_file: FitOpt = None, column: ColumnOpt = None, where: WhereOpt = None,
    input_format: InputFormatOpt = "auto", k: KOpt = "6", bootstrap: BootOpt = "1000",
    seed: SeedOpt = 0, level: ConfOpt = "0.95", resample_by: ResampleOpt = "auto",
    allow_unverified: UnverifiedOpt = False, method: MethodOpt = "approach3",
    fmt: FormatOpt = OutputFormat.table, quiet: QuietOpt = False, field: FieldOpt = None,
) -> None:
    """Concrete decoder shapes (layers, width, heads, FFN) near N*, and what each costs.

    With a law and --budget: the shapes nearest the compute-optimal N*, each with its
    tokens at the budget and its loss above the optimum (an interval over the replicates).
    With --params alone: the shapes nearest that size. Parameter counts are exact for
    LLaMA-style decoders (docs in scaling_cli/forecast/shapes.py).

    Example: scaling shape sample_runs/ --budget 1e23 --vocab 128000 --kv-heads 8
    """
    from scaling_cli.forecast.shapes import Architecture, shape_plan
    from scaling_cli.render.documents import shape_document

    low, sep, high = aspect.partition("..")
    if not sep:
        raise UsageError(f"{aspect!r}: give a range LOW..HIGH, e.g. 32..256",
                         field="aspect_ratio")
    band = (number("aspect_ratio", low), number("aspect_ratio", high))
    arch = Architecture(vocab_size=vocab, tied_embeddings=tied_embeddings, mlp=mlp,
                        head_dim=head_dim, kv_heads=kv_heads, width_multiple=width_multiple)
    conf = confidence(level)
    out = output_request(ctx, columns("shape", law=params is None))
    options = {"architecture": arch, "params_definition": params_definition,
               "aspect_ratio": band, "count": count, "confidence": conf}
    if params is not None:
        if runs or law or fit_file or budget is not None:
            raise UsageError("--params lists shapes near a size without a law; drop RUNS, "
                             "--law, --fit and --budget, or drop --params")
        plan = shape_plan(None, params=number("params", params), **options)  # type: ignore[arg-type]
    else:
        if budget is None:
            raise UsageError("is required with a law, e.g. --budget 1e23 (or give --params "
                             "alone)", field="budget")
        flops = number("budget", budget)
        plan = shape_plan(law_request(ctx).model(), compute_flops=flops,
                          **options)  # type: ignore[arg-type]
    emit(shape_document(plan), out)
