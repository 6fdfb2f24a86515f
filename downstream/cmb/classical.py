"""Classical classifiers on per-map statistics (docs/cmb-experiment.md section 7), with scikit-learn.

Every feature set (a power spectrum, one skewness, a vector of band moments or Minkowski
functionals, the cubic estimator) is classified the same way: standardised on the training maps,
then an L2-regularised logistic regression whose penalty is chosen by stratified 5-fold
cross-validation of the log loss on the training maps alone (``LogisticRegressionCV``). The test maps are only
predicted.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

CV_FOLDS = 5
PENALTIES = np.logspace(-4, 4, 17)
"""Inverse L2 penalties C tried by the cross-validation."""


def log_binned_spectrum(cl: np.ndarray, n_bins: int = 16, l_min: int = 2) -> np.ndarray:
    """(..., L) spectra C_l -> (..., n_bins): log of the mean C_l in equal-width l bins over
    [l_min, L) (fewer bins if there are fewer degrees)."""
    L = cl.shape[-1]
    if not 0 <= l_min < L:
        raise ValueError(f"l_min must be in [0, {L}), got {l_min}")
    edges = np.unique(np.linspace(l_min, L, n_bins + 1).round().astype(int))
    return np.log(np.stack([cl[..., a:b].mean(-1) for a, b in zip(edges[:-1], edges[1:])], axis=-1))


def classifier(seed: int = 0):
    """The one classical classifier: scaling, then logistic regression with a cross-validated penalty."""
    folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed)
    return make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=PENALTIES, cv=folds, l1_ratios=(0.0,), scoring="neg_log_loss",
                                                                use_legacy_attributes=False, max_iter=10_000))


def fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, float]:
    """Predicted labels of the test maps, and the penalty C the cross-validation chose."""
    model = classifier(seed).fit(np.asarray(train_x, dtype=np.float64), np.asarray(train_y))
    return model.predict(np.asarray(test_x, dtype=np.float64)), float(model[-1].C_)
