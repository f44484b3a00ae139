"""A committee of boosted-tree classifiers as the region model of :mod:`lecture_utils.active`.

Why a second model
    The Gaussian process of :mod:`lecture_utils.active.gp` models the (transformed) χ² as a
    smooth function. The ALP χ² is not smooth where it matters: displaced-vertex searches switch
    on with the ALP's lifetime and carve cliffs into the region's boundary. Even conditioned on
    every point of the leading-log pool a GP misclassifies a large part of the region, while
    boosted trees trained on the same points follow the cliffs (``benchmarks/active_learning.py``
    measures both). No choice of points can make a model better than its whole-pool limit, so
    the GP caps what active learning can show on this problem.

The committee
    ``n_members`` gradient-boosted classifiers (XGBoost) of region membership ``f < min f + delta``,
    each fitted to a seeded bootstrap resample of the told points, on the learner's region
    features (for the ALP: the surrogate's physics features,
    :func:`lecture_utils.active.alp_region_features`). The region probability is the members'
    mean ``p``; their standard deviation ``s`` measures disagreement ("query by committee", Seung
    et al. 1992). The region estimate is ``p > 1/2``.

Acquisition (uncertainty sampling with a committee)
    ``score = (1 − |2p − 1|) + s``: largest on the estimated boundary (p = 1/2) and where the
    members disagree. A batch is picked greedily; after each pick ``b`` the disagreement of every
    candidate ``x`` is damped by ``1 − ρ(x, b)²`` with ``ρ = exp(−|x − b|² / 2ℓ²)`` in unit-cube
    coordinates (ℓ = ``diversity_length``) — the kriging believer's variance update for a kernel of
    length ℓ — so a batch spreads along the boundary instead of piling onto one spot.

Determinism: members are seeded (``seed``, member index) and run on one thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .validation import check_positive_int

__all__ = ["COMMITTEE_DEFAULTS", "ClassifierCommittee"]

COMMITTEE_DEFAULTS: dict[str, Any] = {"n_members": 5, "n_estimators": 200, "max_depth": 4,
                                      "learning_rate": 0.1, "subsample": 0.8,
                                      "colsample_bytree": 0.8, "diversity_length": 0.15}
"""Settings of :class:`ClassifierCommittee` (chosen on the leading-log pool, see
``benchmarks/active_learning.py``)."""


class ClassifierCommittee:
    """Bootstrap committee of XGBoost classifiers of region membership (see module doc).

    ``fit(features, inside)``: ``features`` (n, k) finite, ``inside`` (n,) bool.
    ``predict(features)`` → (mean probability (m,), committee standard deviation (m,)).
    ``select_batch(features, unit, n)`` → (indices (n,), scores (n,)).
    """

    def __init__(self, *, seed: int = 0, n_members: int = COMMITTEE_DEFAULTS["n_members"],
                 n_estimators: int = COMMITTEE_DEFAULTS["n_estimators"],
                 max_depth: int = COMMITTEE_DEFAULTS["max_depth"],
                 learning_rate: float = COMMITTEE_DEFAULTS["learning_rate"],
                 subsample: float = COMMITTEE_DEFAULTS["subsample"],
                 colsample_bytree: float = COMMITTEE_DEFAULTS["colsample_bytree"],
                 diversity_length: float = COMMITTEE_DEFAULTS["diversity_length"]) -> None:
        for name, value in (("n_members", n_members), ("n_estimators", n_estimators),
                            ("max_depth", max_depth)):
            check_positive_int(value, name)
        for name, value in (("learning_rate", learning_rate), ("diversity_length",
                                                                diversity_length)):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value!r}")
        for name, value in (("subsample", subsample), ("colsample_bytree", colsample_bytree)):
            if not 0 < value <= 1:
                raise ValueError(f"{name} must lie in (0, 1], got {value!r}")
        self.seed = int(seed)
        self.n_members = int(n_members)
        self.n_estimators = int(n_estimators)
        self.max_depth = int(max_depth)
        self.learning_rate = float(learning_rate)
        self.subsample = float(subsample)
        self.colsample_bytree = float(colsample_bytree)
        self.diversity_length = float(diversity_length)
        self._members: list[Any] = []
        self.n_fits = 0

    def settings(self) -> dict[str, Any]:
        """The constructor arguments except the seed (for provenance)."""
        return {k: getattr(self, k) for k in COMMITTEE_DEFAULTS}

    @property
    def fitted(self) -> bool:
        return bool(self._members)

    def fit(self, features: np.ndarray, inside: np.ndarray) -> ClassifierCommittee:
        """Fit every member to a seeded bootstrap resample of ``(features, inside)``.

        A resample with one class only gives a member that predicts that class's share of the
        resample everywhere (0 or 1).
        """
        import xgboost as xgb

        x = np.asarray(features, dtype=float)
        lab = np.asarray(inside, dtype=bool)
        if x.ndim != 2 or lab.shape != (len(x),) or len(x) == 0:
            raise ValueError(f"features must be (n, k) and inside (n,) with n >= 1, got "
                             f"{x.shape} and {lab.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or inf")
        rng = np.random.default_rng([self.seed, 21, len(x)])
        members: list[Any] = []
        for k in range(self.n_members):
            idx = rng.integers(0, len(x), len(x))
            y = lab[idx].astype(int)
            if y.min() == y.max():
                members.append(float(y[0]))
                continue
            model = xgb.XGBClassifier(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                      learning_rate=self.learning_rate, subsample=self.subsample,
                                      colsample_bytree=self.colsample_bytree, tree_method="hist",
                                      random_state=self.seed * 1000 + k, n_jobs=1)
            model.fit(x[idx], y)
            members.append(model)
        self._members = members
        self.n_fits += 1
        return self

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean region probability and the members' standard deviation at ``features`` (m, k)."""
        if not self._members:
            raise RuntimeError("the committee has not been fitted yet")
        x = np.asarray(features, dtype=float)
        probs = np.stack([np.full(len(x), m) if isinstance(m, float)
                          else m.predict_proba(x)[:, 1] for m in self._members]).astype(float)
        return probs.mean(axis=0), probs.std(axis=0)

    @staticmethod
    def score(probability: np.ndarray, disagreement: np.ndarray) -> np.ndarray:
        """Acquisition score ``(1 − |2p − 1|) + s`` (to maximise), shape of the inputs."""
        return 1.0 - np.abs(2.0 * np.asarray(probability) - 1.0) + np.asarray(disagreement)

    def select_batch(self, features: np.ndarray, unit: np.ndarray, n: int
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Indices of ``n`` distinct candidates (greedy, damped disagreement; module doc) and
        their scores at the time of each pick. ``features`` (m, k) and ``unit`` (m, d) describe
        the same m candidates; 1 ≤ n ≤ m."""
        unit = np.asarray(unit, dtype=float)
        m = len(unit)
        if not 1 <= n <= m:
            raise ValueError(f"batch size {n} must be between 1 and the number of candidates {m}")
        p, s = self.predict(features)
        var = s**2
        available = np.ones(m, dtype=bool)
        chosen: list[int] = []
        scores: list[float] = []
        for _ in range(n):
            sc = np.where(available, self.score(p, np.sqrt(var)), -np.inf)
            b = int(np.argmax(sc))
            chosen.append(b)
            scores.append(float(sc[b]))
            available[b] = False
            d2 = np.sum((unit - unit[b]) ** 2, axis=1)
            var = var * (1.0 - np.exp(-d2 / (2.0 * self.diversity_length**2)) ** 2)
        return np.asarray(chosen, dtype=int), np.asarray(scores)
