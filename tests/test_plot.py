"""`scaling plot`: every kind renders; what is drawn is checked on the Figure, not on pixels."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from scaling_cli.errors import DependencyError, UsageError
from scaling_cli.fit.approach2 import LEVEL_TOLERANCE_DEX
from scaling_cli.fit.build import FitSettings, fit_runs
from scaling_cli.forecast.answers import optimal
from scaling_cli.law import optimal_allocation, predict_loss
from scaling_cli.model import Model
from scaling_cli.read.fitfile import read_fit_file
from scaling_cli.read.presets import published_model as preset_model
from scaling_cli.read.runs import load_runs
from scaling_cli.render import plot
from scaling_cli.units import format_count

from .conftest import ROOT
from .test_cli import run

SAMPLE = str(ROOT / "sample_runs")
REPS = 100
BUDGETS = [1e18, 3e18, 1e19, 3e19, 1e20, 3e20, 1e21]  # scripts/make_sample_runs.py


def sample_model(replicates: int = REPS) -> Model:
    return fit_runs(load_runs([SAMPLE]), FitSettings(replicates=replicates))


@pytest.fixture(scope="module")
def model() -> Model:
    return sample_model()


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fit") / "fit.json"
    code, _, err = run("fit", SAMPLE, "--bootstrap", str(REPS), "-o", str(path), "-q")
    assert code == 0, err
    return path


def drawn(fig: Any, gid: str) -> list[Any]:
    """The artists tagged ``gid`` on any of the figure's axes."""
    return [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]


def points(fig: Any, gid: str) -> np.ndarray:
    """All scatter offsets tagged ``gid``, stacked (n, 2)."""
    found = [a.get_offsets() for a in drawn(fig, gid)]
    return np.vstack(found) if found else np.empty((0, 2))


def x_extent(patch: Any) -> tuple[float, float]:
    """x range of an axvspan, whatever patch type this matplotlib returns."""
    xs = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 0]
    return float(xs.min()), float(xs.max())


def tick_texts(ax: Any, which: str) -> set[str]:
    """The major tick labels in view (without drawing the figure)."""
    axis = getattr(ax, f"{which}axis")
    low, high = axis.get_view_interval()
    ticks = [x for x in axis.get_majorticklocs() if low <= x <= high]
    return set(axis.get_major_formatter().format_ticks(ticks))


# --------------------------------------------------------------------------- budgets


def test_isoflop_budgets_of_the_sample_ladder(model: Model) -> None:
    assert model.runs is not None
    budgets, member = plot.isoflop_budgets(model.runs.compute_flops)
    assert budgets == pytest.approx(BUDGETS, rel=0.01)
    assert np.bincount(member).tolist() == [7] * 7


def test_isoflop_budgets_leave_runs_off_the_grid_as_points() -> None:
    compute = [1e18, 1.02e18, 0.98e18, 5e19, 2e20, 2.1e20]
    budgets, member = plot.isoflop_budgets(compute)
    assert budgets == pytest.approx([1e18], rel=0.01)
    assert member.tolist() == [0, 0, 0, -1, -1, -1]
    # a smooth sweep (0.02 dex apart) does not chain into one budget spanning decades
    sweep = np.geomspace(1e18, 1e20, 101)
    budgets, member = plot.isoflop_budgets(sweep)
    assert len(budgets) > 20
    for i in range(len(budgets)):
        span = np.ptp(np.log10(sweep[member == i]))
        assert span <= LEVEL_TOLERANCE_DEX + 1e-12
    assert plot.isoflop_budgets([])[0].size == 0


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("kind", plot.KINDS)
def test_each_kind_renders_a_non_trivial_png(model: Model, kind: str) -> None:
    from matplotlib.image import imread

    fig = plot.figure(model, kind, budget=1e24)
    data = plot.render(fig, "png", dpi=60)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    pixels = imread(io.BytesIO(data), format="png")
    width, height = fig.get_size_inches() * 60
    assert pixels.shape[:2] == (round(height), round(width))
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 100  # a plot, not a blank or one-colour page


def data_of(fig: Any) -> dict[str, list[Any]]:
    """Every tagged artist's data (scatter offsets, line and band coordinates, text), by gid."""
    out: dict[str, list[Any]] = {}
    for ax in fig.axes:
        for a in ax.get_children():
            if a.get_gid() is None:
                continue
            if hasattr(a, "get_text"):
                data = a.get_text()
            elif hasattr(a, "get_offsets"):
                data = np.asarray(a.get_offsets())
            elif hasattr(a, "get_xydata"):
                data = np.asarray(a.get_xydata())
            elif hasattr(a, "get_paths"):
                data = np.vstack([p.vertices for p in a.get_paths()])
            else:
                data = a.get_patch_transform().transform(a.get_path().vertices)
            out.setdefault(a.get_gid(), []).append(data)
    return out


