"""Decoder shapes near N*: parameter counts of known models, the search, and the loss cost."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling_cli.errors import UsageError
from scaling_cli.forecast.shapes import (
    Architecture,
    count_params,
    find_shapes,
    loss_cost,
    non_embedding_flops_per_token,
    shapes_at_budget,
)
from scaling_cli.law import Law, optimal_allocation

EPOCH = Law(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)  # Besiroglu et al. 2024
GPT2 = Architecture(vocab_size=50257, tied_embeddings=True, mlp="gelu", norm="layernorm",
                    bias=True, learned_positions=1024, head_dim=64)


def replicate_laws(count: int = 300, spread: float = 0.02, seed: int = 0) -> Law:
    rng = np.random.default_rng(seed)
    return Law(*(np.asarray(v) * np.exp(rng.normal(0, spread, count))
                 for v in EPOCH.as_tuple()))


# --------------------------------------------------------------------------- counts


def test_llama_7b_count() -> None:
    shape = count_params(32, 4096)  # LLaMA defaults: SwiGLU 8/3 -> 11008, V 32000, untied
    assert shape.ffn_size == 11008
    assert shape.n_heads == 32 and shape.n_kv_heads == 32
    assert shape.params_total == 6_738_415_616
    assert shape.params_embedding == 2 * 32000 * 4096
    assert shape.params_non_embedding == 6_738_415_616 - 2 * 32000 * 4096


def test_gpt2_small_count_with_tied_embeddings() -> None:
    shape = count_params(12, 768, architecture=GPT2)
    assert shape.ffn_size == 3072  # 4 x 768 exactly: no rounding up by float error
    assert shape.n_heads == 12
    assert shape.params_total == 124_439_808
    assert shape.params_non_embedding == 124_439_808 - 50257 * 768 - 1024 * 768


def test_llama2_70b_count_with_grouped_query_attention() -> None:
    shape = count_params(80, 8192, ffn_size=28672,
                         architecture=Architecture(kv_heads=8))
    assert (shape.n_heads, shape.n_kv_heads) == (64, 8)
    assert shape.params_total == 68_976_648_192


def test_flops_per_token_is_deepseeks_m_for_12_d_squared_layers() -> None:
    shape = count_params(30, 4096, architecture=Architecture(mlp="gelu"))  # 4d^2 + 8d^2
    assert non_embedding_flops_per_token(shape, 4096) == 72 * 30 * 4096**2 + \
        12 * 30 * 4096 * 4096


@pytest.mark.parametrize(("call", "message"), [
    (lambda: Architecture(mlp="relu"), "mlp: 'relu': use swiglu or gelu"),
    (lambda: count_params(12, 100), "d_model: 100 is not a multiple of `head_dim` (128)"),
    (lambda: count_params(12, 1024, architecture=Architecture(kv_heads=3)),
     "kv_heads: 8 heads cannot share 3 key-value heads; give a number dividing d_model / "
     "head_dim"),
    (lambda: find_shapes(7e9, params_definition="all"),
     "params_definition: 'all': use total or non_embedding (as the loss law counts N)"),
    (lambda: find_shapes(7e9, aspect_ratio=(200, 50)),
     "aspect_ratio: (200, 50): give (low, high) with 0 < low < high"),
])
def test_setting_errors(call: Callable[[], object], message: str) -> None:
    with pytest.raises(UsageError) as info:
        call()
    assert str(info.value) == message


# --------------------------------------------------------------------------- search


@settings(max_examples=40, deadline=None)
@given(log_target=st.floats(math.log(3e8), math.log(3e12)),
       definition=st.sampled_from(["total", "non_embedding"]),
       mlp=st.sampled_from(["swiglu", "gelu"]))
def test_candidates_bracket_the_target_on_the_grid(log_target: float, definition: str,
                                                   mlp: str) -> None:
    target = math.exp(log_target)
    search = find_shapes(target, params_definition=definition,
                         architecture=Architecture(mlp=mlp))
    sizes = [c.params for c in search.candidates]
    assert len(sizes) == 5 and sizes == sorted(sizes)
    assert min(sizes) <= target < max(sizes)
    for c in search.candidates:
        shape = c.shape
        assert shape.d_model % 128 == 0
        assert shape.n_heads * shape.head_dim == shape.d_model
        assert 32 <= shape.aspect_ratio <= 256
        assert shape.ffn_size % 256 == 0
        assert c.params == (shape.params_total if definition == "total"
                            else shape.params_non_embedding)
        assert c.params_ratio == pytest.approx(c.params / target)
        assert abs(math.log(c.params_ratio)) < math.log(1.1)
    # only the embedding-share note may appear (small models): never a bracketing problem
    assert all(w.startswith("embeddings are") for w in search.warnings)


def test_the_nearest_shape_below_and_above_are_kept() -> None:
    search = find_shapes(6.74e9)
    below = [c for c in search.candidates if c.params <= 6.74e9]
    above = [c for c in search.candidates if c.params > 6.74e9]
    assert below and above
    # LLaMA-7B itself (6.738B, d/L = 128) is the nearest shape below 6.74B
    assert (below[-1].shape.n_layers, below[-1].shape.d_model) == (32, 4096)


def test_a_target_below_every_shape_is_reported() -> None:
    search = find_shapes(1e6)
    assert search.warnings[0] == ("the candidates do not bracket N* = 1M: the band or "
                                  "max_layers limits the shapes on one side")
    assert "embeddings are 97% of the parameters" in search.warnings[2]


# --------------------------------------------------------------------------- loss cost


def test_loss_cost_is_zero_at_the_optimum_and_grows_away_from_it() -> None:
    c = 1e24
    n_star = float(optimal_allocation(EPOCH, c).params)
    assert loss_cost(EPOCH, n_star, c) == pytest.approx(0.0, abs=1e-12)
    ratios = np.geomspace(1 / 8, 8, 41)
    cost = loss_cost(EPOCH, n_star * ratios, c)
    assert (cost >= 0).all()
    assert (np.diff(cost[ratios <= 1]) <= 0).all() and (np.diff(cost[ratios >= 1]) >= 0).all()
    assert cost[0] > 0.01 and cost[-1] > 0.01  # 8x off the optimum is not free


def test_loss_cost_takes_replicate_laws() -> None:
    reps = replicate_laws()
    stacked = Law.stacked(EPOCH, reps)
    cost = loss_cost(stacked, np.array([[5e10, 1e11, 2e11]]), 1e24)
    assert cost.shape == (301, 3)
    assert (cost >= 0).all()
    np.testing.assert_allclose(cost[0], loss_cost(EPOCH, [5e10, 1e11, 2e11], 1e24))


def test_shapes_at_budget_give_tokens_and_cost_intervals() -> None:
    budget = 1e24
    search = shapes_at_budget(EPOCH, budget, replicates=replicate_laws())
    n_star = float(optimal_allocation(EPOCH, budget).params)
    assert search.target_params == pytest.approx(n_star)
    assert search.optimal_loss is not None and search.optimal_loss.low is not None
    for cand in search.candidates:
        assert cand.tokens == pytest.approx(budget / (6 * cand.params))
        cost = cand.loss_cost
        assert cost is not None and cost.low is not None and cost.high is not None
        assert 0 <= cost.value < 1e-6  # within 0.2% of N*: a negligible price
        assert 0 <= cost.low <= cost.high
    # without replicates: the point only
    plain = shapes_at_budget(EPOCH, budget)
    assert plain.candidates[0].loss_cost is not None
    assert plain.candidates[0].loss_cost.low is None
    assert [c.shape for c in plain.candidates] == [c.shape for c in search.candidates]
