"""Real public ladders for the honesty harness, as plain numpy arrays.

A :class:`Ladder` is one set of training runs a user could have fitted: parameters N,
tokens D, final loss L (nats/token), compute C = 6 N D (every source below counts FLOPs
this way: Epoch's tokens are flops / 6N, Porian's and datablations' flops are 6ND, and the
misfit ladder's ``C_6ND``), a group label per row (rows sharing a group come from one
training run and are not independent), an optional unique-token count, and a ``target``
flag for the rows that are a finished run's final loss (only those are forecast).

The files live in the shared data directory (``../shared/data`` next to the repository, or
``$SCALING_SHARED_DATA``; see its README). How each ladder is built and what it stresses:

* ``epoch-chinchilla``: the 240 rows of ``chinchilla_epoch_svg.csv`` with
  ``epoch_default_fit == 1`` (Epoch AI's reconstruction of Hoffmann et al.'s runs). One row
  per run; D/N 0.46-341, N 5.7e7-1.6e10, compute spread continuously over 1.4e18-1.3e22.
  Stresses: digitisation noise (losses quantised ~0.015), a wide D/N range.
* ``porian:<config_id>``: each of the 15 analysis configurations of ``porian_isoflop.csv``
  is its own ladder (12 budgets 1.25e16 * 2^k; ``params`` in the configuration's own
  convention). Groups are ``train_run_key``: in the constant-LR and Kaplan configurations
  one long run gives points at several budgets. Stresses: grouped rows, unit conventions,
  configurations that the Chinchilla form fits badly (constant LR, D/N from 0.006 to 19,000).
* ``datablations-single-epoch``: the 41 finished runs of ``datablations_c4.csv`` trained on
  fresh data (tokens == unique_tokens), including 4+4 seed repeats at two (N, D) points and
  four large models on few tokens (D/N 0.04-2.8) that Muennighoff et al.'s outlier-removed
  set leaves out (as it does the seed repeats). Stresses: a small, irregular ladder.
* ``datablations-repeated``: every finished run on the standard C4 subsets (the 12
  ``dedup`` and 2 ``opt_shape`` variants are other data or shapes and are left out), with
  ``unique_tokens``; up to 9,000 epochs. Stresses: repeated data, which L(N, D) ignores.
* ``misfit-final:best-lr``: ``misfit_checkpoints.csv``, final rows (``current_steps ==
  total_steps``), for each (model, total_steps) the run with the lowest final loss over the
  learning rates tried. D/N 1.4-218 at fixed N: tokens/param extrapolation.
* ``misfit-final:lr=X``: final rows of the runs at one peak learning rate (only rates with
  at least 20 runs over at least 4 sizes). Stresses: a fixed, non-tuned learning rate.
* ``misfit-checkpoints:best-lr``: every checkpoint row of the best-learning-rate runs above,
  grouped by run; only final rows are targets. Stresses: fitting on intermediate checkpoints
  of cosine-decay runs (not annealed, so above the loss a run of that length reaches).

Misfit data cleaning (stated, not silent): one sweep (``2024_11_10-23_08_29_sweep_test``,
``misfitting_17m``: 21 runs, 168 rows) records the same final loss under different peak
learning rates and repeats final rows within runs, so its learning-rate labels cannot be
trusted; :func:`misfit_rows` drops every sweep in which one final loss value appears under
two run keys, and the ladders' notes say how many rows that removed.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import InputError
from scaling_cli.units import parse_number

__all__ = [
    "DATA_ENV",
    "Ladder",
    "datablations",
    "epoch_chinchilla",
    "make_ladder",
    "misfit_checkpoints",
    "misfit_final",
    "misfit_rows",
    "porian_configs",
    "real_ladders",
    "resolve_data_dir",
]

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

DATA_ENV = "SCALING_SHARED_DATA"
REPO_ROOT = Path(__file__).resolve().parents[2]
MISFIT_MIN_RUNS, MISFIT_MIN_SIZES = 20, 4  # a per-learning-rate ladder needs this much


@dataclass(frozen=True, eq=False)
class Ladder:
    """One ladder of runs (rows); arrays are parallel, one entry per row.

    ``target`` marks rows that are a finished run's final loss (the only rows forecast);
    ``expected_loss`` is the noise-free truth of a simulated ladder (None for real data);
    ``family`` is ``"real"`` or the simulated truth's family name.
    """

    name: str
    notes: str
    params: Array
    tokens: Array
    loss: Array
    compute_flops: Array
    group: StrArray
    target: BoolArray
    unique_tokens: Array | None = None
    expected_loss: Array | None = None
    family: str = "real"
    source: str = ""
    warnings: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = self.params.shape[0]
        arrays = {"params": self.params, "tokens": self.tokens, "loss": self.loss,
                  "compute_flops": self.compute_flops, "unique_tokens": self.unique_tokens,
                  "expected_loss": self.expected_loss}
        for name, a in arrays.items():
            if a is None:
                continue
            if a.shape != (n,) or not np.all(np.isfinite(a)) or not np.all(a > 0):
                raise InputError(f"ladder {self.name!r}: field '{name}' must hold {n} finite "
                                 "positive numbers")
        if self.group.shape != (n,) or self.target.shape != (n,):
            raise InputError(f"ladder {self.name!r}: 'group' and 'target' need {n} entries")

    def __len__(self) -> int:
        return int(self.params.shape[0])

    @property
    def tokens_per_param(self) -> Array:
        return np.asarray(self.tokens / self.params)

    @property
    def epochs(self) -> Array | None:
        """D / U (1 for fresh data), or None without unique-token counts."""
        return None if self.unique_tokens is None else np.asarray(self.tokens / self.unique_tokens)

    @property
    def n_groups(self) -> int:
        return int(np.unique(self.group).size)

    @property
    def grouped(self) -> bool:
        """True when some training run contributes several rows."""
        return self.n_groups < len(self)

    def subset(self, keep: BoolArray) -> Ladder:
        """The rows where ``keep`` is True (same name, notes and family)."""
        def pick(a: Array | None) -> Array | None:
            return None if a is None else a[keep]

        return Ladder(self.name, self.notes, self.params[keep], self.tokens[keep],
                      self.loss[keep], self.compute_flops[keep], self.group[keep],
                      self.target[keep], pick(self.unique_tokens), pick(self.expected_loss),
                      self.family, self.source, self.warnings)


def make_ladder(name: str, notes: str, params: Iterable[float], tokens: Iterable[float],
                loss: Iterable[float], group: Sequence[str], *,
                target: Iterable[bool] | None = None,
                unique_tokens: Iterable[float] | None = None,
                expected_loss: Iterable[float] | None = None, family: str = "real",
                source: str = "", warnings: tuple[str, ...] = ()) -> Ladder:
    """A :class:`Ladder` from sequences; compute is 6 N D, every row a target by default."""
    n = np.asarray(list(params), dtype=float)
    d = np.asarray(list(tokens), dtype=float)
    tgt = (np.ones(n.size, dtype=bool) if target is None
           else np.asarray(list(target), dtype=bool))
    return Ladder(name, notes, n, d, np.asarray(list(loss), dtype=float), 6.0 * n * d,
                  np.asarray(list(group), dtype=str), tgt,
                  None if unique_tokens is None else np.asarray(list(unique_tokens), float),
                  None if expected_loss is None else np.asarray(list(expected_loss), float),
                  family, source, warnings)


# --------------------------------------------------------------------------- files


def resolve_data_dir(explicit: str | Path | None = None, *,
                     environ: Mapping[str, str] | None = None) -> Path:
    """``explicit``, else ``$SCALING_SHARED_DATA``, else ``../shared/data`` from the repo root."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        path, how = Path(explicit), "--data"
    elif env.get(DATA_ENV):
        path, how = Path(env[DATA_ENV]), f"${DATA_ENV}"
    else:
        path, how = REPO_ROOT.parent / "shared" / "data", "the default ../shared/data"
    if not path.is_dir():
        raise InputError(f"{path}: shared data directory not found ({how}); set {DATA_ENV} "
                         "to the directory holding chinchilla_epoch_svg.csv and the other "
                         "public ladders, or pass --data DIR")
    return path


