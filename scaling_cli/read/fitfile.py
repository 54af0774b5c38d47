"""Fit files (``scaling fit -o FILE``) -> :class:`~scaling_cli.model.Model`, checked as strictly
as a run log.

A fit file is untrusted JSON: it may be truncated, hand-edited, from a newer version or not
a fit file at all. Reading is bounded (``MAX_FIT_FILE_BYTES``; /dev/zero stops there), and
every value is checked for its type and range before it is used: a law parameter must be a
finite positive number in the search box (``alpha: true`` or ``1e308`` are refused, not read
as 1 or as a law of N* = 1), replicate rows must be 5 finite numbers and at most
``MAX_REPLICATES`` of them, strings are bounded, summaries must have their fields. An
unverified fit (``fit.verified: false``) is refused unless ``allow_unverified`` is given,
as when fitting. Summaries must agree with themselves (``params_min <= params_max``, no
more replicate rows than replicates drawn, at least ``MIN_REPLICATES`` drawn when any).
Keys this version does not know are allowed (within a format version) but bounded like
everything else. A replicate table of more than ``MAX_REPLICATES`` rows is refused before
the JSON is parsed. Every refusal is one line naming the file and the field, and says how
to recreate the file.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import FitError, FitFileError
from scaling_cli.law import PARAMETER_NAMES, Law
from scaling_cli.model import (
    PRIOR_PER_DECADE_EPOCHS,
    BootstrapSummary,
    FitSummary,
    FormError,
    FormSummary,
    InputSummary,
    Model,
    RunData,
)
from scaling_cli.read.plausible import PLAUSIBLE
from scaling_cli.units import shown
from scaling_cli.version import __version__

__all__ = ["MAX_FIT_FILE_BYTES", "REPLICATE_COLUMNS", "SCHEMA_VERSION", "read_fit_file",
           "read_fit_text"]

SCHEMA_VERSION = 1
REPLICATE_COLUMNS = ("log_E", "log_A", "log_B", "alpha", "beta")
MAX_FIT_FILE_BYTES = 256 * 1024 * 1024
MAX_REPLICATES = 100_000  # as many as `scaling fit` can write
MIN_REPLICATES = 40  # as `--bootstrap`: fewer cannot make a 95% interval
MAX_RUNS = 1_000_000
MAX_FOLDS = 1_000  # held-out folds behind a form error (the tool makes at most 6)
MAX_TEXT = 4096  # characters in any string (ids, paths, warnings)
# The fitter's search box (scaling_cli.fit.newton.BOUNDS), in natural units.
_LAW_RANGE = {"E": (math.exp(-25), math.exp(10)), "A": (math.exp(-25), math.exp(300)),
              "B": (math.exp(-25), math.exp(300)), "alpha": (0.0, 10.0), "beta": (0.0, 10.0)}
_THETA_RANGE = ((-25.0, 10.0), (-25.0, 300.0), (-25.0, 300.0), (0.0, 10.0), (0.0, 10.0))
_K_RANGE = PLAUSIBLE["flops_per_param_token"]  # k in C = k N D, as the flag accepts it
_KNOWN_KEYS = ("schema", "schema_version", "tool_version", "law_source", "convention",
               "confidence", "inputs", "fit", "bootstrap", "form", "law", "runs",
               "replicate_columns", "replicates", "warnings")
_MAX_UNKNOWN_NODES = 100_000  # values in all the fields this version does not read
_REPLICATES_KEY = re.compile(r'"replicates"\s*:\s*\[')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FLAT_KEYS = ("log_E", "log_A", "log_B", "alpha", "beta", "alpha=beta")  # tied: alpha=beta


class _Doc:
    """Typed access to a parsed fit file; every refusal names the file and the field."""

    def __init__(self, name: str) -> None:
        self.name = name

    def bad(self, path: str, problem: str) -> FitFileError:
        return FitFileError(f"{self.name}: corrupted fit file (field {path!r} {problem}); "
                            f"recreate it with `scaling fit RUNS -o {self.name}`")

    def get(self, obj: Any, path: str) -> Any:
        parent, _, key = path.rpartition(".")
        if not isinstance(obj, Mapping):
            raise self.bad(parent or path, "is not an object")
        if key not in obj:
            raise self.bad(path, "is missing")
        return obj[key]

    def number(self, value: Any, path: str, low: float = -math.inf,
               high: float = math.inf) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.bad(path, f"is {shown(value)}, not a number")
        x = float(value)
        if not math.isfinite(x) or not low <= x <= high:
            raise self.bad(path, f"is {shown(value)}, outside {low:g} to {high:g}")
        return x

    def optional_number(self, value: Any, path: str, low: float = -math.inf,
                        high: float = math.inf) -> float | None:
        return None if value is None else self.number(value, path, low, high)

    def integer(self, value: Any, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.bad(path, f"is {shown(value)}, not a whole number from {low} to {high}")
        return value

    def text(self, value: Any, path: str, *, one_line: bool = True) -> str:
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            what = "too long" if isinstance(value, str) else f"{shown(value)}, not text"
            raise self.bad(path, f"is {what}")
        if one_line and _CONTROL.search(value):
            raise self.bad(path, f"is {shown(value)}, which holds a control character")
        return value

    def flag(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.bad(path, f"is {shown(value)}, not true or false")
        return value

    def array(self, value: Any, path: str, length: int | None, low: float = -math.inf,
              high: float = math.inf, limit: int = MAX_RUNS) -> np.ndarray:
        if not isinstance(value, list) or len(value) > limit:
            raise self.bad(path, "is not a list" if not isinstance(value, list)
                           else f"has more than {limit:,} values")
        if length is not None and len(value) != length:
            raise self.bad(path, f"has {len(value)} values, expected {length}")
        for i, v in enumerate(value):
            self.number(v, f"{path}[{i}]", low, high)
        return np.array(value, dtype=float)


def read_fit_text(text: str, name: str, *, flops_per_param_token: float | None = None,
                  allow_unverified: bool = False) -> Model:
    """Rebuild a :class:`Model` from a fit file's text (see the module doc).

    ``flops_per_param_token``: answer under this convention (a warning says when it differs
    from the file's); None keeps the file's.
    """
    doc = _parse(text, name)
    d = _Doc(name)
    _check_envelope(d, doc)
    convention = d.get(doc, "convention")
    stored_k = d.number(d.get(convention, "convention.flops_per_param_token"),
                        "convention.flops_per_param_token", *_K_RANGE)
    law_doc = d.get(doc, "law")
    law = Law(*(d.number(d.get(d.get(law_doc, f"law.{p}"), f"law.{p}.value"), f"law.{p}.value",
                         *_LAW_RANGE[p]) for p in PARAMETER_NAMES))
    if min(law.E, law.A, law.B) <= 0:
        raise d.bad("law", "has a coefficient that is not positive")
    columns = d.get(doc, "replicate_columns")
    if columns != list(REPLICATE_COLUMNS):
        raise d.bad("replicate_columns", f"is not {', '.join(REPLICATE_COLUMNS)}")
    reps = _replicates(d, d.get(doc, "replicates"))
    inputs = _inputs(d, d.get(doc, "inputs"))
    fit = _fit(d, d.get(doc, "fit"))
    boot = _boot(d, d.get(doc, "bootstrap"))
    runs = _runs(d, doc.get("runs"))
    warnings_doc = doc.get("warnings", [])
    if not isinstance(warnings_doc, list) or len(warnings_doc) > 1000:
        raise d.bad("warnings", "is not a list of at most 1,000 texts")
    warnings = tuple(d.text(w, f"warnings[{i}]") for i, w in enumerate(warnings_doc))
    if boot is None and len(reps):
        raise d.bad("replicates", "has rows but field 'bootstrap' is null")
    if boot is not None and len(reps) > boot.replicates:
        raise d.bad("replicates", f"has {len(reps):,} rows, more than the "
                                  f"{boot.replicates:,} replicates drawn")
    if runs is not None and inputs is not None and len(runs.ids) > inputs.runs_used:
        raise d.bad("runs.ids", f"has {len(runs.ids):,} runs, more than the "
                                f"{inputs.runs_used:,} used (inputs.runs_used)")
    if fit is not None and not fit.verified and not allow_unverified:
        raise FitError(f"{name}: the fit in this file was NOT verified; refit with more runs, "
                       "or pass `allow_unverified` to use it anyway")
    k = stored_k if flops_per_param_token is None else flops_per_param_token
    if inputs is not None and stored_k != k:
        warnings += (f"{name} was fitted with C = {stored_k:g} N D; answering with "
                     f"C = {k:g} N D as asked",)
    form, error = _form(d, doc.get("form"), fit)
    return Model(law, reps if len(reps) else None, f"fit-file:{name}", k, inputs, fit, boot,
                 warnings, runs, form, error)


def read_fit_file(path: str, *, flops_per_param_token: float | None = None,
                  allow_unverified: bool = False) -> Model:
    """Read (bounded) and check the fit file at ``path``."""
    from scaling_cli.read.sources import read_bounded_text

    text = read_bounded_text(path, MAX_FIT_FILE_BYTES, what="fit file")
    return read_fit_text(text, path, flops_per_param_token=flops_per_param_token,
                         allow_unverified=allow_unverified)


def _check_envelope(d: _Doc, doc: dict[str, Any]) -> None:
    """The document's own fields, and a bound on any field this version does not read."""
    d.text(doc.get("tool_version", ""), "tool_version")
    d.text(doc.get("law_source", ""), "law_source")
    if doc.get("confidence") is not None:
        d.number(doc["confidence"], "confidence", 1e-9, 1 - 1e-9)
    for key, value in doc.items():
        if key not in _KNOWN_KEYS:
            d.text(key, "a key")
            if not _bounded(value):
                raise d.bad(key, f"holds more than {MAX_TEXT:,} characters of text or "
                                 f"{_MAX_UNKNOWN_NODES:,} values")


def _bounded(value: Any) -> bool:
    """Whether ``value`` (a part of the file this version does not read) is small: strings
    of at most ``MAX_TEXT`` characters, ``_MAX_UNKNOWN_NODES`` values in all."""
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > _MAX_UNKNOWN_NODES or (isinstance(item, str) and len(item) > MAX_TEXT):
            return False
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _too_many_rows(text: str) -> bool:
    """More than ``MAX_REPLICATES`` rows in the replicate table, counted in the text before
    parsing (parsing a million rows would take seconds and most of a gigabyte): the table
    holds numbers only, so it ends at the next quote and each row opens one bracket."""
    found = _REPLICATES_KEY.search(text)
    if found is None:
        return False
    end = text.find('"', found.end())
    return text.count("[", found.end(), len(text) if end < 0 else end) > MAX_REPLICATES


def _parse(text: str, name: str) -> dict[str, Any]:
    hint = f"recreate it with `scaling fit RUNS -o {name}`"
    if _too_many_rows(text):
        raise FitFileError(f"{name}: corrupted fit file (field 'replicates' has more than "
                           f"{MAX_REPLICATES:,} rows); {hint}")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FitFileError(f"{name}: not a fit file (invalid JSON at line {exc.lineno}: "
                           f"{exc.msg}); {hint}") from None
    except (RecursionError, ValueError) as exc:  # hostile: nested too deep, huge integers
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number too long"
        raise FitFileError(f"{name}: not a fit file (invalid JSON: {reason}); {hint}") from None
    if not isinstance(doc, dict) or doc.get("schema") != "scaling-cli/fit":
        raise FitFileError(f"{name}: not a scaling-cli fit file; create one with "
                           f"`scaling fit RUNS -o {name}`")
    version = doc.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FitFileError(f"{name}: corrupted fit file (field 'schema_version' is "
                           f"{json.dumps(version)[:40]}, expected a whole number from 1); {hint}")
    if version > SCHEMA_VERSION:
        raise FitFileError(
            f"{name}: fit file format {version} was written by scaling-cli "
            f"{str(doc.get('tool_version', '?'))[:40]}; this is {__version__} (format "
            f"{SCHEMA_VERSION}): upgrade scaling-cli or refit")
    return doc


def _replicates(d: _Doc, value: Any) -> np.ndarray:
    if not isinstance(value, list) or len(value) > MAX_REPLICATES:
        raise d.bad("replicates", "is not a list" if not isinstance(value, list)
                    else f"has more than {MAX_REPLICATES:,} rows")
    for i, row in enumerate(value, start=1):
        if not isinstance(row, list) or len(row) != len(REPLICATE_COLUMNS):
            size = len(row) if isinstance(row, list) else "not a list of"
            raise d.bad(f"replicates[{i}]", f"has {size} values, expected "
                                            f"{len(REPLICATE_COLUMNS)}")
        for j, (v, (low, high)) in enumerate(zip(row, _THETA_RANGE, strict=True)):
            d.number(v, f"replicates[{i}].{REPLICATE_COLUMNS[j]}", low, high)
    return np.array(value, dtype=float).reshape(-1, len(REPLICATE_COLUMNS))


def _inputs(d: _Doc, value: Any) -> InputSummary | None:
    if value is None:
        return None
    p = "inputs"

    def num(key: str, low: float, high: float) -> float:
        return d.number(d.get(value, f"{p}.{key}"), f"{p}.{key}", low, high)

    sources = d.get(value, f"{p}.sources")
    if not isinstance(sources, list) or len(sources) > MAX_RUNS:
        raise d.bad(f"{p}.sources", "is not a list")
    groups = d.get(value, f"{p}.groups")
    summary = InputSummary(
        runs_used=d.integer(d.get(value, f"{p}.runs_used"), f"{p}.runs_used", 1, MAX_RUNS),
        runs_excluded=d.integer(d.get(value, f"{p}.runs_excluded"), f"{p}.runs_excluded", 0,
                                MAX_RUNS),
        sha256=d.text(d.get(value, f"{p}.sha256"), f"{p}.sha256"),
        sources=tuple(d.text(s, f"{p}.sources[{i}]", one_line=False)  # names as they are
                      for i, s in enumerate(sources)),
        distinct_params=d.integer(d.get(value, f"{p}.distinct_params"),
                                  f"{p}.distinct_params", 1, MAX_RUNS),
        distinct_tokens=d.integer(d.get(value, f"{p}.distinct_tokens"),
                                  f"{p}.distinct_tokens", 1, MAX_RUNS),
        params_min=num("params_min", 1.0, 1e15), params_max=num("params_max", 1.0, 1e15),
        tokens_min=num("tokens_min", 1.0, 1e18), tokens_max=num("tokens_max", 1.0, 1e18),
        compute_flops_max=num("compute_flops_max", 1.0, 1e35),
        groups=None if groups is None else d.integer(groups, f"{p}.groups", 1, MAX_RUNS),
        tokens_per_param_min=d.optional_number(value.get("tokens_per_param_min"),
                                               f"{p}.tokens_per_param_min", 1e-15, 1e15),
        tokens_per_param_max=d.optional_number(value.get("tokens_per_param_max"),
                                               f"{p}.tokens_per_param_max", 1e-15, 1e15),
        epochs_max=d.optional_number(value.get("epochs_max"), f"{p}.epochs_max", 1e-18, 1e18),
    )
    for low, high in (("params_min", "params_max"), ("tokens_min", "tokens_max"),
                      ("tokens_per_param_min", "tokens_per_param_max")):
        a, b = getattr(summary, low), getattr(summary, high)
        if a is not None and b is not None and a > b:
            raise d.bad(f"{p}.{low}", f"is {a:g}, above {high} ({b:g})")
    return summary


def _fit(d: _Doc, value: Any) -> FitSummary | None:
    if value is None:
        return None
    p = "fit"

    def get(key: str) -> Any:
        return d.get(value, f"{p}.{key}")

    flat = get("flat_direction")
    if not isinstance(flat, Mapping) or not set(flat) <= set(_FLAT_KEYS):
        raise d.bad(f"{p}.flat_direction", f"is not an object of {', '.join(_FLAT_KEYS)}")
    large = get("large_residuals")
    if not isinstance(large, list) or len(large) > MAX_RUNS:
        raise d.bad(f"{p}.large_residuals", "is not a list")
    at_bounds = get("at_bounds")
    if not isinstance(at_bounds, list) or not all(
            isinstance(b, str) and b in PARAMETER_NAMES for b in at_bounds):
        raise d.bad(f"{p}.at_bounds", f"is not a list of {', '.join(PARAMETER_NAMES)}")
    constraints = _constraints(d, get("constraints"))
    condition = get("condition_number")
    return FitSummary(
        method=d.text(get("method"), f"{p}.method"),
        objective=d.number(get("objective"), f"{p}.objective", 0.0),
        huber_delta=d.number(get("huber_delta"), f"{p}.huber_delta", 0.0),
        verified=d.flag(get("verified"), f"{p}.verified"),
        gradient_max=d.number(get("gradient_max"), f"{p}.gradient_max", 0.0),
        newton_decrement=d.number(get("newton_decrement"), f"{p}.newton_decrement"),
        condition_number=math.inf if condition is None
        else d.number(condition, f"{p}.condition_number"),
        flat_direction={d.text(k, f"{p}.flat_direction"): d.number(
            v, f"{p}.flat_direction.{k}", -1.0, 1.0) for k, v in flat.items()},
        starts=d.integer(get("starts"), f"{p}.starts", 0, 10**6),
        starts_converged=d.integer(get("starts_converged"), f"{p}.starts_converged", 0, 10**6),
        starts_agreeing=d.integer(get("starts_agreeing"), f"{p}.starts_agreeing", 0, 10**6),
        at_bounds=tuple(at_bounds),
        residual_mad=d.number(get("residual_mad"), f"{p}.residual_mad", 0.0),
        large_residuals=tuple(
            (d.text(d.get(x, f"{p}.large_residuals.id"), f"{p}.large_residuals.id"),
             d.number(d.get(x, f"{p}.large_residuals.log_residual"),
                      f"{p}.large_residuals.log_residual"))
            for x in large),
        constraints=dict(constraints),
    )


def _constraints(d: _Doc, value: Any) -> dict[str, object]:
    """``{"fixed": {name: value}, "tied_exponents": bool}``, values within the fit's box."""
    p = "fit.constraints"
    if not isinstance(value, Mapping) or set(value) != {"fixed", "tied_exponents"}:
        raise d.bad(p, "is not an object with fields fixed and tied_exponents")
    fixed = value["fixed"]
    if not isinstance(fixed, Mapping) or not set(fixed) <= set(PARAMETER_NAMES):
        raise d.bad(f"{p}.fixed", f"is not an object of {', '.join(PARAMETER_NAMES)}")
    return {"fixed": {k: d.number(v, f"{p}.fixed.{k}", *_LAW_RANGE[k])
                      for k, v in fixed.items()},
            "tied_exponents": d.flag(value["tied_exponents"], f"{p}.tied_exponents")}


def _boot(d: _Doc, value: Any) -> BootstrapSummary | None:
    if value is None:
        return None
    p = "bootstrap"

    def count(key: str) -> int:
        return d.integer(d.get(value, f"{p}.{key}"), f"{p}.{key}", 0, MAX_REPLICATES)

    resample_by = d.text(d.get(value, f"{p}.resample_by"), f"{p}.resample_by")
    if resample_by not in {"run", "group"}:
        raise d.bad(f"{p}.resample_by", f"is {shown(resample_by)}, not run or group")
    drawn = count("replicates")
    if 0 < drawn < MIN_REPLICATES:
        raise d.bad(f"{p}.replicates", f"is {drawn}, too few for an interval (at least "
                                       f"{MIN_REPLICATES})")
    for key in ("failed", "degenerate"):
        if count(key) > drawn:
            raise d.bad(f"{p}.{key}", f"is {count(key):,}, more than the {drawn:,} replicates")
    return BootstrapSummary(drawn, count("failed"), count("degenerate"),
                            d.integer(d.get(value, f"{p}.seed"), f"{p}.seed", 0, 2**63 - 1),
                            resample_by,
                            d.integer(d.get(value, f"{p}.n_units"), f"{p}.n_units", 0, MAX_RUNS))


def _form(d: _Doc, value: Any, fit: FitSummary | None
          ) -> tuple[FormSummary | None, FormError | None]:
    """The form section (which form, why, its error model). A fit file written before it
    existed gets the prior form error, with the noise from the fit's residuals."""
    if value is None:
        if fit is None:
            return None, None
        return None, FormError.prior(1.4826 * fit.residual_mad,
                                     "prior (fit file without form evidence)")
    p = "form"
    if not isinstance(value, Mapping):
        raise d.bad(p, "is not an object")
    scores = value.get("scores", [])
    if not isinstance(scores, list) or len(scores) > 10:
        raise d.bad(f"{p}.scores", "is not a list of at most 10 forms")
    alt = value.get("alternative_law")
    alt_law = None if alt is None else Law(*(d.number(d.get(alt, f"{p}.alternative_law.{k}"),
                                                      f"{p}.alternative_law.{k}",
                                                      *_LAW_RANGE[k]) for k in PARAMETER_NAMES))
    summary = None
    if value.get("form") is not None:
        summary = FormSummary(
            d.text(value["form"], f"{p}.form"), d.text(value.get("reason", ""), f"{p}.reason"),
            tuple((d.text(d.get(s, f"{p}.scores.form"), f"{p}.scores.form"),
                   d.integer(d.get(s, f"{p}.scores.folds"), f"{p}.scores.folds", 0, 100),
                   d.integer(d.get(s, f"{p}.scores.held_out_runs"), f"{p}.scores.held_out_runs",
                             0, MAX_RUNS),
                   d.number(s["rms_log_error"], f"{p}.scores.rms_log_error", 0.0)
                   if isinstance(s, Mapping) and s.get("rms_log_error") is not None
                   else math.inf)
                  for s in scores),
            None if value.get("alternative") is None
            else d.text(value["alternative"], f"{p}.alternative"), alt_law)
    e = value.get("form_error")
    error = None
    if e is not None:
        q = f"{p}.form_error"

        def num(key: str) -> float:
            return d.number(d.get(e, f"{q}.{key}"), f"{q}.{key}", 0.0, 10.0)

        error = FormError(num("per_decade_compute"), num("per_decade_tokens_per_param"),
                          num("per_decade_params"), num("noise_log_sd"),
                          d.text(d.get(e, f"{q}.source"), f"{q}.source"),
                          d.integer(d.get(e, f"{q}.held_out_runs"), f"{q}.held_out_runs", 0,
                                    MAX_RUNS), num("held_out_log_sd"),
                          # fit files written before the tail calibration have none
                          1.0 if not isinstance(e, dict) or e.get("tail_factor") is None
                          else d.number(
                              e["tail_factor"], f"{q}.tail_factor", 1.0, 10.0),
                          # ... and before the epochs axis: the prior
                          PRIOR_PER_DECADE_EPOCHS if not isinstance(e, dict)
                          or e.get("per_decade_epochs") is None else num("per_decade_epochs"),
                          # ... and before the fold factor: none (the estimate as it was)
                          0 if not isinstance(e, dict) or e.get("folds") is None
                          else d.integer(e["folds"], f"{q}.folds", 0, MAX_FOLDS),
                          # ... and before the over-training correction: none
                          0.0 if not isinstance(e, dict)
                          or e.get("over_bias_per_decade") is None
                          else d.number(e["over_bias_per_decade"],
                                        f"{q}.over_bias_per_decade", -10.0, 10.0))
    return summary, error


def _runs(d: _Doc, value: Any) -> RunData | None:
    if value is None:
        return None
    ids = d.get(value, "runs.ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_RUNS:
        raise d.bad("runs.ids", "is not a list of 1 to 1,000,000 ids")
    n = len(ids)
    groups = d.get(value, "runs.groups")
    if groups is not None and (not isinstance(groups, list) or len(groups) != n):
        raise d.bad("runs.groups", f"is not null or a list of {n} labels")
    return RunData(
        ids=tuple(d.text(i, f"runs.ids[{j}]") for j, i in enumerate(ids)),
        params=d.array(d.get(value, "runs.params"), "runs.params", n, 1.0, 1e15),
        tokens=d.array(d.get(value, "runs.tokens"), "runs.tokens", n, 1.0, 1e18),
        loss=d.array(d.get(value, "runs.loss"), "runs.loss", n, 1e-300, 20.0),
        compute_flops=d.array(d.get(value, "runs.compute_flops"), "runs.compute_flops", n,
                              1.0, 1e35),
        groups=None if groups is None
        else tuple(d.text(g, f"runs.groups[{j}]") for j, g in enumerate(groups)),
        epochs=_epochs(d, value, n),
        tokens_seen=_tokens_seen(d, value, n),
    )


def _tokens_seen(d: _Doc, value: Any, n: int) -> npt.NDArray[np.float64] | None:
    """runs.tokens_seen: the D of runs fitted at D' (null, or absent from older files)."""
    seen = value.get("tokens_seen") if isinstance(value, Mapping) else None
    return None if seen is None else d.array(seen, "runs.tokens_seen", n, 1.0, 1e18)


def _epochs(d: _Doc, value: Any, n: int) -> npt.NDArray[np.float64] | None:
    """runs.epochs: D / U per run, null where unknown (absent from older fit files)."""
    epochs = value.get("epochs") if isinstance(value, Mapping) else None
    if epochs is None:
        return None
    if not isinstance(epochs, list) or len(epochs) != n:
        raise d.bad("runs.epochs", f"is not null or a list of {n} numbers or nulls")
    known = [j for j, e in enumerate(epochs) if e is not None]
    out = np.full(n, np.nan)
    if known:
        out[known] = d.array([epochs[j] for j in known], "runs.epochs", len(known), 1e-18,
                             1e18)
    return out
