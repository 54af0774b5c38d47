"""Fitting a loss-curve law to one or several curves: grid screen, polish, verification.

The objective is the source's (Luo et al. 2025; also Tissue et al. 2024): a SUM over every
logged point of every curve of Huber_delta(log L_pred - log L_obs), delta = 1e-3, with the
parameters shared by all curves (one model, several schedules). Log residuals make curves of
different loss levels comparable; Huber keeps a spike in a logged curve from steering the law.

1. *Screen.* Both laws are linear in (L0, A, B) >= 0 given the nonlinear parameters phi
   (alpha; and C, beta, gamma for the Multi-Power Law). On a grid of phi the inner problem is
   solved by iteratively reweighted least squares: linearising log L around the current fit,
   Huber on log residuals becomes weighted least squares on the loss scale,
       min_{c >= 0} sum_i u_i ((X_i c - t_i) / Lhat_i)^2,  t_i = Lhat_i (1 - r_i),
       u_i = min(1, delta / |r_i|),
   with c >= 0 handled exactly by trying every support of the 3 coefficients.
2. *Polish.* The best cells and the grid's local minima start ``scipy.optimize.least_squares``
   (trust region, Huber loss with f_scale = delta, which is exactly this objective) with the
   analytic Jacobian and tolerances of 1e-12 - relative to the objective, never to 1.
3. *Verify.* The optimum is a converged local minimum (Newton decrement g^T H^-1 g under 1e-6
   of the objective, Hessian of the objective positive definite) that at least two starts
   reached; failed starts are counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaling_cli.errors import FitError, UsageError
from scaling_cli.fit.curve_law import (
    LAWS,
    TISSUE_DECAY,
    CurveFeatures,
    LawName,
    MultiPowerParams,
    ScheduledCurve,
    TissueParams,
    multi_power_reduction,
    predict_terms,
    theta_params,
)

__all__ = [
    "CurveData",
    "CurveFit",
    "CurveSearchSettings",
    "fit_curves",
    "huber",
    "polish_curves",
]

Array = npt.NDArray[np.float64]
HUBER_DELTA = 1e-3
_SUPPORTS = ((0, 1, 2), (0, 1), (0, 2), (1, 2), (0,), (1,), (2,))
# Parameter box (theta order: L0, A, alpha, B [, log C, beta, gamma]).
_LOWER = np.array([0.0, 0.0, 1e-3, 0.0, -25.0, 1e-3, -1.0])
_UPPER = np.array([np.inf, np.inf, 5.0, np.inf, 25.0, 5.0, 3.0])


@dataclass(frozen=True)
class CurveSearchSettings:
    """Knobs of the search. Defaults reach the published-quality fits on Luo et al.'s curves."""

    alphas: tuple[float, ...] = tuple(np.geomspace(0.05, 2.0, 14).tolist())
    log_cs: tuple[float, ...] = tuple(np.log(np.geomspace(0.05, 50.0, 7)).tolist())
    betas: tuple[float, ...] = (0.15, 0.3, 0.5, 0.75, 1.1, 1.6)
    gammas: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    irls_iterations: int = 8
    n_starts: int = 8
    screen_max_points: int = 400  # the screen uses an even subsample of larger data
    max_nfev: int = 400
    delta: float = HUBER_DELTA
    agree_rtol: float = 1e-6  # objective agreement between starts (relative)
    agree_theta: float = 2e-3  # parameter agreement (relative to max(|theta|, 1))
    decrement_rtol: float = 1e-6  # converged: Newton decrement <= this x objective