def _read(path: Path, needed: Sequence[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputError(f"{path}: file not found; the shared data directory should hold it "
                         "(see its README.md)")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: column(s) {', '.join(missing)} missing from the header; "
                             "is this the file described in the data README?")
        return list(reader)


def _numbers(path: Path, rows: Sequence[Mapping[str, str]], column: str,
             lines: Sequence[int]) -> Array:
    out = np.empty(len(rows))
    for i, (row, line) in enumerate(zip(rows, lines, strict=True)):
        try:
            out[i] = parse_number(row[column])
        except InputError as err:
            raise InputError(f"{path}: line {line}: field '{column}' {err.problem}") from None
    return out


def _lines(rows: Sequence[Mapping[str, str]], all_rows: Sequence[Mapping[str, str]]) -> list[int]:
    index = {id(r): i + 2 for i, r in enumerate(all_rows)}  # header is line 1
    return [index[id(r)] for r in rows]


# --------------------------------------------------------------------------- ladders


def epoch_chinchilla(data_dir: Path) -> Ladder:
    """Epoch AI's 240 reconstructed Chinchilla runs (``epoch_default_fit == 1``)."""
    path = data_dir / "chinchilla_epoch_svg.csv"
    rows = _read(path, ("run_id", "params", "tokens", "loss", "epoch_default_fit"))
    used = [r for r in rows if r["epoch_default_fit"] == "1"]
    lines = _lines(used, rows)
    return make_ladder(
        "epoch-chinchilla",
        f"{len(used)} runs (epoch_default_fit == 1; 5 highest losses dropped as Epoch does); "
        "losses digitised from Hoffmann et al.'s Fig. 4",
        _numbers(path, used, "params", lines), _numbers(path, used, "tokens", lines),
        _numbers(path, used, "loss", lines), [r["run_id"] for r in used],
        source=path.name)


def porian_configs(data_dir: Path) -> tuple[Ladder, ...]:
    """One ladder per ``config_id`` of ``porian_isoflop.csv``, grouped by ``train_run_key``."""
    path = data_dir / "porian_isoflop.csv"
    rows = _read(path, ("params", "tokens", "loss", "config_id", "config_label",
                        "train_run_key", "params_definition", "loss_source"))
    out = []
    for config in dict.fromkeys(r["config_id"] for r in rows):
        used = [r for r in rows if r["config_id"] == config]
        lines = _lines(used, rows)
        keys = [r["train_run_key"] for r in used]
        first = used[0]
        out.append(make_ladder(
            f"porian:{config}",
            f"{first['config_label']}: {len(used)} isoFLOP points from {len(set(keys))} "
            f"training runs; params = {first['params_definition']}; loss = "
            f"{first['loss_source']}",
            _numbers(path, used, "params", lines), _numbers(path, used, "tokens", lines),
            _numbers(path, used, "loss", lines), keys, source=path.name))
    return tuple(out)


def datablations(data_dir: Path) -> tuple[Ladder, Ladder]:
    """(single-epoch ladder, repeated-data ladder) from ``datablations_c4.csv``."""
    path = data_dir / "datablations_c4.csv"
    rows = _read(path, ("run_id", "params", "tokens", "loss", "unique_tokens", "unfinished",
                        "variant"))
    finished = [r for r in rows if r["unfinished"] == "0"]
    standard = [r for r in finished if r["variant"] == ""]
    lines = _lines(standard, rows)
    n = _numbers(path, standard, "params", lines)
    d = _numbers(path, standard, "tokens", lines)
    loss = _numbers(path, standard, "loss", lines)
    u = _numbers(path, standard, "unique_tokens", lines)
    ids = [r["run_id"] for r in standard]
    fresh = d <= u * (1 + 1e-9)
    left_out = len(finished) - len(standard)
    single = make_ladder(
        "datablations-single-epoch",
        f"{int(fresh.sum())} finished C4 runs on fresh data (D == U), seed repeats included",
        n[fresh], d[fresh], loss[fresh], [ids[i] for i in np.flatnonzero(fresh)],
        unique_tokens=u[fresh], source=path.name)
    repeated = make_ladder(
        "datablations-repeated",
        f"{len(standard)} finished C4 runs, {int((~fresh).sum())} of them multi-epoch "
        f"(up to {float(np.max(d / u)):.0f} epochs); {left_out} dedup/opt_shape variant runs "
        f"and {len(rows) - len(finished)} unfinished runs left out",
        n, d, loss, ids, unique_tokens=u, source=path.name)
    return single, repeated


@dataclass(frozen=True)
class MisfitRows:
    """The misfit file's rows as arrays, after dropping sweeps with colliding labels."""

    run: StrArray  # model|total_steps|peak_lr|sweep
    model: StrArray
    params: Array
    tokens: Array
    loss: Array
    total_steps: Array
    current_steps: Array
    peak_lr: Array
    dropped_rows: int
    dropped_runs: int
    dropped_sweeps: tuple[str, ...]
    repeated_steps: int  # rows dropped as a second copy of a run's checkpoint

    @property
    def final(self) -> BoolArray:
        return np.asarray(self.current_steps == self.total_steps)


def misfit_rows(data_dir: Path) -> MisfitRows:
    """Every row of ``misfit_checkpoints.csv``, minus sweeps whose labels collide.

    A sweep is dropped when one final loss value appears under two run keys (model,
    total_steps, peak_lr, sweep): the same run recorded under two learning rates.
    Exact duplicate rows of a run (same step) are then kept once.
    """
    path = data_dir / "misfit_checkpoints.csv"
    rows = _read(path, ("loss", "N", "D", "model", "total_steps", "current_steps", "peak_lr",
                        "sweep"))

    def key(r: Mapping[str, str]) -> str:
        return f"{r['model']}|{r['total_steps']}|{r['peak_lr']}|{r['sweep']}"

    owners: dict[str, set[str]] = {}
    for r in rows:
        if r["current_steps"] == r["total_steps"]:
            owners.setdefault(r["loss"], set()).add(key(r))
    bad = sorted({k.rsplit("|", 1)[1] for keys in owners.values() if len(keys) > 1
                  for k in keys})
    kept, seen, repeats = [], set(), 0
    for r in rows:
        if r["sweep"] in bad:
            continue
        if (key(r), r["current_steps"]) in seen:
            repeats += 1
            continue
        seen.add((key(r), r["current_steps"]))
        kept.append(r)
    lines = _lines(kept, rows)
    dropped = [r for r in rows if r["sweep"] in bad]
    return MisfitRows(
        np.array([key(r) for r in kept], dtype=str), np.array([r["model"] for r in kept], str),
        _numbers(path, kept, "N", lines), _numbers(path, kept, "D", lines),
        _numbers(path, kept, "loss", lines), _numbers(path, kept, "total_steps", lines),
        _numbers(path, kept, "current_steps", lines), _numbers(path, kept, "peak_lr", lines),
        len(dropped), len({key(r) for r in dropped}), tuple(bad), repeats)


def _dropped_note(m: MisfitRows) -> str:
    parts = []
    if m.dropped_sweeps:
        parts.append(f"dropped {m.dropped_rows} rows ({m.dropped_runs} runs of sweep(s) "
                     f"{', '.join(m.dropped_sweeps)}: one final loss recorded under two "
                     "learning rates)")
    if m.repeated_steps:
        parts.append(f"{m.repeated_steps} repeated checkpoint rows kept once")
    return "; ".join(parts) or "no rows dropped"


def _best_runs(m: MisfitRows) -> StrArray:
    """Run keys with the lowest final loss at each (model, total_steps)."""
    best: dict[tuple[str, float], tuple[float, str]] = {}
    for i in np.flatnonzero(m.final):
        cell = (str(m.model[i]), float(m.total_steps[i]))
        if cell not in best or m.loss[i] < best[cell][0]:
            best[cell] = (float(m.loss[i]), str(m.run[i]))
    return np.array(sorted(run for _, run in best.values()), dtype=str)


def misfit_final(data_dir: Path, rows: MisfitRows | None = None) -> tuple[Ladder, ...]:
    """Final-row ladders: pooled best learning rate, then one per well-sampled rate."""
    m = misfit_rows(data_dir) if rows is None else rows
    fin = m.final
    best = fin & np.isin(m.run, _best_runs(m))
    out = [_misfit_ladder("misfit-final:best-lr", m, best,
                          "final rows, lowest final loss over peak learning rates at each "
                          "(model, total_steps)")]
    for lr in np.unique(m.peak_lr[fin]):
        keep = fin & (m.peak_lr == lr)
        if keep.sum() >= MISFIT_MIN_RUNS and np.unique(m.params[keep]).size >= MISFIT_MIN_SIZES:
            out.append(_misfit_ladder(f"misfit-final:lr={lr:g}", m, keep,
                                      f"final rows of the runs at peak learning rate {lr:g}"))
    return tuple(out)


def misfit_checkpoints(data_dir: Path, rows: MisfitRows | None = None) -> Ladder:
    """Every checkpoint of the best-learning-rate runs, grouped by run; final rows targets."""
    m = misfit_rows(data_dir) if rows is None else rows
    keep = np.isin(m.run, _best_runs(m))
    return _misfit_ladder("misfit-checkpoints:best-lr", m, keep,
                          "all checkpoint rows of the best-learning-rate runs (grouped by "
                          "run; only final rows are targets)", target=m.final[keep])


def _misfit_ladder(name: str, m: MisfitRows, keep: BoolArray, what: str, *,
                   target: BoolArray | None = None) -> Ladder:
    n, d = m.params[keep], m.tokens[keep]
    runs = np.unique(m.run[keep]).size
    return make_ladder(
        name, f"{what}: {int(keep.sum())} rows, {runs} runs, {np.unique(n).size} sizes, "
        f"D/N {float(np.min(d / n)):.3g}-{float(np.max(d / n)):.3g}; {_dropped_note(m)}",
        n, d, m.loss[keep], list(m.run[keep]), target=target, source="misfit_checkpoints.csv")


def real_ladders(data_dir: Path, *, fast: bool = False) -> tuple[Ladder, ...]:
    """Every real ladder above (``fast``: Epoch and the misfit best-lr final rows only)."""
    m = misfit_rows(data_dir)
    finals = misfit_final(data_dir, m)
    if fast:
        return (epoch_chinchilla(data_dir), finals[0])
    single, repeated = datablations(data_dir)
    return (epoch_chinchilla(data_dir), *porian_configs(data_dir), single, repeated,
            *finals, misfit_checkpoints(data_dir, m))
