"""The Approach-3 objective: a weighted sum of Huber losses on log residuals, batched.

For parameters theta = (e, a, b, alpha, beta) with E = exp(e), A = exp(a), B = exp(b),

    r_i(theta) = logsumexp(e, a - alpha log N_i, b - beta log D_i) - log L_i
    f(theta)   = sum_i w_i huber_delta(r_i),
    huber_delta(r) = r**2 / 2 if |r| <= delta else delta (|r| - delta / 2).

It is a SUM over runs (weights w_i are bootstrap counts; 1 for a plain fit): the mean
changes nothing about the argmin but scales f, and tolerances relative to |f| then stop
an optimiser at its start (the bug that distorted the original Chinchilla fit).

With p = softmax(e, a - alpha log N, b - beta log D) (per run, components E, A, B) and
the 3x5 map M_i from theta to those logits, the derivatives are exact:

    grad r_i = M_i^T p_i = (p_E, p_A, p_B, -p_A log N_i, -p_B log D_i)
    hess r_i = M_i^T (diag p_i - p_i p_i^T) M_i
    grad f   = sum_i w_i h'(r_i) grad r_i
    hess f   = sum_i w_i [h''(r_i) grad r_i grad r_i^T + h'(r_i) hess r_i]

Everything is vectorised over S parameter vectors at once (starts x bootstrap replicates).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["HUBER_DELTA", "Data", "evaluate", "huber", "residuals", "row_dots"]

HUBER_DELTA = 1e-3
RUN_BLOCK = 8192  # runs per block of the batched evaluation
# (rows x runs) up to which an evaluation's derivative sums are formed as stacked products:
# fewer numpy calls for the small batches of Newton's late iterations (same bits).
STACKED_CELLS = 1024
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Data:
    """Log-transformed runs: log N, log D, log L (1-D arrays of equal length), or, made by
    :meth:`compact`, one row of runs per weighting (2-D arrays (S, K)).

    ``lowest`` keeps the smallest log N, log D and log L of all the runs: the search's
    scales (its trust region, when a term has vanished) are the ladder's, whichever runs a
    compacted row holds."""

    log_n: Array
    log_d: Array
    log_l: Array
    lowest: tuple[float, float, float] | None = field(default=None, compare=False)

    @classmethod
    def from_arrays(cls, params: npt.ArrayLike, tokens: npt.ArrayLike,
                    loss: npt.ArrayLike) -> Data:
        return cls(np.log(np.asarray(params, float)), np.log(np.asarray(tokens, float)),
                   np.log(np.asarray(loss, float)))

    def __len__(self) -> int:
        return int(self.log_n.shape[-1])

    @property
    def min_log_n(self) -> float:
        return self.lowest[0] if self.lowest is not None else float(self.log_n.min())

    @property
    def min_log_d(self) -> float:
        return self.lowest[1] if self.lowest is not None else float(self.log_d.min())

    @property
    def min_log_l(self) -> float:
        return self.lowest[2] if self.lowest is not None else float(self.log_l.min())

    def subset(self, index: npt.NDArray[np.intp]) -> Data:
        return Data(self.log_n[index], self.log_d[index], self.log_l[index])

    def rows(self, index: npt.NDArray[np.intp]) -> Data:
        """The runs of weightings ``index``: the same runs for every weighting (1-D), or
        those rows of a compacted set."""
        if self.log_n.ndim == 1 or (len(index) == self.log_n.shape[0]
                                    and bool(np.all(np.diff(index) > 0))):
            return self  # (every row, in order)
        return Data(self.log_n[index], self.log_d[index], self.log_l[index], self.lowest)

    def compact(self, weights: Array) -> tuple[Data, Array]:
        """The runs each weighting (row of ``weights``, (S, n)) counts, and their weights:
        (S, K) each, K the most runs any row weighs (a row with fewer is padded with runs
        it weighs 0, which add exact zeros; itself where every row weighs every run). (A
        stable argsort of the zero flags orders them: a counting sort, faster than
        placing np.nonzero's indices.) A bootstrap replicate leaves out ~37% of the
        runs (e^-1) and a fold its held-out ones: evaluating only the runs a row counts
        does that much less of every exponential, logarithm and sum (datablations'
        294-run ladder: an evaluation of 500 replicates 14 -> 8 ms). Each row's runs
        stay in their order."""
        w = np.asarray(weights, dtype=float)
        k = max(1, int((w != 0).sum(axis=1).max(initial=0)))
        if self.log_n.ndim != 1 or k == w.shape[1]:  # (nothing to leave out)
            return self, w
        order = np.argsort(w == 0, axis=1, kind="stable")[:, :k]
        lowest = (self.min_log_n, self.min_log_d, self.min_log_l)
        return (Data(self.log_n[order], self.log_d[order], self.log_l[order], lowest),
                np.take_along_axis(w, order, axis=1))


def huber(r: Array, delta: float = HUBER_DELTA) -> Array:
    """Huber loss: r^2/2 inside |r| <= delta, delta (|r| - delta/2) outside."""
    ar = np.abs(r)
    return np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta))


def _softmax3(theta: Array, data: Data) -> tuple[Array, Array, Array, Array]:
    """log-sum-exp of the three terms and their softmax weights, shape (S, n) each.

    Within the search box (log coefficients <= 300, exponents >= 0, N, D >= 1) no term
    can overflow and E >= e^-25 keeps the sum positive, so the sum is formed directly:
    two exponentials and one logarithm per run instead of a max-shifted logsumexp.
    """
    term_e, term_a, term_b = _terms(theta, data)
    total = term_e + term_a + term_b
    inverse = 1.0 / total
    return np.log(total), term_e * inverse, term_a * inverse, term_b * inverse


def _terms(theta: Array, data: Data) -> tuple[Array, Array, Array]:
    """E (S, 1), A / N^alpha and B / D^beta (S, n)."""
    return (np.exp(theta[:, 0:1]), np.exp(theta[:, 1:2] - theta[:, 3:4] * data.log_n),
            np.exp(theta[:, 2:3] - theta[:, 4:5] * data.log_d))


def _log_sum(theta: Array, data: Data) -> Array:
    """The first output of :func:`_softmax3` alone (the same bits): an objective without
    derivatives (line searches, screens) needs no softmax weights."""
    term_e, term_a, term_b = _terms(theta, data)
    return np.asarray(np.log(term_e + term_a + term_b))


def residuals(theta: npt.ArrayLike, data: Data) -> Array:
    """r = log L_pred - log L_obs for each of S parameter vectors: shape (S, n)."""
    t = np.atleast_2d(np.asarray(theta, dtype=float))
    return np.asarray(_log_sum(t, data) - data.log_l)


def evaluate(
    theta: npt.ArrayLike,
    data: Data,
    weights: npt.ArrayLike,
    *,
    order: int = 0,
    delta: float = HUBER_DELTA,
) -> tuple[Array, Array | None, Array | None]:
    """Objective (S,), and for ``order`` >= 1 its gradient (S, 5), >= 2 its Hessian (S, 5, 5).

    ``theta`` is (S, 5); ``weights`` is (n,) shared by all, or (S, n) one row per vector.
    Runs are processed in fixed blocks of ``RUN_BLOCK`` (memory stays bounded for 1e5+
    runs); the block size never depends on S, so each row's sums, and hence every result,
    are the same whichever batch the row is evaluated in.
    """
    t = np.atleast_2d(np.asarray(theta, dtype=float))
    w = np.asarray(weights, dtype=float)
    n = len(data)
    if n <= RUN_BLOCK:
        return _evaluate_block(t, data, w, order, delta)
    f = np.zeros(t.shape[0])
    g = np.zeros((t.shape[0], 5)) if order >= 1 else None
    h = np.zeros((t.shape[0], 5, 5)) if order >= 2 else None
    for start in range(0, n, RUN_BLOCK):
        block = slice(start, min(start + RUN_BLOCK, n))
        part = Data(data.log_n[..., block], data.log_d[..., block], data.log_l[..., block])
        f_b, g_b, h_b = _evaluate_block(t, part, w[..., block], order, delta)
        f += f_b
        if g is not None and g_b is not None:
            g += g_b
        if h is not None and h_b is not None:
            h += h_b
    return f, g, h


def _evaluate_block(t: Array, data: Data, w: Array, order: int,
                    delta: float) -> tuple[Array, Array | None, Array | None]:
    if order < 1:  # (huber's arithmetic is the expression below: the same bits)
        return (w * huber(_log_sum(t, data) - data.log_l, delta)).sum(axis=-1), None, None
    lse, p_e, p_a, p_b = _softmax3(t, data)
    r = lse - data.log_l
    ar = np.abs(r)
    inside = ar <= delta
    f = (w * np.where(inside, 0.5 * r * r, delta * (ar - 0.5 * delta))).sum(axis=-1)
    w1 = w * np.where(inside, r, delta * np.sign(r))  # w h'(r)
    a_n = p_a * data.log_n
    b_d = p_b * data.log_d
    # grad r_i = (p_e, p_a, p_b, -a_n, -b_d) = sign * q_i: every sum below is a row-wise
    # dot product of (S, n) arrays (no batched 5 x n products: a row's bits never depend on
    # the rows beside it)
    q = (p_e, p_a, p_b, a_n, b_d)
    c = w * inside - w1
    if p_e.size <= STACKED_CELLS:
        g, h = _derivatives_stacked(q, w1, c, order)
    else:
        g, h = _derivatives(q, w1, c, order)
    if h is None:
        return f, g, None
    # ... plus sum_i w h' M^T diag(p) M: only the E, A, B blocks of M are nonzero.
    for k in range(3):
        h[:, k, k] += g[:, k]
    h[:, 1, 3] += g[:, 3]
    h[:, 3, 1] += g[:, 3]
    h[:, 2, 4] += g[:, 4]
    h[:, 4, 2] += g[:, 4]
    h[:, 3, 3] += row_dots(w1 * a_n, np.broadcast_to(data.log_n, a_n.shape))
    h[:, 4, 4] += row_dots(w1 * b_d, np.broadcast_to(data.log_d, b_d.shape))
    return f, g, h


def _derivatives(q: tuple[Array, ...], w1: Array, c: Array,
                 order: int) -> tuple[Array, Array | None]:
    """The gradient sum_i w h' grad r, and (order 2) the Hessian's first part
    sum_i (w h'' - w h') grad r grad r^T (the -p p^T part of the softmax folds in here),
    each entry one row-wise dot product of (S, n) arrays."""
    g = np.column_stack([row_dots(w1, v) for v in q]) * _SIGN
    if order < 2:
        return g, None
    h = np.empty((g.shape[0], 5, 5))
    cq = [c * v for v in q]
    for k in range(5):
        for m in range(k, 5):
            h[:, k, m] = h[:, m, k] = row_dots(cq[k], q[m]) * (_SIGN[k] * _SIGN[m])
    return g, h


def _derivatives_stacked(q: tuple[Array, ...], w1: Array, c: Array,
                         order: int) -> tuple[Array, Array | None]:
    """:func:`_derivatives` for a small batch, its 5 + 15 row-wise dot products as two
    stacked ones: the same products and the same pairwise sums over each row's runs (the
    same bits, tested), in a few numpy calls instead of ~50, which is most of an evaluation
    of a few dozen rows. (For large batches the stacked temporaries cost more than the
    calls they save.)"""
    stack = np.stack(q)  # (5, S, n)
    g = (w1 * stack).sum(axis=2).T * _SIGN
    if order < 2:
        return g, None
    upper = (c * stack)[_ROWS] * stack[_COLS]  # (15, S, n): entries (k, m), k <= m
    values = upper.sum(axis=2) * _PAIR_SIGNS  # (15, S)
    h = np.empty((5, 5, g.shape[0]))
    h[_ROWS, _COLS] = values
    h[_COLS, _ROWS] = values
    return g, np.ascontiguousarray(h.transpose(2, 0, 1))


_SIGN = np.array([1.0, 1.0, 1.0, -1.0, -1.0])
_ROWS, _COLS = np.triu_indices(5)  # the Hessian's 15 distinct entries (k, m), k <= m
_PAIR_SIGNS = (_SIGN[_ROWS] * _SIGN[_COLS])[:, None]


def row_dots(a: Array, b: Array) -> Array:
    """sum_i a_si b_si for every row s: a product and numpy's pairwise sum, the same bits
    wherever the row sits in memory (einsum's SIMD loops are not: they split a row by its
    alignment, so a replicate's sums would depend on the rows batched with it)."""
    return np.asarray((a * b).sum(axis=1))
