"""Hyperparameter laws: sweep reading, the near-best rules, the cell bootstrap, answers with
intervals, plan checks, presets, and the Step Law release (skipped when the data is absent)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from scaling_cli.errors import FitError, InputError, UsageError
from scaling_cli.fit.hparams import HparamFit, HparamLaw, fit_hparams, rule_sensitivity
from scaling_cli.forecast import hparams as forecast_hparams
from scaling_cli.forecast.hparams import (
    HparamAdvice,
    check_hparams,
    law_report,
    load_hparam_presets,
    recommend_hparams,
)
from scaling_cli.forecast.intervals import Estimate
from scaling_cli.read.sweeps import Sweep, parse_sweep, read_sweeps

from .conftest import shared_csv

# The true law of the synthetic sweeps: lr* = 2 N^-0.7 D^0.3, batch* = 0.5 D^0.55 (tokens).
TRUE = HparamLaw(2.0, -0.7, 0.3, 0.5, 0.0, 0.55)
CELLS = [(n, d) for n in (1e8, 2e8, 4e8, 8e8) for d in (2e9, 8e9, 3.2e10)]
STEPLAW_COLUMNS = {"id": "exp_name", "params": "N", "tokens": "D", "batch": "bs",
                   "smoothed_loss": "smooth loss", "steps": "ti"}


def synthetic_rows(*, noise: float = 0.0, seed: int = 0, cells: list[tuple[float, float]]
                   | None = None, lr_span: tuple[float, float] = (-1.2, 1.2)) -> list[dict]:
    """A grid of 13 learning rates x 7 batch sizes per cell around the true optimum; the loss
    is an exact quadratic bowl in (log lr, log batch) plus optional multiplicative noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for n, d in cells or CELLS:
        lr_star, b_star = float(TRUE.lr(n, d)), float(TRUE.batch_tokens(n, d))
        base = 2.0 + 400 / n**0.34 + 400 / d**0.28
        for u in np.linspace(*lr_span, 13):
            for v in np.linspace(-1.0, 1.0, 7):
                loss = base * (1 + 0.02 * u**2 + 0.01 * v**2 + 0.004 * u * v)
                loss *= math.exp(rng.normal(0, noise)) if noise else 1.0
                rows.append({"id": f"n{n:.0e}-d{d:.0e}-{u:+.2f}-{v:+.2f}", "params": n,
                             "tokens": d, "lr": lr_star * math.exp(u),
                             "batch": b_star * math.exp(v), "loss": float(loss)})
    return rows


def as_csv(rows: list[dict]) -> str:
    keys = list(rows[0])
    return "\n".join([",".join(keys), *(",".join(repr(r[k]) if isinstance(r[k], float)
                                                 else str(r[k]) for k in keys) for r in rows)])


def sweep_of(rows: list[dict]) -> Sweep:
    return parse_sweep(as_csv(rows), "sweep.csv", kind="csv")


# --------------------------------------------------------------------------- reading


def test_csv_with_column_mapping_and_batch_in_sequences() -> None:
    text = ("name,N,D,lr,bs,loss,smooth loss,ti\n"
            "a,215M,1e11,3.453e-04,736,2.41,2.40,66342\n"
            "b,215M,1e11,6.9e-4,736,2.40,2.39,66342\n")
    sweep = parse_sweep(text, "s.csv", kind="csv", batch_unit="sequences", seq_len=2048,
                        columns={"id": "name", "params": "N", "tokens": "D", "batch": "bs",
                                 "smoothed_loss": "smooth loss", "steps": "ti"})
    assert [r.run_id for r in sweep.runs] == ["a", "b"]
    assert sweep.runs[0].params == 215e6
    assert sweep.runs[0].batch_tokens == 736 * 2048
    assert sweep.runs[0].smoothed_loss == 2.40
    assert sweep.runs[0].where == "s.csv: line 2 (id 'a')"


