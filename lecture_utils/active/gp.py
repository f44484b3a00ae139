"""Numerics behind the active learner: the Gaussian process, acquisitions, batches.

Everything here works in the learner's *internal* coordinates — inputs in the unit cube, outputs
already transformed (see :mod:`lecture_utils.active`); :mod:`lecture_utils.active` re-exports the
public names.

The Gaussian process
    :class:`GaussianProcess` wraps scikit-learn's :class:`~sklearn.gaussian_process.
    GaussianProcessRegressor` with the kernel of :func:`make_kernel`,
    ``σ_f² · Matérn_ν(ARD length scales) + white noise``. scikit-learn fits the hyperparameters (by
    maximising the log marginal likelihood); predictions of the *latent* function (without the
    white-noise term, which scikit-learn's own ``predict`` adds to the variance) and the batch
    updates are computed here from the fitted Cholesky factor.

Acquisitions (all on arrays of posterior means ``mu`` and standard deviations ``sigma``; we
*minimise* the function, so "improvement" means a lower value)
    :func:`expected_improvement`, :func:`lower_confidence_bound`, :func:`straddle`,
    :func:`misclassification_probability`. :func:`acquisition_score` turns any of them into a score
    to maximise.

Batches
    :func:`select_batch` picks ``n`` distinct candidates one at a time with the *kriging believer*
    heuristic: after each pick the GP is conditioned on a pseudo-observation equal to its own mean
    at the picked point. The mean does not change then — only the variance shrinks around the pick,
    which is a rank-one update computed exactly here — so the next pick moves elsewhere.

Threads
    The GP's linear algebra runs on **one** BLAS thread (:func:`one_blas_thread`): its matrices are
    small (at most a few thousand rows), and a BLAS thread pool costs more in synchronisation
    than it gains on them, most of all on a loaded machine.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
from scipy import linalg, optimize, special
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Kernel, Matern, WhiteKernel
from threadpoolctl import ThreadpoolController

__all__ = [
    "ACQUISITIONS",
    "REGION_ACQUISITIONS",
    "UNINFORMATIVE_SCORE",
    "GaussianProcess",
    "acquisition_score",
    "expected_improvement",
    "lower_confidence_bound",
    "make_kernel",
    "misclassification_probability",
    "one_blas_thread",
    "straddle",
]

Acquisition = Literal["ei", "lcb", "straddle", "misclassification"]
ACQUISITIONS: tuple[str, ...] = ("ei", "lcb", "straddle", "misclassification")
"""Names of the acquisition functions :func:`acquisition_score` knows."""

REGION_ACQUISITIONS: frozenset[str] = frozenset({"straddle", "misclassification"})
"""Acquisitions aimed at the region's boundary rather than at the minimum."""

UNINFORMATIVE_SCORE: dict[str, float] = {"straddle": 0.0, "misclassification": 0.01}
"""A region acquisition whose best score is at or below this value has nothing left to learn
among the candidates (every one is classified with confidence: ``|mu − t| ≥ β sigma``, or a
misclassification probability below 1 %); :meth:`GaussianProcess.select_batch` then uses its
``fallback`` acquisition for that pick instead of re-sampling next to known boundary points."""

