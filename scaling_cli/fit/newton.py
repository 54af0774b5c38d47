"""Batched, safeguarded Newton minimisation of the objective from many starts at once.

Each iteration, for every still-active start s:

    H_s = V diag(lambda) V^T          (exact Hessian, eigendecomposed: 5x5, batched)
    step = -V diag(1 / max(|lambda|, eps max|lambda|)) V^T g_s      (saddle-free Newton,
           shortened to infinity-norm MAX_STEP: a trust region for near-singular H)
    theta <- clip(theta + t step), t = 1, 1/2, 1/4, ... until Armijo:
             f(theta + t step) <= f(theta) + 1e-4 t g.step

and a start stops when its Newton decrement -g.step falls below ``DECREMENT_RTOL * f``
(the objective cannot drop by more than that), or its line search finds no decrease.
Tolerances are relative to f itself, never to max(|f|, 1): f sits near 1e-3 here.

A start counts as *converged* when it stopped at a positive-definite Hessian with a Newton
decrement g^T H^-1 g <= CONVERGED_RTOL * f: a verified local minimum, where no quadratic
model predicts a relative improvement above 1e-12. (The decrement, not max |g|, is the
test: the surface is so badly conditioned that a gradient of 3e-8 along a stiff direction
is a step of 1e-11 from the optimum.)
Work per start never depends on the other starts in the batch, so results are identical
whichever batch (or worker) a start lands in. With :class:`Constraints` the iteration runs
on the free coordinates phi (theta = base + P phi; gradient P^T g, Hessian P^T H P).

The trust region is measured in what a step changes in the law, not in theta itself: log E,
each power-law term's log at the smallest run (log A - alpha log N_min, log B - beta log
D_min) and the exponents each move by at most MAX_STEP. Where only the smallest runs pin a
term (a degenerate bootstrap replicate: A N^-alpha sliding towards a step at N_min, log A
and alpha rising together along a valley, log A by log N_min per unit of alpha), a cap on
log A itself allowed one unit of log A per iteration: ~100 iterations to reach the box's
alpha = 10, and such replicates went on to the complete global search. In these units the
valley is a change of alpha alone. (Measured on a hard 16-run ladder's 1,000 replicates:
the CPU of `scaling fit` 3.6 -> 3.2 s, failed replicates 3 -> 0; Epoch's fit and replicates
move by < 1e-7 of themselves, inside the replicate tolerance.)

The other valley, E heading to zero down an exponentially flat log E, is cut short by one
look at the face E = 0 after ``FACE_PROBE_AT`` iterations (:func:`_onto_e_face`): a start
still crawling there moves to the face's optimum where that is a verified minimum of the
whole problem below it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.objective import HUBER_DELTA, Data, evaluate

__all__ = [
    "BOUNDS",
    "CONVERGED_RTOL",
    "Polished",
    "Space",
    "free_hessian",
    "newton_step",
    "polish",
    "polish_crawled",
]

Array = npt.NDArray[np.float64]

# Box for (log E, log A, log B, alpha, beta). Exponents stay in [0, 10]; the log
# coefficients' box only keeps exp() finite: a term whose log coefficient sits at -25
# (1e-11) has vanished (it is reported as a parameter at its bound).
BOUNDS = np.array([[-25.0, -25.0, -25.0, 0.0, 0.0], [10.0, 300.0, 300.0, 10.0, 10.0]])
CONVERGED_RTOL = 1e-12
VANISHED_LOG = float(np.log(1e-6))  # a term below 1e-6 of the loss has vanished
TRY_VANISH_LOG = float(np.log(1e-2))  # a shrinking term below 1% of the loss may jump there
DECREMENT_RTOL = 1e-14
# A start still stepping after this many iterations while E shrinks is probed on the face
# E = 0 (``_onto_e_face``), whose optimum a further FACE_MAX_ITER iterations look for.
# Measured on a hard 16-run ladder's `scaling fit` (CPU, one process, every polish looking):
# after 20 / 30 / 40 iterations 2.83 / 2.77 / 3.02 s, 3.00 s without.
FACE_PROBE_AT = 30
FACE_MAX_ITER = 40
# Only a polish of at least this many iterations looks (a complete fit's, a held-out fold's):
# in the replicate refits' 60 (and the profile search's 40) a look costs about what it can
# save, and where the face is not the optimum it is all cost (Porian et al.'s 16-run ladders:
# `predict` 1.75 -> 2.04 s with no start moved; the hard ladder above 1.85 vs 1.87 s).
FACE_PROBE_MIN_ITER = 100
_ARMIJO = 1e-4
MAX_STEP = 1.0
_MAX_HALVINGS = 45
# (trial point x run) numbers a line search evaluates at once when it tries several step
# lengths of a row together: small enough that a speculative length costs less than the
# numpy round trip it saves, large data (a few rows of 1e5 runs) one length at a time.
LINE_SEARCH_CELLS = 4096


@dataclass(frozen=True)
class Polished:
    """End points of the starts: parameters, objective, gradient, and convergence facts."""

    theta: Array  # (S, 5)
    objective: Array  # (S,)
    gradient: Array  # (S, k) with respect to the free parameters
    decrement: Array  # (S,) Newton decrement g^T H^-1 g at the end point
    min_eigenvalue: Array  # (S,) smallest Hessian eigenvalue at the end point
    iterations: npt.NDArray[np.int64]  # (S,)
    converged: npt.NDArray[np.bool_]  # (S,)

    def with_rows(self, rows: npt.NDArray[np.intp], other: Polished) -> Polished:
        """These end points, copied, with ``rows`` replaced by ``other``'s (one each)."""
        fields = {name: getattr(self, name).copy() for name in Polished.__dataclass_fields__}
        for name, values in fields.items():
            values[rows] = getattr(other, name)
        return Polished(**fields)


