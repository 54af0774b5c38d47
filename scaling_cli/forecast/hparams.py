"""Hyperparameter answers: lr* and batch* at a planned (N, D) with intervals, checks of a
plan's settings, and the published presets of ``configs/hparams.toml``.

A source is a fit of the user's sweep (:class:`~scaling_cli.fit.hparams.HparamFit`, with
bootstrap replicates) or a published law (:class:`HparamPreset`, a point law only). At a
planned N, D (usually N*, D* from the loss law, with their bootstrap replicates):

    lr_s = lr*_i(N_j, D_j)       batch_s = batch*_i(N_j, D_j)

over pairs of hyperparameter-law replicates i (bootstrap by sweep cell) and allocation
replicates j (N*_j, D*_j from one loss-law replicate, kept paired). The two come from
different experiments, so they are independent: every pair is used when there are at most
``MAX_PAIRS``, otherwise ``MAX_PAIRS`` pairs drawn with ``np.random.default_rng(seed)``.
The value is the point law at the point N, D; the interval is the equal-tailed percentile
interval of the s values. Each source alone is reported too (``*_law_only``: every law
replicate at the point N, D; ``*_allocation_only``: the point law at every N*_j, D*_j) so a
reader sees which uncertainty dominates.

:func:`check_hparams` judges a plan's lr or batch like ``scaling check`` judges limits:
the ratio max(planned / recommended, recommended / planned) is computed per replicate, and
the check passes if the whole interval is within ``factor``, fails if none of it is, and
is inconclusive if it straddles ``factor`` (without replicates the point value decides and
the check says so).
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scaling_cli.errors import InputError, UsageError
from scaling_cli.fit.hparams import HparamFit, HparamLaw
from scaling_cli.forecast.intervals import Estimate, percentile_interval
from scaling_cli.units import format_count

if TYPE_CHECKING:
    import numpy.typing as npt

    from scaling_cli.model import Model

    Array = npt.NDArray[np.float64]

__all__ = [
    "HPARAMS_SCHEMA",
    "MAX_PAIRS",
    "MIN_REPLICATES",
    "HparamAdvice",
    "HparamCheck",
    "HparamLawReport",
    "HparamPreset",
    "check_hparams",
    "estimate_of",
    "hparams_at_optimum",
    "law_report",
    "load_hparam_presets",
    "read_hparam_file",
    "recommend_hparams",
]

MAX_PAIRS = 1_000_000
# Fewer replicates cannot put an order statistic in each 2.5% tail of a 95% interval:
# such an "interval" is refused (value only, and a warning), as elsewhere in the tool.
MIN_REPLICATES = 40
_LAW_FIELDS = ("lr_coef", "lr_params_exponent", "lr_tokens_exponent", "batch_tokens_coef",
               "batch_params_exponent", "batch_tokens_exponent")


@dataclass(frozen=True)
class HparamPreset:
    """A published hyperparameter law (see configs/hparams.toml)."""

    name: str
    title: str
    citation: str
    note: str
    law: HparamLaw  # in N, D form; for model_scale "compute", N is M / 6 (module doc)
    model_scale: str  # "params" or "compute"
    definition: str  # what N (or C) counts
    params_range: tuple[float, float] | None = None
    tokens_range: tuple[float, float] | None = None
    replicates: None = None
    warnings: tuple[str, ...] = ()


Source = HparamFit | HparamPreset


@dataclass(frozen=True)
class HparamLawReport:
    """A law's coefficients and exponents with intervals (none for a published preset)."""

    source: str
    confidence: float
    lr_coef: Estimate
    lr_params_exponent: Estimate
    lr_tokens_exponent: Estimate
    batch_tokens_coef: Estimate
    batch_params_exponent: Estimate
    batch_tokens_exponent: Estimate
    replicates: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class HparamAdvice:
    """Recommended peak learning rate and batch size (tokens) at ``params``, ``tokens``."""

    source: str
    params: float
    tokens: float
    confidence: float
    lr: Estimate
    batch_tokens: Estimate
    batch_sequences: Estimate | None  # batch_tokens / seq_len when seq_len is given
    seq_len: float | None
    lr_law_only: Estimate | None
    lr_allocation_only: Estimate | None
    batch_tokens_law_only: Estimate | None
    batch_tokens_allocation_only: Estimate | None
    samples: int
    warnings: tuple[str, ...]
    lr_samples: Any = field(default=None, repr=False, compare=False)
    batch_tokens_samples: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class HparamCheck:
    """A plan's setting against the recommendation: ``ratio`` = max(p / r, r / p)."""

    quantity: str  # "lr" or "batch_tokens"
    planned: float
    recommended: Estimate
    ratio: Estimate
    factor: float
    verdict: str  # "pass", "fail" or "inconclusive"
    note: str = ""


