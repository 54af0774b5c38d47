"""Concrete decoder shapes near a target parameter count N*, and the loss each one costs.

Parameter count of a pre-norm decoder-only transformer (d = d_model, L = layers, h heads
and k key-value heads of size hd with h hd = d, f = FFN size, V = vocabulary, P = learned
positions, 0 for rotary):

    per layer   attention   2 d^2 + 2 d k hd        (q and o are d x d; k, v are d x k hd;
                                                      multi-head attention k = h: 4 d^2)
                 + biases    2 d + 2 k hd             (if ``bias``: q, k, v, o)
                MLP          m d f                    (m = 3 for gated SwiGLU, 2 for GELU)
                 + biases    (m - 1) f + d            (if ``bias``)
                norms        2 d (RMSNorm) or 4 d (LayerNorm: weight and bias), two per layer
    non-embedding  N_ne = L x per layer + final norm (d or 2 d)
    embeddings     V d + (V d unless tied: the output head) + P d
    total          N = N_ne + embeddings

FFN size f = r d rounded up to a multiple (r = 8/3 for SwiGLU, 4 for GELU): LLaMA's rule,
8/3 x 4096 -> 11008 with multiple 256. Checks: LLaMA-7B (32 layers, d 4096, f 11008,
V 32000, untied, RMSNorm, no biases) has 6,738,415,616 parameters; GPT-2 small (12 layers,
d 768, GELU f 3072, V 50257, tied, LayerNorm, biases, P 1024) has 124,439,808.

Which N a loss law means matters: Hoffmann et al. 2022 count all parameters (``"total"``),
Kaplan et al. 2020 and Step Law count non-embedding ones (``"non_embedding"``); at 1B
parameters with a 128k vocabulary the two differ by 2x.

Shape search: every depth L = 1 .. ``max_layers`` and every width d (a multiple of
``width_multiple`` and of the head size) with aspect ratio d / L in ``aspect_ratio``; for
each depth the widths just below and just above N* are kept; the ``count`` nearest in
|log(N / N*)| are returned, always including the nearest below and the nearest above N*.
Sizes within ``SAME_SIZE`` (0.5%) of N* count as equally near, and among them the shape
whose aspect ratio is nearest the band's geometric middle comes first.
The default band, 32 <= d / L <= 256, follows Kaplan et al. 2020 (section 3.1, figure 5:
at fixed non-embedding N the loss changes by only a few percent across aspect ratios from
about 20 to 200; a 6-layer, d 4288 model is within 3% of a 48-layer, d 1600 one) and
Levine et al. 2020 ("Limits to Depth Efficiencies of Self-Attention", arXiv:2006.12467:
depth pays only up to a width-dependent point, so very deep, narrow models waste
parameters); it holds GPT-2 (64), GPT-3 175B (128), LLaMA 7B/65B (128/102) and
Chinchilla 70B (102).

Loss cost at a budget C (C = k N D, k = 6): a shape of N parameters trains on
D = C / (k N) tokens and loses

    delta L = L(N, C / (k N)) - L(N*, D*),     (N*, D*) = optimal_allocation(law, C)

nats/token, >= 0 since N* minimises L along C = k N D (rounding below zero is clipped).
With bootstrap replicates each replicate is compared with its own optimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from scaling_cli.errors import UsageError
from scaling_cli.forecast.intervals import Estimate, percentile_interval
from scaling_cli.law import Law, optimal_allocation, predict_loss
from scaling_cli.units import format_count

if TYPE_CHECKING:
    import numpy.typing as npt

    from scaling_cli.forecast.answers import BudgetForecast
    from scaling_cli.model import Model

    Array = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]

__all__ = [
    "PARAMS_DEFINITIONS",
    "SAME_SIZE",
    "Architecture",
    "Shape",
    "ShapeCandidate",
    "ShapePlan",
    "ShapeSearch",
    "count_params",
    "find_shapes",
    "loss_cost",
    "non_embedding_flops_per_token",
    "shape_plan",
    "shapes_at_budget",
]

PARAMS_DEFINITIONS = ("total", "non_embedding")
SAME_SIZE = 0.005  # relative difference in N below which candidates rank by aspect ratio
_MLP_MATRICES = {"swiglu": 3, "gelu": 2}
_DEFAULT_FFN_RATIO = {"swiglu": 8 / 3, "gelu": 4.0}


@dataclass(frozen=True)
class Architecture:
    """The fixed choices a shape search keeps (LLaMA-like defaults), validated on creation."""

    vocab_size: int = 32_000
    tied_embeddings: bool = False
    mlp: str = "swiglu"  # "swiglu" (3 matrices) or "gelu" (2)
    ffn_ratio: float | None = None  # None: 8/3 for swiglu, 4 for gelu
    ffn_multiple: int = 256
    head_dim: int = 128
    kv_heads: int | None = None  # None: multi-head attention; else grouped-query
    width_multiple: int = 128
    norm: str = "rmsnorm"  # "rmsnorm" (weight) or "layernorm" (weight and bias)
    bias: bool = False
    learned_positions: int = 0  # context length if positions are learned, 0 for rotary

    def __post_init__(self) -> None:
        if self.mlp not in _MLP_MATRICES:
            raise UsageError(f"{self.mlp!r}: use swiglu or gelu", field="mlp")
        if self.norm not in ("rmsnorm", "layernorm"):
            raise UsageError(f"{self.norm!r}: use rmsnorm or layernorm", field="norm")
        for name in ("vocab_size", "ffn_multiple", "head_dim", "width_multiple"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{value!r}: give a positive whole number", field=name)
        if self.kv_heads is not None and (isinstance(self.kv_heads, bool)
                                          or not isinstance(self.kv_heads, int)
                                          or self.kv_heads < 1):
            raise UsageError(f"{self.kv_heads!r}: give a positive whole number, or None for "
                             "multi-head attention", field="kv_heads")
        if isinstance(self.learned_positions, bool) or self.learned_positions < 0:
            raise UsageError(f"{self.learned_positions!r}: give 0 (rotary) or the context "
                             "length", field="learned_positions")
        if self.ffn_ratio is not None and not (0 < self.ffn_ratio <= 64):
            raise UsageError(f"{self.ffn_ratio!r}: give a ratio in (0, 64], e.g. 8/3 for "
                             "SwiGLU or 4 for GELU", field="ffn_ratio")

    @property
    def ffn_ratio_used(self) -> float:
        return _DEFAULT_FFN_RATIO[self.mlp] if self.ffn_ratio is None else self.ffn_ratio

    def ffn_size(self, d_model: Any) -> Any:
        """f = ffn_ratio x d rounded up to a multiple of ffn_multiple (vectorised)."""
        m = self.ffn_multiple
        # the 1e-9 keeps an exact multiple (4 x 768 = 3072) from rounding up by float error
        return (np.ceil(self.ffn_ratio_used * np.asarray(d_model) / m - 1e-9) * m).astype(
            np.int64)


@dataclass(frozen=True)
class Shape:
    """One decoder shape and its parameter counts."""

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_size: int
    mlp: str
    vocab_size: int
    tied_embeddings: bool
    params_total: int
    params_non_embedding: int
    params_embedding: int

    @property
    def aspect_ratio(self) -> float:
        """d_model / n_layers."""
        return self.d_model / self.n_layers


def _counts(layers: IntArray, width: IntArray, ffn: IntArray, kv: IntArray,
            arch: Architecture) -> tuple[IntArray, IntArray]:
    """(non-embedding, embedding) parameter counts by the module doc's formula."""
    hd = arch.head_dim
    m = _MLP_MATRICES[arch.mlp]
    attn = 2 * width * width + 2 * width * kv * hd
    mlp = m * width * ffn
    if arch.bias:
        attn = attn + 2 * width + 2 * kv * hd
        mlp = mlp + (m - 1) * ffn + width
    norm = (2 if arch.norm == "layernorm" else 1) * width
    non_embedding = layers * (attn + mlp + 2 * norm) + norm
    heads = 1 if arch.tied_embeddings else 2
    embedding = (heads * arch.vocab_size + arch.learned_positions) * width
    return non_embedding, embedding