def _floor(f: Array, total_weight: Array) -> Array:
    # Relative tolerances need a floor for noise-free data, where f -> 0 at the truth:
    # log residuals of ~1e-8 count as zero.
    return np.maximum(f, 1e-17 * total_weight)


def polish(
    theta0: npt.ArrayLike,
    data: Data,
    weights: npt.ArrayLike,
    *,
    max_iter: int = 200,
    delta: float = HUBER_DELTA,
    constraints: Constraints | None = None,
    converged_rtol: float = CONVERGED_RTOL,
) -> Polished:
    """Minimise from each row of ``theta0`` (S, 5). ``weights``: (n,) or (S, n).

    Newton's iterations (:func:`_newton`), with one look at the face E = 0 after
    ``FACE_PROBE_AT`` of them for the starts still crawling there (:func:`_onto_e_face`)
    when ``max_iter`` is at least ``FACE_PROBE_MIN_ITER``. The iteration is memoryless, so
    a start not moved there ends exactly where the uninterrupted iteration would."""
    space = Space(constraints or Constraints())
    w = np.broadcast_to(np.asarray(weights, dtype=float),
                        (np.atleast_2d(np.asarray(theta0)).shape[0], len(data)))
    if max_iter < FACE_PROBE_MIN_ITER:
        return _newton(space, theta0, data, w, max_iter, delta, converged_rtol)
    first = _newton(space, theta0, data, w, min(max_iter, FACE_PROBE_AT), delta,
                    converged_rtol)
    if max_iter <= FACE_PROBE_AT:
        return first
    crawling = (first.iterations == FACE_PROBE_AT) & ~first.converged
    theta, moved = _onto_e_face(space, first, crawling, data, w, delta, converged_rtol)
    going = np.flatnonzero((first.iterations == FACE_PROBE_AT) | moved)
    if going.size == 0:
        return first
    rest = _newton(space, theta[going], data.rows(going), w[going], max_iter - FACE_PROBE_AT,
                   delta,
                   converged_rtol)
    merged = first.with_rows(going, rest)
    merged.iterations[going] += first.iterations[going]  # (its own fresh copy)
    return merged