def huber(r: Array, delta: float = HUBER_DELTA) -> Array:
    """r^2/2 inside |r| <= delta, delta (|r| - delta/2) outside."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class CurveData:
    """Curves of one model with their features, concatenated for the fitter."""

    curves: tuple[ScheduledCurve, ...]
    features: tuple[CurveFeatures, ...]
    log_loss: Array
    bounds: npt.NDArray[np.intp]  # curve i is rows bounds[i]:bounds[i+1]
    decay: float

    @classmethod
    def build(cls, curves: Sequence[ScheduledCurve], decay: float = TISSUE_DECAY,
              warmup: bool = True) -> CurveData:
        if not curves:
            raise UsageError("give at least one loss curve to fit", field="curves")
        names = [c.name for c in curves]
        if len(set(names)) != len(names):
            raise UsageError(f"curve names must be distinct, got {names}", field="curves")
        feats = tuple(CurveFeatures.build(c.schedule, c.step, decay, warmup) for c in curves)
        sizes = np.array([len(c) for c in curves])
        return cls(tuple(curves), feats, np.log(np.concatenate([c.loss for c in curves])),
                   np.r_[0, np.cumsum(sizes)].astype(np.intp), decay)

    def __len__(self) -> int:
        return int(self.log_loss.size)

    def predict(self, law: LawName, theta: Array,
                *, jacobian: bool = False) -> tuple[Array, Array | None]:
        parts = [predict_terms(law, theta, f, jacobian=jacobian) for f in self.features]
        loss = np.concatenate([p[0] for p in parts])
        if not jacobian:
            return loss, None
        return loss, np.vstack([p[1] for p in parts if p[1] is not None])


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class CurveFit:
    """A fitted curve law with the facts that show whether to trust it."""

    law: LawName
    params: MultiPowerParams | TissueParams
    theta: Array
    objective: float  # sum over points of Huber(log residual)
    gradient_max: float  # max_j |d objective / d theta_j| max(|theta_j|, 1), free parameters
    hessian_eigenvalues: Array  # of the objective in theta (free parameters), ascending
    starts: int
    starts_failed: int  # polishes that did not converge
    starts_agreeing: int  # converged starts that reached this optimum
    verified: bool
    curves: tuple[str, ...]
    n_points: int
    residuals: Array  # log L_pred - log L_obs, curves concatenated in order
    basins: Array  # distinct converged end points, best first (starts for refits)
    at_bounds: tuple[str, ...]
    warnings: tuple[str, ...]
    delta: float = HUBER_DELTA

    @property
    def condition_number(self) -> float:
        ev = self.hessian_eigenvalues
        return float(ev[-1] / ev[0]) if ev.size and ev[0] > 0 else float("inf")


def _names(law: LawName) -> tuple[str, ...]:
    return ("L0", "A", "alpha", "B", "log C", "beta", "gamma")[: _size(law)]


def _size(law: LawName) -> int:
    return 7 if law == "multi-power" else 4


# --------------------------------------------------------------------------- screen


def _nnls3(gram: Array, rhs: Array) -> Array:
    """min_{c >= 0} c^T G c - 2 c^T b per cell, trying every support of 3 coefficients."""
    cells = gram.shape[0]
    best_q = np.full(cells, np.inf)
    best_c = np.zeros((cells, 3))
    ridge = 1e-12 * np.trace(gram, axis1=1, axis2=2)[:, None, None]
    for support in _SUPPORTS:
        s = list(support)
        g = gram[:, s][:, :, s] + ridge * np.eye(len(s))
        c_s = np.linalg.solve(g, rhs[:, s, None])[..., 0]
        coef = np.zeros((cells, 3))
        coef[:, s] = c_s
        q = np.einsum("ci,cij,cj->c", coef, gram, coef) - 2 * np.einsum("ci,ci->c", coef, rhs)
        better = (c_s >= 0).all(axis=1) & (q < best_q)
        best_q[better], best_c[better] = q[better], coef[better]
    return best_c


def _inner(x: Array, log_y: Array, settings: CurveSearchSettings) -> tuple[Array, Array]:
    """Coefficients (cells, 3) >= 0 and Huber objective (cells,) for bases x (cells, n, 3)."""
    y = np.exp(log_y)
    fitted = np.broadcast_to(y, x.shape[:2])
    r = np.zeros(x.shape[:2])
    coef = np.zeros((x.shape[0], 3))
    for _ in range(settings.irls_iterations):
        u = np.minimum(1.0, settings.delta / np.maximum(np.abs(r), 1e-300))
        w = u / fitted**2
        t = fitted * (1.0 - r)
        wx_t = (x * w[:, :, None]).transpose(0, 2, 1)
        gram = wx_t @ x
        rhs = (wx_t @ t[:, :, None])[..., 0]
        coef = _nnls3(gram, rhs)
        fitted = np.maximum((x @ coef[:, :, None])[..., 0], 1e-300)
        r = np.log(fitted) - log_y
    return coef, huber(r, settings.delta).sum(1)


def _screen(law: LawName, data: CurveData, rows: npt.NDArray[np.intp],
            settings: CurveSearchSettings) -> tuple[Array, Array, tuple[int, ...]]:
    """Theta per grid cell (cells, p), profiled objective (cells,), and the grid's shape."""
    log_s1 = np.concatenate([f.log_s1 for f in data.features])[rows]
    alphas = np.array(settings.alphas)
    power = np.exp(-alphas[:, None] * log_s1)  # (n_alpha, n)
    if law == "tissue":
        reductions = np.concatenate([f.s2 for f in data.features])[rows][None]
        nonlinear = np.zeros((1, 0))
    else:
        grid = np.array(np.meshgrid(settings.log_cs, settings.betas, settings.gammas,
                                    indexing="ij")).reshape(3, -1).T
        reductions = np.array([np.concatenate([
            multi_power_reduction(f, float(np.exp(g[0])), float(g[1]), float(g[2]))[0]
            for f in data.features])[rows] for g in grid])
        nonlinear = grid
    n_a, n_r = alphas.size, reductions.shape[0]
    x = np.empty((n_a * n_r, rows.size, 3))
    x[..., 0] = 1.0
    x[..., 1] = np.repeat(power, n_r, axis=0)
    x[..., 2] = -np.tile(reductions, (n_a, 1))
    coef, profile = _inner(x, data.log_loss[rows], settings)
    theta = np.column_stack([coef[:, 0], coef[:, 1], np.repeat(alphas, n_r), coef[:, 2],
                             np.tile(nonlinear, (n_a, 1))])
    shape = (n_a,) if law == "tissue" else (n_a, len(settings.log_cs), len(settings.betas),
                                            len(settings.gammas))
    return theta, profile, shape