def _kv(heads: Any, arch: Architecture) -> Any:
    return heads if arch.kv_heads is None else np.full_like(heads, arch.kv_heads)


def count_params(n_layers: int, d_model: int, *, architecture: Architecture | None = None,
                 ffn_size: int | None = None) -> Shape:
    """The :class:`Shape` of ``n_layers`` x ``d_model`` (FFN size from the architecture's
    rule unless given), with its parameter counts."""
    arch = architecture or Architecture()
    for name, value in (("n_layers", n_layers), ("d_model", d_model)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{value!r}: give a positive whole number", field=name)
    if d_model % arch.head_dim:
        raise UsageError(f"{d_model} is not a multiple of `head_dim` ({arch.head_dim})",
                         field="d_model")
    heads = d_model // arch.head_dim
    kv = heads if arch.kv_heads is None else arch.kv_heads
    if heads % kv:
        raise UsageError(f"{heads} heads cannot share {kv} key-value heads; give a number "
                         "dividing d_model / head_dim", field="kv_heads")
    ffn = int(arch.ffn_size(d_model)) if ffn_size is None else ffn_size
    layers_a, width_a, ffn_a, kv_a = (np.asarray(v, dtype=np.int64)
                                      for v in (n_layers, d_model, ffn, kv))
    non_emb, emb = _counts(layers_a, width_a, ffn_a, kv_a, arch)
    return Shape(n_layers, d_model, heads, kv, arch.head_dim, ffn, arch.mlp, arch.vocab_size,
                 arch.tied_embeddings, int(non_emb + emb), int(non_emb), int(emb))


def non_embedding_flops_per_token(shape: Shape, seq_len: int) -> float:
    """Training FLOPs per token M = 6 W + 12 L d l_seq, W = the layers' matrix weights
    (attention and MLP). DeepSeek LLM's M (arXiv:2401.02954, eq. 2) is 72 L d^2 + 12 L d l_seq:
    the same with W = 12 L d^2, which is exact for 4 d^2 attention and an 8 d^2 MLP."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise UsageError(f"{seq_len!r}: give a positive whole number of tokens",
                         field="seq_len")
    d, layers = shape.d_model, shape.n_layers
    attn = 2 * d * d + 2 * d * shape.n_kv_heads * shape.head_dim
    mlp = _MLP_MATRICES[shape.mlp] * d * shape.ffn_size
    return float(6 * layers * (attn + mlp) + 12 * layers * d * seq_len)


# --------------------------------------------------------------------------- search


@dataclass(frozen=True)
class ShapeCandidate:
    """A shape near N*: ``params`` counts as the law does (``params_definition``);
    ``tokens`` = C / (k params) and ``loss_cost`` (nats/token over the optimum) are set
    when a budget is given."""

    shape: Shape
    params: int
    params_ratio: float  # params / N*
    tokens: float | None = None
    loss_cost: Estimate | None = None


@dataclass(frozen=True)
class ShapeSearch:
    """Candidate shapes near ``target_params``, sorted by size."""

    target_params: float
    params_definition: str
    architecture: Architecture
    aspect_ratio_band: tuple[float, float]
    candidates: tuple[ShapeCandidate, ...]
    compute_flops: float | None = None
    optimal_loss: Estimate | None = None
    confidence: float | None = None
    warnings: tuple[str, ...] = ()


def _grid(arch: Architecture, band: tuple[float, float],
          max_layers: int) -> tuple[IntArray, IntArray]:
    """Every (layers, width) pair with width a multiple of the step and d / L in band."""
    step = math.lcm(arch.width_multiple, arch.head_dim)
    layers = np.arange(1, max_layers + 1, dtype=np.int64)
    first = np.maximum(np.ceil(band[0] * layers / step), 1).astype(np.int64)
    last = np.floor(band[1] * layers / step).astype(np.int64)
    count = np.maximum(last - first + 1, 0)
    rows = np.repeat(layers, count)
    offsets = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(np.cumsum(count) - count,
                                                                       count)
    width = (np.repeat(first, count) + offsets) * step
    if arch.kv_heads is not None:  # grouped-query attention: heads must split evenly
        keep = (width // arch.head_dim) % arch.kv_heads == 0
        rows, width = rows[keep], width[keep]
    return rows, width


def _bracketing(layers: IntArray, params: IntArray, target: float) -> Array:
    """Indices of, for each depth, the largest size <= target and the smallest > target."""
    picked = []
    below = params <= target
    for mask, sign in ((below, -1), (~below, 1)):  # below: largest first; above: smallest
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            continue
        order = np.lexsort((sign * params[idx], layers[idx]))
        idx = idx[order]
        first = np.r_[True, layers[idx][1:] != layers[idx][:-1]]  # first per depth
        picked.append(idx[first])
    return np.concatenate(picked) if picked else np.array([], dtype=np.intp)


def find_shapes(
    target_params: float,
    *,
    architecture: Architecture | None = None,
    params_definition: str = "total",
    aspect_ratio: tuple[float, float] = (32.0, 256.0),
    count: int = 5,
    max_layers: int = 256,
) -> ShapeSearch:
    """The ``count`` shapes nearest ``target_params`` (module doc), sorted by size."""
    arch = architecture or Architecture()
    if params_definition not in PARAMS_DEFINITIONS:
        raise UsageError(f"{params_definition!r}: use total or non_embedding (as the loss law "
                         "counts N)", field="params_definition")
    if not (isinstance(target_params, (int, float)) and math.isfinite(target_params)
            and target_params >= 1):
        raise UsageError(f"{target_params!r}: give a parameter count, e.g. 7e9",
                         field="target_params")
    low, high = aspect_ratio
    if not 0 < low < high:
        raise UsageError(f"{aspect_ratio!r}: give (low, high) with 0 < low < high",
                         field="aspect_ratio")
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise UsageError(f"{count!r}: give at least 2 (one below and one above N*)",
                         field="count")
    if isinstance(max_layers, bool) or not isinstance(max_layers, int) or max_layers < 1:
        raise UsageError(f"{max_layers!r}: give a positive whole number", field="max_layers")
    layers, width = _grid(arch, (low, high), max_layers)
    heads = width // arch.head_dim
    ffn = arch.ffn_size(width)
    non_emb, emb = _counts(layers, width, ffn, _kv(heads, arch), arch)
    counted = non_emb + emb if params_definition == "total" else non_emb
    chosen = _bracketing(layers, counted, target_params)
    # Within SAME_SIZE of N* sizes count as equal (the loss cost there is ~1e-6 nats or
    # less), so among them the shape nearest the middle of the aspect band comes first.
    distance = np.maximum(np.abs(np.log(counted[chosen] / target_params)),
                          math.log1p(SAME_SIZE))
    centre = math.sqrt(low * high)
    aspect = np.abs(np.log(width[chosen] / layers[chosen] / centre))
    ranked = chosen[np.lexsort((layers[chosen], aspect, distance))]
    below = [i for i in ranked if counted[i] <= target_params][:1]
    above = [i for i in ranked if counted[i] > target_params][:1]
    rest = [i for i in ranked if i not in below and i not in above]
    keep = sorted([*below, *above, *rest][:count], key=lambda i: (counted[i], layers[i]))
    candidates = tuple(
        ShapeCandidate(
            shape=Shape(int(layers[i]), int(width[i]), int(heads[i]),
                        int(_kv(heads[i], arch)), arch.head_dim, int(ffn[i]), arch.mlp,
                        arch.vocab_size, arch.tied_embeddings, int(non_emb[i] + emb[i]),
                        int(non_emb[i]), int(emb[i])),
            params=int(counted[i]), params_ratio=float(counted[i] / target_params))
        for i in keep)
    return ShapeSearch(float(target_params), params_definition, arch, (low, high), candidates,
                       warnings=tuple(_search_warnings(candidates, target_params,
                                                       params_definition)))


def _search_warnings(candidates: tuple[ShapeCandidate, ...], target: float,
                     definition: str) -> list[str]:
    out = []
    if not candidates:
        return [f"no shape in the aspect-ratio band comes near N* = {format_count(target)}; "
                "widen the band or raise max_layers"]
    if not any(c.params <= target for c in candidates) or \
            not any(c.params > target for c in candidates):
        out.append(f"the candidates do not bracket N* = {format_count(target)}: the band or "
                   "max_layers limits the shapes on one side")
    nearest = min(abs(math.log(c.params_ratio)) for c in candidates)
    if nearest > math.log(1.1):
        out.append(f"the nearest shape is {math.exp(nearest):.3g}x away from N*: widths step "
                   "coarsely at this size")
    shape = candidates[0].shape
    share = shape.params_embedding / shape.params_total
    if share > 0.2:
        out.append(f"embeddings are {share:.0%} of the parameters at this size: whether the "
                   f"law counts them matters (N here is {definition.replace('_', '-')})")
    return out


# --------------------------------------------------------------------------- loss cost


def loss_cost(law: Law, params: Any, compute_flops: float, *,
              flops_per_param_token: float = 6.0) -> Any:
    """delta L = L(N, C / (k N)) - L(N*, D*) in nats/token (module doc). Law fields may be
    floats or replicate arrays and broadcast like :func:`scaling_cli.law.predict_loss`
    (``Law.stacked(point, replicates)`` against a row of sizes gives laws x sizes)."""
    n = np.asarray(params, dtype=float)
    best = optimal_allocation(law, compute_flops, flops_per_param_token=flops_per_param_token)
    here = predict_loss(law, n, compute_flops / (flops_per_param_token * n))
    # N* minimises L on C = k N D, so a negative difference is rounding: clip it
    return np.maximum(here - np.asarray(best.loss), 0.0)


def shapes_at_budget(
    law: Law,
    compute_flops: float,
    *,
    replicates: Law | None = None,
    confidence: float = 0.95,
    flops_per_param_token: float = 6.0,
    architecture: Architecture | None = None,
    params_definition: str = "total",
    aspect_ratio: tuple[float, float] = (32.0, 256.0),
    count: int = 5,
    max_layers: int = 256,
) -> ShapeSearch:
    """Shapes near the point law's N* at budget C, each with its tokens and loss cost (an
    interval over ``replicates``: each replicate against its own optimum)."""
    if not 0 < confidence < 1:
        raise UsageError(f"{confidence:g}: give a fraction in (0, 1), e.g. 0.95",
                         field="confidence")
    if not (isinstance(compute_flops, (int, float)) and math.isfinite(compute_flops)
            and compute_flops > 0):
        raise UsageError(f"{compute_flops!r}: give a positive budget, e.g. 1e24",
                         field="compute_flops")
    k = flops_per_param_token
    best = float(optimal_allocation(law, compute_flops, flops_per_param_token=k).params)
    search = find_shapes(best, architecture=architecture, params_definition=params_definition,
                         aspect_ratio=aspect_ratio, count=count, max_layers=max_layers)
    # One evaluation on the stacked law (point in row 0, replicates below): the value and
    # the interval of every cost come out of the same arithmetic.
    stacked = Law.stacked(law, replicates)
    sizes = np.array([[c.params for c in search.candidates]], dtype=float)
    costs = loss_cost(stacked, sizes, compute_flops, flops_per_param_token=k)
    optimum = optimal_allocation(stacked, compute_flops, flops_per_param_token=k).loss[:, 0]
    reps = replicates is not None
    candidates = tuple(
        ShapeCandidate(c.shape, c.params, c.params_ratio, compute_flops / (k * c.params),
                       _estimate(costs[:, j], reps, confidence))
        for j, c in enumerate(search.candidates))
    return ShapeSearch(
        search.target_params, params_definition, search.architecture,
        search.aspect_ratio_band, candidates, compute_flops=float(compute_flops),
        optimal_loss=_estimate(optimum, reps, confidence),
        confidence=confidence, warnings=search.warnings)


def _estimate(column: Array, replicates: bool, confidence: float) -> Estimate:
    """Row 0 of a stacked evaluation as the value, the percentile interval of the rest."""
    if not replicates:
        return Estimate(float(column[0]))
    return Estimate(float(column[0]), *percentile_interval(column[1:], confidence))


@dataclass(frozen=True)
class ShapePlan:
    """``scaling shape``: shapes near N* at a budget (with the loss law's N*, D* and loss,
    their intervals and reach), or near a given size when there is no law."""

    search: ShapeSearch
    model: Model | None
    optimum: BudgetForecast | None  # the loss law's allocation at the budget
    warnings: tuple[str, ...]


def shape_plan(
    model: Model | None,
    *,
    compute_flops: float | None = None,
    params: float | None = None,
    confidence: float = 0.95,
    architecture: Architecture | None = None,
    params_definition: str = "total",
    aspect_ratio: tuple[float, float] = (32.0, 256.0),
    count: int = 5,
) -> ShapePlan:
    """Shapes near ``model``'s N* at ``compute_flops`` with their loss cost, or (no model)
    near ``params``. The law's N counts parameters as ``params_definition`` says."""
    options = {"architecture": architecture, "params_definition": params_definition,
               "aspect_ratio": aspect_ratio, "count": count}
    if model is None or compute_flops is None:
        if params is None or model is not None or compute_flops is not None:
            raise UsageError("give a loss law and a `budget` (shapes near N*), or `params` "
                             "alone (shapes near that size)")
        search = find_shapes(params, **options)  # type: ignore[arg-type]
        return ShapePlan(search, None, None, search.warnings)
    if params is not None:
        raise UsageError("give `params` or a `budget`, not both: with a budget the shapes "
                         "are sized around the law's N*")
    from scaling_cli.forecast.answers import optimal

    forecast = optimal(model, [compute_flops], confidence=confidence)
    search = shapes_at_budget(model.law, compute_flops, replicates=model.sample_law,
                              confidence=confidence,
                              flops_per_param_token=model.flops_per_param_token,
                              **options)  # type: ignore[arg-type]
    return ShapePlan(search, model, forecast.rows[0],
                     tuple(dict.fromkeys([*forecast.warnings, *search.warnings])))

