"""Two schedule-aware laws of loss versus step, vectorised, with exact derivatives.

For a schedule eta_s (s = 0 .. T-1, :class:`~scaling_cli.fit.curve_schedule.Schedule`) both
laws share the forward area S1(t) = sum_{s<=t} eta_s (the warm-up ramp included) and read

    L(t) = L0 + A * S1(t)^-alpha - B * F(t)

with an annealing term F >= 0 for decaying schedules (F is ~0 for a constant one):

- **Tissue et al. 2024**, "Scaling Law with Learning Rate Annealing" (arXiv 2408.11029):
  F = S2(t) = sum_{i=1}^{t} m_i, m_i = lambda m_{i-1} + (eta_{i-1} - eta_i), m_0 = 0,
  lambda = 0.999, the paper's "annealing area" (its coefficient is called C there; B here,
  one name per role). Parameters (L0, A, alpha, B). The recursion runs over every step, the
  warm-up included (its increases make S2 dip below 0 early on, a transient the fit uses):
  this is the formula as written, and it reproduces the independent check on Luo et al.'s
  curves (test PredE 0.0015 / 0.0014 / 0.0018); holding the ramp at the peak instead is
  worse there (0.0014 / 0.0015 / 0.0023).
- **Multi-Power Law**, Luo et al. 2025, "A Multi-Power Law for Loss Curve Prediction Across
  Learning Rate Schedules" (arXiv 2503.12811), as in the authors' released code:
  F = LD(t)/B = sum_{k=1}^{t} (eta_{k-1} - eta_k) G(eta_k^-gamma S_k(t)),
  G(x) = 1 - (C x + 1)^-beta,  S_k(t) = sum_{tau=k}^{t} eta_tau.
  The sum runs over every step from 1, the warm-up ramp included (its increases enter with
  negative weight): that is what reproduces the published test errors exactly. Parameters
  (L0, A, alpha, B, C, beta, gamma). An lr of exactly 0 at k >= 1 (a decay to zero) makes
  eta_k^-gamma infinite; it is evaluated at 1e-6 of the peak lr (G is then ~1).

**Computing F efficiently.** With Q_j = sum_{tau<j} eta_tau, S_k(t) = Q_{t+1} - Q_k, and F at
n logged steps costs n x T terms done naively (4e7 for one 72,000-step curve). Instead the
steps before t are covered by a hierarchy of aligned blocks (sizes 1024, 128, 16): a block is
used whole once it ends at least two of its own lengths before t, where g_t(k) =
G(eta_k^-gamma S_k(t)) is smooth on its scale, and its b terms sum_k d_k g_t(k) are replaced
by the 2-node Gauss rule of the block's own measure |d_k| (exact for cubic g_t, whatever the
shape of d). A block where that rule is unsafe - d changes sign, one step carries a jump
(a step-down schedule, the end of a warm-up) or eta varies by more than 1.2x (the start of a
warm-up, where eta_k ~ k) - is covered by the next finer level, down to single steps; the
last 32-48 steps before t are always exact. The term lists depend only on the schedule and
the logged steps, so they are built once per curve (:class:`CurveFeatures`); an evaluation
is then a few vectorised passes over O(n (T/1024 + 50)) terms (4e4 for a 24,000-step cosine,
1.6e5 for a 72,000-step one). Tested against the naive sum: within 2e-10 in F, 1e-7 in
loss, on smooth schedules; a warm-up ending inside a 16-step block is the worst case found
(1.5e-6 of F's scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import InputError, UsageError
from scaling_cli.fit.curve_schedule import Schedule

__all__ = [
    "LAWS",
    "CurveFeatures",
    "LawName",
    "MultiPowerParams",
    "ScheduledCurve",
    "TissueParams",
    "annealing_momentum_area",
    "curve_loss",
    "forward_area",
    "multi_power_reduction",
    "params_theta",
    "predict_terms",
    "theta_params",
]

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
LawName = Literal["multi-power", "tissue"]
LAWS: tuple[LawName, ...] = ("multi-power", "tissue")
TISSUE_DECAY = 0.999
LEVELS = (16, 128, 1024)  # block sizes of the quadrature hierarchy (each divides the next)
MAX_LR_RATIO = 1.2  # largest lr ratio within a block the 2-node rule is used for
CLEARANCE = 4  # a block is used whole once it ends this many of its lengths before t
ZERO_LR_FLOOR = 1e-6  # fraction of the peak lr standing in for eta = 0 inside eta^-gamma


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class MultiPowerParams:
    """L(t) = L0 + A S1^-alpha - B sum_k d_k (1 - (C eta_k^-gamma S_k(t) + 1)^-beta),
    d_k = eta_{k-1} - eta_k."""

    L0: float
    A: float
    alpha: float
    B: float
    C: float
    beta: float
    gamma: float
    law: ClassVar[LawName] = "multi-power"
    names: ClassVar[tuple[str, ...]] = ("L0", "A", "alpha", "B", "C", "beta", "gamma")

    def values(self) -> tuple[float, ...]:
        return (self.L0, self.A, self.alpha, self.B, self.C, self.beta, self.gamma)


@dataclass(frozen=True)
class TissueParams:
    """L(t) = L0 + A S1^-alpha - B S2 (Tissue et al.'s C is B here), momentum decay ``decay``."""

    L0: float
    A: float
    alpha: float
    B: float
    decay: float = TISSUE_DECAY
    law: ClassVar[LawName] = "tissue"
    names: ClassVar[tuple[str, ...]] = ("L0", "A", "alpha", "B")

    def values(self) -> tuple[float, ...]:
        return (self.L0, self.A, self.alpha, self.B)


Params = MultiPowerParams | TissueParams


# --------------------------------------------------------------------------- curves


@dataclass(frozen=True, eq=False)
class ScheduledCurve:
    """A logged loss curve (``step``, ``loss``) and the schedule it was trained with."""

    name: str
    schedule: Schedule
    step: IntArray
    loss: Array

    def __post_init__(self) -> None:
        step = np.asarray(self.step)
        loss = np.asarray(self.loss, dtype=float)
        where = f"curve {self.name!r}"
        if step.ndim != 1 or step.shape != loss.shape or step.size == 0:
            raise InputError(f"{where}: step and loss must be 1-D columns of equal length",
                             field="loss")
        if not np.issubdtype(step.dtype, np.integer):
            if not (np.isfinite(step).all() and (step == np.round(step)).all()):
                raise InputError(f"{where}: steps must be whole numbers", field="step")
            step = step.astype(np.int64)
        step = step.astype(np.int64)
        if (np.diff(step) <= 0).any():
            at = int(np.flatnonzero(np.diff(step) <= 0)[0]) + 1
            raise InputError(f"{where}: row {at + 1}: step {step[at]} does not increase; sort "
                             "the curve by step and drop duplicate rows", field="step")
        if step[0] < 1 or step[-1] >= self.schedule.total_steps:
            raise InputError(f"{where}: logged steps {step[0]}..{step[-1]} must lie within the "
                             f"schedule's steps 1..{self.schedule.total_steps - 1}; give the "
                             "schedule the run's full length", field="step")
        bad = ~np.isfinite(loss) | (loss <= 0)
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise InputError(f"{where}: row {at + 1} (step {step[at]}): loss "
                             f"{float(loss[at])!r} must be a finite number > 0", field="loss")
        step.setflags(write=False)
        loss.setflags(write=False)
        object.__setattr__(self, "step", step)
        object.__setattr__(self, "loss", loss)

    def __len__(self) -> int:
        return int(self.step.size)

    def until(self, last_step: int) -> ScheduledCurve:
        """The points logged at steps <= ``last_step`` (the run so far), same schedule."""
        keep = self.step <= last_step
        if not keep.any():
            raise UsageError(f"curve {self.name!r} has no point at or before step "
                             f"{last_step:,}", field="last_step")
        return ScheduledCurve(f"{self.name}[:{last_step}]", self.schedule, self.step[keep],
                     self.loss[keep])


# --------------------------------------------------------------------------- features


def forward_area(schedule: Schedule, steps: IntArray) -> Array:
    """S1(t) = sum_{s<=t} eta_s at ``steps``."""
    return np.cumsum(schedule.lr)[np.asarray(steps)]


def annealing_momentum_area(schedule: Schedule, steps: IntArray,
                            decay: float = TISSUE_DECAY) -> Array:
    """Tissue et al.'s S2(t) = sum_{i<=t} m_i, m_i = decay m_{i-1} + (eta_{i-1} - eta_i),
    at ``steps``. O(T): the momentum is a first-order recursive filter of the decrements."""
    from scipy.signal import lfilter

    if not 0 <= decay < 1:
        raise UsageError(f"the momentum decay must be in [0, 1), got {decay!r}", field="decay")
    drop = np.r_[0.0, schedule.lr[:-1] - schedule.lr[1:]]
    momentum = lfilter([1.0], [1.0, -decay], drop)
    return np.asarray(np.cumsum(momentum)[np.asarray(steps)], dtype=float)


@dataclass(frozen=True, eq=False)
class _Kernel:
    """The terms of F(t) = sum_j weight_j G(exp(-gamma log_lr_j) area_j) at each logged step,
    as flat arrays grouped by logged step: step i owns terms starts[i]:starts[i+1]."""

    weight: Array
    log_lr: Array
    area: Array
    starts: npt.NDArray[np.intp]  # n_points + 1 offsets

    @property
    def n_points(self) -> int:
        return int(self.starts.size - 1)

    def sum_by_point(self, terms: Array) -> Array:
        """Per logged step, the sum of its terms (rows of a 1-D or 2-D ``terms``)."""
        out = np.zeros((self.n_points, *terms.shape[1:]))
        nonempty = self.starts[1:] > self.starts[:-1]
        if nonempty.any():
            out[nonempty] = np.add.reduceat(terms, self.starts[:-1][nonempty], axis=0)
        return out


def _block_nodes(lr: Array, decrement: Array, q: Array, size: int,
                 floor: float) -> tuple[Array, npt.NDArray[np.bool_]]:
    """The 2-node Gauss rules of the full blocks k in [1 + j size, 1 + (j+1) size): rows
    (position, weight, log lr, Q) of the valid ones, and which blocks are valid.

    The rule is Gaussian with respect to the block's measure |d_k| itself (nodes = roots of
    the degree-2 orthogonal polynomial of that measure): sum_k d_k g(k) is exact for cubic g,
    whatever the shape of d. Valid where d keeps one sign, no single step carries more than
    4x the block's mean |d| (no jump), and eta varies by at most MAX_LR_RATIO (g_t depends on
    eta_k^-gamma, which is not smooth at the very start of a warm-up, where eta_k ~ k).
    """
    n_blocks = (lr.size - 1) // size
    k = 1 + np.arange(n_blocks * size).reshape(n_blocks, size)
    d = decrement[k]
    mass = np.abs(d)
    m0 = mass.sum(1)
    eta = lr[k]
    valid = ((m0 > 0) & ((d >= 0).all(1) | (d <= 0).all(1))
             & (mass.max(1) * size <= 4.0 * m0)
             & (eta.min(1) * MAX_LR_RATIO >= eta.max(1)))
    u = (k - k[:, :1]) / size  # position within the block, in [0, 1)
    safe_m0 = np.where(valid, m0, 1.0)
    mean = (mass * u).sum(1) / safe_m0
    v = u - mean[:, None]
    var = (mass * v**2).sum(1) / safe_m0
    skew = (mass * v**3).sum(1) / safe_m0
    ratio = skew / np.where(var > 0, var, 1.0)
    root = np.sqrt(ratio**2 + 4 * var)
    lo_v, hi_v = (ratio - root) / 2, (ratio + root) / 2
    span = np.where(hi_v > lo_v, hi_v - lo_v, 1.0)
    weights = np.stack([hi_v / span, -lo_v / span], -1) * (np.sign(d.sum(1)) * m0)[:, None]
    nodes = k[:, :1] + size * (mean[:, None] + np.stack([lo_v, hi_v], -1))
    grid = np.arange(lr.size, dtype=float)
    log_lr = np.log(np.maximum(np.interp(nodes, grid, lr), floor))
    q_node = np.interp(nodes, np.arange(q.size, dtype=float), q)
    rows = np.stack([nodes, weights, log_lr, q_node], -1)[valid].reshape(-1, 4)
    return rows, valid


def _sorted(rows: Array) -> Array:
    return rows[np.argsort(rows[:, 0], kind="stable")]


def _kernel(schedule: Schedule, steps: IntArray, warmup: bool) -> _Kernel:
    lr = schedule.lr
    decrement = np.r_[0.0, lr[:-1] - lr[1:]]  # d_k = eta_{k-1} - eta_k, d_0 = 0
    if not warmup:
        decrement[: schedule.peak_step + 1] = 0.0
    q = np.r_[0.0, np.cumsum(lr)]  # Q_j = sum_{tau < j} eta_tau
    floor = ZERO_LR_FLOOR * lr.max()
    atoms = np.flatnonzero(decrement)
    # Node tables, finest level first: a block with a valid rule is its 2 nodes; any other
    # block is the next finer level's rows inside it (single steps at the bottom).
    table = _sorted(np.column_stack([atoms.astype(float), decrement[atoms],
                                     np.log(np.maximum(lr[atoms], floor)), q[atoms]]))
    tables = []
    for size in sorted(LEVELS):
        rows, valid = _block_nodes(lr, decrement, q, size, floor)
        block = ((table[:, 0] - 1) // size).astype(np.intp)
        inherit = block >= valid.size
        inherit[~inherit] = ~valid[block[~inherit]]
        table = _sorted(np.vstack([rows, table[inherit & (block < valid.size)]]))
        tables.append((size, table, ((table[:, 0] - 1) // size).astype(np.intp), valid.size))
    steps = np.asarray(steps, dtype=np.int64)
    parts: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], Array]] = []
    begin = np.zeros(steps.size, dtype=np.int64)  # first block index still to cover, per level
    for size, rows_table, block, n_blocks in reversed(tables):
        first = begin // size
        # blocks that end at least CLEARANCE blocks before t: g_t is smooth across them
        last = np.clip(steps // size - CLEARANCE, first, n_blocks)
        lo = np.searchsorted(block, first, side="left")
        hi = np.searchsorted(block, last, side="left")
        index = _ranges(lo, hi)
        parts.append((index, np.repeat(np.arange(steps.size), hi - lo), rows_table[index]))
        begin = last * size
    lo = np.searchsorted(atoms, 1 + begin, side="left")
    hi = np.searchsorted(atoms, steps, side="right")
    near = atoms[_ranges(lo, hi)]
    near_rows = np.column_stack([near.astype(float), decrement[near],
                                 np.log(np.maximum(lr[near], floor)), q[near]])
    parts.append((near, np.repeat(np.arange(steps.size), hi - lo), near_rows))
    point = np.concatenate([p[1] for p in parts]).astype(np.intp)
    order = np.argsort(point, kind="stable")  # group terms by logged step for reduceat
    point = point[order]
    rows = np.vstack([p[2] for p in parts])[order]
    area = q[steps + 1][point] - rows[:, 3]
    starts = np.searchsorted(point, np.arange(steps.size + 1)).astype(np.intp)
    return _Kernel(rows[:, 1].copy(), rows[:, 2].copy(), area, starts)


def _ranges(lo: IntArray, hi: IntArray) -> npt.NDArray[np.intp]:
    """Concatenation of arange(lo[i], hi[i]) over i, vectorised."""
    counts = np.maximum(hi - lo, 0)
    if counts.sum() == 0:
        return np.zeros(0, dtype=np.intp)
    starts = np.repeat(lo - np.r_[0, np.cumsum(counts)[:-1]], counts)
    return (starts + np.arange(counts.sum())).astype(np.intp)


@dataclass(frozen=True, eq=False)
class CurveFeatures:
    """Everything about a schedule at given steps that does not depend on the law's
    parameters: log S1, Tissue's S2 and the Multi-Power kernel. Build once, evaluate often.

    ``warmup``: whether the warm-up's increases enter the Multi-Power sum (True, the default:
    the authors' released code, which their published parameters assume; False: the paper's
    formula, summing from the peak on - it fits and predicts Luo et al.'s curves no better).
    """

    steps: IntArray
    log_s1: Array
    s2: Array
    kernel: _Kernel
    decay: float
    warmup: bool

    @classmethod
    def build(cls, schedule: Schedule, steps: npt.ArrayLike,
              decay: float = TISSUE_DECAY, warmup: bool = True) -> CurveFeatures:
        s = np.asarray(steps, dtype=np.int64)
        if s.ndim != 1 or s.size == 0 or (s < 1).any() or (s >= schedule.total_steps).any():
            raise UsageError(f"steps must lie within schedule {schedule.name!r}'s steps "
                             f"1..{schedule.total_steps - 1}", field="steps")
        order = np.argsort(s, kind="stable")
        if (order != np.arange(s.size)).any():
            raise UsageError("steps must be increasing", field="steps")
        s1 = forward_area(schedule, s)
        if s1[0] <= 0:
            raise UsageError(f"schedule {schedule.name!r} has lr 0 up to step {s[0]}: the laws "
                             "need a positive forward area at every step", field="steps")
        return cls(s, np.log(s1), annealing_momentum_area(schedule, s, decay),
                   _kernel(schedule, s, warmup), decay, warmup)


def multi_power_reduction(features: CurveFeatures, C: float, beta: float, gamma: float,
                          *, derivatives: bool = False) -> tuple[Array, Array | None]:
    """F(t) = sum_k d_k G(eta_k^-gamma S_k(t)) at the logged steps and, if asked,
    dF/d(log C, beta, gamma) as an (n, 3) array.

    With z = C eta^-gamma S and p = (1 + z)^-beta: G = 1 - p,
    dG/dlog C = beta z p / (1 + z), dG/dbeta = p log(1 + z), dG/dgamma = -log(eta) dG/dlog C.
    """
    k = features.kernel
    z = C * np.exp(-gamma * k.log_lr) * k.area
    log1pz = np.log1p(z)
    p = np.exp(-beta * log1pz)
    if not derivatives:
        return k.sum_by_point(k.weight * (1.0 - p)), None
    d_log_c = k.weight * beta * p * z / (1.0 + z)
    sums = k.sum_by_point(np.column_stack([k.weight * (1.0 - p), d_log_c,
                                           k.weight * p * log1pz, -k.log_lr * d_log_c]))
    return sums[:, 0], sums[:, 1:]


def predict_terms(law: LawName, theta: Array, features: CurveFeatures,
                  *, jacobian: bool = False) -> tuple[Array, Array | None]:
    """Predicted loss at the features' steps for the fitter's vector ``theta`` and, if asked,
    d loss / d theta (n, p).

    theta = (L0, A, alpha, B) for Tissue; (L0, A, alpha, B, log C, beta, gamma) for the
    Multi-Power Law (C enters through its log: it spans decades).
    """
    l0, a, alpha, b = theta[:4]
    power = np.exp(-alpha * features.log_s1)
    if law == "tissue":
        reduction, d_red = features.s2, None
    elif law == "multi-power":
        reduction, d_red = multi_power_reduction(features, float(np.exp(theta[4])),
                                                 float(theta[5]), float(theta[6]),
                                                 derivatives=jacobian)
    else:
        raise UsageError(f"unknown curve law {law!r}; use one of {', '.join(LAWS)}",
                         field="law")
    loss = l0 + a * power - b * reduction
    if not jacobian:
        return loss, None
    columns = [np.ones_like(loss), power, -a * features.log_s1 * power, -reduction]
    if d_red is not None:
        columns.extend(-b * d_red.T)
    return loss, np.column_stack(columns)


def params_theta(params: Params) -> Array:
    """The fitter's vector for typed parameters (see :func:`predict_terms`)."""
    v = np.array(params.values(), dtype=float)
    if isinstance(params, MultiPowerParams):
        v[4] = np.log(params.C)
    return v


def theta_params(law: LawName, theta: Array, decay: float = TISSUE_DECAY) -> Params:
    t = [float(x) for x in theta]
    if law == "tissue":
        return TissueParams(t[0], t[1], t[2], t[3], decay)
    return MultiPowerParams(t[0], t[1], t[2], t[3], float(np.exp(t[4])), t[5], t[6])


def curve_loss(params: Params, schedule: Schedule, steps: npt.ArrayLike) -> Array:
    """The law's loss at ``steps`` (increasing) of ``schedule``."""
    decay = params.decay if isinstance(params, TissueParams) else TISSUE_DECAY
    features = CurveFeatures.build(schedule, steps, decay)
    return predict_terms(params.law, params_theta(params), features)[0]
