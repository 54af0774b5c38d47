"""Porian et al. 2024's compute-optimal exponents on their own isoFLOP points
(../shared/data/porian_isoflop.csv), resampling whole training runs (`train_run_key`)."""

from __future__ import annotations

import numpy as np
import pytest

from scaling_cli.fit.approach2 import approach2
from scaling_cli.fit.bootstrap import resample_weights
from scaling_cli.fit.build import FitSettings, fit_runs
from scaling_cli.forecast.intervals import percentile_interval
from scaling_cli.read.runs import load_runs

from .conftest import shared_csv

CONFIGS = [("rw|tuned|short|const|standard|val", 0.497),   # "Optimizer tuning"
           ("rw|base|short|chinchilla|standard|val", 0.571)]  # "Cosine decay"


@pytest.mark.parametrize(("config", "published"), CONFIGS)
def test_published_exponent_inside_both_approaches_intervals(config: str,
                                                             published: float) -> None:
    path = shared_csv("porian_isoflop.csv")
    runs = load_runs([str(path)], where=[f"config_id=={config}"],
                     columns={"group": "train_run_key"})
    model = fit_runs(runs, FitSettings(replicates=400, seed=0, workers=1, form="full"))
    assert model.boot is not None and model.boot.resample_by == "group"
    assert model.sample_law is not None
    low, high = percentile_interval(model.sample_law.compute_exponent, 0.95)
    assert low < published < high
    data = model.runs
    assert data is not None and data.groups is not None
    weights = resample_weights(len(data.ids), data.groups, 400, seed=0)
    point, reps = approach2(data.params, data.loss, data.compute_flops, weights)
    low2, high2 = percentile_interval(reps[:, 0], 0.95)
    assert low2 < published < high2
    assert abs(point.exponent - published) < 0.03
    assert np.isfinite(reps[:, 0]).mean() > 0.95