def polish_crawled(
    theta0: npt.ArrayLike,
    data: Data,
    weights: npt.ArrayLike,
    *,
    max_iter: int,
    delta: float = HUBER_DELTA,
    constraints: Constraints | None = None,
    converged_rtol: float = CONVERGED_RTOL,
) -> Polished:
    """Where starts that crawled through an earlier polish without converging (S, 5) got
    to, given the look at the face E = 0 (:func:`_onto_e_face`): a start whose E still
    shrinks moves to the face's optimum where that is a minimum of the whole problem below
    it, and is polished there for up to ``max_iter`` iterations (which verify it); the
    others are returned where they are, unconverged (for the profile search).

    The bootstrap's replicates polish ``FACE_PROBE_MIN_ITER`` iterations too few to look on
    their way; their crawling rows look here, once, instead of each row at iteration 30."""
    space = Space(constraints or Constraints())
    start = np.array(theta0, dtype=float, ndmin=2)
    w = np.broadcast_to(np.asarray(weights, dtype=float), (start.shape[0], len(data)))
    found = _newton(space, start, data, w, 0, delta, converged_rtol)
    theta, moved = _onto_e_face(space, found, ~found.converged, data, w, delta,
                                converged_rtol)
    going = np.flatnonzero(moved)
    unsettled = replace(found, converged=np.zeros(len(start), dtype=bool))
    if going.size == 0:
        return unsettled
    settled = _newton(space, theta[going], data.rows(going), w[going], max_iter, delta,
                      converged_rtol)
    return unsettled.with_rows(going, settled)


def _onto_e_face(space: Space, found: Polished, looking: npt.NDArray[np.bool_], data: Data,
                 w: Array, delta: float, converged_rtol: float
                 ) -> tuple[Array, npt.NDArray[np.bool_]]:
    """End points (S, 5), with a ``looking`` start still crawling while E shrinks moved to
    the optimum of the face E = 0 where that is a minimum of the whole problem and lower
    than where the start has got to; and which starts moved.

    A degenerate replicate's optimum often has E = 0 (the law without its constant), and
    Newton reaches it down an exponentially flat valley in log E, trading E against the
    other terms for hundreds of iterations (a hard 16-run ladder's fold fits: log E from 0
    to -25 in ~220), and ``snap_vanished`` only helps once E is tiny. From the crawling
    point with E at its bound, the iteration holds E there and solves the other four
    parameters in a few dozen steps. The face's optimum is taken where it converged, is
    below the start's objective, and E = 0 is optimal there (Karush-Kuhn-Tucker: df/dE >= 0,
    to within what the decrement test accepts: raising E by as much as the smallest loss
    would gain at most ``converged_rtol`` of f). Measured on that ladder's `scaling fit`
    with 1,000 replicates: in the full form's fold fits 96 of 133 crawling starts moved
    (the form choice's longest part 0.38 -> 0.15 s), in the complete search of the
    replicates nothing else settled 26 of 36."""
    theta = found.theta.copy()
    moved = np.zeros(len(theta), dtype=bool)
    column = space.column_of.get(0)
    if column is None:  # E fixed
        return theta, moved
    crawling = np.flatnonzero(looking & (theta[:, 0] > BOUNDS[0, 0] + 1e-9)
                              & (found.gradient[:, column] > 0))  # E still shrinking
    if crawling.size == 0:
        return theta, moved
    start = theta[crawling].copy()
    start[:, 0] = BOUNDS[0, 0]
    rows = data.rows(crawling)
    face = _newton(space, start, rows, w[crawling], FACE_MAX_ITER, delta, converged_rtol)
    _, g, _ = evaluate(face.theta, rows, w[crawling], order=1, delta=delta)
    assert g is not None
    slope_e = g[:, 0] / np.exp(face.theta[:, 0])  # df/dE (g is df/dlog E = E df/dE)
    optimal = slope_e * np.exp(data.min_log_l) >= -converged_rtol * face.objective
    take = face.converged & optimal & (face.objective < found.objective[crawling])
    theta[crawling[take]] = face.theta[take]
    moved[crawling[take]] = True
    return theta, moved