def _local_minima(profile: Array, shape: tuple[int, ...]) -> npt.NDArray[np.intp]:
    """Cells no higher than their neighbours along every grid axis, best first."""
    grid = profile.reshape(shape)
    is_min = np.isfinite(grid)
    for axis in range(grid.ndim):
        pad = [(0, 0)] * grid.ndim
        pad[axis] = (1, 1)
        padded = np.pad(grid, pad, constant_values=np.inf)
        lo = np.take(padded, np.arange(0, shape[axis]), axis=axis)
        hi = np.take(padded, np.arange(2, shape[axis] + 2), axis=axis)
        is_min &= (grid <= lo) & (grid <= hi)
    cells = np.flatnonzero(is_min.ravel())
    return cells[np.argsort(profile[cells], kind="stable")]


# --------------------------------------------------------------------------- polish


@dataclass(frozen=True)
class _Polished:
    theta: Array  # (S, p)
    objective: Array
    converged: npt.NDArray[np.bool_]
    gradient: Array  # scaled, free parameters


@dataclass(frozen=True)
class _Local:
    """The objective at a point and its first-order facts."""

    objective: float
    gradient: Array
    decrement: float  # g^T H^-1 g (Gauss-Newton H, free parameters): the decrease still left
    residuals: Array


def _local(law: LawName, theta: Array, data: CurveData, delta: float,
           weights: Array | None = None) -> _Local:
    pred, jac = data.predict(law, theta, jacobian=True)
    assert jac is not None
    w = np.ones(len(data)) if weights is None else weights
    if (pred <= 0).any() or not np.isfinite(pred).all():
        nan = np.full(theta.size, np.nan)
        return _Local(np.inf, nan, np.inf, np.full(len(data), np.nan))
    r = np.log(pred) - data.log_loss
    j = jac / pred[:, None]
    grad = j.T @ (w * np.clip(r, -delta, delta))
    free = _free(law, theta, grad)
    # Huber's curvature is 1 inside |r| <= delta and 0 outside.
    jf = j[:, free] * np.sqrt(w * (np.abs(r) <= delta))[:, None]
    step = np.linalg.lstsq(jf.T @ jf, grad[free], rcond=1e-12)[0] if free.any() else grad[:0]
    return _Local(float((w * huber(r, delta)).sum()), grad, float(grad[free] @ step), r)


def _free(law: LawName, theta: Array, grad: Array) -> npt.NDArray[np.bool_]:
    """Parameters not held at a bound by the gradient (KKT)."""
    p = _size(law)
    lo, hi = _LOWER[:p], _UPPER[:p]
    return ~(((theta <= lo + 1e-12) & (grad > 0)) | ((theta >= hi - 1e-12) & (grad < 0)))


