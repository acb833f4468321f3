"""Honest uncertainty: what a point's headline is worth, and what a series' scatter says.

Three sources of noise are kept apart, all as relative (log-scale) standard deviations:

* **between rounds** (``sigma``): a point measured in R interleaved rounds gives R round
  medians; their spread is the point's measurement noise. With R = 3 one point's own spread has
  two degrees of freedom, so it is *moderated* towards the run's pooled between-round variance
  (limma's empirical-Bayes idea): ``s~^2 = (d0 * s_run^2 + (R - 1) * s_p^2) / (d0 + R - 1)``
  with ``d0 = Thresholds.prior_dof``. The headline is the median of the round medians; its
  standard error is ``c_R * s~ / sqrt(R)`` (``c_R``: the median's efficiency loss, 1.16 for
  R = 3, 1.2533 for many rounds). It is never narrower than the interval stored with the point (the within-burst CI
  in v1 runs, the between-round interval in v2 runs). A run with one round has no between-round
  information: ``Thresholds.assumed_round_noise_rel`` stands in for ``s~``.
* **point to point** (``tau``): a configuration can be a few percent off its neighbours for
  reasons no rerun of it removes (memory layout, alignment, the moment it was measured). No
  per-point interval shows it; only a series does: ``tau`` is the extra variance the residuals
  of a model fitted along the series need beyond the per-point ``sigma`` (the
  DerSimonian-Laird moment estimator, see :func:`wls_fit`).
* **the run's noise floor** (``floor``): ``noise_floor_rel`` of the run (from its sentinel).
  No detector claims an effect smaller than it.

Decisions use a family-wise level (Bonferroni over the candidates a detector looked at):
``confirmed`` at ``Thresholds.alpha``, ``unresolved`` (a third state: cannot be decided at
this noise level) when the evidence reaches only ``Thresholds.alpha_unresolved`` or the
effect is big enough but below the noise floor or the rounds disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

#: Verdicts of an anomaly (``Anomaly.verdict``).
CONFIRMED = "confirmed"
UNRESOLVED = "unresolved"
VERDICTS: tuple[str, ...] = (CONFIRMED, UNRESOLVED)

_NORMAL = NormalDist()


def z_quantile(p: float) -> float:
    """Standard normal quantile."""
    return _NORMAL.inv_cdf(min(max(p, 1e-300), 1 - 1e-16))


def t_quantile(p: float, dof: float) -> float:
    """Student t quantile (G. W. Hill, "Algorithm 396: Student's t-quantiles", CACM 1970).

    Relative error below 1e-3 against the exact quantile for ``dof >= 1`` and tail
    probabilities down to 1e-7; ``dof`` below 1 is treated as 1, infinite ``dof`` gives the
    normal quantile.
    """
    if p < 0.5:
        return -t_quantile(1.0 - p, dof)
    if not math.isfinite(dof):
        return z_quantile(p)
    n = max(float(dof), 1.0)
    two_tail = max(2.0 * (1.0 - p), 1e-300)
    if n == 1.0:
        return math.tan(math.pi / 2 * (1 - two_tail))
    if n == 2.0:
        return math.sqrt(2.0 / (two_tail * (2.0 - two_tail)) - 2.0)
    a = 1.0 / (n - 0.5)
    b = 48.0 / (a * a)
    c = ((20700.0 * a / b - 98.0) * a - 16.0) * a + 96.36
    d = ((94.5 / (b + c) - 3.0) / b + 1.0) * math.sqrt(a * math.pi / 2) * n
    x = d * two_tail
    y = x ** (2.0 / n)
    if y > 0.05 + a:
        x = z_quantile(1.0 - two_tail / 2)
        y = x * x
        if n < 5:
            c += 0.3 * (n - 4.5) * (x + 0.6)
        c = (((0.05 * d * x - 5.0) * x - 7.0) * x - 2.0) * x + b + c
        y = (((((0.4 * y + 6.3) * y + 36.0) * y + 94.5) / c - y - 3.0) / b + 1.0) * x
        y = a * y * y
        y = math.expm1(y) if y > 0.002 else 0.5 * y * y + y
    else:
        y = ((1.0 / (((n + 6.0) / (n * y) - 0.089 * d - 0.822) * (n + 2.0) * 3.0) + 0.5 / (n + 4.0)) * y - 1.0) \
            * (n + 1.0) / (n + 2.0) + 1.0 / y
    return math.sqrt(n * y)


@lru_cache(maxsize=4096, typed=True)
def critical(alpha: float, m: int, dof: float = math.inf) -> float:
    """One-sided critical value at family-wise level ``alpha`` over ``m`` tests (Bonferroni).

    Memoised (per argument types, so a numpy float gets what it always got): detectors ask
    for the same few (alpha, m, dof) once per series, tens of thousands of times."""
    return t_quantile(1.0 - alpha / max(int(m), 1), dof)


#: Standard error of the median of R normal values over that of their mean (R = 1..8, by
#: simulation); 1.2533 (the asymptotic value) beyond.
_MEDIAN_SE = {1: 1.0, 2: 1.0, 3: 1.160, 4: 1.091, 5: 1.199, 6: 1.136, 7: 1.214, 8: 1.160}


def headline_factor(rounds: np.ndarray) -> np.ndarray:
    """``c_R``: standard error of the median of R round medians over that of their mean."""
    r = np.asarray(rounds, dtype=float)
    return np.array([_MEDIAN_SE.get(int(k), 1.2533141373155001) for k in r.ravel()]).reshape(r.shape)


#: Huber's tuning constant: residuals beyond this many standard deviations are down-weighted.
HUBER_K = 2.0


@dataclass(frozen=True)
class Fit:
    """A weighted least-squares fit with an extra variance component.

    ``beta``/``cov``: coefficients and their covariance; ``tau2``: the extra relative variance
    per point (0 when the per-point variances already explain the residuals); ``dof``: n - p;
    ``resid``: relative residuals ``(y - f) / y`` (log units for a fit on logs); ``fitted``:
    ``f``; ``robust_weight``: Huber weight of each point (1 = fully counted).
    """

    beta: np.ndarray
    cov: np.ndarray
    tau2: float
    dof: int
    resid: np.ndarray
    fitted: np.ndarray
    robust_weight: np.ndarray

    def t(self, j: int) -> float:
        """t statistic of coefficient ``j``."""
        se = math.sqrt(max(float(self.cov[j, j]), 1e-300))
        return float(self.beta[j]) / se


def wls_fit(X: np.ndarray, y: np.ndarray, v: np.ndarray, *, relative: bool = True,
            tau2: float | None = None, robust: bool = True) -> Fit | None:
    """Fit ``y ~ X beta`` with per-point variance ``v + tau2`` (the between-point ``tau2`` by
    the method of moments).

    With ``relative`` the variances are relative (``var(y_i) = y_i^2 (v_i + tau2)``: latency
    noise is multiplicative), else absolute (``y`` already in log units). Unless given,
    ``tau2`` is the DerSimonian-Laird moment estimator of meta-regression, ``max(0, (Q - (n - p))
    / tr(P))`` with ``Q`` the residual sum of squares weighted by ``1 / v`` and ``P`` the
    residual-maker of that weighted fit (0 when the ``v_i`` already account for the residuals).
    With ``robust`` the fit is a Huber M-estimate (iteratively reweighted, :data:`HUBER_K`): one
    headline that a slow spell spoiled in most of its rounds neither drags the fit nor widens the
    scatter of every other point. Returns ``None`` when ``n <= p`` or ``X`` is rank-deficient.
    """
    n, p = X.shape
    if n <= p:
        return None
    scale = y if relative else np.ones_like(y)
    Xs, ys = X / scale[:, None], y / scale  # standardized: var(ys_i) = v_i + tau2
    dof = n - p

    def solve(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        Xw = Xs * w[:, None]
        A = Xs.T @ Xw
        d = np.sqrt(np.diag(A))
        if not np.all(d > 0):
            return None
        C = A / np.outer(d, d)  # unit diagonal: a tiny Cholesky pivot means collinear columns
        try:
            chol = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            return None
        if np.min(np.diag(chol)) ** 2 < 1e-10:
            return None
        Linv = np.linalg.inv(chol)
        Ainv = (Linv.T @ Linv) / np.outer(d, d)
        beta = Ainv @ (Xw.T @ ys)
        return beta, ys - Xs @ beta, Ainv

    def moment(h: np.ndarray) -> float | None:
        w0 = h / v
        first = solve(w0)
        if first is None:
            return None
        _, r, Ainv = first
        q = float(np.sum(w0 * r**2))
        trace = float(np.sum(w0) - np.trace(Ainv @ (Xs.T @ (Xs * (w0**2)[:, None]))))
        return max(0.0, (q - dof) / trace) if trace > 0 else 0.0

    h = np.ones(n)
    t2 = 0.0
    out = None
    for _ in range(3 if robust else 1):
        got = moment(h) if tau2 is None else tau2
        if got is None:
            return None
        t2 = got
        out = solve(h / (v + t2))
        if out is None:
            return None
        if not robust:
            break
        e = np.abs(out[1]) / np.sqrt(v + t2)
        h_new = np.minimum(1.0, HUBER_K / np.maximum(e, 1e-12))
        if np.max(np.abs(h_new - h)) < 1e-3:
            break
        h = h_new
    assert out is not None
    beta, r, cov = out
    return Fit(beta=beta, cov=cov, tau2=float(t2), dof=dof, resid=r, fitted=X @ beta, robust_weight=h)


def wls_tau2_many(X: np.ndarray, y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``wls_fit(X[s], y[s], v[s], robust=False).tau2`` for a stack of fits of one shape at once.

    ``X`` is ``(S, n, p)``, ``y`` and ``v`` ``(S, n)``; variances are relative (as
    ``wls_fit``'s default). Returns ``tau2`` per fit, NaN where :func:`wls_fit` returns ``None``
    (``n <= p``, collinear columns). The same operations as :func:`wls_fit` on stacked arrays
    (one LAPACK call per matrix, as there), so a staircase analysis of tens of thousands of
    series spends its time in numpy rather than in the interpreter.
    """
    S, n, p = X.shape
    out = np.full(S, np.nan)
    if n <= p or S == 0:
        return out
    Xs = X / y[:, :, None]
    ys = np.ones_like(y)  # y / y, as wls_fit's standardisation
    XsT = np.swapaxes(Xs, 1, 2)
    ok = np.ones(S, dtype=bool)

    def solve(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, r, Ainv, good = _stacked_solve(Xs, ys, w)
        ok[~good] = False
        return r, Ainv

    w0 = 1.0 / v
    r, Ainv = solve(w0)
    q = np.sum(w0 * r**2, axis=1)
    M = Ainv @ (XsT @ (Xs * (w0**2)[:, :, None]))
    trace = np.sum(w0, axis=1) - np.trace(M, axis1=1, axis2=2)
    dof = n - p
    with np.errstate(invalid="ignore", divide="ignore"):
        t2 = np.where(trace > 0, np.maximum(0.0, (q - dof) / np.where(trace > 0, trace, 1.0)), 0.0)
    solve(1.0 / (v + t2[:, None]))  # wls_fit's final solve: only whether it succeeds matters here
    out[ok] = t2[ok]
    return out


def _each_matrix(fn: Callable[[np.ndarray], np.ndarray], A: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``fn`` (a ``numpy.linalg`` factorisation) of a stack of square matrices ``A`` (S, p, p) in one
    call; when that raises (some matrix is singular or not positive definite), one by one, each
    that fails replaced by the identity and marked in ``ok`` (in place)."""
    try:
        return fn(A)
    except np.linalg.LinAlgError:
        out = np.zeros_like(A)
        for k in range(len(A)):
            try:
                out[k] = fn(A[k])
            except np.linalg.LinAlgError:
                ok[k] = False
                out[k] = np.eye(A.shape[-1])
        return out


def _stacked_solve(Xs: np.ndarray, ys: np.ndarray, w: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`wls_fit`'s weighted solve on a stack: ``beta`` (S, p), residuals (S, n), the
    covariance (S, p, p) and whether each solve succeeded (identity stand-ins where not)."""
    S, _, p = Xs.shape
    Xw = Xs * w[:, :, None]
    A = np.swapaxes(Xs, 1, 2) @ Xw
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        d = np.sqrt(np.diagonal(A, axis1=1, axis2=2))
        good = np.all(d > 0, axis=1)
        dd = d[:, :, None] * d[:, None, :]
        C = np.where(good[:, None, None], A / np.where(dd > 0, dd, 1.0), np.eye(p))
    chol = _each_matrix(np.linalg.cholesky, C, good)
    good &= np.all(np.isfinite(chol), axis=(1, 2))
    good &= np.min(np.diagonal(chol, axis1=1, axis2=2), axis=1) ** 2 >= 1e-10
    chol[~good] = np.eye(p)
    Linv = np.linalg.inv(chol)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        Ainv = (np.swapaxes(Linv, 1, 2) @ Linv) / np.where(good[:, None, None], dd, 1.0)
        beta = (Ainv @ (np.swapaxes(Xw, 1, 2) @ ys[:, :, None]))[:, :, 0]
        r = ys - (Xs @ beta[:, :, None])[:, :, 0]
    return beta, r, Ainv, good


def wls_fit_many(X: np.ndarray, y: np.ndarray, v: np.ndarray, *, relative: bool = True) -> list[Fit | None]:
    """``wls_fit(X[s], y[s], v[s])`` (robust, ``tau2`` by moments) for a stack of fits of one
    shape: ``X`` (S, n, p), ``y`` and ``v`` (S, n).

    The same operations as :func:`wls_fit` on stacked arrays, each fit iterating its Huber
    weights until they settle (at most three times) as it would alone; ``None`` where
    :func:`wls_fit` gives none (``n <= p``, collinear columns).
    """
    S, n, p = X.shape
    if n <= p or S == 0:
        return [None] * S
    scale = y if relative else np.ones_like(y)
    Xs, ys = X / scale[:, :, None], y / scale
    XsT = np.swapaxes(Xs, 1, 2)
    dof = n - p
    alive = np.ones(S, dtype=bool)  # no solve failed
    active = np.ones(S, dtype=bool)  # still iterating
    h = np.ones((S, n))
    t2 = np.zeros(S)
    beta, r, cov = np.zeros((S, p)), np.zeros((S, n)), np.zeros((S, p, p))
    for _ in range(3):
        w0 = h / v
        _, r0, Ainv0, good = _stacked_solve(Xs, ys, w0)
        alive &= good | ~active
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            q = np.sum(w0 * r0**2, axis=1)
            trace = np.sum(w0, axis=1) - np.trace(Ainv0 @ (XsT @ (Xs * (w0**2)[:, :, None])), axis1=1, axis2=2)
            got = np.where(trace > 0, np.fmax(0.0, (q - dof) / np.where(trace > 0, trace, 1.0)), 0.0)
        t2 = np.where(active, got, t2)
        b1, r1, Ainv1, good = _stacked_solve(Xs, ys, h / (v + t2[:, None]))
        alive &= good | ~active
        beta[active], r[active], cov[active] = b1[active], r1[active], Ainv1[active]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            e = np.abs(r1) / np.sqrt(v + t2[:, None])
            h_new = np.minimum(1.0, HUBER_K / np.maximum(e, 1e-12))
            settled = np.max(np.abs(h_new - h), axis=1) < 1e-3
        moving = active & ~settled
        h[moving] = h_new[moving]
        active = moving & alive
    fitted = (X @ beta[:, :, None])[:, :, 0]
    return [Fit(beta=beta[k], cov=cov[k], tau2=float(t2[k]), dof=dof, resid=r[k], fitted=fitted[k],
                robust_weight=h[k]) if alive[k] else None for k in range(S)]


def refit_many(X: np.ndarray, y: np.ndarray, v: np.ndarray, fits: list[Fit | None], tau2: np.ndarray, *,
               relative: bool = True) -> list[Fit | None]:
    """:func:`refit` of a stack of fits of one shape (``None`` stays ``None``)."""
    S, n, p = X.shape
    out: list[Fit | None] = [None] * S
    ok = np.array([f is not None for f in fits], dtype=bool)
    if not ok.any():
        return out
    h = np.stack([f.robust_weight if f is not None else np.ones(n) for f in fits])
    scale = y if relative else np.ones_like(y)
    Xs, ys = X / scale[:, :, None], y / scale
    w = h / (v + tau2[:, None])
    Xw = Xs * w[:, :, None]
    A = np.swapaxes(Xs, 1, 2) @ Xw
    A[~ok] = np.eye(p)
    cov = _each_matrix(np.linalg.inv, A, ok)
    beta = (cov @ (np.swapaxes(Xw, 1, 2) @ ys[:, :, None]))[:, :, 0]
    ok &= np.all(np.isfinite(beta), axis=1)
    resid = ys - (Xs @ beta[:, :, None])[:, :, 0]
    fitted = (X @ beta[:, :, None])[:, :, 0]
    for k in np.flatnonzero(ok).tolist():
        f = fits[k]
        assert f is not None
        out[k] = Fit(beta=beta[k], cov=cov[k], tau2=float(tau2[k]), dof=f.dof, resid=resid[k], fitted=fitted[k],
                     robust_weight=f.robust_weight)
    return out


def refit(X: np.ndarray, y: np.ndarray, v: np.ndarray, fit: Fit, tau2: float, *, relative: bool = True) -> Fit | None:
    """``fit`` again with another ``tau2`` and the same robust weights (one weighted solve)."""
    scale = y if relative else np.ones_like(y)
    Xs, ys = X / scale[:, None], y / scale
    w = fit.robust_weight / (v + tau2)
    A = Xs.T @ (Xs * w[:, None])
    try:
        cov = np.linalg.inv(A)
    except np.linalg.LinAlgError:
        return None
    beta = cov @ ((Xs * w[:, None]).T @ ys)
    if not np.all(np.isfinite(beta)):
        return None
    return Fit(beta=beta, cov=cov, tau2=float(tau2), dof=fit.dof, resid=ys - Xs @ beta, fitted=X @ beta,
               robust_weight=fit.robust_weight)


def median(values: np.ndarray) -> float:
    """``np.median`` of a short 1-D array, the same value without its per-call overhead (it
    dominated summaries of thousands of small groups): the middle of the sorted values, or the
    mean of the two middle ones; NaN when empty or when a value is NaN."""
    s = np.sort(values)
    n = len(s)
    if n == 0 or s[-1] != s[-1]:  # np.sort puts NaN last
        return float("nan")
    m = n // 2
    return float(s[m]) if n % 2 else float((s[m - 1] + s[m]) / 2)


def robust_scale(values: np.ndarray) -> float:
    """1.4826 x median absolute deviation from the median (a standard deviation for normal data)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    return 1.4826 * median(np.abs(v - median(v)))


def rounds_agree(variant: np.ndarray, reference: np.ndarray, min_effect: float) -> bool:
    """Whether every round shows the effect: ``variant_r / reference_r - 1 >= min_effect``.

    Rounds are paired by index (round r of both points was measured in the same interleaved
    round). With a single round on either side the rounds cannot disagree: True.
    """
    a, b = np.asarray(variant, float), np.asarray(reference, float)
    k = min(len(a), len(b))
    if k < 2:
        return True
    return bool(np.all(a[:k] / b[:k] - 1.0 >= min_effect))