def _newton(space: Space, theta0: npt.ArrayLike, data: Data, w: Array, max_iter: int,
            delta: float, converged_rtol: float) -> Polished:
    """Up to ``max_iter`` Newton iterations from each row of ``theta0`` (module doc)."""
    phi = space.clip(space.to_phi(np.array(theta0, dtype=float, ndmin=2)))
    n_starts = phi.shape[0]
    total_w = w.sum(axis=1)
    f, g, h = space.evaluate(phi, data, w, delta)
    iterations = np.zeros(n_starts, dtype=np.int64)
    active = np.ones(n_starts, dtype=bool)
    sizes = space.step_sizes(data)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        g_a, h_a = space.project(phi[idx], g[idx], h[idx])
        step = newton_step(g_a, h_a, sizes)
        slope = np.einsum("sk,sk->s", g_a, step)
        done = -slope <= DECREMENT_RTOL * _floor(f[idx], total_w[idx])
        # The full step first, its objective alone; derivatives only where it is taken (the
        # next iteration's gradient and Hessian). Far from a minimum half the full steps of
        # a replicate's polish fail (the Huber objective is nearly piecewise linear), and
        # their derivatives were wasted (datablations' 294-run ladder: `scaling fit` as typed
        # 5% faster).
        full = idx[~done]
        trial = space.clip(phi[full] + step[~done])
        f_t = space.evaluate(trial, data.rows(full), w[full], delta, order=0)[0]
        ok = (f_t <= f[full] + _ARMIJO * slope[~done]) & (f_t < f[full])
        took_here = np.zeros(idx.size, dtype=bool)  # positions in idx that took the full step
        took_here[np.flatnonzero(~done)[ok]] = True
        took = full[ok]
        trial = trial[ok]
        snapped = space.snap_vanished(trial, data)
        phi[took] = snapped
        if took.size:  # derivatives where the step was taken (the same f, bit for bit)
            f[took], g[took], h[took] = space.evaluate(trial, data.rows(took), w[took], delta)
        resnap = took[(snapped != trial).any(axis=1)]
        # ... else backtrack from half the step, then take derivatives where it landed.
        new_phi, moved = _line_search(space, phi[idx], f[idx], step, slope, data.rows(idx),
                                      w[idx], delta, skip=done | took_here, first=0.5)
        moved_idx = idx[moved]
        phi[moved_idx] = space.snap_vanished(new_phi[moved], data)
        again = np.concatenate([moved_idx, resnap])
        if again.size:
            f[again], g[again], h[again] = space.evaluate(phi[again], data.rows(again),
                                                          w[again], delta)
        iterations[took] += 1
        iterations[moved_idx] += 1
        active[idx[~(took_here | moved)]] = False
        stepped = np.concatenate([took, moved_idx])
        if stepped.size:
            _try_vanish(space, phi, f, g, h, stepped, data, w, delta)
    g_a, h_a = space.project(phi, g, h)
    min_eig = np.asarray(np.linalg.eigvalsh(h_a)[:, 0], dtype=float)
    decrement = -np.einsum("sk,sk->s", g_a, newton_step(g_a, h_a))
    theta = space.to_theta(phi)
    converged = ((decrement <= converged_rtol * _floor(f, total_w)) & (min_eig > 0)
                 & _e_bound_optimal(space, theta, g, f, data, converged_rtol))
    return Polished(theta, f, g_a, decrement, min_eig, iterations, converged)


def _e_bound_optimal(space: Space, theta: Array, g: Array, f: Array, data: Data,
                     converged_rtol: float) -> npt.NDArray[np.bool_]:
    """False where E sits at its lower bound although raising it would lower f.

    In log E the bound is a stationary point whatever the sign of df/dE (the gradient there
    is E df/dE, ~1e-11 of it), so the decrement test alone accepts a start that jumped or
    crawled onto the face E = 0 next to a lower minimum with a small positive E (a
    degenerate bootstrap replicate: its own start converged there, and nothing searched
    further). The Karush-Kuhn-Tucker condition of the face look (:func:`_onto_e_face`)
    decides instead: df/dE >= -``converged_rtol`` f / L_min (raising E by the smallest loss
    gains at most that share of f). Measured against a complete global search of each
    replicate: a hard 16-run ladder's face points were 13 of 100 replicates above their
    optimum (by up to 49%), Li et al.'s best-lr ladder 7 of 100; each of them had df/dE < 0,
    no replicate at its optimum did."""
    ok = np.ones(len(theta), dtype=bool)
    if space.column_of.get(0) is None:  # E fixed
        return ok
    on_bound = np.flatnonzero(theta[:, 0] <= BOUNDS[0, 0] + 1e-9)
    if on_bound.size:
        slope_e = g[on_bound, 0] / np.exp(theta[on_bound, 0])  # df/dE (g: df/dlog E)
        ok[on_bound] = (slope_e * np.exp(data.min_log_l)
                        >= -converged_rtol * f[on_bound])
    return ok