# --------------------------------------------------------------------------- intervals


def estimate_of(value: float, samples: Any, confidence: float) -> Estimate:
    """``value`` with the project's percentile interval of the finite ``samples``
    (:func:`~scaling_cli.forecast.intervals.percentile_interval`); no interval from fewer than
    ``MIN_REPLICATES``."""
    if samples is None:
        return Estimate(float(value))
    finite = np.asarray(samples, dtype=float).reshape(-1)
    finite = finite[np.isfinite(finite)]
    if finite.size < MIN_REPLICATES:
        return Estimate(float(value))
    return Estimate(float(value), *percentile_interval(finite, confidence))


def _too_few(count: int) -> str:
    return (f"only {count} replicates: too few for an interval (at least {MIN_REPLICATES}; "
            "refit with `bootstrap` 1000)")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise UsageError(f"{confidence:g}: give a fraction in (0, 1), e.g. 0.95",
                         field="confidence")


def law_report(source: Source, *, confidence: float = 0.95) -> HparamLawReport:
    """Coefficients and exponents of ``source`` with percentile intervals."""
    _check_confidence(confidence)
    reps = source.replicates
    values = {
        name: estimate_of(getattr(source.law, name),
                        None if reps is None else np.asarray(getattr(reps, name), dtype=float),
                        confidence)
        for name in _LAW_FIELDS}
    count = 0 if reps is None else int(np.size(reps.lr_coef))
    warnings = list(source.warnings)
    if reps is None:
        warnings.append("a published law: no replicates, so no intervals")
    elif count < MIN_REPLICATES:
        warnings.append(_too_few(count))
    return HparamLawReport(source=source.name, confidence=confidence, replicates=count,
                           warnings=tuple(warnings), **values)


# --------------------------------------------------------------------------- advice


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and value > 0
                                       and math.isfinite(value)):
        raise UsageError(f"{value!r}: give a positive finite number", field=name)
    return float(value)


def _replicate_pairs(params_replicates: Any, tokens_replicates: Any,
                     warnings: list[str]) -> tuple[Array, Array] | None:
    if params_replicates is None and tokens_replicates is None:
        return None
    if params_replicates is None or tokens_replicates is None:
        raise UsageError("give both `params_replicates` and `tokens_replicates` (the N*, D* "
                         "of each loss-law replicate, paired) or neither")
    n = np.asarray(params_replicates, dtype=float).reshape(-1)
    d = np.asarray(tokens_replicates, dtype=float).reshape(-1)
    if n.size != d.size or n.size == 0:
        raise UsageError(f"`params_replicates` ({n.size}) and `tokens_replicates` ({d.size}) "
                         "must be paired arrays of the same, non-zero length")
    ok = np.isfinite(n) & np.isfinite(d) & (n > 0) & (d > 0)
    if not ok.all():
        warnings.append(f"{int((~ok).sum())} of {n.size} N*, D* replicates are not finite "
                        "and positive (degenerate loss-law replicates); left out")
    if not ok.any():
        raise UsageError("no N*, D* replicate is finite and positive",
                         field="params_replicates")
    return n[ok], d[ok]


