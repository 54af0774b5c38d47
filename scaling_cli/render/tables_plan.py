"""Planning documents -> rich tables: fixed sizes, target losses, compute costs.

Companion of :mod:`scaling_cli.render.tables`; pure functions of the result documents.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from scaling_cli.render.tables import ci_label, fmt, new_table, value_cell
from scaling_cli.units import format_count, format_flops

__all__ = ["check_table", "cost_table", "fixed_size_table", "target_table"]


def _pct(est: dict[str, Any]) -> Text:
    def p(x: float | None) -> str:
        return "—" if x is None else f"{100 * x:.1f}%"
    text = Text(p(est["value"]), style="bold")
    if est["low"] is not None:
        text.append(f"\n{p(est['low'])} – {p(est['high'])}", style="dim")
    return text


def fixed_size_table(doc: dict[str, Any]) -> Table:
    """One row per budget for a model size fixed in advance."""
    table = new_table(f"Fixed model size vs compute-optimal (value, then {ci_label(doc)})",
                      ["budget\n(FLOPs)", "params\nN", "tokens\nD", "tokens/\nparam",
                       "loss\n(nats/\ntoken)", "optimal\nN*", "loss at\nN*",
                       "loss\npenalty", "compute\nwasted"])
    for b in doc["budgets"]:
        table.add_row(format_flops(b["compute_flops"]), format_count(b["params"]),
                      format_count(b["tokens"]), format_count(b["tokens_per_param"]),
                      value_cell("loss", b["loss"]),
                      value_cell("params", b["params_optimal"]),
                      value_cell("loss", b["loss_optimal"]),
                      value_cell("loss", b["loss_penalty"]),
                      _pct_of_budget(b["compute_penalty"]))
    return table


def _pct_of_budget(est: dict[str, Any]) -> Text:
    # compute_penalty p = C / C_eq - 1: the share of the budget that buys nothing is p/(1+p).
    def share(p: float | None) -> float | None:
        return None if p is None else p / (1 + p)
    return _pct({"value": share(est["value"]), "low": share(est["low"]),
                 "high": share(est["high"])})


def target_table(doc: dict[str, Any]) -> Group:
    """Least compute per target loss, and the inference-aware allocation when asked."""
    table = new_table(f"Least compute reaching a target loss (value, then {ci_label(doc)})",
                      ["target\nloss", "compute\n(FLOPs)", "params\nN*", "tokens\nD*",
                       "replicates\nunreachable"])
    inference = [t for t in doc["targets"] if t["inference_aware"] is not None]
    for t in doc["targets"]:
        unreachable = t["unreachable_fraction"]
        share = "—" if unreachable is None else f"{100 * unreachable:.1f}%"
        if not t["reachable"]:
            table.add_row(f"{t['loss']:.4g}", Text("unreachable: at or below E",
                                                   style="bold red"), "—", "—", share)
            continue
        table.add_row(f"{t['loss']:.4g}", _flops_cell(t["compute_flops"]),
                      value_cell("params", t["params"]), value_cell("tokens", t["tokens"]),
                      share)
    if not inference:
        return Group(table)
    tokens = format_count(inference[0]["inference_aware"]["inference_tokens"])
    inf = new_table(f"Inference-aware sizing for {tokens} lifetime inference tokens "
                    "(Sardana & Frankle 2024): least training + inference FLOPs",
                    ["target\nloss", "params\nN", "tokens\nD", "training\nFLOPs",
                     "inference\nFLOPs", "total\nFLOPs", "total at\nChinchilla N*"])
    for t in inference:
        i = t["inference_aware"]
        if not t["reachable"]:
            continue
        inf.add_row(f"{t['loss']:.4g}", value_cell("params", i["params"]),
                    value_cell("tokens", i["tokens"]), _flops_cell(i["training_flops"]),
                    _flops_cell(i["inference_flops"]), _flops_cell(i["total_flops"]),
                    _flops_cell(i["total_flops_chinchilla"]))
    return Group(table, inf)


def _flops_cell(est: dict[str, Any]) -> Text:
    def f(x: float | None) -> str:
        return "unreachable" if x is None else format_flops(x)
    text = Text(f(est["value"]), style="bold")
    if "low" in est and (est["low"] is not None or est["high"] is not None):
        text.append(f"\n{f(est['low'])} – {f(est['high'])}", style="dim")
    return text


def cost_table(doc: dict[str, Any]) -> Table | Text:
    """GPU-hours, days and dollars per budget, with the hardware assumptions spelled out."""
    hw = doc.get("hardware")
    if hw is None:
        return Text("")
    gpus = f"{hw['gpus']:,} x " if hw["gpus"] else ""
    table = new_table(f"Cost on {gpus}{hw['title'] or hw['gpu']} ({hw['peak_tflops']:g} "
                      f"TFLOP/s dense bf16 at MFU {hw['mfu']:.2f})",
                      ["budget (FLOPs)", "GPU-hours", "days", "dollars"])
    if hw["usd_per_gpu_hour"]:
        table.caption = f"${hw['usd_per_gpu_hour']:g} per GPU-hour: {hw['price_note']}"
        table.caption_justify = "left"
    for b in doc["budgets"]:
        c = b["cost"]
        if c is None:
            continue
        table.add_row(format_flops(b["compute_flops"]), fmt("params", c["gpu_hours"]),
                      "—" if c["days"] is None else f"{c['days']:.3g}",
                      "—" if c["usd"] is None else f"${fmt('params', c['usd'])}")
    return table


def _unit_format(units: str) -> Any:
    if units == "FLOPs":
        return format_flops
    if units in {"GPU-hours", "dollars"}:
        return format_count
    return lambda x: f"{x:.4g}"


def check_table(doc: dict[str, Any]) -> Group:
    """One row per limit: value (and interval), limit, verdict; then the overall result."""
    plan = doc["plan"]
    table = new_table(f"Checks for plan {plan['name']!r}: {format_count(plan['params'])} "
                      f"params, {format_count(plan['tokens'])} tokens, "
                      f"{format_flops(plan['compute_flops'])} FLOPs ({ci_label(doc)})",
                      [("limit", "left"), "value", "interval", "limit\nvalue", "verdict",
                       ("note", "left")])
    style = {"pass": "green", "fail": "bold red", "inconclusive": "yellow"}
    for c in doc["checks"]:
        show = _unit_format(c["units"])
        interval = "—" if c["low"] is None else f"{show(c['low'])} – {show(c['high'])}"
        table.add_row(c["limit_name"], f"{show(c['value'])} {c['units']}", interval,
                      show(c["limit"]), Text(c["verdict"].upper(), style=style[c["verdict"]]),
                      c["note"])
    verdict = ("PASSED" if doc["passed"] else "FAILED") + f" (--fail-on {doc['fail_on']})"
    return Group(table, Text(verdict + "\n", style="bold green" if doc["passed"] else "bold red"))