def _try_vanish(space: Space, phi: Array, f: Array, g: Array, h: Array,
                idx: npt.NDArray[np.intp], data: Data, w: Array, delta: float) -> None:
    """Jump a small, still-shrinking term to its bound when that lowers the objective.

    A coefficient whose term is below ``TRY_VANISH`` of the smallest loss at every run,
    and whose gradient says it should shrink further, is crawling down an exponentially flat
    valley (a degenerate replicate whose optimum has E = 0, say): Newton's capped steps
    would take hundreds of iterations. The jump is kept only if the objective does not rise,
    so it never changes where a proper minimum lies. Updates the arrays in place.
    """
    candidates = space.shrinking_terms(phi[idx], g[idx], data)
    for column in range(candidates.shape[1]):
        rows = idx[candidates[:, column]]
        if rows.size == 0:
            continue
        trial = phi[rows].copy()
        trial[:, column] = space.low[column]
        better = space.evaluate(trial, data.rows(rows), w[rows], delta,
                                order=0)[0] <= f[rows]
        keep = rows[better]
        if keep.size:  # derivatives only where the jump is kept (the same f, bit for bit)
            phi[keep] = trial[better]
            f[keep], g[keep], h[keep] = space.evaluate(phi[keep], data.rows(keep), w[keep],
                                                       delta)


def free_hessian(theta: npt.ArrayLike, data: Data, weights: npt.ArrayLike, *,
                 delta: float = HUBER_DELTA, constraints: Constraints | None = None) -> Array:
    """Hessian of the objective in the free coordinates, at one theta: (k, k)."""
    space = Space(constraints or Constraints())
    phi = space.to_phi(np.asarray(theta, dtype=float)[None])
    _, _, h = space.evaluate(phi, data, np.asarray(weights, dtype=float), delta)
    return np.asarray(h[0], dtype=float)


