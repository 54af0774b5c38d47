"""Curves -> final losses: every documented reduction, its properties and its messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_cli.errors import InputError
from scaling_cli.read.logs.curves import (
    Curve,
    CurveSet,
    Reduction,
    Skipped,
    parse_tokens_per_step,
    reduce_curve,
    to_records,
)


def curve(loss: list[float] | np.ndarray, *, run_id: str = "r1", tokens_per_point: float = 1e8,
          params: float | None = 70e6) -> Curve:
    n = len(loss)
    step = np.arange(1, n + 1, dtype=np.float64) * 100.0
    return Curve(run_id=run_id, source="log.jsonl", step=step, tokens=step * tokens_per_point / 100,
                 loss=np.asarray(loss, dtype=float),
                 position=tuple(f"line {i + 1}" for i in range(n)), params=params)


def one(c: Curve, spec: str) -> tuple[float, float, str]:
    (point,) = reduce_curve(c, Reduction.parse(spec))
    return point.tokens, point.loss, point.position


FALLING = [4.0, 3.6, 3.3, 3.1, 3.0, 2.95]


def test_last_is_the_last_point() -> None:
    assert one(curve(FALLING), "last") == (6e8, 2.95, "line 6")


def test_mean_of_last_k_reports_the_mean_tokens_of_the_same_window() -> None:
    tokens, loss, where = one(curve(FALLING), "mean:3")
    assert loss == pytest.approx((3.1 + 3.0 + 2.95) / 3)
    assert tokens == pytest.approx(5e8)  # (4 + 5 + 6) / 3 * 1e8: the pair lies on the curve
    assert where == "lines 4-6"


def test_ema_is_tensorboards_bias_corrected_smoothing() -> None:
    rng = np.random.default_rng(0)
    values = 3.0 + rng.normal(0, 0.05, 200)
    w = 0.9
    last = 0.0  # TensorBoard's smoothing loop (vz_line_chart): debiased EMA
    for steps, x in enumerate(values, start=1):
        last = last * w + (1 - w) * x
        smoothed = last / (1 - w**steps)
    _, loss, where = one(curve(values), "ema:0.9")
    assert loss == pytest.approx(smoothed, rel=1e-12)
    assert where == "lines 1-200"


def test_ema_zero_is_last_and_long_curves_do_not_underflow() -> None:
    assert one(curve(FALLING), "ema:0") == (6e8, 2.95, "line 6")
    long = curve(np.full(1_000_000, 2.5), tokens_per_point=1e3)
    _, loss, _ = one(long, "ema:0.999")
    assert loss == pytest.approx(2.5, rel=1e-12)


def test_at_tokens_interpolates_linearly_between_the_points_around_it() -> None:
    c = curve(FALLING)
    tokens, loss, where = one(c, "at:250M")
    assert (tokens, where) == (2.5e8, "lines 2-3") and loss == pytest.approx((3.6 + 3.3) / 2)
    assert one(c, "at:400M") == (4e8, 3.1, "line 4")  # a logged point: no interpolation
    assert one(c, "at:100M")[1] == 4.0 and one(c, "at:600M")[1] == 2.95  # ends included


def test_at_tokens_outside_the_logged_range_is_refused() -> None:
    with pytest.raises(InputError) as info:
        reduce_curve(curve(FALLING), Reduction.parse("at:1B"))
    assert str(info.value) == ("log.jsonl (id 'r1'): 1B tokens is outside the logged range "
                               "100M to 600M; choose a token count inside it (curves are "
                               "never extrapolated)")
    with pytest.raises(InputError, match="50M tokens is outside"):
        reduce_curve(curve(FALLING), Reduction.parse("at:50M"))


def test_mean_needs_k_points() -> None:
    with pytest.raises(InputError) as info:
        reduce_curve(curve(FALLING), Reduction.parse("mean:10"))
    assert str(info.value) == ("log.jsonl (id 'r1'): has 6 logged points, fewer than the 10 "
                               "that --reduce mean:10 averages; lower K")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.5, 12.0), min_size=1, max_size=50), st.floats(0.0, 0.999),
       st.integers(1, 50))
def test_reductions_stay_within_the_curve(values: list[float], w: float, k: int) -> None:
    c = curve(values)
    for spec in ("last", f"ema:{w!r}", f"mean:{min(k, len(values))}"):
        tokens, loss, _ = one(c, spec)
        assert min(values) - 1e-12 <= loss <= max(values) + 1e-12
        assert c.tokens[0] <= tokens <= c.tokens[-1] * (1 + 1e-12)
    constant = curve([values[0]] * len(values))
    for spec in ("last", f"ema:{w!r}", f"mean:{min(k, len(values))}"):
        assert one(constant, spec)[1] == pytest.approx(values[0], rel=1e-12)


def test_parse_and_print_round_trip() -> None:
    for text in ("last", "mean:20", "ema:0.9", "at:2B,20B"):
        assert str(Reduction.parse(text)) == text
    assert Reduction.parse(" at: 20B , 2B ").tokens == (2e9, 20e9)  # sorted, spaces allowed


@pytest.mark.parametrize(("spec", "message"), [
    ("median", "--reduce 'median': not a reduction; use last, mean:K, ema:W or at:TOKENS "
               "(e.g. mean:20, ema:0.9, at:20B)"),
    ("mean", "--reduce 'mean': mean needs a value; use last, mean:K, ema:W or at:TOKENS (e.g. "
             "mean:20, ema:0.9, at:20B)"),
    ("mean:2.5", "--reduce 'mean:2.5': '2.5' is not a whole number of points"),
    ("mean:0", "--reduce 'mean:0': is zero; it must be positive"),
    ("ema:1", "--reduce ema:1: the weight must be at least 0 and below 1 (e.g. ema:0.9)"),
    ("ema:-0.5", "--reduce 'ema:-0.5': '-0.5' is negative; it must be positive"),
    ("at:20BB", "--reduce 'at:20BB': '20BB' repeats the suffix; write 20B"),
    ("last:3", "--reduce 'last:3': not a reduction; use last, mean:K, ema:W or at:TOKENS "
               "(e.g. mean:20, ema:0.9, at:20B)"),
])
def test_bad_reductions(spec: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        Reduction.parse(spec)
    assert str(info.value) == message


def test_tokens_per_step_is_a_count_or_a_product() -> None:
    assert parse_tokens_per_step("1024x2048") == 2_097_152
    assert parse_tokens_per_step("512 * 4k") == 2_048_000
    assert parse_tokens_per_step("2M") == 2e6
    with pytest.raises(InputError) as info:
        parse_tokens_per_step("1024xabc")
    assert str(info.value) == ("--tokens-per-step '1024xabc': 'abc' is not a number; write "
                               "e.g. 7e9, 7B, 1.4T or 3e23")


# --------------------------------------------------------------------------- records


def test_records_are_plain_run_records() -> None:
    c = Curve(run_id="r1", source="s.jsonl", step=np.array([1.0, 2.0]),
              tokens=np.array([1e9, 2e9]), loss=np.array([3.2, 3.0]),
              position=("line 1", "line 2"), params=70e6, non_embedding_params=50e6)
    (rec,) = to_records([c], Reduction()).records
    assert (rec.source, rec.position) == ("s.jsonl", "line 2")
    assert dict(rec.record) == {"id": "r1", "params": 70e6, "tokens": 2e9, "loss": 3.0,
                                "non_embedding_params": 50e6}


def test_several_token_counts_are_checkpoints_of_one_group() -> None:
    records = to_records([curve(FALLING)], Reduction.parse("at:200M,450M")).records
    assert [r.record["id"] for r in records] == ["r1@200M", "r1@450M"]
    assert {r.record["group"] for r in records} == {"r1"}
    assert records[1].record["loss"] == pytest.approx(3.05)


def test_a_run_without_a_size_is_refused_or_skipped_with_its_reason() -> None:
    bad = curve(FALLING, run_id="r2", params=None)
    good = curve(FALLING)
    message = ("log.jsonl (id 'r2'): no parameter count; give it with --log-params (one run) "
               "or --params-file (run -> params), or put a config.json beside a "
               "trainer_state.json")
    with pytest.raises(InputError) as info:
        to_records([good, bad], Reduction())
    assert str(info.value) == message
    earlier = Skipped("r0", "old.jsonl", "old.jsonl: line 3 (id 'r0'): field 'loss': is NaN")
    result = to_records(CurveSet(curves=(good, bad), skipped=(earlier,)), Reduction(),
                        skip_invalid=True)
    assert [r.record["id"] for r in result.records] == ["r1"]
    assert result.skipped == (earlier, Skipped("r2", "log.jsonl", message))


def test_curves_are_immutable_and_checked() -> None:
    c = curve(FALLING)
    with pytest.raises(ValueError):
        c.loss[0] = 1.0
    with pytest.raises(ValueError, match="loss has shape"):
        Curve(run_id="x", source="s", step=np.array([1.0, 2.0]), tokens=np.array([1.0, 2.0]),
              loss=np.array([1.0]), position=("a", "b"))
    assert math.isclose(float(c.tokens[-1]), 6e8)