def _range_warnings(source: Source, params: float, tokens: float) -> list[str]:
    ranges = (("N", params, source.params_range), ("D", tokens, source.tokens_range))
    out = []
    for what, value, span in ranges:
        if span is None:
            continue
        low, high = span
        if value > high or value < low:
            factor, side, edge = (value / high, "above the largest", high) if value > high \
                else (low / value, "below the smallest", low)
            out.append(f"{what} = {format_count(value)} is {factor:.3g}x {side} {what} the law "
                       f"was fitted on ({format_count(edge)}): an extrapolation, trusted only "
                       "as far as the power law holds")
    return out


def recommend_hparams(
    source: Source,
    params: float,
    tokens: float,
    *,
    params_replicates: Any = None,
    tokens_replicates: Any = None,
    flops_per_token: float | None = None,
    seq_len: float | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> HparamAdvice:
    """lr* and batch* (tokens) at N = ``params``, D = ``tokens`` with intervals (module doc).

    ``params`` must count parameters as the source does (Step Law: non-embedding). For a
    compute-scale law (DeepSeek: C = M D) give ``flops_per_token`` = M (see
    :func:`scaling_cli.forecast.shapes.non_embedding_flops_per_token`); without it C = 6 N D
    is used and a warning says so. ``flops_per_token`` is not used by params-scale laws.
    """
    _check_confidence(confidence)
    params, tokens = _positive("params", params), _positive("tokens", tokens)
    warnings: list[str] = list(source.warnings)
    pairs = _replicate_pairs(params_replicates, tokens_replicates, warnings)
    scale = 1.0
    if isinstance(source, HparamPreset) and source.model_scale == "compute":
        if flops_per_token is None:
            warnings.append(f"{source.name} counts compute as {source.definition}; without "
                            "`flops_per_token` this uses C = 6 N D, which leaves out attention "
                            "FLOPs (lr* comes out slightly high, batch* slightly low)")
        else:
            scale = _positive("flops_per_token", flops_per_token) / (6 * params)
    warnings += _range_warnings(source, params * scale, tokens)
    n = params * scale
    if pairs is not None:
        pairs = (pairs[0] * scale, pairs[1])
    lr = _Draws.of("lr", source, n, tokens, pairs, seed)
    batch = _Draws.of("batch_tokens", source, n, tokens, pairs, seed)
    if lr.combined is not None and np.isfinite(lr.combined).sum() < MIN_REPLICATES:
        warnings.append(_too_few(int(np.isfinite(lr.combined).sum())))
    batch_i = batch.interval(batch.combined, confidence)
    sequences = None
    if seq_len is not None:
        length = _positive("seq_len", seq_len)
        sequences = Estimate(batch_i.value / length,
                             None if batch_i.low is None else batch_i.low / length,
                             None if batch_i.high is None else batch_i.high / length)
    return HparamAdvice(
        source=source.name, params=params, tokens=tokens, confidence=confidence,
        lr=lr.interval(lr.combined, confidence),
        batch_tokens=batch_i, batch_sequences=sequences,
        seq_len=None if seq_len is None else float(seq_len),
        lr_law_only=lr.optional(lr.law_only, confidence),
        lr_allocation_only=lr.optional(lr.allocation_only, confidence),
        batch_tokens_law_only=batch.optional(batch.law_only, confidence),
        batch_tokens_allocation_only=batch.optional(batch.allocation_only, confidence),
        samples=0 if lr.combined is None else int(np.size(lr.combined)),
        warnings=tuple(warnings), lr_samples=lr.combined, batch_tokens_samples=batch.combined)


@dataclass(frozen=True)
class _Draws:
    """One quantity at the point law and its draws: law replicates at the point N, D; the
    point law at the allocation replicates; and the pairs of both (module doc)."""

    point: float
    law_only: Array | None
    allocation_only: Array | None
    combined: Array | None

    @classmethod
    def of(cls, quantity: str, source: Source, n: float, d: float,
           pairs: tuple[Array, Array] | None, seed: int) -> _Draws:
        def at(law: HparamLaw, params: Any, tokens: Any) -> Any:
            return getattr(law, quantity)(params, tokens)

        reps = source.replicates
        law_only = None if reps is None else at(reps, n, d)
        alloc = None if pairs is None else at(source.law, *pairs)
        combined = law_only if alloc is None else alloc
        if reps is not None and pairs is not None:
            combined = _combined(reps, *pairs, quantity, seed)
        return cls(float(at(source.law, n, d)), law_only, alloc, combined)

    def interval(self, samples: Array | None, confidence: float) -> Estimate:
        """The point with the percentile interval of ``samples`` (if any)."""
        return estimate_of(self.point, samples, confidence)

    def optional(self, samples: Array | None, confidence: float) -> Estimate | None:
        """As :meth:`interval`, or None when that source of uncertainty is absent."""
        return None if samples is None else estimate_of(self.point, samples, confidence)


def _combined(reps: HparamLaw, n: Array, d: Array, quantity: str, seed: int) -> Array:
    """``quantity`` at every (law replicate, allocation replicate) pair, or at MAX_PAIRS
    pairs drawn with ``seed`` (the same pairs for every quantity)."""
    r_law = int(np.size(reps.lr_coef))
    if r_law * n.size <= MAX_PAIRS:
        return np.ravel(getattr(reps.as_column(), quantity)(n, d))
    rng = np.random.default_rng(seed)
    i, j = rng.integers(r_law, size=MAX_PAIRS), rng.integers(n.size, size=MAX_PAIRS)
    drawn = HparamLaw(*(np.asarray(v, dtype=float)[i] for v in reps.as_arrays()))
    return np.asarray(getattr(drawn, quantity)(n[j], d[j]), dtype=float)


# --------------------------------------------------------------------------- checks


def check_hparams(
    advice: HparamAdvice,
    *,
    lr: float | None = None,
    batch_tokens: float | None = None,
    factor: float = 2.0,
) -> tuple[HparamCheck, ...]:
    """Is the plan's ``lr`` / ``batch_tokens`` within ``factor`` of the recommendation?"""
    if lr is None and batch_tokens is None:
        raise UsageError("nothing to check: give the plan's `lr`, `batch_tokens` or both")
    if isinstance(factor, bool) or not (isinstance(factor, (int, float)) and factor > 1
                                        and math.isfinite(factor)):
        raise UsageError(f"{factor!r}: give a finite number above 1, e.g. 2", field="factor")
    checks = []
    for name, planned, rec, samples in (
            ("lr", lr, advice.lr, advice.lr_samples),
            ("batch_tokens", batch_tokens, advice.batch_tokens, advice.batch_tokens_samples)):
        if planned is None:
            continue
        planned = _positive(name, planned)
        point = max(planned / rec.value, rec.value / planned)
        ratios = None if samples is None else np.maximum(planned / samples, samples / planned)
        ratio = estimate_of(point, ratios, advice.confidence)
        if ratio.low is None or ratio.high is None:
            verdict = "pass" if point <= factor else "fail"
            note = "point value only (no replicates)"
        elif ratio.high <= factor:
            verdict, note = "pass", ""
        elif ratio.low > factor:
            verdict, note = "fail", ""
        else:
            verdict, note = "inconclusive", "the interval straddles the factor"
        checks.append(HparamCheck(name, planned, rec, ratio, float(factor), verdict, note))
    return tuple(checks)


# --------------------------------------------------------------------------- presets

_PRESET_KEYS = {"title", "citation", "note", "model_scale", "params_definition",
                "compute_definition", "lr", "batch_tokens", "params_range", "tokens_range"}
_TERM_KEYS = {"params": ("coef", "params_exponent", "tokens_exponent"),
              "compute": ("coef", "compute_exponent")}
_FLOPS_PER_PARAM_TOKEN = 6.0  # C = 6 N' D: how a compute-scale law is rewritten in N', D


def _unknown(where: str, key: str, allowed: Any) -> InputError:
    hint = difflib.get_close_matches(key, sorted(allowed), n=1)
    fix = f"did you mean {hint[0]!r}?" if hint else f"allowed: {', '.join(sorted(allowed))}"
    return InputError(f"{where}: unknown key {key!r}; {fix}")


def _toml_number(where: str, value: object, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or (positive and value <= 0):
        need = "a positive number" if positive else "a finite number"
        raise InputError(f"{where}: must be {need}, got {value!r}")
    return float(value)


def _term(where: str, table: object, scale: str) -> tuple[float, float, float]:
    """(coefficient, N exponent, D exponent) of one power law, compute form rewritten."""
    if not isinstance(table, Mapping):
        raise InputError(f"{where}: must be a table such as {{ coef = 1.79, ... }}")
    keys = _TERM_KEYS[scale]
    for key in table:
        if key not in keys:
            raise _unknown(where, str(key), keys)
    for key in keys:
        if key not in table:
            raise InputError(f"{where}: missing {key!r}")
    coef = _toml_number(f"{where}.coef", table["coef"], positive=True)
    if scale == "params":
        return (coef, _toml_number(f"{where}.params_exponent", table["params_exponent"],
                                   positive=False),
                _toml_number(f"{where}.tokens_exponent", table["tokens_exponent"],
                             positive=False))
    e = _toml_number(f"{where}.compute_exponent", table["compute_exponent"], positive=False)
    return coef * _FLOPS_PER_PARAM_TOKEN**e, e, e  # c C^e = c 6^e N'^e D^e


def _span(where: str, value: object) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise InputError(f"{where}: must be [low, high]")
    low, high = (_toml_number(where, v, positive=True) for v in value)
    if not low < high:
        raise InputError(f"{where}: low {low:g} must be below high {high:g}")
    return low, high


def _preset(path: Path, name: str, table: object) -> HparamPreset:
    where = f"{path}: [hparams.{name}]"
    if not isinstance(table, Mapping):
        raise InputError(f"{where}: must be a table")
    for key in table:
        if key not in _PRESET_KEYS:
            raise _unknown(where, str(key), _PRESET_KEYS)
    scale = table.get("model_scale")
    if scale not in _TERM_KEYS:
        raise InputError(f"{where}: model_scale must be \"params\" or \"compute\", got "
                         f"{scale!r}")
    definition_key = "params_definition" if scale == "params" else "compute_definition"
    for key in ("title", "citation", definition_key, "lr", "batch_tokens"):
        if key not in table:
            raise InputError(f"{where}: missing {key!r}")
    texts = {key: table.get(key, "") for key in ("title", "citation", "note", definition_key)}
    for key, text in texts.items():
        if not isinstance(text, str):
            raise InputError(f"{where}.{key}: must be text")
    lr = _term(f"{where}.lr", table["lr"], scale)
    batch = _term(f"{where}.batch_tokens", table["batch_tokens"], scale)
    spans = {key: _span(f"{where}.{key}", table[key]) if key in table else None
             for key in ("params_range", "tokens_range")}
    return HparamPreset(
        name=name, title=texts["title"], citation=texts["citation"], note=texts["note"],
        law=HparamLaw(*lr, *batch), model_scale=scale, definition=texts[definition_key],
        params_range=spans["params_range"], tokens_range=spans["tokens_range"])


def load_hparam_presets(path: Path | None = None) -> dict[str, HparamPreset]:
    """Published hyperparameter laws from ``configs/hparams.toml`` (or ``path``), by name."""
    from scaling_cli.read.presets import config_dir

    path = path or config_dir() / "hparams.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read hyperparameter presets "
                         f"({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    for key in data:
        if key != "hparams":
            raise _unknown(str(path), key, {"hparams"})
    tables = data.get("hparams")
    if not isinstance(tables, Mapping) or not tables:
        raise InputError(f"{path}: no [hparams.NAME] tables")
    return {name: _preset(path, name, table) for name, table in tables.items()}


# --------------------------------------------------------------------------- at N*, D*


def hparams_at_optimum(
    source: Source,
    model: Model,
    budgets: Sequence[float],
    *,
    confidence: float = 0.95,
    seq_len: float | None = None,
    seed: int = 0,
) -> tuple[HparamAdvice, ...]:
    """lr* and batch* at the loss law's N*(C), D*(C) for each budget, with intervals that
    carry both the hyperparameter law's replicates and the N*, D* of every loss-law
    replicate (paired: one replicate's N* with its own D*; module doc)."""
    from scaling_cli.law import Law, optimal_allocation

    k = model.flops_per_param_token
    stacked = Law.stacked(model.law, model.sample_law)
    alloc = optimal_allocation(stacked, np.asarray(budgets, dtype=float)[None, :],
                               flops_per_param_token=k)
    reps = model.sample_law is not None
    note = []
    if isinstance(source, HparamPreset) and source.model_scale == "params":
        note.append(f"{source.name} counts N as {source.definition}; N* here counts parameters "
                    "as the loss law's runs do: give the non-embedding N if they differ")
    out = []
    for j in range(alloc.params.shape[1]):
        advice = recommend_hparams(
            source, float(alloc.params[0, j]), float(alloc.tokens[0, j]),
            params_replicates=alloc.params[1:, j] if reps else None,
            tokens_replicates=alloc.tokens[1:, j] if reps else None,
            seq_len=seq_len, confidence=confidence, seed=seed)
        out.append(replace(advice, warnings=tuple(dict.fromkeys([*advice.warnings, *note]))))
    return tuple(out)


# --------------------------------------------------------------------------- saved fits

HPARAMS_SCHEMA = "scaling-cli/hparams"
_SAVED_FIELDS = ("lr_coef", "lr_params_exponent", "lr_tokens_exponent", "batch_tokens_coef",
                 "batch_params_exponent", "batch_tokens_exponent")
MAX_HPARAM_FILE_BYTES = 64 * 1024 * 1024


def read_hparam_file(path: str) -> HparamFit:
    """A fitted hyperparameter law saved by ``scaling hparams -o FILE`` (its JSON document:
    the law, how it was fitted, and every bootstrap replicate), validated."""
    import json

    from scaling_cli.read.sources import read_bounded_text

    text = read_bounded_text(path, MAX_HPARAM_FILE_BYTES, what="hyperparameter fit file")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); write it with `scaling hparams "
                         "SWEEP -o FILE`") from None
    if not isinstance(doc, Mapping) or doc.get("schema") != HPARAMS_SCHEMA or \
            doc.get("source", {}).get("kind") != "sweep":
        raise InputError(f"{path}: not a saved sweep fit (schema {HPARAMS_SCHEMA}); write "
                         "one with `scaling hparams SWEEP -o FILE`")
    try:
        src, law = doc["source"], doc["law"]
        point = HparamLaw(*(_saved_number(law[f]["value"]) for f in _SAVED_FIELDS))
        if doc.get("replicate_columns") != list(_SAVED_FIELDS):
            raise KeyError("replicate_columns")
        rows = np.array(doc["replicates"], dtype=float).reshape(-1, len(_SAVED_FIELDS))
        if not np.isfinite(rows).all():
            raise ValueError("replicates")
        return HparamFit(
            law=point, replicates=HparamLaw(*rows.T) if len(rows) else None,
            rule=str(src["rule"]), tolerance=float(src["tolerance"]),
            window=float(src["window"]), loss_used=str(src["loss_used"]),
            weighting=str(src["weighting"]), batch_on_params=bool(src["batch_on_params"]),
            cells=(), lr_points=int(src["lr_points"]), batch_points=int(src["batch_points"]),
            residual_rms_log_lr=float(src["residual_rms_log_lr"]),
            residual_rms_log_batch=float(src["residual_rms_log_batch"]),
            params_range=_saved_span(src["params_range"]),
            tokens_range=_saved_span(src["tokens_range"]),
            bootstrap=int(doc["bootstrap"]["replicates"]) if doc.get("bootstrap") else 0,
            failed_resamples=int(doc["bootstrap"]["failed"]) if doc.get("bootstrap") else 0,
            seed=int(doc["bootstrap"]["seed"]) if doc.get("bootstrap") else 0,
            sources=tuple(str(x) for x in src["sources"]),
            warnings=tuple(str(w) for w in doc.get("warnings", [])), name=path)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"{path}: a saved sweep fit with a missing or bad field ({exc}); "
                         "write it again with `scaling hparams SWEEP -o FILE`") from None


def _saved_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _saved_span(value: object) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"{value!r} is not [low, high]")
    return _saved_number(value[0]), _saved_number(value[1])