def test_yaml_numbers_are_read_by_the_unit_parser(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("runs:\n"
                    "  - {id: r1, params: 215M, tokens: 1e11, lr: 3e-4, batch: 1.5M, "
                    "loss: 2.41, meta: {note: free}}\n"
                    "  - {id: 010, params: 2.15e8, tokens: 100B, lr: 0.0006, batch: 1500000, "
                    "loss: '2.4'}\n")
    sweep = read_sweeps([path])
    ids = {r.run_id: r for r in sweep.runs}
    assert set(ids) == {"r1", "010"}  # YAML 1.1 would have read 010 as the integer 8
    assert ids["r1"].lr == 3e-4 and ids["r1"].batch_tokens == 1.5e6
    assert ids["010"].tokens == 1e11 and ids["010"].loss == 2.4


@pytest.mark.parametrize(("text", "kind", "options", "message"), [
    ("id,params,tokens,lr,batch,loss\na,1e8,1e9,fast,1000,2.5\n", "csv", {},
     "s: line 2 (id 'a'): field 'lr': 'fast' is not a number; write e.g. 7e9, 7B, 1.4T or "
     "3e23"),
    ("id,params,tokens,lr,batch,loss\na,1e8,1e9,30,1000,2.5\n", "csv", {},
     "s: line 2 (id 'a'): field 'lr': '30' is not a plausible peak learning rate (expected "
     "0 to 10); check its units"),
    ("id,params,tokens,lr,batch\na,1e8,1e9,1e-3,1000\n", "csv", {},
     "s: no column for required field 'loss'; add it or map one to it in `columns` (columns "
     "are 'id', 'params', 'tokens', 'lr', 'batch')"),
    ("id,params,tokens,lr,batch,loss\na,1e8,1e9,1e-3,1000\n", "csv", {},
     "s: line 2: has 5 cells but the header has 6; fix the row or quote cells with commas"),
    ("id,params,tokens,lr,batch,loss\na,1e8,1e9,1e-3,1000,2.5\na,1e8,1e9,2e-3,1000,2.4\n",
     "csv", {},
     "s: line 3 (id 'a'): id also used at s: line 2; give every run its own id"),
    ("id,params,tokens,lr,batch,loss,steps\na,1e8,1e9,1e-3,1000,2.5,500\n", "csv",
     {"batch_unit": "sequences", "seq_len": 1024},
     "s: line 2 (id 'a'): field 'tokens': 1B is 1.95 times batch x steps (1.02M tokens x "
     "500); check the batch unit and sequence length"),
    ("runs:\n  - {id: a, params: 1e8, tokns: 1e9, lr: 1e-3, batch: 1000, loss: 2.5}\n",
     "yaml", {}, "s: run 1 (id 'a'): unknown field 'tokns'; did you mean 'tokens'?"),
    ("runs:\n  - {id: a, params: 1e8, tokens: 1e9, lr: 1e-3, batch: 1000}\n", "yaml", {},
     "s: run 1 (id 'a'): field 'loss' is missing; add it (or map a column to it in "
     "`columns`)"),
    ("base: &b {params: 1e8}\nruns:\n  - *b\n", "yaml", {},
     "s: document 1: unexpected key 'base' beside `runs:`; put run fields inside each entry"),
    ("runs:\n  - id: a\n    lr: 1e-3\n    lr: 2e-3\n", "yaml", {},
     "s: line 4, column 5: key 'lr' appears twice in one mapping (first on line 3); keep one"),
])
def test_sweep_errors_name_file_line_run_and_field(text: str, kind: str, options: dict,
                                                   message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_sweep(text, "s", kind=kind, **options)
    assert str(info.value) == message


def test_yaml_sweeps_use_the_project_loader_merge_keys_included() -> None:
    text = ("runs:\n  - {<<: {params: 1e8, tokens: 1e9, batch: 1000}, id: a, lr: 1e-3, "
            "loss: 2.5}\n")
    sweep = parse_sweep(text, "s", kind="yaml")
    assert (sweep.runs[0].params, sweep.runs[0].batch_tokens) == (1e8, 1000.0)


def test_file_errors(tmp_path: Path) -> None:
    wrong = tmp_path / "sweep.txt"
    wrong.write_text("id\n")
    binary = tmp_path / "sweep.csv"
    binary.write_bytes(b"id,params\n\xff\n")
    for path, message in ((wrong, f"{wrong}: not a sweep file; give a .csv, .yaml or .yml "
                                  "file"),
                          (binary, f"{binary}: byte 10 is not UTF-8; save the file as UTF-8 "
                                   "text")):
        with pytest.raises(InputError) as info:
            read_sweeps([path])
        assert str(info.value) == message


def test_batch_in_sequences_needs_a_sequence_length() -> None:
    with pytest.raises(UsageError) as info:
        parse_sweep("id,params,tokens,lr,batch,loss\na,1e8,1e9,1e-3,64,2.5\n", "s",
                    kind="csv", batch_unit="sequences")
    assert str(info.value) == ("s: line 2 (id 'a'): field 'batch' is in sequences but no "
                               "sequence length is known; give `seq_len` (e.g. 2048) or a "
                               "seq_len field")
    with pytest.raises(UsageError, match=r"^columns: 'lrate' is not a sweep field; fields are"):
        parse_sweep("id\n", "s", kind="csv", columns={"lrate": "x"})


# --------------------------------------------------------------------------- the law


def test_law_is_the_power_law_in_its_docstring() -> None:
    n, d = np.array([1e8, 3e9]), np.array([2e10, 5e11])
    np.testing.assert_allclose(TRUE.lr(n, d), 2.0 * n**-0.7 * d**0.3, rtol=1e-13)
    np.testing.assert_allclose(TRUE.batch_tokens(n, d), 0.5 * d**0.55, rtol=1e-13)


def test_parabola_rule_recovers_the_exact_optimum_of_a_quadratic_bowl() -> None:
    fit = fit_hparams(sweep_of(synthetic_rows()), rule="parabola", bootstrap=0)
    for name, true in zip(("lr_coef", "lr_params_exponent", "lr_tokens_exponent",
                           "batch_tokens_coef", "batch_tokens_exponent"),
                          (2.0, -0.7, 0.3, 0.5, 0.55), strict=True):
        assert getattr(fit.law, name) == pytest.approx(true, rel=1e-7, abs=1e-9), name
    assert fit.residual_rms_log_lr < 1e-9
    assert fit.lr_points == fit.batch_points == len(CELLS)
    assert fit.warnings == ("near-best runs chosen on the final loss (no smoothed_loss): "
                            "noisier than the paper's smoothed loss, so the selection itself "
                            "is noisier",)


def test_tolerance_rule_recovers_the_exponents_to_grid_resolution() -> None:
    for weighting in ("runs", "cells"):
        fit = fit_hparams(sweep_of(synthetic_rows()), tolerance=0.005, weighting=weighting,
                          bootstrap=0)
        # the grid is symmetric around the optimum, so the near-best set is centred on it
        assert fit.law.lr_params_exponent == pytest.approx(-0.7, abs=1e-9)
        assert fit.law.lr_tokens_exponent == pytest.approx(0.3, abs=1e-9)
        assert fit.law.batch_tokens_exponent == pytest.approx(0.55, abs=1e-9)
        assert fit.loss_used == "final"


def test_bootstrap_is_seeded_and_its_interval_covers_the_truth_under_noise() -> None:
    sweep = sweep_of(synthetic_rows(noise=0.002, seed=3))
    one = fit_hparams(sweep, rule="parabola", bootstrap=500, seed=7)
    two = fit_hparams(sweep, rule="parabola", bootstrap=500, seed=7)
    other = fit_hparams(sweep, rule="parabola", bootstrap=500, seed=8)
    assert one.replicates is not None and two.replicates is not None
    assert other.replicates is not None
    np.testing.assert_array_equal(one.replicates.lr_tokens_exponent,
                                  two.replicates.lr_tokens_exponent)
    assert not np.array_equal(one.replicates.lr_tokens_exponent,
                              other.replicates.lr_tokens_exponent)
    report = law_report(one)
    for name, true in (("lr_params_exponent", -0.7), ("lr_tokens_exponent", 0.3),
                       ("batch_tokens_exponent", 0.55)):
        est = getattr(report, name)
        assert est.low < true < est.high, name
        assert est.high - est.low < 0.3, name  # an interval, not the whole line
    assert report.replicates == 500 - one.failed_resamples


def test_result_does_not_depend_on_file_order() -> None:
    rows = synthetic_rows(noise=0.002, seed=1)
    shuffled = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    a = fit_hparams(sweep_of(rows), bootstrap=200, seed=0)
    b = fit_hparams(sweep_of(shuffled), bootstrap=200, seed=0)
    assert a.law == b.law and a.cells == b.cells
    assert a.replicates is not None and b.replicates is not None
    for x, y in zip(a.replicates.as_arrays(), b.replicates.as_arrays(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_collinear_cells_cannot_identify_the_exponents() -> None:
    cells = [(n, 20 * n) for n in (1e8, 2e8, 4e8, 8e8)]  # one tokens-per-param ratio
    with pytest.raises(FitError) as info:
        fit_hparams(sweep_of(synthetic_rows(cells=cells)), bootstrap=0)
    assert str(info.value) == (
        "sweep.csv: the sweep cannot identify the learning-rate law: its 4 usable cells have "
        "4 distinct N and 4 distinct D on one line in (log N, log D); add cells at other N "
        "and D (e.g. two token counts per model size)")


def test_degenerate_resamples_are_counted_not_hidden() -> None:
    cells = [(1e8, 2e9), (4e8, 2e9), (1e8, 8e9)]
    fit = fit_hparams(sweep_of(synthetic_rows(cells=cells)), bootstrap=400, seed=0)
    assert fit.failed_resamples > 0
    assert fit.replicates is not None
    assert np.size(fit.replicates.lr_coef) == 400 - fit.failed_resamples
    assert (f"{fit.failed_resamples} of 400 bootstrap resamples could not identify the law "
            "(too few distinct N or D drawn) and were left out of the intervals") in fit.warnings
    assert "only 3 (N, D) cells: exponents from so few cells are fragile" in fit.warnings


def test_an_optimum_at_the_edge_of_the_sweep_is_flagged() -> None:
    rows = [r for r in synthetic_rows() if r["lr"] <= TRUE.lr(r["params"], r["tokens"])]
    fit = fit_hparams(sweep_of(rows), bootstrap=0)
    assert all(c.lr_at_edge for c in fit.cells)
    assert any(w.startswith("cell N=100M, D=2B: the near-best learning rates (") and
               w.endswith("reach the edge of the swept range; the cell's optimum may lie "
                          "beyond it: extend the sweep") for w in fit.warnings)


@pytest.mark.parametrize(("options", "message"), [
    ({"rule": "best"}, "rule: 'best': use one of tolerance, parabola"),
    ({"tolerance": 0.7}, "tolerance: 0.7: give a fraction of the best loss in [0, 0.5), e.g. "
                         "0.0025 for 0.25%"),
    ({"bootstrap": -1}, "bootstrap: -1: give 0 to 100,000 replicates"),
    ({"loss": "smoothed"}, "sweep.csv: line 47 (id 'n1e+08-d2e+09-+0.00-+0.00'): field "
                           "'smoothed_loss' is missing; give it for every run or set `loss` "
                           "to final"),
])
def test_fit_option_errors(options: dict, message: str) -> None:
    with pytest.raises(UsageError) as info:
        fit_hparams(sweep_of(synthetic_rows()), **options)
    assert str(info.value) == message


# --------------------------------------------------------------------------- answers


@pytest.fixture(scope="module")
def noisy_fit() -> HparamFit:
    return fit_hparams(sweep_of(synthetic_rows(noise=0.002, seed=3)), rule="parabola",
                       bootstrap=400, seed=0)


def test_advice_value_is_the_point_law_and_both_uncertainties_add(noisy_fit: HparamFit) -> None:
    n, d = 7e9, 1.4e11
    rng = np.random.default_rng(0)
    n_reps = n * np.exp(rng.normal(0, 0.3, 300))
    d_reps = n * d / n_reps  # the same budget: N* and D* move together
    advice = recommend_hparams(noisy_fit, n, d, params_replicates=n_reps,
                               tokens_replicates=d_reps, seq_len=2048)
    assert advice.lr.value == pytest.approx(float(noisy_fit.law.lr(n, d)), rel=1e-15)
    assert advice.samples == 400 * 300 - noisy_fit.failed_resamples * 300
    assert advice.batch_sequences is not None
    assert advice.batch_sequences.value == pytest.approx(advice.batch_tokens.value / 2048)
    for both, law_only, alloc_only in (
            (advice.lr, advice.lr_law_only, advice.lr_allocation_only),
            (advice.batch_tokens, advice.batch_tokens_law_only,
             advice.batch_tokens_allocation_only)):
        assert law_only is not None and alloc_only is not None
        width = math.log(both.high / both.low)
        assert width > math.log(law_only.high / law_only.low)
        assert width > math.log(alloc_only.high / alloc_only.low)
    assert any(w.startswith("N = 7B is 8.75x above the largest N") for w in advice.warnings)


def test_many_pairs_are_sampled_with_the_seed(noisy_fit: HparamFit,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forecast_hparams, "MAX_PAIRS", 5000)
    reps = np.geomspace(5e8, 2e9, 100)
    kwargs = {"params_replicates": reps, "tokens_replicates": 1e19 / reps}
    a = recommend_hparams(noisy_fit, 1e9, 1e10, seed=1, **kwargs)
    b = recommend_hparams(noisy_fit, 1e9, 1e10, seed=1, **kwargs)
    c = recommend_hparams(noisy_fit, 1e9, 1e10, seed=2, **kwargs)
    assert a.samples == 5000 and a == b
    assert a.lr != c.lr


def _advice(samples: np.ndarray | None) -> HparamAdvice:
    return HparamAdvice(source="test", params=1e9, tokens=2e10, confidence=0.95,
                        lr=Estimate(1.5e-3), batch_tokens=Estimate(1e6), batch_sequences=None,
                        seq_len=None, lr_law_only=None, lr_allocation_only=None,
                        batch_tokens_law_only=None, batch_tokens_allocation_only=None,
                        samples=0 if samples is None else samples.size, warnings=(),
                        lr_samples=samples,
                        batch_tokens_samples=None if samples is None else samples * 1e9 / 1.5)


@pytest.mark.parametrize(("planned", "verdict"), [(1.5e-3, "pass"), (1e-2, "fail"),
                                                   (3e-3, "inconclusive")])
def test_check_verdict_follows_the_interval(planned: float, verdict: str) -> None:
    samples = np.geomspace(1e-3, 2e-3, 1001)  # recommended lr within [1e-3, 2e-3]
    (check,) = check_hparams(_advice(samples), lr=planned, factor=2.0)
    assert check.verdict == verdict
    assert check.ratio.low is not None and check.ratio.high is not None
    # max(p / r, r / p) >= 1: the interval need not contain the point's ratio (1 here)
    assert 1 <= check.ratio.low <= check.ratio.high


def test_check_without_replicates_uses_the_point_and_says_so() -> None:
    checks = check_hparams(_advice(None), lr=2.5e-3, batch_tokens=4e6, factor=2.0)
    assert [(c.quantity, c.verdict, c.note) for c in checks] == [
        ("lr", "pass", "point value only (no replicates)"),
        ("batch_tokens", "fail", "point value only (no replicates)")]
    with pytest.raises(UsageError, match=r"^factor: 1: give a finite number above 1, e\.g\. 2$"):
        check_hparams(_advice(None), lr=1e-3, factor=1)
    with pytest.raises(UsageError) as info:
        check_hparams(_advice(None))
    assert str(info.value) == "nothing to check: give the plan's `lr`, `batch_tokens` or both"


# --------------------------------------------------------------------------- presets


def test_presets_load_and_match_their_formulas() -> None:
    presets = load_hparam_presets()
    step = presets["step-law-2025"]
    assert step.citation.startswith("Li, Zheng, Hu")
    advice = recommend_hparams(step, 1e9, 1e11)
    assert advice.lr.value == pytest.approx(1.79 * 1e9**-0.713 * 1e11**0.307, rel=1e-12)
    assert advice.batch_tokens.value == pytest.approx(0.58 * 1e11**0.571, rel=1e-12)
    assert advice.lr.low is None and advice.warnings == ()


def test_deepseek_preset_reproduces_its_7b_and_67b_settings() -> None:
    """DeepSeek LLM Table 2 (2T tokens, 4096-token sequences): C = M D with
    M = 72 L d^2 + 12 L d l_seq. 7B: lr 4.2e-4, 2304 sequences; 67B: lr 3.2e-4, 4608."""
    deepseek = load_hparam_presets()["deepseek-llm-2024"]
    for layers, width, lr, sequences, batch_tol in ((30, 4096, 4.2e-4, 2304, 0.05),
                                                    (95, 8192, 3.2e-4, 4608, 0.12)):
        m = 72 * layers * width**2 + 12 * layers * width * 4096
        advice = recommend_hparams(deepseek, 7e9, 2e12, flops_per_token=m, seq_len=4096)
        assert advice.lr.value == pytest.approx(0.3118 * (m * 2e12) ** -0.125, rel=1e-12)
        assert advice.lr.value == pytest.approx(lr, rel=0.03)
        assert advice.batch_sequences is not None
        # the published batch is a rounded choice: 4608 sequences where the law says 5043
        assert advice.batch_sequences.value == pytest.approx(sequences, rel=batch_tol)
        assert advice.warnings == ()
    without = recommend_hparams(deepseek, 6.5e9, 2e12)
    assert without.warnings[0].startswith("deepseek-llm-2024 counts compute as C = M D, M = 72")
    assert without.lr.value == pytest.approx(0.3118 * (6 * 6.5e9 * 2e12) ** -0.125, rel=1e-12)


@pytest.mark.parametrize(("body", "message"), [
    ("[hparams.x]\nmodel_scale = 'params'\n", "P: [hparams.x]: missing 'title'"),
    ("[hparams.x]\ntitle = 't'\ncitation = 'c'\nparams_definition = 'p'\nmodel_scale = "
     "'params'\nlr = {coef = 1.0, params_exponent = -0.7, tokens_exponent = 0.3}\n"
     "batch_tokens = {coef = -1.0, params_exponent = 0, tokens_exponent = 0.5}\n",
     "P: [hparams.x].batch_tokens.coef: must be a positive number, got -1.0"),
    ("[hparams.x]\nmodel_scale = 'flops'\n",
     "P: [hparams.x]: model_scale must be \"params\" or \"compute\", got 'flops'"),
    ("[hparams.x]\ntitel = 't'\n", "P: [hparams.x]: unknown key 'titel'; did you mean 'title'?"),
    ("[hparams.x]\ntitle = 't'\ncitation = 'c'\ncompute_definition = 'C'\nmodel_scale = "
     "'compute'\nlr = {coef = 0.3, exponent = -0.1}\nbatch_tokens = {coef = 0.3, "
     "compute_exponent = 0.3}\n",
     "P: [hparams.x].lr: unknown key 'exponent'; did you mean 'compute_exponent'?"),
    ("[laws.x]\n", "P: unknown key 'laws'; allowed: hparams"),
])
def test_preset_loader_is_strict(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "P"
    path.write_text(body)
    with pytest.raises(InputError) as info:
        load_hparam_presets(path)
    assert str(info.value) == message.replace("P", str(path), 1)


# --------------------------------------------------------------------------- Step Law


@pytest.fixture(scope="module")
def steplaw() -> Sweep:
    # every released run satisfies D = bs x 2048 x ti within 0.3%: the reader checks it
    return read_sweeps([shared_csv("steplaw_dense.csv")], columns=STEPLAW_COLUMNS,
                       batch_unit="sequences", seq_len=2048)


def test_steplaw_refit_reproduces_the_released_runs_exponents(steplaw: Sweep) -> None:
    assert len(steplaw) == 1911
    fit = fit_hparams(steplaw, bootstrap=2000, seed=0)
    assert len(fit.cells) == 17 and fit.loss_used == "smoothed"
    assert fit.lr_points == 129
    assert round(fit.law.lr_params_exponent, 3) == -0.766
    assert round(fit.law.lr_tokens_exponent, 3) == 0.197
    assert round(fit.law.batch_tokens_exponent, 3) == 0.613
    report = law_report(fit)
    n_exp, d_exp, b_exp = (report.lr_params_exponent, report.lr_tokens_exponent,
                           report.batch_tokens_exponent)
    # the published N and batch exponents lie inside the cell-bootstrap 95% intervals
    assert n_exp.low < -0.713 < n_exp.high
    assert b_exp.low < 0.571 < b_exp.high
    # the published D exponent 0.307 sits on the upper end of the 95% interval (0.306 at
    # this seed, 0.307 to 0.311 at others) and inside the 99% one: the released runs pin
    # it only loosely
    assert d_exp.low < 0.197 < d_exp.high
    assert 0.29 < d_exp.high < 0.32
    wide = law_report(fit, confidence=0.99).lr_tokens_exponent
    assert wide.low < 0.307 < wide.high
    # the one cell whose near-best learning rates reach the largest lr swept
    assert [(c.params, c.tokens) for c in fit.cells if c.lr_at_edge] == [(1073741824.0, 5.69e10)]


def test_steplaw_rule_sensitivity_shows_the_d_exponent_is_loose(steplaw: Sweep) -> None:
    variants = rule_sensitivity(steplaw)
    d_exps = [v.law.lr_tokens_exponent for v in variants if v.law is not None]
    assert len(d_exps) == len(variants) == 22
    assert min(d_exps) < 0.15 and max(d_exps) > 0.3


def test_steplaw_published_law_against_the_refit_at_1b(steplaw: Sweep) -> None:
    fit = fit_hparams(steplaw, bootstrap=1000, seed=0)
    n, d = 1.07e9, 5.69e10  # the largest released cell: inside the data
    refit = recommend_hparams(fit, n, d)
    published = recommend_hparams(load_hparam_presets()["step-law-2025"], n, d)
    assert refit.lr.low is not None and refit.lr.high is not None
    # within the data the two agree to ~10%; the refit interval is +-10%
    assert published.lr.value / refit.lr.value == pytest.approx(1.06, abs=0.03)
    assert refit.lr.high / refit.lr.low < 1.3


def test_advice_dataclasses_are_frozen() -> None:
    advice = _advice(None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        advice.params = 2.0  # type: ignore[misc]