@pytest.mark.parametrize("kind", plot.KINDS)
def test_a_fit_file_draws_what_its_runs_draw(model: Model, fit_file: Path, kind: str) -> None:
    fitted = read_fit_file(str(fit_file))
    from_runs = data_of(plot.figure(model, kind, budget=1e24))
    from_file = data_of(plot.figure(fitted, kind, budget=1e24))
    assert from_file.keys() == from_runs.keys() and len(from_runs) >= 4
    for gid, arrays in from_runs.items():
        for a, b in zip(arrays, from_file[gid], strict=True):
            if isinstance(a, str):
                assert a == b
            else:
                np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=gid)


def test_the_cli_writes_the_image_from_a_fit_file(fit_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "forecast.svg"
    code, stdout, err = run("plot", "--fit", str(fit_file), "-b", "1e24", "-o", str(out))
    assert (code, stdout) == (0, ""), err
    assert err.endswith(f"wrote {out} (summary, {out.stat().st_size:,} bytes)\n")
    assert "1e24 FLOPs is 998x beyond the largest run's compute" in err  # its reach, warned
    text = out.read_text()
    assert text.startswith("<?xml") and "<svg" in text and len(text) > 100_000


def test_same_input_and_seed_give_byte_identical_files(fit_file: Path, tmp_path: Path) -> None:
    for ext, kind in (("png", "bootstrap"), ("svg", "isoflop"), ("pdf", "bootstrap")):
        files = [tmp_path / f"{i}.{ext}" for i in range(2)]
        for f in files:
            assert run("plot", "--fit", str(fit_file), "-b", "1e24", "--kind", kind, "-o",
                       str(f), "--dpi", "40", "-q") == (0, "", "")
        first = files[0].read_bytes()
        assert first == files[1].read_bytes(), ext
        for stamp in (b"<dc:date>", b"/CreationDate", b"Matplotlib v", b"Software"):
            assert stamp not in first, (ext, stamp)


# --------------------------------------------------------------------------- what is drawn


def test_isoflop_draws_the_runs_the_fitted_curves_and_their_closed_form_minima(
        model: Model) -> None:
    assert model.runs is not None
    fig = plot.figure(model, "isoflop", budget=1e24)
    (ax,) = fig.axes
    runs = points(fig, "runs")
    assert len(runs) == 49
    assert sorted(map(tuple, runs)) == sorted(zip(model.runs.params, model.runs.loss,
                                                  strict=True))
    budgets, _ = plot.isoflop_budgets(model.runs.compute_flops)
    best = optimal_allocation(model.law, budgets)
    minima = points(fig, "isoflop-minima")
    np.testing.assert_allclose(minima, np.column_stack([best.params, best.loss]), rtol=1e-12)
    curves = drawn(fig, "isoflop-curve")
    assert len(curves) == 7
    for curve, c, n_star in zip(curves, budgets, best.params, strict=True):
        n, loss = curve.get_xdata(), curve.get_ydata()
        np.testing.assert_allclose(loss, predict_loss(model.law, n, c / (6 * n)), rtol=1e-12)
        step = n[1] / n[0]
        assert 1 / step <= n[np.argmin(loss)] / n_star <= step  # the curve bottoms out at N*
    forecast = optimal(model, [1e24], confidence=0.95).rows[0]
    star = points(fig, "forecast-point")
    np.testing.assert_allclose(star, [[forecast.params.value, forecast.loss.value]], rtol=1e-12)
    (text,) = drawn(fig, "forecast-text")
    p = forecast.params
    assert (f"N* = {format_count(p.value)}  [{format_count(p.low)} – {format_count(p.high)}]"
            in text.get_text())
    assert ax.get_xlabel() == "model size N (parameters)"
    assert ax.get_ylabel() == "final loss (nats/token)"
    assert {"100M", "1B", "10B", "100B"} <= tick_texts(ax, "x")
    labels = ax.get_legend_handles_labels()[1]
    assert labels[:7] == [f"{b:g} FLOPs".replace("+", "") for b in BUDGETS]
    assert {"forecast at 1e24 FLOPs", "95% band", "law's minimum per budget"} <= set(labels)


def test_title_names_the_runs_the_law_and_the_convention(model: Model) -> None:
    title = plot.figure(model, "isoflop").get_suptitle()
    for text in ("isoFLOP profiles", "49 runs (1 excluded) from", "sample_runs/ (8 files)",
                 "C = 6·N·D", "(Approach 3)", "95% bootstrap bands: 100 replicates by run",
                 "seed 0", f"{model.law.E:.4g}"):
        assert text in title, text


def test_title_of_a_fit_file_names_it_and_its_runs(fit_file: Path) -> None:
    fitted = read_fit_file(str(fit_file))
    title = plot.figure(fitted, "allocation", budget=1e24).get_suptitle()
    assert "49 runs (1 excluded) from" in title and f" via {fit_file}"[-40:] in title
    assert "95% bootstrap bands: 100 replicates by run, seed 0" in title


def test_allocation_lines_and_bands_are_the_closed_form_and_the_replicate_percentiles(
        model: Model) -> None:
    fig = plot.figure(model, "allocation", budget=1e24, confidence=0.9)
    (ax,) = fig.axes
    (line,) = drawn(fig, "allocation-params")
    cs = line.get_xdata()
    np.testing.assert_allclose(line.get_ydata(), optimal_allocation(model.law, cs).params,
                               rtol=1e-12)
    assert cs.min() < 1e18 and cs.max() > 1e24
    (band,) = drawn(fig, "allocation-tokens-band")
    vertices = band.get_paths()[0].vertices
    assert model.sample_law is not None
    reps = optimal_allocation(model.sample_law.as_column(), cs[None, :]).tokens
    for j in (0, 100, 199):
        low, high = np.percentile(reps[:, j], [5, 95])
        ys = vertices[np.isclose(vertices[:, 0], cs[j], rtol=1e-12), 1]
        assert ys.min() == pytest.approx(low, rel=1e-12)
        assert ys.max() == pytest.approx(high, rel=1e-12)
    forecast = optimal(model, [1e24], confidence=0.9).rows[0]
    for field in ("params", "tokens"):
        est = getattr(forecast, field)
        (bar,) = [a for a in drawn(fig, f"budget-{field}-interval")
                  if type(a).__name__ == "LineCollection"]
        np.testing.assert_allclose(bar.get_segments()[0], [[1e24, est.low], [1e24, est.high]],
                                   rtol=1e-12)
    assert len(points(fig, "runs-params")) == len(points(fig, "runs-tokens")) == 49
    assert ax.get_xlabel() == "training compute C (FLOPs)"
    assert "(parameters)" in ax.get_ylabel() and "(tokens)" in ax.get_ylabel()
    assert {"1e18", "1e21", "1e24"} <= tick_texts(ax, "x")
    assert {"1B", "1T"} <= tick_texts(ax, "y")
    (span,) = drawn(fig, "extrapolation")
    assert model.runs is not None
    assert x_extent(span)[0] == pytest.approx(model.runs.compute_flops.max())


def test_bootstrap_cloud_is_the_replicates_allocation(model: Model) -> None:
    assert model.sample_law is not None and model.samples is not None
    fig = plot.figure(model, "bootstrap", budget=1e24)
    cloud = points(fig, "bootstrap-cloud")
    reps = optimal_allocation(model.sample_law, 1e24)
    assert len(cloud) == len(model.samples) == REPS
    np.testing.assert_allclose(cloud, np.column_stack([reps.params, reps.tokens]), rtol=1e-12)
    np.testing.assert_allclose(6 * cloud[:, 0] * cloud[:, 1], 1e24, rtol=1e-9)
    forecast = optimal(model, [1e24], confidence=0.95).rows[0]
    (span,) = drawn(fig, "bootstrap-params-interval")
    assert x_extent(span) == pytest.approx((forecast.params.low, forecast.params.high))
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert f"D*/N* = {forecast.tokens_per_param.value:.3g}" in texts
    ax = fig.axes[0]
    assert ax.get_xlabel() == "compute-optimal model size N* (parameters)"
    assert "100B" in tick_texts(ax, "x") and "1T" in tick_texts(ax, "y")


def test_residuals_plot_every_run_against_the_law(model: Model) -> None:
    assert model.runs is not None
    fig = plot.figure(model, "residuals")
    predicted = predict_loss(model.law, model.runs.params, model.runs.tokens)
    left = points(fig, "residual-runs")
    assert sorted(map(tuple, left)) == sorted(zip(predicted, model.runs.loss, strict=True))
    right = points(fig, "residual-percent")
    assert len(right) == 49 and np.abs(right[:, 1]).max() < 2  # sample noise is 0.5%
    assert not drawn(fig, "residual-percent-held-out")
    assert fig.axes[0].get_xlabel() == "predicted loss (nats/token)"
    assert fig.axes[1].get_ylabel() == "residual: actual / predicted − 1 (%)"


def test_held_out_runs_are_marked_with_the_backtest_predictions(model: Model) -> None:
    assert model.runs is not None
    ids = [i for i in model.runs.ids if i.startswith("c1e21")]  # the largest budget
    guess = np.linspace(2.3, 2.5, len(ids))
    held = plot.held_out_from_ids(model.runs, ids, guess)
    assert held.mask.sum() == len(ids) == 7
    for kind in ("residuals", "summary"):
        fig = plot.figure(model, kind, budget=1e24, held_out=held)
        assert len(points(fig, "residual-percent")) == 42
        marked = points(fig, "residual-percent-held-out")
        loss = {i: v for i, v in zip(model.runs.ids, model.runs.loss, strict=True)}
        expected = [100 * (loss[i] / g - 1) for i, g in zip(ids, guess, strict=True)]
        assert sorted(marked[:, 1]) == pytest.approx(sorted(expected), rel=1e-12)
        labels = [t.get_text() for ax in fig.axes if ax.get_legend()
                  for t in ax.get_legend().get_texts()]
        assert "held out (not in the fit)" in labels
    fig = plot.figure(model, "residuals", held_out=held)
    np.testing.assert_allclose(sorted(points(fig, "residual-runs-held-out")[:, 0]), guess)
    without_predictions = plot.held_out_from_ids(model.runs, ids[:2])
    assert without_predictions.predicted_loss is None
    with pytest.raises(UsageError, match="held-out run 'nope' is not among the fitted runs"):
        plot.held_out_from_ids(model.runs, ["nope"])
    with pytest.raises(UsageError, match="2 held-out predictions for 7 held-out runs"):
        plot.figure(model, "residuals", held_out=plot.HeldOutRuns(held.mask, np.ones(2)))


def test_colour_blind_safe_palette(model: Model) -> None:
    from matplotlib.colors import to_hex

    fig = plot.figure(model, "allocation", budget=1e24)
    (n_line,) = drawn(fig, "allocation-params")
    (d_line,) = drawn(fig, "allocation-tokens")
    assert to_hex(n_line.get_color()).upper() == plot.OKABE_ITO["blue"]
    assert to_hex(d_line.get_color()).upper() == plot.OKABE_ITO["orange"]
    fig = plot.figure(model, "isoflop", budget=1e24)
    (curve,) = drawn(fig, "forecast-curve")
    assert to_hex(curve.get_color()).upper() == plot.OKABE_ITO["vermillion"]


# --------------------------------------------------------------------------- no runs, no replicates


def test_runs_on_no_shared_budget_are_points_without_curves() -> None:
    from scaling_cli.fit.build import FitSettings, fit_runs
    from scaling_cli.read.runs import runset_from_arrays

    compute = 10 ** (17 + 0.1 * np.arange(40))  # 0.1 decades apart: no two share a budget
    n = 10 ** (7 + 2 * (np.arange(40) * 0.618 % 1))
    d = compute / (6 * n)
    loss = 1.85 + 520 / n**0.34 + 1900 / d**0.36
    sweep = fit_runs(runset_from_arrays(n, d, loss), FitSettings(replicates=40))
    assert plot.isoflop_budgets(6 * n * d)[0].size == 0
    for kind in plot.KINDS:
        fig = plot.figure(sweep, kind, budget=1e23)
        assert not drawn(fig, "isoflop-curve")
    fig = plot.figure(sweep, "isoflop", budget=1e23)
    assert len(points(fig, "runs")) == 40
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "runs on no shared budget" in labels and "law's minimum per budget" not in labels


def test_a_published_law_draws_curves_without_points() -> None:
    preset = preset_model("epoch-2024")
    fig = plot.figure(preset, "isoflop", budget=1e24)
    assert not drawn(fig, "runs") and not drawn(fig, "forecast-band")
    assert len(drawn(fig, "isoflop-curve")) == 3
    np.testing.assert_allclose(points(fig, "isoflop-minima")[:, 0],
                               optimal_allocation(preset.law, [1e21, 1e22, 1e23]).params)
    assert "published law epoch-2024 (no runs)" in fig.get_suptitle()
    assert len(plot.figure(preset, "summary", budget=1e24).axes) == 2  # the panels it can fill
    assert len(plot.figure(preset, "allocation", budget=1e24).axes) == 1


def test_without_replicates_the_summary_says_why_the_cloud_is_missing() -> None:
    fig = plot.figure(sample_model(0), "summary", budget=1e24)
    assert len(fig.axes) == 4 and not drawn(fig, "bootstrap-cloud")
    assert not drawn(fig, "forecast-band") and not drawn(fig, "allocation-params-band")
    note = fig.axes[3].texts[0].get_text().replace("\n", " ")
    assert note.startswith("the bootstrap cloud needs bootstrap replicates: give run logs")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--law", "epoch-2024", "-b", "1e24", "--kind", "residuals"],
         "Error: --kind residuals needs the runs behind a fit: give run logs or a fit file "
         "(a published law has no runs)\n"),
        (["--law", "epoch-2024", "-b", "1e24", "--kind", "bootstrap"],
         "Error: --kind bootstrap needs bootstrap replicates: give run logs with --bootstrap "
         "of 40 or more, or a fit file that has them (a published law has none)\n"),
        (["--law", "epoch-2024"],
         "Error: --kind summary needs --budget (the compute to forecast), e.g. 1e24\n"),
        (["--law", "epoch-2024", "--kind", "isoflop"],
         "Error: --kind isoflop with a published law (no runs) needs --budget, e.g. 1e24\n"),
        (["--law", "epoch-2024", "-b", "1e24pflops"],
         "Error: --budget: '1e24pflops': unknown unit; write a budget as 1e24 (FLOPs), "
         "2e6gpu-hours, 30days, 5e6usd or $5M\n"),
    ],
)
def test_what_a_kind_needs_is_a_clear_error(tmp_path: Path, args: list[str],
                                            message: str) -> None:
    out = tmp_path / "out.png"
    assert run("plot", *args, "-o", str(out)) == (2, "", message)
    assert not out.exists()


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("forecast.jpg", "Error: --output forecast.jpg: cannot tell the image format from "
                         "'.jpg'; name the file .png, .svg or .pdf\n"),
        ("forecast", "Error: --output forecast: cannot tell the image format from no "
                     "extension; name the file .png, .svg or .pdf\n"),
    ],
)
def test_bad_extension_is_exit_2_with_a_clear_message(tmp_path: Path, output: str,
                                                      message: str) -> None:
    assert run("plot", "--law", "epoch-2024", "-b", "1e24", "-o", str(tmp_path / output)) == (
        2, "", message.replace(output, str(tmp_path / output), 1))


