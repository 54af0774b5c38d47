"""Planning answers and CI checks through the CLI: options, documents, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .test_cli import SAMPLE, run

FAST = ["--bootstrap", "100"]
EPOCH = ["--law", "epoch-2024"]
N_STAR_1E24 = 95860654045.68208  # epoch-2024 at 1e24 FLOPs (closed form)


def doc(*args: str) -> dict:
    code, out, err = run(*args, "-f", "json")
    assert code == 0, err
    return json.loads(out)


def test_budget_range_band_and_costs() -> None:
    d = doc("optimal", SAMPLE, "-b", "1e21..1e25", "--steps", "5", "--gpu", "h100", "--gpus",
            "1024", *FAST)
    budgets = [b["compute_flops"] for b in d["budgets"]]
    assert budgets == pytest.approx([1e21, 1e22, 1e23, 1e24, 1e25])
    for b in d["budgets"]:
        band = b["band"]
        assert band["tolerance"] == 0.005
        assert band["params_smallest"]["value"] < b["params"]["value"]
        assert b["params"]["value"] < band["params_largest"]["value"]
        hours = b["compute_flops"] / (3600 * 989e12 * 0.4)
        assert b["cost"]["gpu_hours"] == pytest.approx(hours)
        assert b["cost"]["days"] == pytest.approx(hours / 24 / 1024)
        assert b["cost"]["usd"] == pytest.approx(hours * 2.5)
    assert d["hardware"]["peak_tflops"] == 989 and d["hardware"]["mfu"] == 0.4


def test_budget_in_gpu_hours_needs_hardware() -> None:
    d = doc("optimal", *EPOCH, "-b", "2e6gpu-hours", "--gpu", "h100")
    b = d["budgets"][0]
    assert b["compute_flops"] == pytest.approx(2e6 * 3600 * 989e12 * 0.4)
    assert b["budget_given"] == {"text": "2e6gpu-hours", "amount": 2e6, "unit": "gpu-hours"}
    code, out, err = run("optimal", *EPOCH, "-b", "2e6gpu-hours")
    assert code == 2 and out == "" and err.startswith("Error: --budget: '2e6gpu-hours'")
    assert "--gpu" in err


def test_fixed_size_at_the_optimum_costs_nothing() -> None:
    d = doc("optimal", *EPOCH, "-b", "1e24", "--params", repr(N_STAR_1E24))
    b = d["budgets"][0]
    assert d["schema"] == "scaling-cli/fixed-size"
    assert b["loss_penalty"]["value"] == pytest.approx(0, abs=1e-12)
    assert b["compute_penalty"]["value"] == pytest.approx(0, abs=1e-9)
    d = doc("optimal", SAMPLE, "-b", "1e23", "--params", "7B", *FAST)
    b = d["budgets"][0]
    assert b["tokens"] == pytest.approx(1e23 / (6 * 7e9))
    assert 0 < b["loss_penalty"]["low"] <= b["loss_penalty"]["value"]
    assert b["compute_penalty"]["value"] > 0


def test_unique_tokens_plan_repeats_data() -> None:
    d = doc("optimal", SAMPLE, "-b", "1e24", "--unique-tokens", "500B", *FAST)
    data = d["budgets"][0]["data_constrained"]
    assert data["data_limited"] is True and data["epochs"]["value"] > 1
    assert d["budgets"][0]["band"] is None
    assert data["loss_unlimited"]["value"] <= d["budgets"][0]["loss"]["value"]
    plenty = doc("optimal", SAMPLE, "-b", "1e24", "--unique-tokens", "100T", *FAST)
    assert plenty["budgets"][0]["data_constrained"]["data_limited"] is False
    plain = doc("optimal", SAMPLE, "-b", "1e24", *FAST)
    assert plenty["budgets"][0]["params"] == plain["budgets"][0]["params"]


def test_target_loss_inverts_the_optimum_and_flags_unreachable() -> None:
    d = doc("optimal", *EPOCH, "-b", "1e23")
    loss = d["budgets"][0]["loss"]["value"]
    t = doc("target", *EPOCH, "--loss", repr(loss), "--loss", "1.5")
    reach, never = t["targets"]
    assert reach["compute_flops"]["value"] == pytest.approx(1e23, rel=1e-9)
    assert never["reachable"] is False and never["compute_flops"]["value"] is None
    assert any("no amount of compute reaches it" in w for w in t["warnings"])


def test_inference_aware_shrinks_the_model() -> None:
    t = doc("target", SAMPLE, "--loss", "2.1", "--inference-tokens", "5T", *FAST)
    target = t["targets"][0]
    inf = target["inference_aware"]
    assert inf["params"]["value"] < target["params"]["value"]
    assert inf["tokens"]["value"] > target["tokens"]["value"]
    assert inf["total_flops"]["value"] <= inf["total_flops_chinchilla"]["value"]
    zero = doc("target", SAMPLE, "--loss", "2.1", "--inference-tokens", "0", *FAST)
    z = zero["targets"][0]
    assert z["inference_aware"]["params"]["value"] == pytest.approx(z["params"]["value"],
                                                                    rel=1e-6)


def write_plan(tmp_path: Path, limits: str, extra: str = "") -> str:
    p = tmp_path / "plan.yaml"
    p.write_text(f"name: test\nparams: 30B\ntokens: 600B\n{extra}limits:\n{limits}")
    return str(p)


@pytest.mark.parametrize(
    ("limits", "fail_on", "code", "verdict"),
    [
        ("  max_loss: 2.3\n", "fail", 0, "pass"),
        ("  max_loss: 1.9\n", "fail", 1, "fail"),
        ("  max_loss: 2.1\n", "fail", 0, "inconclusive"),
        ("  max_loss: 2.1\n", "inconclusive", 1, "inconclusive"),
        ("  max_flops: 1e23\n", "fail", 1, "fail"),
    ],
)
def test_check_exit_codes(tmp_path: Path, limits: str, fail_on: str, code: int,
                          verdict: str) -> None:
    plan = write_plan(tmp_path, limits)
    got, out, err = run("check", plan, "--runs", SAMPLE, "--fail-on", fail_on, "-f", "json",
                        *FAST)
    assert got == code, err
    report = json.loads(out)
    assert report["checks"][0]["verdict"] == verdict
    assert report["passed"] is (code == 0)


def test_check_with_flags_only_and_hardware_limits(tmp_path: Path) -> None:
    code, out, _ = run("check", *EPOCH, "--params", "30B", "--budget", "7e4gpu-hours", "--gpu",
                       "h100", "--gpus", "512", "--max-days", "6", "--max-usd", "1e5", "-f",
                       "json")
    report = json.loads(out)
    assert code == 1
    verdicts = {c["limit_name"]: c["verdict"] for c in report["checks"]}
    # 7e4 GPU-hours on 512 GPUs = 5.7 days; at $2.5 per GPU-hour = $175k
    assert verdicts == {"max_days": "pass", "max_usd": "fail"}
    plan = report["plan"]
    assert plan["tokens"] == pytest.approx(plan["compute_flops"] / (6 * 30e9))


@pytest.mark.parametrize(
    ("body", "args", "message"),
    [
        ("limits:\n  max_los: 2\n", [],
         "Error: {p}: limits: unknown key 'max_los'; did you mean 'max_loss'?\n"),
        ("", [], "Error: {p}: no limits to check; add limits: (max_flops, max_gpu_hours, "
                 "max_usd, max_days, max_loss, max_params_ratio, min_compute_multiplier, "
                 "max_hparam_ratio)\n"),
        ("limits:\n  max_usd: 1e6\n", [],
         "Error: {p}: limit max_usd needs hardware: usd_per_gpu_hour in the plan (or "
         "--usd-per-gpu-hour)\n"),
        ("limits:\n  max_loss: 2\n", ["--fail-on", "maybe"],
         "Error: --fail-on: 'maybe': use fail or inconclusive\n"),
    ],
)
def test_check_plan_errors(tmp_path: Path, body: str, args: list[str], message: str) -> None:
    p = tmp_path / "plan.yaml"
    p.write_text("params: 30B\ntokens: 600B\n" + body)
    code, out, err = run("check", str(p), *EPOCH, *args)
    assert (code, out, err) == (2, "", message.format(p=p))


def test_example_plan_in_configs_passes_on_sample_runs() -> None:
    root = Path(__file__).resolve().parent.parent
    code, out, err = run("check", str(root / "configs" / "example_plan.yaml"), "--runs", SAMPLE,
                         *FAST)
    assert code == 0, err
    assert "PASSED" in out


def test_target_csv_has_one_row_per_target() -> None:
    code, out, _ = run("target", *EPOCH, "--loss", "2.0", "--loss", "1.95", "-f", "csv")
    lines = out.strip().split("\n")
    assert code == 0 and len(lines) == 3
    header = lines[0].split(",")
    assert {"loss", "reachable", "compute_flops", "params", "tokens"} <= set(header)
    values = dict(zip(header, lines[1].split(","), strict=True))
    assert float(values["compute_flops"]) > 0 and np.isfinite(float(values["params"]))


@pytest.mark.parametrize(("hardware", "message"), [
    ("  gpu: h900\n  gpus: 8\n",
     "plan.yaml: hardware: 'gpu': 'h900': unknown GPU; did you mean 'h200'? choose one of "
     "a100, h100, h200 or give hardware: 'peak_tflops'"),
    ("  gpu: h100\n  gpus: 8\n  mfu: 1.4\n",
     "plan.yaml: hardware: 'mfu': 1.4 is outside (0, 1]: the model FLOPs utilisation is "
     "achieved / peak, e.g. 0.4 for 40% of peak"),
])
def test_plan_hardware_errors_name_the_plan_key_not_a_flag(tmp_path: Path, hardware: str,
                                                           message: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: x\nparams: 30B\ntokens: 600B\nhardware:\n" + hardware
                    + "limits:\n  max_days: 3\n")
    code, out, err = run("check", str(plan), "--law", "epoch-2024")
    assert (code, out) == (2, "")
    assert err == f"Error: {message}\n".replace("plan.yaml", str(plan))
