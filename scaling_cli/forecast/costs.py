"""What compute costs: FLOPs -> GPU-hours -> days on K GPUs -> dollars.

    GPU-hours = FLOPs / (3600 * peak * MFU),  days = GPU-hours / (24 K),
    dollars   = GPU-hours * price per GPU-hour.

The hardware itself (presets, MFU, overrides) and budgets written in these units are read
by :mod:`scaling_cli.read.hardware`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaling_cli.read.hardware import HOURS_PER_DAY, Hardware

__all__ = [
    "ComputeCost",
    "Cost",
    "compute_cost",
    "cost_of",
    "flops_to_gpu_hours",
    "gpu_hours_to_flops",
]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ComputeCost:
    """A compute amount in every unit; ``days``/``usd`` are None without GPU count/price."""

    compute_flops: Array
    gpu_hours: Array
    days: Array | None  # wall clock on hardware.gpus GPUs
    usd: Array | None


@dataclass(frozen=True)
class Cost:
    """What one number of FLOPs costs (None where it needs more facts)."""

    gpu_hours: float
    days: float | None  # wall clock on the hardware's GPU count
    usd: float | None


def flops_to_gpu_hours(flops: npt.ArrayLike, hardware: Hardware) -> Array:
    """GPU-hours = FLOPs / (3600 * peak * MFU)."""
    return np.asarray(flops, dtype=float) / hardware.flops_per_gpu_hour


def gpu_hours_to_flops(gpu_hours: npt.ArrayLike, hardware: Hardware) -> Array:
    """FLOPs = GPU-hours * 3600 * peak * MFU."""
    return np.asarray(gpu_hours, dtype=float) * hardware.flops_per_gpu_hour


def compute_cost(flops: npt.ArrayLike, hardware: Hardware) -> ComputeCost:
    """FLOPs in GPU-hours, days on ``hardware.gpus`` GPUs and dollars (when known)."""
    f = np.asarray(flops, dtype=float)
    hours = flops_to_gpu_hours(f, hardware)
    days = None if hardware.gpus is None else hours / (HOURS_PER_DAY * hardware.gpus)
    price = hardware.gpu.usd_per_gpu_hour
    return ComputeCost(f, hours, days, None if price is None else hours * price)


def cost_of(flops: float, hardware: Hardware | None) -> Cost | None:
    """GPU-hours, days and dollars for one ``flops`` (None without hardware or for +inf)."""
    if hardware is None or not math.isfinite(flops):
        return None
    c = compute_cost(flops, hardware)
    return Cost(float(c.gpu_hours), None if c.days is None else float(c.days),
                None if c.usd is None else float(c.usd))
