"""Power-spectrum-only baseline: logistic regression on log binned power spectra of one channel.

The control classifier of the CMB experiment (docs/cmb-experiment.md section 5; McEwen, Wallis &
Mavor-Parker, ICLR 2022, arXiv:2102.02828): when both classes share one expected power spectrum,
it is at chance, and any accuracy above chance of the scattering + spherical CNN pipeline comes
from higher-order statistics. Multinomial, L2-regularised, fitted with L-BFGS (scipy), features
standardised on the training maps.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax

from downstream.data.index import open_cache, read_cache_index, select_maps


def log_binned_spectrum(cl: np.ndarray, n_bins: int = 16, l_min: int = 2) -> np.ndarray:
    """(..., L) spectra C_l -> (..., n_bins): log of the mean C_l in equal-width l bins over
    [l_min, L) (fewer bins if there are fewer degrees)."""
    L = cl.shape[-1]
    if not 0 <= l_min < L:
        raise ValueError(f"l_min must be in [0, {L}), got {l_min}")
    edges = np.unique(np.linspace(l_min, L, n_bins + 1).round().astype(int))
    return np.log(np.stack([cl[..., a:b].mean(-1) for a, b in zip(edges[:-1], edges[1:])], axis=-1))


class SpectrumClassifier:
    """Logistic regression on :func:`log_binned_spectrum` features; `l2` is the penalty on the
    weights of the standardised features."""

    def __init__(self, n_bins: int = 16, l_min: int = 2, l2: float = 1e-2):
        self.n_bins, self.l_min, self.l2 = n_bins, l_min, l2

    def _features(self, cl: np.ndarray) -> np.ndarray:
        return (log_binned_spectrum(np.asarray(cl, dtype=np.float64), self.n_bins, self.l_min) - self.mean_) / self.std_

    def fit(self, cl: np.ndarray, labels: np.ndarray) -> SpectrumClassifier:
        """cl: (n, L) power spectra; labels: (n,) integers 0..K-1."""
        features = log_binned_spectrum(np.asarray(cl, dtype=np.float64), self.n_bins, self.l_min)
        self.mean_, self.std_ = features.mean(0), features.std(0) + 1e-12
        X = np.hstack([self._features(cl), np.ones((len(features), 1))])
        labels = np.asarray(labels)
        K = int(labels.max()) + 1
        onehot = np.eye(K)[labels]
        penalty = np.ones((X.shape[1], 1))
        penalty[-1] = 0.0  # the intercept is not penalised

        def loss_and_grad(w):
            W = w.reshape(X.shape[1], K)
            logp = log_softmax(X @ W, axis=1)
            loss = -(onehot * logp).sum() / len(X) + self.l2 * (penalty * W**2).sum()
            grad = X.T @ (np.exp(logp) - onehot) / len(X) + 2 * self.l2 * penalty * W
            return loss, grad.ravel()

        result = minimize(loss_and_grad, np.zeros(X.shape[1] * K), jac=True, method="L-BFGS-B")
        self.weights_ = result.x.reshape(X.shape[1], K)
        return self

    def decision_function(self, cl: np.ndarray) -> np.ndarray:
        """(n, K) class scores (logits)."""
        X = self._features(cl)
        return X @ self.weights_[:-1] + self.weights_[-1]

    def predict(self, cl: np.ndarray) -> np.ndarray:
        return self.decision_function(cl).argmax(1)

    def score(self, cl: np.ndarray, labels: np.ndarray) -> float:
        """Accuracy."""
        return float((self.predict(cl) == np.asarray(labels)).mean())


def cross_validated_accuracy(cl: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0, **options) -> list[float]:
    """Accuracy of :class:`SpectrumClassifier` (`options`) on each of `folds` seeded folds."""
    order = np.random.default_rng(seed).permutation(len(labels))
    scores = []
    for test in np.array_split(order, folds):
        train = np.setdiff1d(order, test)
        scores.append(SpectrumClassifier(**options).fit(cl[train], labels[train]).score(cl[test], labels[test]))
    return scores


def cache_spectra(cache_path: str, split: str = "all", path: int = 0, *, fractions=(0.7, 0.15, 0.15), seed: int = 0):
    """(C_l (n, L0), labels (n,)) of one scattering path (default the zeroth-order path, the
    low-passed map) for the done, labelled maps of a split (chosen as in training)."""
    index = read_cache_index(cache_path)
    maps = select_maps(index, split, fractions, seed)
    spectra = open_cache(cache_path)["power_spectra"].get_orthogonal_selection((maps, path, slice(None)))
    return spectra, index.labels[maps]
