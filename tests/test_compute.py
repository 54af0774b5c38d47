"""Compute units: hardware presets, FLOPs <-> GPU-hours <-> days <-> dollars, budget tokens."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scaling_cli.cli.base import flag
from scaling_cli.errors import InputError, UsageError
from scaling_cli.forecast.costs import compute_cost, flops_to_gpu_hours, gpu_hours_to_flops
from scaling_cli.read.hardware import (
    DEFAULT_MFU,
    Hardware,
    budget_range,
    make_hardware,
    parse_budget,
)
from scaling_cli.read.presets import GPU, load_gpus

H100 = make_hardware("h100", gpus=1024)


def test_presets_carry_dense_bf16_peaks_with_sources() -> None:
    gpus = load_gpus()
    assert {name: g.peak_tflops for name, g in gpus.items()} == {
        "a100": 312.0, "h100": 989.0, "h200": 989.0}
    assert all("nvidia.com" in g.source for g in gpus.values())
    assert all("assum" in g.price_note for g in gpus.values())  # prices are labelled guesses


def test_one_h100_hour_at_default_mfu() -> None:
    assert DEFAULT_MFU == 0.4
    assert H100.flops_per_gpu_hour == pytest.approx(3600 * 989e12 * 0.4, rel=1e-15)
    cost = compute_cost(1e24, H100)
    assert float(cost.gpu_hours) == pytest.approx(1e24 / (3600 * 989e12 * 0.4), rel=1e-15)
    assert cost.days is not None and cost.usd is not None
    assert float(cost.days) == pytest.approx(float(cost.gpu_hours) / 24 / 1024, rel=1e-15)
    assert float(cost.usd) == pytest.approx(float(cost.gpu_hours) * 2.5, rel=1e-15)


def test_unknown_count_or_price_leaves_those_units_out() -> None:
    hw = make_hardware(peak_tflops=500.0)
    cost = compute_cost(np.array([1e23, 1e24]), hw)
    assert cost.days is None and cost.usd is None and cost.gpu_hours.shape == (2,)


@given(st.floats(1e15, 1e30), st.floats(1.0, 5000.0), st.floats(0.05, 1.0))
def test_conversions_round_trip(flops: float, peak: float, mfu: float) -> None:
    hw = Hardware(GPU("x", peak, 2.0), mfu, 64)
    assert float(gpu_hours_to_flops(flops_to_gpu_hours(flops, hw), hw)) == pytest.approx(
        flops, rel=1e-14)
    for unit, amount in (("gpu-hours", float(flops_to_gpu_hours(flops, hw))),
                         ("days", float(flops_to_gpu_hours(flops, hw)) / 24 / 64),
                         ("usd", float(flops_to_gpu_hours(flops, hw)) * 2.0)):
        text = f"{amount!r}{unit}"
        budget = parse_budget(text, hw)
        assert budget.unit == unit and budget.amount == amount
        assert budget.compute_flops == pytest.approx(flops, rel=1e-13)


@pytest.mark.parametrize(
    ("text", "unit", "flops"),
    [
        ("1e24", "flops", 1e24), ("1e24flops", "flops", 1e24), ("3.5e23FLOPs", "flops", 3.5e23),
        ("2e6gpu-hours", "gpu-hours", 2e6 * 3600 * 989e12 * 0.4),
        ("2Mgpu-hours", "gpu-hours", 2e6 * 3600 * 989e12 * 0.4),
        ("2e6GPUh", "gpu-hours", 2e6 * 3600 * 989e12 * 0.4),
        ("30days", "days", 30 * 24 * 1024 * 3600 * 989e12 * 0.4),
        ("5e6usd", "usd", 5e6 / 2.5 * 3600 * 989e12 * 0.4),
        ("$5M", "usd", 5e6 / 2.5 * 3600 * 989e12 * 0.4),
    ],
)
def test_budget_spellings(text: str, unit: str, flops: float) -> None:
    budget = parse_budget(text, H100)
    assert (budget.unit, budget.text) == (unit, text)
    assert budget.compute_flops == pytest.approx(flops, rel=1e-14)


@pytest.mark.parametrize(
    ("text", "hardware", "error", "message"),
    [
        ("2e6 gpu-hours", H100, InputError, "--budget: '2e6 gpu-hours' contains a space; "
                                            "write '2e6gpu-hours'"),
        ("2e6hours", H100, InputError, "--budget: '2e6hours': unknown unit; write a budget as "
                                       "1e24 (FLOPs), 2e6gpu-hours, 30days, 5e6usd or $5M"),
        ("abc", None, InputError, "--budget: 'abc': not a number; write a budget as 1e24 "
                                  "(FLOPs), 2e6gpu-hours, 30days, 5e6usd or $5M"),
        ("-1e24", None, InputError, "--budget: '-1e24': '-1e24' is negative; it must be "
                                    "positive"),
        ("1", None, InputError, "--budget: '1' is 1 FLOPs, implausibly small for a training "
                                "budget (from 1e+06 to 1e+35 FLOPs); check the units"),
        ("2e6gpu-hours", None, UsageError,
         "--budget: '2e6gpu-hours': converting it to FLOPs needs the GPU: add --gpu (a100, "
         "h100, h200) or --peak-tflops, and optionally --mfu (default 0.4)"),
        ("30days", make_hardware("a100"), UsageError,
         "--budget: '30days': days of wall clock need the GPU count: add --gpus"),
        ("$1M", make_hardware(peak_tflops=100.0), UsageError,
         "--budget: '$1M': dollars need a price for custom: add --usd-per-gpu-hour"),
    ],
)
def test_budget_errors_say_how_to_fix(
    text: str, hardware: Hardware | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        parse_budget(text, hardware)
    assert info.value.field == "budget"  # the library names the setting; the CLI its flag
    assert info.value.render(flag) == message


def test_budget_range_is_log_spaced_and_inclusive() -> None:
    got = budget_range("1e21..1e25", 5)
    assert [b.compute_flops for b in got] == [1e21, 1e22, 1e23, 1e24, 1e25][:1] + [
        pytest.approx(v, rel=1e-14) for v in (1e22, 1e23, 1e24)] + [1e25]
    two = budget_range("2e6gpu-hours..8e6gpu-hours", 3, H100)
    assert [b.amount for b in two] == pytest.approx([2e6, 4e6, 8e6], rel=1e-14)
    assert {b.unit for b in two} == {"gpu-hours"}


@pytest.mark.parametrize(
    ("text", "steps", "error", "message"),
    [
        ("1e21..1e25", 1, UsageError, "from 2 to 1000"),
        ("1e21-1e25", 5, InputError, "write a range as LOW..HIGH"),
        ("1e21...1e25", 5, InputError, "write a range as LOW..HIGH with two dots"),
        ("1e21..1e23..1e25", 5, InputError, "write a range as LOW..HIGH with two dots"),
        ("1e25..1e21", 5, InputError, "the low end must be below the high end"),
        ("1e21..5days", 5, InputError, "both ends need the same unit"),
    ],
)
def test_budget_range_errors(text: str, steps: int, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        budget_range(text, steps, H100)


def test_user_overrides_win_and_are_recorded() -> None:
    hw = make_hardware("H100", peak_tflops=800.0, usd_per_gpu_hour=1.9, mfu=0.35, gpus=8)
    assert (hw.gpu.peak_tflops, hw.gpu.usd_per_gpu_hour, hw.mfu, hw.gpus) == (800.0, 1.9,
                                                                               0.35, 8)
    assert "peak_tflops" in hw.gpu.source and "usd_per_gpu_hour" in hw.gpu.price_note


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gpu": "h10"}, "--gpu: 'h10': unknown GPU; did you mean 'h100'? choose one of a100, "
                         "h100, h200 or give --peak-tflops"),
        ({}, "no GPU given: choose one with --gpu (a100, h100, h200) or give its dense "
             "bf16 peak with --peak-tflops"),
        ({"gpu": "h100", "mfu": 0.0}, "--mfu: 0.0 is outside (0, 1]: the model FLOPs "
                                      "utilisation is achieved / peak, e.g. 0.4 for 40% of peak"),
        ({"gpu": "h100", "mfu": 40.0}, "--mfu: 40.0 is outside (0, 1]: the model FLOPs "
                                       "utilisation is achieved / peak, e.g. 0.4 for 40% of "
                                       "peak"),
        ({"gpu": "h100", "gpus": 0}, "--gpus: 0 is not a GPU count: give a whole number from 1 "
                                     "to 1e9"),
        ({"gpu": "h100", "peak_tflops": -1.0}, "--peak-tflops: -1.0 is not plausible: give a "
                                               "positive number from 0.001 to 1e+06"),
    ],
)
def test_hardware_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as info:
        make_hardware(**kwargs)  # type: ignore[arg-type]
    assert info.value.render(flag) == message


def test_custom_preset_file(tmp_path: Path) -> None:
    path = tmp_path / "hw.toml"
    path.write_text('[gpus.MI300X]\npeak_tflops = 1307.4\nsource = "AMD datasheet"\n')
    gpus = load_gpus(path)
    assert gpus["mi300x"].peak_tflops == 1307.4 and gpus["mi300x"].usd_per_gpu_hour is None
    hw = make_hardware("mi300x", presets=gpus)
    assert math.isclose(hw.flops_per_gpu_hour, 3600 * 1307.4e12 * 0.4)
    path.write_text('[gpus.bad]\npeak_tflops = "fast"\n')
    with pytest.raises(InputError, match="'peak_tflops' must be a positive number"):
        load_gpus(path)
    path.write_text("[gpus.bad]\ntitle = 'x'\n")
    with pytest.raises(InputError, match="missing 'peak_tflops'"):
        load_gpus(path)