class Space:
    """The free coordinates phi of a constrained problem, and the objective in them."""

    def __init__(self, constraints: Constraints) -> None:
        self.constraints = constraints
        self.p, self.base = constraints.matrix()
        first = np.argmax(self.p, axis=0)  # the theta index each free column starts at
        self.low, self.high = BOUNDS[0, first], BOUNDS[1, first]
        self.column_of = {int(i): j for j, i in enumerate(first)}
        self.is_coefficient = first < 3  # log E, log A, log B columns (not exponents)
        self.identity = self.p.shape == (5, 5) and bool((self.p == np.eye(5)).all())  # P = I

    def to_phi(self, theta: Array) -> Array:
        return self.constraints.to_phi(theta)

    def step_sizes(self, data: Data) -> Array:
        """(k, 5): row j is what a unit step in free coordinate j changes in log E, in the
        power-law terms' logs at the smallest run (log A - alpha log N_min, log B - beta
        log D_min) and in the exponents (the trust region's units, module doc)."""
        rows = np.eye(5)
        rows[1, 3] = -data.min_log_n
        rows[2, 4] = -data.min_log_d
        return np.asarray((rows @ self.p).T, dtype=float)

    def to_theta(self, phi: Array) -> Array:
        return np.asarray(self.base + phi @ self.p.T, dtype=float)

    def clip(self, phi: Array) -> Array:
        return np.clip(phi, self.low, self.high)

    def snap_vanished(self, phi: Array, data: Data) -> Array:
        """Send a term that no longer matters to its bound instead of crawling there.

        A term below 1e-6 of the smallest loss at every run is gone; its log coefficient
        heads to -inf along an exponentially flat valley where Newton steps are O(1). At
        the bound the active set holds it and the other parameters converge.
        """
        floor = data.min_log_l + VANISHED_LOG
        size = self._term_sizes(phi, data)
        out = phi.copy()
        for i in range(3):
            column = self.column_of.get(i)
            if column is not None:
                gone = size[:, i] < floor
                out[gone, column] = self.low[column]
        return out

    def _term_sizes(self, phi: Array, data: Data) -> Array:
        """log of each term (E, A N^-alpha, B D^-beta) at its largest over the runs."""
        theta = self.to_theta(phi)
        return np.column_stack([theta[:, 0],
                                theta[:, 1] - theta[:, 3] * data.min_log_n,
                                theta[:, 2] - theta[:, 4] * data.min_log_d])

    def shrinking_terms(self, phi: Array, g: Array, data: Data) -> npt.NDArray[np.bool_]:
        """(S, k) flags: a free log coefficient whose term is small and still shrinking."""
        size = self._term_sizes(phi, data)
        floor = data.min_log_l + TRY_VANISH_LOG
        out = np.zeros(phi.shape, dtype=bool)
        for i in range(3):
            column = self.column_of.get(i)
            if column is not None:
                out[:, column] = ((size[:, i] < floor) & (g[:, column] > 0)
                                  & (phi[:, column] > self.low[column] + 1e-12))
        return out

    def vanished(self, phi: Array) -> npt.NDArray[np.bool_]:
        """(S, k) flags: an exponent whose term sits at its bound (it no longer matters)."""
        theta = self.to_theta(phi)
        gone_a = theta[:, 1] <= BOUNDS[0, 1] + 1e-9
        gone_b = theta[:, 2] <= BOUNDS[0, 2] + 1e-9
        out = np.zeros(phi.shape, dtype=bool)
        alpha, beta = self.column_of.get(3), self.column_of.get(4)
        if self.constraints.tie_exponents and alpha is not None:
            out[:, alpha] = gone_a & gone_b
            return out
        if alpha is not None:
            out[:, alpha] = gone_a
        if beta is not None:
            out[:, beta] = gone_b
        return out

    def project(self, phi: Array, g: Array, h: Array) -> tuple[Array, Array]:
        """Gradient and Hessian with the coordinates held by an active bound removed.

        A coordinate at its lower (upper) bound whose gradient points further down (up)
        cannot move: it leaves the Newton system (unit diagonal, zero gradient), as in a
        projected Newton / active-set method. A degenerate optimum on the box is then a
        converged point (reported as at bounds) instead of an endless crawl.
        """
        held = ((phi <= self.low + 1e-12) & (g > 0)) | ((phi >= self.high - 1e-12) & (g < 0))
        # A log coefficient at its lower bound is a term at 1e-11 of itself: gone. Its
        # gradient there is ~1e-11 of a real one and its sign is rounding noise, so it is
        # held whatever that sign (a term worth having comes back through the profile
        # search, which solves the coefficients exactly, zero included).
        held |= (phi <= self.low + 1e-12) & self.is_coefficient
        held |= self.vanished(phi)  # the exponent of a vanished term has nothing to fit
        if not held.any():
            return g, h
        g = np.where(held, 0.0, g)
        keep = ~held
        h = h * keep[:, :, None] * keep[:, None, :]
        h = h + np.einsum("sk,kl->skl", held.astype(float), np.eye(g.shape[1]))
        return g, h

    def evaluate(self, phi: Array, data: Data, w: Array, delta: float,
                 order: int = 2) -> tuple[Array, Array, Array]:
        f, g, h = evaluate(self.to_theta(phi), data, w, order=order, delta=delta)
        if g is None or h is None:  # order < 2: the value alone
            return f, np.empty(0), np.empty(0)
        return (f, *self.free_derivatives(g, h))

    def free_derivatives(self, g: Array, h: Array) -> tuple[Array, Array]:
        """P^T g and P^T H P: gradient (S, k) and Hessian (S, k, k) in the free coordinates.

        With P = I (nothing fixed or tied) they are g and H themselves in every row whose
        entries are all finite and nonzero: each product sums that entry and exact zeros
        (P's zeros times finite numbers), whatever the order. Only the other rows (a zero
        entry, whose sign the zeros decide, or an inf or NaN, which 0 * inf spreads) are
        multiplied out, with the bits multiplying out every row gives them (a sum of
        zeros has one sign in any order). Skips the 3-operand einsum, a third of an
        evaluation of a thousand starts."""
        if not self.identity:
            return g @ self.p, np.einsum("ki,skl,lj->sij", self.p, h, self.p)
        plain = ((np.isfinite(h) & (h != 0)).all(axis=(1, 2))
                 & (np.isfinite(g) & (g != 0)).all(axis=1))
        if plain.all():
            return g, h
        rest = np.flatnonzero(~plain)
        g, h = g.copy(), h.copy()
        g[rest] = g[rest] @ self.p
        h[rest] = np.einsum("ki,skl,lj->sij", self.p, h[rest], self.p)
        return g, h