def polish_curves(law: LawName, starts: Array, data: CurveData,
                  settings: CurveSearchSettings, *, rows: npt.NDArray[np.intp] | None = None,
                  log_loss: Array | None = None, loose: bool = False) -> _Polished:
    """Local minimisation from each start (rows of ``starts``). For refits, ``rows`` is the
    multiset of points to fit (bootstrap draws: a point drawn twice counts twice) and
    ``log_loss`` replaces the observed values."""
    from scipy.optimize import least_squares

    p = _size(law)
    target = data.log_loss if log_loss is None else log_loss
    use = np.arange(len(data)) if rows is None else np.asarray(rows, dtype=np.intp)
    counts = np.bincount(use, minlength=len(data)).astype(float)
    lo, hi = _LOWER[:p], _UPPER[:p]
    refit = data if log_loss is None else _with_targets(data, target)

    def residual(theta: Array) -> Array:
        pred = data.predict(law, theta)[0][use]
        if (pred <= 0).any() or not np.isfinite(pred).all():
            return np.full(use.size, 1.0)  # a step the trust region will reject
        return np.log(pred) - target[use]

    def jacobian(theta: Array) -> Array:
        pred, jac = data.predict(law, theta, jacobian=True)
        assert jac is not None
        return jac[use] / np.maximum(pred[use], 1e-300)[:, None]

    floor = _objective_floor(use.size)
    thetas, objs, conv, grads = [], [], [], []
    for start in np.atleast_2d(starts):
        x0 = np.clip(start, lo, hi)
        x0 = np.where(x0 <= lo, lo + 1e-9 * np.maximum(np.abs(lo), 1), x0)
        res = least_squares(residual, x0, jac=jacobian, bounds=(lo, hi), method="trf",
                            loss="huber", f_scale=settings.delta, x_scale="jac",
                            ftol=1e-12, xtol=1e-12, gtol=1e-12, max_nfev=settings.max_nfev)
        local = _local(law, res.x, refit, settings.delta, counts)
        f, g = local.objective, local.gradient
        scaled = np.abs(g) * np.maximum(np.abs(res.x), 1.0)
        scaled = np.where(_free(law, res.x, g), scaled, 0.0)
        ok = bool(res.status > 0 and np.isfinite(f))
        if not loose:
            ok = ok and local.decrement <= settings.decrement_rtol * max(f, floor)
        thetas.append(res.x)
        objs.append(f)
        conv.append(ok)
        grads.append(scaled)
    return _Polished(np.array(thetas), np.array(objs), np.array(conv), np.array(grads))


def _objective_floor(n_points: int) -> float:
    """The objective if every log residual were 1e-7: a fit this close is exact to the data's
    precision, and tolerances relative to a smaller objective would only chase round-off."""
    return 0.5 * n_points * 1e-14


def _with_targets(data: CurveData, log_loss: Array) -> CurveData:
    return CurveData(data.curves, data.features, log_loss, data.bounds, data.decay)


def _hessian(law: LawName, theta: Array, data: CurveData, delta: float) -> Array:
    """Central differences of the analytic gradient, symmetrised."""
    p = theta.size
    h = 1e-5 * np.maximum(np.abs(theta), 1e-2)
    hess = np.empty((p, p))
    for j in range(p):
        up, down = theta.copy(), theta.copy()
        up[j] += h[j]
        down[j] -= h[j]
        hess[:, j] = (_local(law, up, data, delta).gradient
                      - _local(law, down, data, delta).gradient) / (2 * h[j])
    return (hess + hess.T) / 2


# --------------------------------------------------------------------------- fit


