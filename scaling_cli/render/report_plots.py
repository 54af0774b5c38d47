"""The plots of ``scaling report``: each picture the model can fill, drawn as SVG text for
:func:`scaling_cli.render.report_page.render_html` to inline.

Which pictures (:mod:`scaling_cli.render.plot` draws them, at the largest budget asked for):

- ``isoflop`` and ``allocation`` always (a published law draws its curves without runs);
- ``residuals`` when the model has its runs (run logs, or a fit file that carries them);
- ``bootstrap`` when it has bootstrap replicates.

The four-panel ``summary`` is left out: it repeats these four, smaller.

matplotlib is optional (the ``plot`` extra). Without it, or when it fails to start, the
report is still made: :func:`report_plots` returns no SVG and the reason, which the page
prints where the plots would be (the numbers, which are the report, do not need them).
``drawn_by`` names the matplotlib version, for the page's provenance: SVG text is the same
for the same inputs with the same matplotlib, not across its versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scaling_cli.errors import DependencyError
from scaling_cli.model import Model

__all__ = ["REPORT_PLOTS", "ReportPlots", "plot_kinds", "report_plots"]

REPORT_PLOTS = ("isoflop", "allocation", "residuals", "bootstrap")  # in page order


@dataclass(frozen=True)
class ReportPlots:
    """SVG text by plot name (page order), or why there is none."""

    svgs: Mapping[str, str] = field(default_factory=dict)
    missing: str | None = None  # why the page has no plots
    drawn_by: str | None = None  # "matplotlib 3.10.1"


def plot_kinds(model: Model) -> tuple[str, ...]:
    """The pictures ``model`` can fill (see the module doc)."""
    return tuple(kind for kind in REPORT_PLOTS
                 if (kind != "residuals" or model.runs is not None)
                 and (kind != "bootstrap" or model.samples is not None))


def report_plots(model: Model, *, budget: float, confidence: float) -> ReportPlots:
    """Every picture :func:`plot_kinds` allows, as SVG text, marking ``budget`` (FLOPs);
    without a usable matplotlib, none and the reason (never an error: see the module doc)."""
    from scaling_cli.render.plot import figure, render, require_matplotlib

    try:
        require_matplotlib()
    except DependencyError as exc:
        return ReportPlots(missing=exc.problem)
    import matplotlib

    svgs = {kind: render(figure(model, kind, budget=budget, confidence=confidence), "svg")
            .decode("utf-8") for kind in plot_kinds(model)}
    return ReportPlots(svgs, drawn_by=f"matplotlib {matplotlib.__version__}")
