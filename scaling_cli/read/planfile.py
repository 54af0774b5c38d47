"""Plan files (YAML) -> a typed :class:`Plan`: the run a team intends, and the limits it must meet.

    name: flagship-70b
    params: 70B
    tokens: 1.4T            # or: budget: 5.9e23  (or 2e5gpu-hours with hardware)
    lr: 1.5e-4              # optional: planned peak learning rate and batch (tokens),
    batch_tokens: 4M        #   held to a hyperparameter law by max_hparam_ratio
    hardware: {gpu: h100, gpus: 2048, mfu: 0.4, usd_per_gpu_hour: 2.2}
    limits: {max_flops: 6e23, max_gpu_hours: 2.5e5, max_usd: 1e6, max_days: 30,
             max_loss: 1.95, max_params_ratio: 2.0, max_hparam_ratio: 2.0,
             min_compute_multiplier: 1.2}   # the variant recipe must be worth 1.2x compute

Every number goes through the one unit parser and the same plausibility ranges as a run
log; errors name the file and the key (``plan.yaml: hardware: 'mfu': ...``). Values given
as flags take precedence (:meth:`Plan.merged`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from scaling_cli.errors import InputError, ScalingError, UsageError
from scaling_cli.read.hardware import HardwareSpec
from scaling_cli.read.plausible import PLAUSIBLE, check_plausible
from scaling_cli.units import QuantityError, parse_number, shown

__all__ = ["LIMITS", "MIN_LIMITS", "Plan", "load_plan", "read_plan_file"]

LIMITS = {
    "max_flops": ("FLOPs", "training compute C = k N D"),
    "max_gpu_hours": ("GPU-hours", "GPU-hours on the plan's hardware"),
    "max_usd": ("dollars", "cost at the hardware's price per GPU-hour"),
    "max_days": ("days", "wall clock on the plan's GPU count"),
    "max_loss": ("nats/token", "predicted loss L(N, D)"),
    "max_params_ratio": ("ratio", "max(N / N*, N* / N): distance from the compute-optimal size"),
    "min_compute_multiplier": ("x", "compute multiplier k of the variant recipe at the plan's "
                                    "budget: L_variant(C) = L_baseline(k C)"),
    "max_hparam_ratio": ("ratio", "max(planned / recommended, recommended / planned) of the "
                                  "learning rate and batch size"),
}
# Limits a plan must stay above (the others are upper limits).
MIN_LIMITS = ("min_compute_multiplier",)
MAX_PLAN_BYTES = 1024 * 1024
_PLAN_KEYS = ("name", "params", "tokens", "budget", "lr", "batch_tokens", "hardware", "limits")
_HARDWARE_KEYS = ("gpu", "gpus", "mfu", "peak_tflops", "usd_per_gpu_hour")


@dataclass(frozen=True)
class Plan:
    """A planned run: size, tokens or budget, hardware, limits."""

    name: str = ""
    params: float | None = None
    tokens: float | None = None
    budget: str | None = None  # as written (FLOPs, GPU-hours, days or dollars)
    lr: float | None = None  # planned peak learning rate (checked by max_hparam_ratio)
    batch_tokens: float | None = None  # planned batch size in tokens
    hardware: HardwareSpec = field(default_factory=HardwareSpec)
    limits: Mapping[str, float] = field(default_factory=dict)
    source: str = "flags"

    def merged(self, flags: Plan) -> Plan:
        """This plan with every value set in ``flags`` taking precedence (flags over file)."""
        tokens, budget = self.tokens, self.budget
        if flags.tokens is not None or flags.budget is not None:
            tokens, budget = flags.tokens, flags.budget
        return replace(
            self, name=flags.name or self.name,
            params=self.params if flags.params is None else flags.params,
            tokens=tokens, budget=budget,
            lr=self.lr if flags.lr is None else flags.lr,
            batch_tokens=self.batch_tokens if flags.batch_tokens is None else flags.batch_tokens,
            hardware=self.hardware.merged(flags.hardware),
            limits={**self.limits, **flags.limits})


def _unknown(where: str, key: str, allowed: tuple[str, ...]) -> InputError:
    hint = difflib.get_close_matches(key, allowed, n=1)
    fix = f"did you mean {hint[0]!r}?" if hint else f"allowed: {', '.join(allowed)}"
    return InputError(f"{where}: unknown key {shown(key)}; {fix}")


def _num(where: str, key: str, value: object) -> float:
    try:
        return parse_number(value)
    except QuantityError as exc:
        raise InputError(f"{where}: {key!r}: {exc.problem}") from None


def _keyed(name: str, exc: ScalingError) -> InputError:
    """A setting's error re-said in the plan file's terms (``plan.yaml: hardware: 'mfu'``)."""
    def key(setting: str) -> str:
        section, _, leaf = setting.rpartition(".")
        return f"{section}: {leaf!r}" if section else repr(leaf)
    return InputError(f"{name}: {exc.render(key)}")


def load_plan(text: str, name: str) -> Plan:
    """Parse and validate a plan file's text (YAML); errors name the file and the key."""
    from scaling_cli.read.yamlsafe import load_yaml_documents

    docs = [d for d in load_yaml_documents(text, name) if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], Mapping):
        raise InputError(f"{name}: a plan file holds one mapping with params, tokens or "
                         "budget, and limits (see configs/example_plan.yaml)")
    doc = docs[0]
    for key in doc:
        if key not in _PLAN_KEYS:
            raise _unknown(name, str(key), _PLAN_KEYS)
    hardware = doc.get("hardware") or {}
    limits = doc.get("limits") or {}
    if not isinstance(hardware, Mapping) or not isinstance(limits, Mapping):
        raise InputError(f"{name}: 'hardware' and 'limits' must be mappings")
    for key in hardware:
        if key not in _HARDWARE_KEYS:
            raise _unknown(f"{name}: hardware", str(key), _HARDWARE_KEYS)
    for key in limits:
        if key not in LIMITS:
            raise _unknown(f"{name}: limits", str(key), tuple(LIMITS))
    where = f"{name}: hardware"
    gpus = None if hardware.get("gpus") is None else _num(where, "gpus", hardware["gpus"])
    if gpus is not None and (gpus != int(gpus) or not 1 <= gpus <= PLAUSIBLE["gpus"][1]):
        raise InputError(f"{where}: 'gpus': {shown(hardware['gpus'])} is not a GPU count; give "
                         "a whole number from 1 to 1e9")

    def optional(key: str) -> float | None:
        value = hardware.get(key)
        return None if value is None else _num(where, key, value)

    try:
        spec = HardwareSpec(
            gpu=None if hardware.get("gpu") is None else str(hardware["gpu"]),
            gpus=None if gpus is None else int(gpus), mfu=optional("mfu"),
            peak_tflops=optional("peak_tflops"), usd_per_gpu_hour=optional("usd_per_gpu_hour"))
        spec.resolve()  # checked here, so its errors name this file's keys
        params = None if doc.get("params") is None else check_plausible(
            "params", _num(name, "params", doc["params"]))
        tokens = None if doc.get("tokens") is None else check_plausible(
            "tokens", _num(name, "tokens", doc["tokens"]))
        lr, batch = (None if doc.get(key) is None else check_plausible(
            key, _num(name, key, doc[key])) for key in ("lr", "batch_tokens"))
    except (InputError, UsageError) as exc:
        if exc.field is None and exc.problem.startswith(f"{name}:"):
            raise
        raise _keyed(name, exc) from None
    return Plan(
        name=str(doc.get("name", name)), params=params, tokens=tokens,
        budget=None if doc.get("budget") is None else str(doc["budget"]), lr=lr,
        batch_tokens=batch, hardware=spec,
        limits={str(k): _num(f"{name}: limits", str(k), v) for k, v in limits.items()},
        source=name,
    )


def read_plan_file(path: str) -> Plan:
    """Read and parse the plan file at ``path`` (bounded: plans are small)."""
    from scaling_cli.read.sources import read_bounded_text

    return load_plan(read_bounded_text(path, MAX_PLAN_BYTES, what="plan file"), path)