def test_output_and_dpi_are_checked_before_any_work() -> None:
    assert run("plot", "--law", "epoch-2024", "-b", "1e24") == (
        2, "", "Error: --output is required, e.g. -o forecast.png (.png, .svg or .pdf)\n")
    assert run("plot", "--law", "epoch-2024", "-b", "1e24", "-o", "x.png", "--dpi", "0") == (
        2, "", "Error: --dpi 0: give a resolution between 10 and 1200, e.g. 150\n")


def test_png_size_follows_dpi(tmp_path: Path) -> None:
    from matplotlib.image import imread

    out = tmp_path / "preset.png"
    assert run("plot", "--law", "epoch-2024", "-b", "1e24", "-o", str(out), "--dpi", "40",
               "--kind", "allocation", "-q") == (0, "", "")
    assert imread(out).shape[:2] == (260, 400)  # 10 x 6.5 inches


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    preset = preset_model("epoch-2024")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    with pytest.raises(DependencyError) as caught:
        plot.figure(preset, "allocation", budget=1e24)
    assert str(caught.value) == plot.MISSING_MATPLOTLIB
    out = tmp_path / "out.png"
    assert run("plot", SAMPLE, "-b", "1e24", "-o", str(out)) == (
        2, "", "Error: plots need matplotlib, an optional extra: pip install "
               "'scaling-cli[plot]' (in a source checkout: pip install -e '.[plot]')\n")
    assert not out.exists()


def test_unknown_kind_in_the_library() -> None:
    with pytest.raises(UsageError, match="`kind` 'pie': choose one of summary, isoflop"):
        plot.figure(preset_model("epoch-2024"), "pie", budget=1e24)
