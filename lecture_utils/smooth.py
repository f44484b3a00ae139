"""Search coordinates and a differentiable surrogate: Gaussian-smoothed ("soft") trees.

A sum of trees is piecewise constant, so minimisers that need derivatives (MIGRAD, for profile
likelihoods) cannot use it. :class:`SmoothedSurrogate` is the surrogate's smooth χ²
(:meth:`~lecture_utils.surrogate.TwoStageSurrogate.predict_smooth`) with every split of both
stages blurred by Gaussian input noise (:class:`SoftTreeEnsemble`): differentiable, and equal to
the surrogate as the blur goes to zero. It works in the *search coordinates*
(:data:`SEARCH_NAMES`: log10(f_a/GeV) and the five couplings, bounds :data:`SEARCH_BOUNDS`;
:func:`to_search`/:func:`from_search` convert) that the fit (:mod:`lecture_utils.fit`) and the
sampler (:mod:`lecture_utils.sampling`) share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special

from . import alps, compiled
from .design import uniform_random
from .surrogate import FA_REFERENCE_GEV, as_points, resolve_surrogate, smooth_combination

__all__ = [
    "DEFAULT_SMOOTHING",
    "FAILED_CHI2",
    "SEARCH_BOUNDS",
    "SEARCH_NAMES",
    "SmoothedSurrogate",
    "SoftTreeEnsemble",
    "from_search",
    "to_search",
]


SEARCH_NAMES: tuple[str, ...] = ("log10_fa",) + alps.PARAMETERS[1:]
"""Names of the search coordinates: log10(f_a / GeV) and the five couplings."""


SEARCH_BOUNDS: np.ndarray = alps.DOMAIN.unit_bounds
"""Bounds of the search coordinates, shape (6, 2): the domain of the data and the surrogate."""


DEFAULT_SMOOTHING: tuple[float, ...] = (0.02, 0.05, 0.05, 0.05, 0.05, 0.05)
"""Gaussian blur σ of :class:`SmoothedSurrogate` in search coordinates: 0.02 in log10 f_a and 0.05
in each coupling — 0.7–1.2 % of the width of the domain, small against the surrogate's own error
in the region (chapter 8 checks this on the hold-out points).
"""


_PRUNE: float = 1e-14
"""Probability mass below which a branch of a soft tree is not followed further."""


FAILED_CHI2: float = 1e30
"""Stand-in χ² for non-finite coordinates proposed by a diverging MIGRAD step, and (in
:mod:`lecture_utils.fit`) for a failed exact evaluation inside the exact Nelder–Mead; never
reported as a result."""


def to_search(points: Any) -> np.ndarray:
    """Physical points (n, 6) or (6,) → search coordinates (n, 6): f_a replaced by log10(f_a/GeV).

    Points are validated (:func:`alps.validate_points`, extrapolation allowed).
    """
    z = alps.validate_points(points, allow_extrapolation=True).copy()
    z[:, 0] = np.log10(z[:, 0])
    return z


def from_search(z: Any) -> np.ndarray:
    """Search coordinates (n, 6) or (6,) → physical points (n, 6), f_a in GeV."""
    try:
        arr = np.array(z, dtype=float, ndmin=2)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"search coordinates must be numeric, shape (n, 6): {exc}") from None
    if arr.ndim != 2 or arr.shape[1] != len(SEARCH_NAMES):
        raise ValueError(f"search coordinates must have shape (n, {len(SEARCH_NAMES)}) with "
                         f"columns {SEARCH_NAMES}; got shape {np.shape(z)}")
    if not np.isfinite(arr).all():
        raise ValueError("search coordinates have non-finite values (NaN or inf)")
    pts = arr.copy()
    pts[:, 0] = 10.0 ** arr[:, 0]
    return pts


class SoftTreeEnsemble:
    """XGBoost tree ensembles whose splits are smeared by Gaussian input noise.

    Built from one or more boosters on the same ``n_features`` inputs (e.g. the gate and the
    regressor of a surrogate), walked together. :meth:`margin` returns, for inputs ``x`` (n, F)
    and per-input standard deviations ``sigma`` (n, F), the expectation of each booster's raw
    output (margin) when every feature ``f`` is replaced by ``x_f + sigma_f ε``, ``ε ~ N(0, 1)``:
    each split ``x_f < t`` sends the fraction ``Φ((t − x_f)/σ_f)`` of the probability mass left,
    treating the splits along a path as independent (exact when a path tests each feature once).
    ``sigma`` must be > 0; with ``sigma = None`` the walk is the ordinary one and reproduces
    XGBoost (checked on ``probe`` rows at construction, else :class:`RuntimeError`).
    """

    def __init__(self, boosters: Sequence[Any], *, n_features: int, probe: np.ndarray) -> None:
        self.n_features = int(n_features)
        self.n_outputs = len(boosters)
        features, thresholds, lefts, rights, leaves, outputs, roots = [], [], [], [], [], [], []
        offset = 0
        for k, booster in enumerate(boosters):
            frame = booster.trees_to_dataframe()
            frame = frame.sort_values(["Tree", "Node"], kind="stable")
            ids = {node_id: offset + i for i, node_id in enumerate(frame["ID"])}
            is_leaf = (frame["Feature"] == "Leaf").to_numpy()
            feature = np.zeros(len(frame), dtype=np.intp)
            feature[~is_leaf] = [int(str(f).lstrip("f")) for f in frame["Feature"][~is_leaf]]
            if (feature >= self.n_features).any():
                raise ValueError(f"booster {k} splits on a feature >= {self.n_features}")
            threshold = np.where(is_leaf, np.nan, frame["Split"].to_numpy(dtype=float,
                                                                           na_value=np.nan))
            left = np.array([ids[y] if not leaf_ else -1
                             for y, leaf_ in zip(frame["Yes"], is_leaf, strict=True)])
            right = np.array([ids[n] if not leaf_ else -1
                              for n, leaf_ in zip(frame["No"], is_leaf, strict=True)])
            features.append(feature)
            thresholds.append(threshold)
            lefts.append(left)
            rights.append(right)
            leaves.append(np.where(is_leaf, frame["Gain"].to_numpy(dtype=float), 0.0))
            outputs.append(np.full(len(frame), k))
            roots.append(offset + np.flatnonzero(frame["Node"].to_numpy() == 0))
            offset += len(frame)
        self.feature = np.concatenate(features)
        self.threshold = np.concatenate(thresholds)
        self.left_child = np.concatenate(lefts)
        self.right_child = np.concatenate(rights)
        self.leaf_value = np.concatenate(leaves)
        self.is_leaf = self.left_child < 0
        self.output = np.concatenate(outputs)
        self.roots = np.concatenate(roots)
        # the constant (base score) of each booster is read off XGBoost's own predictions
        x = np.asarray(probe, dtype=np.float32)
        walked = self._walk(x.astype(float), None)
        self.base = np.empty(self.n_outputs)
        for k, booster in enumerate(boosters):
            reference = booster.inplace_predict(x, predict_type="margin").astype(float)
            offsets = reference - walked[:, k]
            self.base[k] = float(np.median(offsets))
            spread = float(np.max(np.abs(offsets - self.base[k])))
            if spread > 1e-4 * max(1.0, float(np.max(np.abs(reference)))):
                raise RuntimeError(f"soft-tree walk does not reproduce booster {k} (deviation "
                                   f"{spread:.3g}); unsupported model structure")

    def _walk(self, x: np.ndarray, sigma: np.ndarray | None) -> np.ndarray:
        """Sum of expected leaf values per row and booster, shape (n, n_outputs): every
        (row, node) pair that carries probability mass moves down one level per step; mass below
        :data:`_PRUNE` is dropped (its contribution is < 1e-12 χ² units)."""
        n, n_features = x.shape
        node = np.tile(self.roots, n)
        row = np.repeat(np.arange(n), len(self.roots))
        mass = np.ones(len(node))
        slots: list[np.ndarray] = []     # (row, booster) slot of each leaf contribution
        values: list[np.ndarray] = []
        x_flat = x.ravel()
        s_flat = None if sigma is None else sigma.ravel()
        while len(node):
            leaf = self.is_leaf[node]
            if leaf.any():
                at_leaf = node[leaf]
                slots.append(row[leaf] * self.n_outputs + self.output[at_leaf])
                values.append(mass[leaf] * self.leaf_value[at_leaf])
                inner = ~leaf
                node, row, mass = node[inner], row[inner], mass[inner]
                if not len(node):
                    break
            at = row * n_features + self.feature[node]
            if s_flat is None:
                go_left = (x_flat[at] < self.threshold[node]).astype(float)
            else:
                go_left = special.ndtr((self.threshold[node] - x_flat[at]) / s_flat[at])
            with np.errstate(under="ignore"):   # a negligible mass becomes 0 and is pruned
                left_mass = mass * go_left
            mass = np.concatenate([left_mass, mass - left_mass])
            node = np.concatenate([self.left_child[node], self.right_child[node]])
            row = np.concatenate([row, row])
            keep = mass > _PRUNE
            node, row, mass = node[keep], row[keep], mass[keep]
        out = np.bincount(np.concatenate(slots), weights=np.concatenate(values),
                          minlength=n * self.n_outputs)
        return out.reshape(n, self.n_outputs)

    def _walk_one(self, x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """:meth:`_walk` for one row (x, sigma of shape (F,)), without row bookkeeping — the
        minimisers call it thousands of times. Returns shape (n_outputs,)."""
        node = self.roots
        mass = np.ones(len(node))
        slots: list[np.ndarray] = []
        values: list[np.ndarray] = []
        while len(node):
            leaf = self.is_leaf[node]
            if leaf.any():
                at_leaf = node[leaf]
                slots.append(self.output[at_leaf])
                values.append(mass[leaf] * self.leaf_value[at_leaf])
                inner = ~leaf
                node, mass = node[inner], mass[inner]
                if not len(node):
                    break
            f = self.feature[node]
            left_mass = mass * special.ndtr((self.threshold[node] - x[f]) / sigma[f])
            mass = np.concatenate([left_mass, mass - left_mass])
            node = np.concatenate([self.left_child[node], self.right_child[node]])
            keep = mass > _PRUNE
            node, mass = node[keep], mass[keep]
        return np.bincount(np.concatenate(slots), weights=np.concatenate(values),
                           minlength=self.n_outputs)

    def margin(self, x: np.ndarray, sigma: np.ndarray | None = None) -> np.ndarray:
        """Expected raw outputs for inputs ``x`` (n, F) blurred by ``sigma`` (n, F) (> 0) or not
        blurred (``None``); shape (n, n_outputs), one column per booster."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x must have shape (n, {self.n_features}), got {x.shape}")
        if sigma is not None:
            sigma = np.broadcast_to(np.asarray(sigma, dtype=float), x.shape)
            if not (np.isfinite(sigma).all() and (sigma > 0).all()):
                raise ValueError("sigma must be finite and > 0 (None for the unsmoothed trees)")
        if len(x) == 1 and sigma is not None:
            return (self._walk_one(x[0], sigma[0]) + self.base)[None, :]
        rows = max(1, 200_000 // len(self.roots))
        out = np.empty((len(x), self.n_outputs))
        for i in range(0, len(x), rows):
            out[i:i + rows] = self._walk(x[i:i + rows],
                                         None if sigma is None else sigma[i:i + rows])
        return out + self.base


class SmoothedSurrogate:
    """The surrogate's smooth χ² with Gaussian-smoothed trees — differentiable, for MIGRAD.

    :meth:`chi2` is :meth:`~lecture_utils.surrogate.TwoStageSurrogate.predict_smooth` with both
    stages replaced by their :class:`SoftTreeEnsemble`: :func:`smooth_combination` of
    ``χ²_reg,σ`` and ``logit_σ``. The blur σ, given in search coordinates, is propagated to the
    features of the surrogate's transform to first order (for the ``"ratio"`` features
    c_i·10⁶ GeV/f_a the blur of log10 f_a contributes too). As the widths shrink, the smoothed χ²
    tends to the surrogate's (``SoftTreeEnsemble.margin(x, None)`` reproduces it exactly).

    Parameters
    ----------
    surrogate : TwoStageSurrogate, optional
        The surrogate to smooth (a compiled one works too); default
        :func:`lecture_utils.surrogate.default_surrogate`.
    smoothing : sequence of float, length 6, optional
        Blur σ per search coordinate (:data:`SEARCH_NAMES`: log10(f_a/GeV), then the five
        couplings), each finite and > 0; default :data:`DEFAULT_SMOOTHING`.

    Raises
    ------
    ValueError
        If ``surrogate`` is not a :class:`~lecture_utils.surrogate.TwoStageSurrogate`, or
        ``smoothing`` is not 6 finite widths > 0.
    RuntimeError
        If the soft-tree walk with zero blur does not reproduce XGBoost's predictions on probe
        points (:class:`SoftTreeEnsemble`).
    """

    def __init__(self, surrogate: Any = None,
                 smoothing: Sequence[float] = DEFAULT_SMOOTHING) -> None:
        self.surrogate = resolve_surrogate(surrogate)
        width = np.asarray(smoothing, dtype=float)
        if width.shape != (len(SEARCH_NAMES),) or not np.isfinite(width).all() or (
                width <= 0).any():
            raise ValueError(f"smoothing must be {len(SEARCH_NAMES)} finite widths > 0 (one per "
                             f"search coordinate {SEARCH_NAMES}), got {smoothing!r}")
        self.smoothing = width
        # seeded probe points on which the soft-tree layout is checked against XGBoost
        self._features = _feature_call(self.surrogate)
        probe = self.surrogate.features(uniform_random(256, seed=0))
        self.trees = SoftTreeEnsemble(
            [self.surrogate.gate.get_booster(), self.surrogate.regressor.get_booster()],
            n_features=probe.shape[1], probe=probe)

    def feature_sigma(self, points: np.ndarray) -> np.ndarray:
        """Blur of each model input at ``points`` (n, 6), shape (n, n_features): first-order
        propagation of the search-coordinate widths through the features' Jacobian (analytic;
        for the ``"running"`` features from the running table's interpolation and its slope —
        called on every MIGRAD step)."""
        pts = as_points(points)
        h = self.smoothing
        transform = self.surrogate.transform
        n_par = len(alps.PARAMETERS)
        sigma = np.empty((len(pts), len(self.surrogate.feature_names)))
        sigma[:, 0] = h[0]
        if transform == "raw":
            sigma[:, 1:] = h[1:]
            return sigma
        ln10 = math.log(10.0)
        scale = FA_REFERENCE_GEV / pts[:, :1]  # (n, 1)
        sigma[:, 1:n_par] = np.hypot(scale * h[1:], ln10 * (pts[:, 1:] * scale) * h[0])
        if transform == "running":
            table = alps.running_table()
            lf = np.log10(pts[:, 0])
            couplings = pts[:, 1:, None]
            response = table.at(lf)  # (n, 9, 5): low-energy couplings per unit coupling
            low = np.matmul(response, couplings)[:, :, 0]
            # d feature / d log10 f_a and d feature / d c_i of low · 10⁶ GeV / f_a
            d_lf = (np.matmul(table.slope_at(lf), couplings)[:, :, 0] - ln10 * low) * scale
            d_c = response * scale[:, :, None]
            # |c_bs| from its real and imaginary part (rows 0, 1): the unit vector projects
            norm = np.hypot(low[:, 0], low[:, 1])[:, None]
            unit = np.divide(low[:, :2], norm, out=np.zeros_like(low[:, :2]), where=norm > 0)
            d_lf_abs = (unit * d_lf[:, :2]).sum(axis=1, keepdims=True)
            d_c_abs = (unit[:, :, None] * d_c[:, :2]).sum(axis=1, keepdims=True)
            d_lf = np.concatenate([d_lf_abs, d_lf[:, 2:]], axis=1)
            d_c = np.concatenate([d_c_abs, d_c[:, 2:]], axis=1)
            sigma[:, n_par:] = np.sqrt((d_lf * h[0]) ** 2 + ((d_c * h[1:]) ** 2).sum(axis=2))
        return sigma

    def stage_outputs(self, points: Any) -> tuple[np.ndarray, np.ndarray]:
        """Smoothed gate log-odds and regressor χ² at physical points (n, 6), each shape (n,)."""
        pts = as_points(points)
        x = self._features(pts).astype(float)
        sigma = self.feature_sigma(pts)
        both = self.trees.margin(x, sigma)
        return both[:, 0], both[:, 1]

    def chi2(self, points: Any) -> np.ndarray:
        """Smoothed χ² at physical points.

        Parameters
        ----------
        points : array_like or pandas.DataFrame, shape (n, 6) or (6,)
            Physical points in :data:`lecture_utils.alps.PARAMETERS` order (f_a in GeV,
            couplings dimensionless), or a DataFrame with those columns.

        Returns
        -------
        numpy.ndarray, shape (n,)
            float64, dimensionless χ².

        Raises
        ------
        ValueError
            For invalid points (:func:`~lecture_utils.surrogate.as_points`).
        """
        logit, reg = self.stage_outputs(points)
        s = self.surrogate
        return smooth_combination(reg, logit, logit_threshold=s.logit_threshold(),
                                  chi2_edge=s.chi2_min + s.cut, penalty_scale=s.penalty_scale)

    def chi2_search(self, z: Any) -> float:
        """Smoothed χ² of one point in search coordinates — the function MIGRAD minimises.

        Values outside :data:`SEARCH_BOUNDS` are clipped to the bounds (MIGRAD's bounded
        parameters stay inside anyway).

        Parameters
        ----------
        z : array_like, shape (6,) or (1, 6)
            One point in search coordinates (:data:`SEARCH_NAMES`: log10(f_a/GeV), then the five
            couplings).

        Returns
        -------
        float
            Dimensionless χ².

        Raises
        ------
        ValueError
            If ``z`` is not 6 finite numbers.
        """
        zz = np.asarray(z, dtype=float).reshape(1, -1)
        if zz.shape[1] != len(SEARCH_NAMES) or not np.isfinite(zz).all():
            raise ValueError(f"z must be {len(SEARCH_NAMES)} finite search coordinates, got {z!r}")
        zz = np.clip(zz, SEARCH_BOUNDS[:, 0], SEARCH_BOUNDS[:, 1])
        pts = from_search(zz)
        x = self._features(pts).astype(float)
        logit, reg = self.trees.margin(x, self.feature_sigma(pts))[0]
        s = self.surrogate
        return float(smooth_combination(reg, logit, logit_threshold=s.logit_threshold(),
                                        chi2_edge=s.chi2_min + s.cut,
                                        penalty_scale=s.penalty_scale))

    def chi2_for_minuit(self, z: np.ndarray) -> float:
        """:meth:`chi2_search` for MIGRAD: a step that produced non-finite coordinates (a diverged
        line search near a bound) gets a huge χ², so MIGRAD backs off instead of stopping."""
        if not np.isfinite(z).all():
            return FAILED_CHI2
        return self.chi2_search(z)


def _feature_call(surrogate: Any) -> Any:
    """The surrogate's features of validated points (n, 6) → float32 (n, n_features), computed by
    the compiled whole-surrogate library (:mod:`lecture_utils.compiled.whole`) where it can be
    built — the features every compiled evaluation of the surrogate uses —, else by numpy."""
    if isinstance(surrogate, compiled.CompiledSurrogate) and surrogate.whole is not None:
        whole = surrogate.whole
    else:
        try:
            whole = compiled.WholeSurrogate.features_only(surrogate)
        except compiled.CompilationError:
            return surrogate.features

    def features(points: np.ndarray) -> np.ndarray:
        return whole.evaluate(np.ascontiguousarray(points, dtype=float), "features")[0]

    return features