def fit_curves(curves: Sequence[ScheduledCurve] | CurveData, *, law: LawName,
               settings: CurveSearchSettings | None = None,
               decay: float = TISSUE_DECAY) -> CurveFit:
    """Global Huber fit of ``law`` with parameters shared by all ``curves``."""
    if law not in LAWS:
        raise UsageError(f"unknown curve law {law!r}; use one of {', '.join(LAWS)}",
                         field="law")
    settings = settings or CurveSearchSettings()
    data = curves if isinstance(curves, CurveData) else CurveData.build(curves, decay)
    n_params = _size(law)
    if len(data) <= n_params:
        raise FitError(f"{len(data)} logged points cannot fit the {law} law's {n_params} "
                       "parameters; log the loss more often or give more curves",
                       field="curves")
    rows = np.unique(np.linspace(0, len(data) - 1, min(len(data), settings.screen_max_points))
                     .round().astype(np.intp))
    candidates, profile, shape = _screen(law, data, rows, settings)
    order = np.argsort(profile, kind="stable")
    minima = _local_minima(profile, shape)
    picks = list(dict.fromkeys([*minima[: settings.n_starts // 2].tolist(), *order.tolist()]))
    starts = candidates[picks[: settings.n_starts]]
    polished = polish_curves(law, starts, data, settings)
    return _verify(law, polished, data, settings)


def _verify(law: LawName, polished: _Polished, data: CurveData,
            settings: CurveSearchSettings) -> CurveFit:
    f = np.where(polished.converged, polished.objective, np.inf)
    if not np.isfinite(f).any():
        f = polished.objective
    if not np.isfinite(f).any():
        raise FitError(f"the {law} law could not be fitted to curves "
                       f"{', '.join(c.name for c in data.curves)}: every start failed; check "
                       "that the losses fall as training proceeds", field="curves")
    best = int(np.argmin(f))
    theta = polished.theta[best]
    fbest = float(polished.objective[best])
    scale = np.maximum(np.abs(polished.theta), 1.0)
    close_f = (polished.objective
               <= fbest + settings.agree_rtol * max(fbest, _objective_floor(len(data))))
    close_t = (np.abs(polished.theta - theta) <= settings.agree_theta * scale).all(axis=1)
    agreeing = int((polished.converged & close_f & close_t).sum())
    local = _local(law, theta, data, settings.delta)
    grad, r = local.gradient, local.residuals
    free = _free(law, theta, grad)
    hess = _hessian(law, theta, data, settings.delta)[np.ix_(free, free)]
    eig = np.asarray(np.linalg.eigvalsh(hess) if free.any() else np.zeros(0), dtype=float)
    names = _names(law)
    p = _size(law)
    at_bounds = tuple(n for n, t, lo, hi in zip(names, theta, _LOWER[:p], _UPPER[:p],
                                                strict=True)
                      if t <= lo + 1e-9 or t >= hi - 1e-9)
    positive = bool(eig.size and eig[0] > 1e-12 * abs(eig[-1]))
    warnings = _warnings(law, polished, agreeing, positive, at_bounds, eig)
    return CurveFit(
        law=law, params=theta_params(law, theta, data.decay), theta=theta, objective=fbest,
        gradient_max=float(polished.gradient[best].max()),
        hessian_eigenvalues=eig, starts=int(polished.converged.size),
        starts_failed=int((~polished.converged).sum()), starts_agreeing=agreeing,
        verified=bool(polished.converged[best]) and agreeing >= 2 and positive,
        curves=tuple(c.name for c in data.curves), n_points=len(data), residuals=r,
        basins=_distinct(polished, settings), at_bounds=at_bounds, warnings=warnings,
        delta=settings.delta,
    )


def _warnings(law: LawName, polished: _Polished, agreeing: int, positive: bool,
              at_bounds: tuple[str, ...], eig: Array) -> tuple[str, ...]:
    out = []
    if polished.converged.sum() < polished.converged.size:
        out.append(f"{int((~polished.converged).sum())} of {polished.converged.size} starts "
                   "did not converge")
    if agreeing < 2:
        out.append(f"only {agreeing} converged start reached the best optimum: it is not "
                   "confirmed; more starts or more curves may find another")
    if not positive:
        out.append("the objective is flat in some direction at the optimum (Hessian not "
                   "positive definite): these curves do not pin every parameter of the "
                   f"{law} law; add a curve with another schedule")
    elif eig.size and eig[-1] / eig[0] > 1e12:
        out.append(f"the fit is ill-conditioned (condition number {eig[-1] / eig[0]:.1e}): "
                   "some parameter combinations are barely determined by these curves")
    if at_bounds:
        out.append(f"parameters at the search bounds: {', '.join(at_bounds)}")
    return tuple(out)


def _distinct(polished: _Polished, settings: CurveSearchSettings) -> Array:
    order = np.argsort(np.where(polished.converged, polished.objective, np.inf), kind="stable")
    kept: list[Array] = []
    for i in order:
        if not polished.converged[i]:
            continue
        t = polished.theta[i]
        scale = np.maximum(np.abs(t), 1.0)
        if all((np.abs(t - k) > settings.agree_theta * scale).any() for k in kept):
            kept.append(t)
    return np.array(kept).reshape(-1, polished.theta.shape[1])