_SQRT_HALF = np.sqrt(0.5)


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the enclosed linear algebra on a single BLAS/OpenMP thread (restored afterwards)."""
    with _controller().limit(limits=1):
        yield


def _single_threaded(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with one_blas_thread():
            return fn(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------------------------
# acquisitions
# --------------------------------------------------------------------------------------------
def _pair(mu: Any, sigma: Any) -> tuple[np.ndarray, np.ndarray]:
    mu_arr = np.asarray(mu, dtype=float)
    sigma_arr = np.asarray(sigma, dtype=float)
    if mu_arr.shape != sigma_arr.shape:
        raise ValueError(f"mu and sigma must have the same shape, got {mu_arr.shape} and "
                         f"{sigma_arr.shape}")
    if not (np.all(np.isfinite(mu_arr)) and np.all(np.isfinite(sigma_arr))):
        raise ValueError("mu and sigma must be finite")
    if np.any(sigma_arr < 0):
        raise ValueError("sigma must be >= 0 (a standard deviation, not a variance)")
    return mu_arr, sigma_arr


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    with np.errstate(under="ignore"):   # subnormal z: the result is exact anyway
        return 0.5 * special.erfc(-z * _SQRT_HALF)


def _norm_pdf(z: np.ndarray) -> np.ndarray:
    with np.errstate(under="ignore"):   # far tails underflow to 0, which is the answer
        return np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


def expected_improvement(mu: Any, sigma: Any, best: float, xi: float = 0.0) -> np.ndarray:
    """Expected improvement below ``best`` for a Gaussian posterior (minimisation).

    ``EI = E[max(best − ξ − F, 0)]`` with ``F ~ N(mu, sigma²)``, in closed form
    ``(best − ξ − mu) Φ(z) + sigma φ(z)``, ``z = (best − ξ − mu) / sigma``
    (Jones, Schonlau & Welch 1998).
    ``sigma`` is the posterior **standard deviation** (same units as ``mu``); where it is 0 the
    improvement is deterministic, ``max(best − ξ − mu, 0)``. Shapes: ``mu``, ``sigma`` (m,) → (m,).
    """
    mu_arr, sigma_arr = _pair(mu, sigma)
    gain = float(best) - float(xi) - mu_arr
    out = np.maximum(gain, 0.0)
    pos = sigma_arr > 0
    z = gain[pos] / sigma_arr[pos]
    out[pos] = gain[pos] * _norm_cdf(z) + sigma_arr[pos] * _norm_pdf(z)
    return out


def lower_confidence_bound(mu: Any, sigma: Any, kappa: float = 2.0) -> np.ndarray:
    """The lower confidence bound ``mu − κ sigma`` (smaller is more promising), shape (m,)."""
    if not kappa >= 0:
        raise ValueError(f"kappa must be >= 0, got {kappa}")
    mu_arr, sigma_arr = _pair(mu, sigma)
    return mu_arr - float(kappa) * sigma_arr


def straddle(mu: Any, sigma: Any, threshold: float, beta: float = 1.96) -> np.ndarray:
    """Bryan et al.'s straddle score ``β sigma − |mu − threshold|`` (Bryan et al. 2005).

    Large where the level set ``f = threshold`` may pass (mean close to it) *and* the GP is unsure
    (large ``sigma``); the boundary of the region ``f < threshold`` is located by maximising it.
    Shape (m,).
    """
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    mu_arr, sigma_arr = _pair(mu, sigma)
    return float(beta) * sigma_arr - np.abs(mu_arr - float(threshold))


def misclassification_probability(mu: Any, sigma: Any, threshold: float) -> np.ndarray:
    """Probability that the sign of ``f − threshold`` differs from that of ``mu − threshold``.

    ``Φ(−|mu − threshold| / sigma)`` (0 where ``sigma = 0``): the chance that the plug-in region
    estimate ``mu < threshold`` is wrong at a point. Its sum over a sample is the expected number
    of misclassified points. Shape (m,).
    """
    mu_arr, sigma_arr = _pair(mu, sigma)
    out = np.zeros_like(mu_arr)
    pos = sigma_arr > 0
    out[pos] = _norm_cdf(-np.abs(mu_arr[pos] - float(threshold)) / sigma_arr[pos])
    return out


def acquisition_score(name: str, mu: np.ndarray, sigma: np.ndarray, *, best: float,
                      threshold: float, kappa: float = 2.0, beta: float = 1.96,
                      xi: float = 0.0) -> np.ndarray:
    """The acquisition ``name`` as a score to *maximise* (shape (m,)).

    ``"ei"`` → :func:`expected_improvement` below ``best``; ``"lcb"`` → ``−`` :func:`
    lower_confidence_bound`; ``"straddle"`` → :func:`straddle` at ``threshold``;
    ``"misclassification"`` → :func:`misclassification_probability` at ``threshold``.
    """
    if name == "ei":
        return expected_improvement(mu, sigma, best, xi)
    if name == "lcb":
        return -lower_confidence_bound(mu, sigma, kappa)
    if name == "straddle":
        return straddle(mu, sigma, threshold, beta)
    if name == "misclassification":
        return misclassification_probability(mu, sigma, threshold)
    raise ValueError(f"unknown acquisition {name!r}; choose one of {ACQUISITIONS}")


# --------------------------------------------------------------------------------------------
# the Gaussian process
# --------------------------------------------------------------------------------------------
def make_kernel(dim: int, *, nu: float = 2.5, length_scale: float = 0.3,
                length_scale_bounds: tuple[float, float] = (1e-2, 1e2),
                noise_level: float = 1e-4,
                noise_level_bounds: tuple[float, float] = (1e-8, 1e-1)) -> Kernel:
    """``σ_f² · Matérn_ν(ℓ_1 … ℓ_dim) + σ_n²`` for inputs in the unit cube and standardised outputs.

    One length scale per input (ARD); ν = 2.5 gives twice-differentiable sample paths — smooth, but
    less so than the squared exponential, which is too confident for functions with steep walls
    (Rasmussen & Williams 2006, ch. 4). The white-noise term σ_n² (in units of the output variance)
    absorbs tiny inconsistencies and keeps the Cholesky factorisation stable.
    """
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    return (ConstantKernel(1.0, (1e-3, 1e3))
            * Matern(length_scale=np.full(int(dim), float(length_scale)),
                     length_scale_bounds=length_scale_bounds, nu=nu)
            + WhiteKernel(noise_level, noise_level_bounds))


class GaussianProcess:
    """A GP regression of ``y`` on ``x`` (unit cube, shape (n, d)) with warm-started refits.

    ``fit(x, y, optimize=True)`` maximises the log marginal likelihood starting from the previous
    fit's hyperparameters (the first time from :func:`make_kernel`'s defaults, plus ``n_restarts``
    seeded random starts — later optimisations are warm-started only), at most ``max_iter``
    L-BFGS-B iterations each; with ``optimize=False`` the hyperparameters are kept and only the
    posterior is recomputed (one Cholesky factorisation). ``y`` is standardised internally.
    scikit-learn's warnings that a hyperparameter sits at its bound are collected in
    :attr:`warnings` instead of being raised (they are expected for inputs the function ignores).
    """

    def __init__(self, dim: int, *, seed: int = 0, n_restarts: int = 2, max_iter: int = 100,
                 nu: float = 2.5, jitter: float = 1e-8) -> None:
        self.dim = int(dim)
        self.kernel: Kernel = make_kernel(self.dim, nu=nu)
        self.seed = int(seed)
        self.n_restarts = int(n_restarts)
        self.max_iter = int(max_iter)
        self.jitter = float(jitter)
        self.warnings: list[str] = []
        self.n_optimisations = 0
        self._gpr: GaussianProcessRegressor | None = None
        self._y_mean = 0.0
        self._y_std = 1.0

    # ---- fitting
    def _optimizer(self, obj_func: Callable[..., Any], initial_theta: np.ndarray,
                   bounds: np.ndarray) -> tuple[np.ndarray, float]:
        res = optimize.minimize(obj_func, initial_theta, method="L-BFGS-B", jac=True,
                                bounds=bounds, options={"maxiter": self.max_iter})
        return res.x, float(res.fun)

    @_single_threaded
    def fit(self, x: np.ndarray, y: np.ndarray, *, optimize: bool = True,
            fit_subset: np.ndarray | None = None,
            prior_mean: float | None = None) -> GaussianProcess:
        """Condition on ``(x, y)``; re-optimise hyperparameters if ``optimize``.

        ``fit_subset`` (indices) restricts the hyperparameter optimisation to some of the points
        (its cost grows as n³ per iteration); the posterior always uses all of them.
        ``prior_mean``: the constant the posterior reverts to far from the data (default: the
        mean of ``y``).
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.dim or y.shape != (len(x),):
            raise ValueError(f"x must have shape (n, {self.dim}) and y shape (n,), got {x.shape} "
                             f"and {y.shape}")
        if len(x) == 0:
            raise ValueError("cannot fit a Gaussian process to zero points")
        self._y_mean = float(np.mean(y)) if prior_mean is None else float(prior_mean)
        std = float(np.std(y))
        self._y_std = std if std > 0 else 1.0
        y_std = (y - self._y_mean) / self._y_std
        start = self.kernel if self._gpr is None else self._gpr.kernel_
        if optimize:
            xs, ys = (x, y_std) if fit_subset is None else (x[fit_subset], y_std[fit_subset])
            gpr = GaussianProcessRegressor(start, alpha=self.jitter, optimizer=self._optimizer,
                                           n_restarts_optimizer=(self.n_restarts
                                                                 if self._gpr is None else 0),
                                           random_state=self.seed + self.n_optimisations)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                gpr.fit(xs, ys)
            self.warnings.extend(str(w.message) for w in caught
                                 if issubclass(w.category, ConvergenceWarning))
            for w in caught:                      # anything else is not ours to swallow
                if not issubclass(w.category, ConvergenceWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            self.n_optimisations += 1
            start = gpr.kernel_
        self._gpr = GaussianProcessRegressor(start, alpha=self.jitter, optimizer=None).fit(
            x, y_std)
        return self

    # ---- access
    @property
    def fitted(self) -> bool:
        return self._gpr is not None

    def _fitted(self) -> GaussianProcessRegressor:
        if self._gpr is None:
            raise RuntimeError("the Gaussian process has not been fitted yet")
        return self._gpr

    @property
    def kernel_(self) -> Kernel:
        """The fitted kernel (hyperparameters in standardised output units)."""
        return self._fitted().kernel_

    @property
    def length_scales(self) -> np.ndarray:
        """Fitted ARD length scales, shape (d,), in unit-cube units."""
        return np.atleast_1d(self.kernel_.k1.k2.length_scale).astype(float)

    @property
    def noise_variance(self) -> float:
        """Fitted white-noise variance in standardised output units."""
        return float(self.kernel_.k2.noise_level)

    @property
    def n_train(self) -> int:
        return int(self._fitted().X_train_.shape[0])

    @_single_threaded
    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at ``x`` (shape (m, d)).

        Both are in the units of ``y``, shape (m,). The white-noise variance is *not* included.
        """
        mu, var, _ = self._moments(np.asarray(x, dtype=float))
        return mu, np.sqrt(var)

    def _moments(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        gpr = self._fitted()
        signal = gpr.kernel_.k1
        k_xc = signal(gpr.X_train_, x)                                   # (n, m)
        v = linalg.solve_triangular(gpr.L_, k_xc, lower=True, check_finite=False)
        mu_std = k_xc.T @ gpr.alpha_
        var_std = np.maximum(signal.diag(x) - np.einsum("ij,ij->j", v, v), 0.0)
        return (self._y_mean + self._y_std * mu_std, var_std * self._y_std**2, v)

    def sample_prior(self, x: np.ndarray, n_samples: int, seed: int) -> np.ndarray:
        """``n_samples`` draws of the *prior* latent function at ``x``, shape (m, n_samples).

        Uses the current kernel (the fitted one after :meth:`fit`), in standardised units.
        """
        kernel = self.kernel if self._gpr is None else self._gpr.kernel_
        cov = kernel.k1(np.asarray(x, dtype=float)) + 1e-10 * np.eye(len(x))
        chol = np.linalg.cholesky(cov)
        return chol @ np.random.default_rng(seed).standard_normal((len(x), int(n_samples)))

    # ---- batches
    @_single_threaded
    def select_batch(self, candidates: np.ndarray, n: int, acquisition: str | Sequence[str], *,
                     best: float, threshold: float, kappa: float = 2.0, beta: float = 1.96,
                     xi: float = 0.0, fallback: str | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Indices of ``n`` distinct candidates chosen by the kriging believer, and their scores.

        ``candidates`` shape (m, d); ``n`` ≤ m. ``acquisition`` is one name for every pick or a
        sequence of ``n`` names (pick ``k`` maximises ``acquisition[k]``). After each pick ``b``
        the posterior covariance is updated by the rank-one term of a pseudo-observation at ``b``
        (value: the current mean, noise: the fitted white noise), so the variance near ``b``
        shrinks and the next pick moves on; the incumbent ``best`` becomes ``min(best, mu_b)``.
        A region acquisition with no informative candidate left (:data:`UNINFORMATIVE_SCORE`)
        gives way to ``fallback`` for that pick. Returns (indices (n,), scores at the time of each
        pick (n,)).
        """
        candidates = np.asarray(candidates, dtype=float)
        m = len(candidates)
        if not 1 <= n <= m:
            raise ValueError(f"batch size {n} must be between 1 and the number of candidates {m}")
        schedule = [acquisition] * n if isinstance(acquisition, str) else list(acquisition)
        if len(schedule) != n:
            raise ValueError(f"need one acquisition per pick ({n}), got {len(schedule)}")
        gpr = self._fitted()
        signal = gpr.kernel_.k1
        mu, var, v = self._moments(candidates)
        noise = self.noise_variance * self._y_std**2 + self.jitter * self._y_std**2
        updates: list[np.ndarray] = []
        chosen: list[int] = []
        scores: list[float] = []
        available = np.ones(m, dtype=bool)
        for name in schedule:
            sigma = np.sqrt(np.maximum(var, 0.0))
            score = acquisition_score(name, mu, sigma, best=best, threshold=threshold,
                                      kappa=kappa, beta=beta, xi=xi)
            score = np.where(available, score, -np.inf)
            b = int(np.argmax(score))
            if fallback is not None and score[b] <= UNINFORMATIVE_SCORE.get(name, -np.inf):
                score = acquisition_score(fallback, mu, sigma, best=best, threshold=threshold,
                                          kappa=kappa, beta=beta, xi=xi)
                score = np.where(available, score, -np.inf)
                b = int(np.argmax(score))
            chosen.append(b)
            scores.append(float(score[b]))
            available[b] = False
            if len(chosen) == n:
                break
            # posterior covariance between every candidate and the pick, in y units
            cov_b = (signal(candidates, candidates[b:b + 1])[:, 0] - v.T @ v[:, b]) * self._y_std**2
            for u in updates:
                cov_b -= u * u[b]
            u_new = cov_b / np.sqrt(max(var[b], 0.0) + noise)
            updates.append(u_new)
            var = var - u_new**2
            best = min(best, float(mu[b]))
        return np.asarray(chosen, dtype=int), np.asarray(scores)