def newton_step(g: Array, h: Array, sizes: Array | None = None) -> Array:
    """Saddle-free Newton steps (S, k), each shortened so that no coordinate, or with
    ``sizes`` (k, m) no change it maps to (step @ sizes), exceeds MAX_STEP."""
    lam, vec = np.linalg.eigh(h)
    scale = np.abs(lam).max(axis=1, keepdims=True)
    lam_mod = np.maximum(np.abs(lam), 1e-15 * scale + 1e-300)
    coeff = np.einsum("sji,sj->si", vec, g) / lam_mod
    step = -np.einsum("sij,sj->si", vec, coeff)
    # A trust region in the infinity norm: near-singular directions get a long but
    # bounded step (log coefficients and exponents move by at most MAX_STEP at once).
    # Elementwise products summed over k (not a BLAS product): a row's bits never depend
    # on the rows beside it.
    moved = step if sizes is None else (step[:, :, None] * sizes[None]).sum(axis=1)
    longest = np.abs(moved).max(axis=1, keepdims=True)
    return np.asarray(step * np.minimum(1.0, MAX_STEP / np.maximum(longest, 1e-300)))


def _line_search(
    space: Space, phi: Array, f: Array, step: Array, slope: Array, data: Data, w: Array,
    delta: float, *, skip: npt.NDArray[np.bool_], first: float = 1.0,
) -> tuple[Array, npt.NDArray[np.bool_]]:
    """Backtracking Armijo search from step length ``first``, batched; returns the new
    points and who moved.

    Row s tries t = first, first/2, first/4, ... (at most ``_MAX_HALVINGS``) and takes the
    first t with f(phi + t step) <= f + 1e-4 t g.step and f(phi + t step) < f. A row still
    searching has its next lengths evaluated several at once (a block of 1, 2, 4, ...
    lengths, within ``LINE_SEARCH_CELLS`` numbers per evaluation): the same trial points and
    the same first acceptable one as one length at a time (every t is an exact power of two
    times ``first``), in a few evaluations instead of one per halving for the rows that
    need dozens of them."""
    new_phi = phi.copy()
    moved = np.zeros(len(f), dtype=bool)
    pending = np.flatnonzero(~skip)
    tried, block = 0, 1
    while pending.size and tried < _MAX_HALVINGS:
        k = _block_length(block, _MAX_HALVINGS - tried, pending.size * len(data))
        t = first * 0.5 ** np.arange(tried, tried + k, dtype=float)  # exact: powers of two
        trial = space.clip(phi[pending, None, :] + t[None, :, None] * step[pending, None, :])
        each = np.repeat(pending, k)  # row s's k lengths side by side
        f_trial, _, _ = space.evaluate(trial.reshape(-1, phi.shape[1]), data.rows(each),
                                       w[each], delta, order=0)
        f_trial = f_trial.reshape(pending.size, k)
        f_now = f[pending, None]
        ok = (f_trial <= f_now + _ARMIJO * t[None, :] * slope[pending, None]) & (f_trial < f_now)
        hit = ok.any(axis=1)  # a real decrease (not rounding noise) at one of these lengths
        rows = pending[hit]
        new_phi[rows] = trial[np.flatnonzero(hit), ok[hit].argmax(axis=1)]
        moved[rows] = True
        pending = pending[~hit]
        tried, block = tried + k, 2 * block
    return new_phi, moved


def _block_length(block: int, left: int, cells_per_length: int) -> int:
    """Step lengths a backtracking line search evaluates at once: ``block`` (doubling while
    rows keep failing), at most ``left``, and at most ``LINE_SEARCH_CELLS`` numbers."""
    return max(1, min(block, left, LINE_SEARCH_CELLS // max(cells_per_length, 1)))
