"""`scaling laws` and `scaling schema`: what the tool knows without any runs."""

import typer

from scaling_cli.cli.base import app, handled
from scaling_cli.cli.options import FormatOpt, OutputFormat, emit_text

__all__ = ["laws", "schema"]


@app.command()
@handled
def laws(fmt: FormatOpt = OutputFormat.table) -> None:
    """List the published laws usable with --law, with their sources.

    Example: scaling laws
    """
    from scaling_cli.read.presets import load_presets
    from scaling_cli.render.documents import dumps
    from scaling_cli.render.tables import laws_table

    presets = load_presets()
    if fmt is OutputFormat.json:
        emit_text(dumps({name: {"E": p.law.E, "A": p.law.A, "B": p.law.B,
                                "alpha": p.law.alpha, "beta": p.law.beta, "title": p.title,
                                "citation": p.citation, "note": p.note}
                         for name, p in presets.items()}))
    elif fmt is OutputFormat.csv:
        raise typer.BadParameter("laws print as table or json", param_hint="--format")
    else:
        emit_text(laws_table(presets))


@app.command()
@handled
def schema(fmt: FormatOpt = OutputFormat.table) -> None:
    """Print the run-log schema: every field, whether it is required, and what it means.

    Example: scaling schema --format json
    """
    from scaling_cli.read.runs import FIELDS
    from scaling_cli.render.documents import dumps
    from scaling_cli.render.tables import schema_table

    if fmt is OutputFormat.json:
        emit_text(dumps({"fields": [
            {"name": f.name, "required": f.required, "kind": f.kind, "description": f.doc}
            for f in FIELDS]}))
    elif fmt is OutputFormat.csv:
        raise typer.BadParameter("the schema prints as table or json", param_hint="--format")
    else:
        emit_text(schema_table(FIELDS, _SCHEMA_EXAMPLE))


_SCHEMA_EXAMPLE = """Example run log (one file may hold one run, a `runs:` list, or --- documents):

runs:
  - id: ladder-70M-1e19
    params: 70M          # 7e7, 70M, 0.07B are all the same number
    tokens: 24B
    loss: 3.12           # final loss, nats/token
    flops: 1.0e19        # optional; defaults to k*N*D
    group: ladder-70M    # optional; rows of one training run share a group
    tags: [isoflop]
  - id: ladder-1B-diverged
    params: 1B
    tokens: 20B
    loss: 9.9
    exclude: true
    exclude_reason: diverged at step 4k
"""
