"""Variable projection: the objective profiled over the exponents, and a Newton method on it.

For fixed exponents (alpha, beta) the law is linear in its coefficients c = (E, A, B) >= 0,

    L_i(c) = c0 + c1 x_i + c2 y_i,   x_i = N_i^-alpha,  y_i = D_i^-beta,

and the profile P(alpha, beta) = min_{c >= 0} sum_i w_i huber(log L_i(c) - log L_obs_i) is
computed by iteratively reweighted least squares (IRLS): linearising log L around the
current fit turns Huber on log residuals into weighted least squares on the loss scale,

    min_{c >= 0} sum_i w_i u_i (c0 + c1 x_i + c2 y_i - t_i)^2 / Lhat_i^2,
    t_i = Lhat_i (1 - r_i),  u_i = min(1, delta / |r_i|),

with the non-negativity handled exactly by trying every support subset (7 of them).

Why: in (log E, log A, log B, alpha, beta) a weakly identified ladder has long, curved,
nearly flat valleys (E trading against A and alpha when model sizes span a narrow range),
where Newton's capped steps crawl for hundreds of iterations and a coefficient heading to
zero is infinitely far away in log space. In the profile the coefficients are solved
exactly (a zero coefficient included), so only the exponents are searched: Newton on
(alpha, beta) with the Schur-complement step of the full Hessian, a backtracking line
search on P, then a short full Newton polish that verifies the optimum (where the descent
stopped at the kink E reaches zero, the polish finds the face E = 0: :mod:`.newton`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.newton import BOUNDS, Polished, Space, polish
from scaling_cli.fit.objective import Data, huber, row_dots

__all__ = ["IRLS_ITERATIONS", "profile_coefficients", "profile_polish"]

Array = npt.NDArray[np.float64]
IRLS_ITERATIONS = 10  # enough to screen a grid; a polish needs PROFILE_IRLS_ITERATIONS
# The profile can vary by 1e-7 of itself across the valley it is meant to resolve: its
# inner solve must be that accurate (10 IRLS iterations leave ~3e-4, 30 leave ~1e-11).
PROFILE_IRLS_ITERATIONS = 30
WARM_IRLS_ITERATIONS = 20  # from a neighbouring exponent pair's coefficients
BACKTRACKS = 8  # step lengths 1 .. 1/128 on the profile
# (trial x run) numbers profiled at once when a row's step lengths are tried together: the
# profile of a few dozen rows is numpy round trips, not arithmetic (large data: one at a time)
BACKTRACK_CELLS = 8192
_SUBSETS = ((0, 1, 2), (0, 1), (0, 2), (1, 2), (0,), (1,), (2,))


def _solve(gram: Array, rhs: Array, s: list[int]) -> Array:
    """Solve G_ss c = b_s for every row, written out (Cramer's rule): for 1 to 3 unknowns
    this is several times faster than batched LAPACK calls on thousands of tiny systems."""
    if len(s) == 1:
        return rhs[:, s] / gram[:, s[0], s[0], None]
    if len(s) == 2:
        i, j = s
        a, b, d = gram[:, i, i], gram[:, i, j], gram[:, j, j]
        det = a * d - b * b
        return np.column_stack([(rhs[:, i] * d - rhs[:, j] * b) / det,
                                (rhs[:, j] * a - rhs[:, i] * b) / det])
    g = gram
    c00 = g[:, 1, 1] * g[:, 2, 2] - g[:, 1, 2] * g[:, 2, 1]
    c01 = g[:, 1, 2] * g[:, 2, 0] - g[:, 1, 0] * g[:, 2, 2]
    c02 = g[:, 1, 0] * g[:, 2, 1] - g[:, 1, 1] * g[:, 2, 0]
    c11 = g[:, 0, 0] * g[:, 2, 2] - g[:, 0, 2] * g[:, 2, 0]
    c12 = g[:, 0, 1] * g[:, 2, 0] - g[:, 0, 0] * g[:, 2, 1]
    c22 = g[:, 0, 0] * g[:, 1, 1] - g[:, 0, 1] * g[:, 1, 0]
    det = g[:, 0, 0] * c00 + g[:, 0, 1] * c01 + g[:, 0, 2] * c02
    b0, b1, b2 = rhs[:, 0], rhs[:, 1], rhs[:, 2]
    return np.column_stack([(c00 * b0 + c01 * b1 + c02 * b2) / det,
                            (c01 * b0 + c11 * b1 + c12 * b2) / det,
                            (c02 * b0 + c12 * b1 + c22 * b2) / det])


def _nnls3(gram: Array, rhs: Array, free: tuple[int, ...]) -> Array:
    """min_{c >= 0} c^T G c - 2 c^T b over the ``free`` coefficients, trying every support.

    On a support s the unconstrained minimiser solves G_ss c_s = b_s, where the quadratic
    equals -c_s . b_s; the best support with c_s >= 0 wins (G is a Gram matrix: PSD).
    """
    rows = gram.shape[0]
    best_q = np.full(rows, np.inf)
    best_c = np.zeros((rows, 3))
    ridged = gram + 1e-12 * np.trace(gram, axis1=1, axis2=2)[:, None, None] * np.eye(3)
    if free == (0, 1, 2):
        return _nnls3_all(ridged, rhs)
    full = list(free)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        c_full = _solve(ridged, rhs, full) if full else np.zeros((rows, 0))
        inside = (c_full >= 0).all(axis=1)
        best_c[np.ix_(np.flatnonzero(inside), np.array(full))] = c_full[inside]
        # Where the unconstrained minimiser is feasible it is the answer (G is PSD); only the
        # other rows try the smaller supports.
        left = np.flatnonzero(~inside)
        if left.size == 0:
            return best_c
        g_left, b_left = ridged[left], rhs[left]
        for support in _SUBSETS:
            if not set(support) <= set(free) or list(support) == full:
                continue
            s = list(support)
            c_s = _solve(g_left, b_left, s)
            q = -np.einsum("ci,ci->c", c_s, b_left[:, s])
            better = (c_s >= 0).all(axis=1) & (q < best_q[left])
            rows_b = left[better]
            best_q[rows_b] = q[better]
            best_c[rows_b] = 0.0
            best_c[np.ix_(rows_b, np.array(s))] = c_s[better]
    return best_c


def _nnls3_all(g: Array, b: Array) -> Array:
    """:func:`_nnls3` with all three coefficients free, every support at once in closed
    form (the hot path of the profile: a few dozen array operations, no per-support
    indexing)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        full = _solve(g, b, [0, 1, 2])
        inside = (full >= 0).all(axis=1)
        if inside.all():
            return full
        rows = b.shape[0]
        cand = np.zeros((rows, 7, 3))
        cand[:, 0] = full
        for k, (i, j) in enumerate(((0, 1), (0, 2), (1, 2))):
            det = g[:, i, i] * g[:, j, j] - g[:, i, j] * g[:, j, i]
            cand[:, 1 + k, i] = (b[:, i] * g[:, j, j] - b[:, j] * g[:, i, j]) / det
            cand[:, 1 + k, j] = (b[:, j] * g[:, i, i] - b[:, i] * g[:, j, i]) / det
        for k in range(3):
            cand[:, 4 + k, k] = b[:, k] / g[:, k, k]
        q = -np.einsum("rki,ri->rk", cand, b)  # c^T G c - 2 c^T b at each support's optimum
        feasible = (cand >= 0).all(axis=2) & np.isfinite(q)
        q = np.where(feasible, q, np.inf)
        pick = np.argmin(q, axis=1)
        best = cand[np.arange(rows), pick]
        best[~np.isfinite(q.min(axis=1))] = 0.0  # no feasible support: c = 0 (q = 0)
        return np.where(np.asarray(inside)[:, None], full, best)


def profile_coefficients(
    alpha: Array, beta: Array, data: Data, weights: npt.ArrayLike, *, delta: float,
    constraints: Constraints, iterations: int = IRLS_ITERATIONS, start: Array | None = None,
) -> tuple[Array, Array, Array]:
    """For each row's exponents: the coefficients (S, 3) >= 0 (E, A, B in units scaled to
    the smallest N and D), the profile value P (S,), and the fitted losses (S, n).

    ``weights`` is (n,) shared or (S, n), one row per exponent pair (bootstrap replicates).
    ``start``: coefficients (natural units, (S, 3)) to start the IRLS from, e.g. those of a
    nearby exponent pair; by default it starts from the observed losses.
    """
    loss = np.exp(data.log_l)
    w = np.asarray(weights, dtype=float)
    # Features scaled to max 1 per row so the 3x3 systems stay well conditioned.
    x = np.exp(-alpha[:, None] * (data.log_n - data.min_log_n))
    y = np.exp(-beta[:, None] * (data.log_d - data.min_log_d))
    fixed = constraints.fixed_theta()
    # Fixed coefficients in the scaled features (A N^-alpha = A N_min^-alpha * x).
    known = np.zeros((alpha.size, 3))
    if 0 in fixed:
        known[:, 0] = np.exp(fixed[0])
    if 1 in fixed:
        known[:, 1] = np.exp(fixed[1] - alpha * data.min_log_n)
    if 2 in fixed:
        known[:, 2] = np.exp(fixed[2] - beta * data.min_log_d)
    free = tuple(i for i in range(3) if i not in fixed)
    offset = known[:, :1] + known[:, 1:2] * x + known[:, 2:3] * y
    fitted = np.broadcast_to(loss, x.shape).copy()
    r = np.zeros_like(x)
    coef = known.copy()
    if start is not None and free:
        scaled = np.column_stack([start[:, 0], start[:, 1] * np.exp(-alpha * data.min_log_n),
                                  start[:, 2] * np.exp(-beta * data.min_log_d)])
        coef = np.where(known > 0, known, scaled)
        fitted = np.maximum(coef[:, :1] + coef[:, 1:2] * x + coef[:, 2:3] * y, 1e-150)
        r = np.log(fitted) - data.log_l
    # Rows whose coefficients stopped moving are frozen (and cost nothing more): a row's
    # coefficients do not depend on how long the other rows of its batch take to settle.
    live = np.arange(alpha.size)
    for _ in range(iterations if free else 0):
        # every row live: slices are views (no copies); else the live rows alone
        sel: slice | npt.NDArray[np.intp] = slice(None) if live.size == alpha.size else live
        rr, fl, xl, yl = r[sel], fitted[sel], x[sel], y[sel]
        u = np.minimum(1.0, delta / np.maximum(np.abs(rr), 1e-300))
        ww = (w if w.ndim == 1 else w[sel]) * u / fl**2
        t = fl * (1.0 - rr) - offset[sel]
        wx, wy = ww * xl, ww * yl
        dot = row_dots
        gram = np.empty((live.size, 3, 3))  # sum_i w_i f_i f_i^T, f_i = (1, x_i, y_i)
        gram[:, 0, 0] = ww.sum(axis=1)
        gram[:, 0, 1] = gram[:, 1, 0] = wx.sum(axis=1)
        gram[:, 0, 2] = gram[:, 2, 0] = wy.sum(axis=1)
        gram[:, 1, 1] = dot(wx, xl)
        gram[:, 1, 2] = gram[:, 2, 1] = dot(wx, yl)
        gram[:, 2, 2] = dot(wy, yl)
        rhs = np.column_stack([dot(ww, t), dot(wx, t), dot(wy, t)])
        new = _nnls3(gram, rhs, free) + known[sel]
        settled = (np.abs(new - coef[sel])
                   <= 1e-12 * np.abs(new).max(axis=1, keepdims=True)).all(axis=1)
        coef[sel] = new
        fitted[sel] = np.maximum(new[:, :1] + new[:, 1:2] * xl + new[:, 2:3] * yl, 1e-150)
        r[sel] = np.log(fitted[sel]) - (data.log_l if data.log_l.ndim == 1 else
                                        data.log_l[sel])
        live = live[~settled]
        if live.size == 0:
            break
    if not free:
        fitted = np.maximum(offset, 1e-300)
        r = np.log(fitted) - data.log_l
    return coef, (w * huber(r, delta)).sum(1), fitted


def coefficients_to_theta(coef: Array, alpha: Array, beta: Array, data: Data,
                          floor: float) -> Array:
    """(S, 5) theta from scaled coefficients; a coefficient below ``floor`` becomes ``floor``
    (in natural units), e.g. -25 on the log scale: the bound of a vanished term."""
    log_c = np.log(np.maximum(coef, floor))
    return np.column_stack([
        log_c[:, 0],
        log_c[:, 1] + alpha * data.min_log_n,
        log_c[:, 2] + beta * data.min_log_d,
        alpha,
        beta,
    ])


def profile_polish(
    theta0: npt.ArrayLike, data: Data, weights: npt.ArrayLike, *, delta: float,
    constraints: Constraints | None = None, converged_rtol: float, max_iter: int = 12,
    polish_iter: int = 40,
) -> Polished:
    """Minimise from each row of ``theta0`` (S, 5) by Newton on the exponents' profile, then
    verify with a short full Newton polish. ``weights``: (n,) or (S, n)."""
    constraints = constraints or Constraints()
    space = Space(constraints)
    t0 = constraints.project(np.array(theta0, dtype=float, ndmin=2))
    starts = t0.shape[0]
    w = np.broadcast_to(np.asarray(weights, dtype=float), (starts, len(data)))
    exps = [space.column_of[i] for i in (3, 4) if i in space.column_of]
    alpha, beta = t0[:, 3].copy(), t0[:, 4].copy()
    if exps:
        alpha, beta, _ = _descend(space, exps, alpha, beta, data, w, delta, constraints,
                                      max_iter)
    coef, _, _ = profile_coefficients(alpha, beta, data, w, delta=delta,
                                      constraints=constraints,
                                      iterations=PROFILE_IRLS_ITERATIONS)
    theta = coefficients_to_theta(coef, alpha, beta, data, float(np.exp(BOUNDS[0, 0])))
    theta = constraints.project(np.clip(theta, BOUNDS[0], BOUNDS[1]))
    return polish(theta, data, w, delta=delta, constraints=constraints,
                  converged_rtol=converged_rtol, max_iter=polish_iter)


def _profile(alpha: Array, beta: Array, data: Data, w: Array, delta: float,
             constraints: Constraints, start: Array | None = None) -> tuple[Array, Array]:
    coef, value, _ = profile_coefficients(
        alpha, beta, data, w, delta=delta, constraints=constraints, start=start,
        iterations=PROFILE_IRLS_ITERATIONS if start is None else WARM_IRLS_ITERATIONS)
    theta = coefficients_to_theta(coef, alpha, beta, data, float(np.exp(BOUNDS[0, 0])))
    return constraints.project(np.clip(theta, BOUNDS[0], BOUNDS[1])), value


def _exponent_step(g: Array, h: Array, exps: list[int]) -> tuple[Array, Array]:
    """Newton step on the profile: the Schur complement of the coefficients' block,

        S = H_xx - H_xc H_cc^-1 H_cx,   step = -S^-1 (g_x - H_xc H_cc^-1 g_c),

    with S's eigenvalues made positive (saddle-free) and the step capped at 0.5 in each
    exponent. (Taking the exponents' part of the full step would cap it by the
    coefficients' part, which is huge where a coefficient heads to zero.) Also returns the
    reduced gradient g_x - H_xc H_cc^-1 g_c: the profile's slope, even where the inner
    solve leaves a small coefficient gradient that the chain dc/dx magnifies."""
    coefs = [j for j in range(g.shape[1]) if j not in exps]
    h_cc = h[:, coefs][:, :, coefs]
    h_xc = h[:, exps][:, :, coefs]
    rhs_c = np.concatenate([h_xc.transpose(0, 2, 1), g[:, coefs, None]], axis=2)
    solve_cx = _solve_or_pinv(h_cc, rhs_c)
    # products of 2 x 3 blocks written out as sums: batched matmul picks its kernel by the
    # batch's shape, and a row's last bits must not depend on the rows beside it
    schur = h[:, exps][:, :, exps] - (h_xc[:, :, :, None] * solve_cx[:, None, :, :-1]).sum(2)
    rhs = g[:, exps] - (h_xc * solve_cx[:, None, :, -1]).sum(2)
    lam, vec = np.linalg.eigh(schur)
    scale = np.abs(lam).max(axis=1, keepdims=True)
    lam = np.maximum(np.abs(lam), 1e-12 * scale + 1e-300)
    step = -np.einsum("sij,sj->si", vec, np.einsum("sji,sj->si", vec, rhs) / lam)
    longest = np.abs(step).max(axis=1, keepdims=True)
    return np.asarray(step * np.minimum(1.0, 0.5 / np.maximum(longest, 1e-300))), rhs


def _solve_or_pinv(h: Array, rhs: Array) -> Array:
    """H^-1 rhs for every row, the pseudo-inverse for a row whose H is singular (a
    coefficient block with no curvature: vanished terms). Row by row where any is singular:
    one singular row must not change how the others are solved (a replicate's result never
    depends on the rows batched with it)."""
    try:
        return np.asarray(np.linalg.solve(h, rhs))
    except np.linalg.LinAlgError:
        out = np.empty_like(rhs)
        for i in range(h.shape[0]):
            try:
                out[i] = np.linalg.solve(h[i], rhs[i])
            except np.linalg.LinAlgError:
                out[i] = np.linalg.pinv(h[i]) @ rhs[i]
        return out


def _descend(space: Space, exps: list[int], alpha: Array, beta: Array, data: Data, w: Array,
             delta: float, constraints: Constraints,
             max_iter: int) -> tuple[Array, Array, Array]:
    """Newton with backtracking on P(alpha, beta), all rows at once."""
    theta, value = _profile(alpha, beta, data, w, delta, constraints)
    active = np.ones(alpha.size, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        phi = space.to_phi(theta[idx])
        _, g, h = space.evaluate(phi, data.rows(idx), w[idx], delta)
        g, h = space.project(phi, g, h)
        move = np.zeros_like(g)
        move[:, exps], reduced = _exponent_step(g, h, exps)
        slope = np.einsum("sk,sk->s", reduced, move[:, exps])
        size = np.abs(move).max(axis=1)
        go = np.flatnonzero(~((size < 1e-9) | (slope >= 0)))
        rows, ta, tb, tt, tv = _backtrack(space, phi[go], move[go], slope[go], theta[idx[go]],
                                          value[idx[go]], data.rows(idx[go]), w[idx[go]],
                                          delta,
                                          constraints)
        moved = idx[go[rows]]
        alpha[moved], beta[moved], theta[moved], value[moved] = ta, tb, tt, tv
        active[idx] = False
        active[moved] = True
    return alpha, beta, value


def _backtrack(space: Space, phi: Array, move: Array, slope: Array, theta: Array,
               value: Array, data: Data, w: Array, delta: float,
               constraints: Constraints) -> tuple[npt.NDArray[np.intp], Array, Array, Array,
                                                  Array]:
    """Backtracking on the profile itself: row s takes the first t = 1, 1/2, ..., 1/128 with

        P(x_s + t move_s) < P(x_s) + 1e-4 t slope_s,

    its profile warm-started from the coefficients at x_s. A row's lengths are tried
    together, as many as fit in ``BACKTRACK_CELLS`` numbers per profile (all eight for a
    few dozen rows of a small ladder, one at a time for large data), the rows still
    searching then trying the next ones: the same trial points and the same first
    acceptable length as one length after another (t is an exact power of two, and a
    row's profile never depends on the rows beside it), in one profile of 20 IRLS passes
    instead of up to eight. Returns the rows that moved and their exponents, theta and
    profile value."""
    tied = constraints.tie_exponents
    pending = np.arange(phi.shape[0])
    out: list[tuple[npt.NDArray[np.intp], Array, Array, Array, Array]] = [
        (pending[:0], np.empty(0), np.empty(0), np.empty((0, 5)), np.empty(0))]
    tried = 0
    while pending.size and tried < BACKTRACKS:
        k = max(1, min(BACKTRACKS - tried, BACKTRACK_CELLS // (pending.size * len(data))))
        t = 0.5 ** np.arange(tried, tried + k, dtype=float)
        trial = space.to_theta(space.clip(phi[pending, None, :]
                                          + t[None, :, None] * move[pending, None, :])
                               .reshape(pending.size * k, -1))
        ta, tb = trial[:, 3], trial[:, 4] if not tied else trial[:, 3]
        warm = np.repeat(np.exp(theta[pending, :3]), k, axis=0)
        each = np.repeat(pending, k)  # row s's k lengths side by side
        tt, tv = _profile(ta, tb, data.rows(each), w[each], delta, constraints, warm)
        ok = (tv.reshape(-1, k)
              < value[pending, None] + 1e-4 * t[None, :] * slope[pending, None])
        hit = np.flatnonzero(ok.any(axis=1))
        pick = hit * k + ok[hit].argmax(axis=1)  # each row's first acceptable length
        out.append((pending[hit], ta[pick], tb[pick], tt[pick], tv[pick]))
        pending = pending[~ok.any(axis=1)]
        tried += k
    rows, ta_, tb_, tt_, tv_ = (np.concatenate(parts) for parts in zip(*out, strict=True))
    return rows, ta_, tb_, tt_, tv_
