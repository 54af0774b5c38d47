"""Bundled configuration: published laws (``configs/laws.toml``) and GPUs (``hardware.toml``).

Both files ship inside the wheel (``scaling_cli/configs``); a source checkout reads them
from ``./configs``. Every value is checked (a preset with a missing or non-positive number
is refused with the file, the entry and the key), so a hand-edited config cannot turn into
a silently wrong forecast.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaling_cli.errors import InputError
from scaling_cli.law import DEFAULT_FLOPS_PER_PARAM_TOKEN, PARAMETER_NAMES, Law
from scaling_cli.model import Model

__all__ = ["GPU", "Preset", "config_dir", "load_gpus", "load_presets", "published_model"]


@dataclass(frozen=True)
class Preset:
    """A published law, usable without any runs (``law`` setting, ``--law NAME``)."""

    name: str
    law: Law
    title: str
    citation: str
    note: str


@dataclass(frozen=True)
class GPU:
    """One accelerator: dense bf16 peak and (optionally) an assumed price."""

    name: str
    peak_tflops: float  # dense bf16 Tensor Core peak, TFLOP/s
    usd_per_gpu_hour: float | None
    title: str = ""
    source: str = ""
    price_note: str = ""

    @property
    def peak_flops_per_second(self) -> float:
        return self.peak_tflops * 1e12


def config_dir() -> Path:
    """Bundled configs: inside the installed package, else ./configs of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "configs", package.parent / "configs"):
        if (candidate / "laws.toml").is_file():
            return candidate
    raise InputError(f"bundled configs not found next to {package}; reinstall scaling-cli")


def _load(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: cannot read {what} ({exc})") from None


def _positive(table: Mapping[str, Any], key: str, where: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or not math.isfinite(value):
        raise InputError(f"{where}: {key!r} must be a positive number, got {value!r}")
    return float(value)


def _law_number(table: Mapping[str, Any], key: str, where: str) -> float:
    if key in table:
        return _positive(table, key, where)
    if f"log_{key}" in table:
        log_value = table[f"log_{key}"]
        if isinstance(log_value, bool) or not isinstance(log_value, (int, float)) \
                or not -700 < log_value < 700:
            raise InputError(f"{where}: 'log_{key}' must be a number between -700 and 700")
        return math.exp(log_value)
    raise InputError(f"{where}: missing {key!r}")


def load_presets(path: Path | None = None) -> dict[str, Preset]:
    """Published laws from ``configs/laws.toml`` (or ``path``), by name."""
    path = path or config_dir() / "laws.toml"
    presets = {}
    for name, table in _load(path, "law presets").get("laws", {}).items():
        where = f"{path.name}: law {name!r}"
        law = Law(*(_law_number(table, key, where) for key in PARAMETER_NAMES))
        presets[name] = Preset(name, law, str(table.get("title", name)),
                               str(table.get("citation", "")), str(table.get("note", "")))
    return presets


def published_model(name: str, *,
                    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN) -> Model:
    """A published law as a model: a point estimate with no replicates (so no intervals)."""
    presets = load_presets()
    if name not in presets:
        raise InputError(f"{name!r}: unknown law; choose one of {', '.join(sorted(presets))} "
                         "(see `scaling laws`)", field="law")
    return Model(presets[name].law, None, f"preset:{name}", flops_per_param_token)


def load_gpus(path: Path | None = None) -> dict[str, GPU]:
    """GPU presets by (lower-case) name from ``configs/hardware.toml`` or ``path``."""
    path = path or config_dir() / "hardware.toml"
    gpus = {}
    for name, table in _load(path, "hardware presets").get("gpus", {}).items():
        where = f"{path}: gpu {name!r}"
        if "peak_tflops" not in table:
            raise InputError(f"{where}: missing 'peak_tflops' (dense bf16 TFLOP/s)")
        price = (_positive(table, "usd_per_gpu_hour", where)
                 if "usd_per_gpu_hour" in table else None)
        gpus[name.lower()] = GPU(name.lower(), _positive(table, "peak_tflops", where), price,
                                 str(table.get("title", name)), str(table.get("source", "")),
                                 str(table.get("price_note", "")))
    return gpus
