"""Accuracy versus amplitude, and the amplitude f95 at which a method reaches 95 % (docs/cmb-experiment.md
section 8).

For a statistic whose two class distributions are equal-variance Gaussians separated by d', the
best threshold classifies a balanced test set with accuracy Phi(d' / 2); for a weak signal d'
grows as a power of the amplitude (first order in f for odd statistics, second for even ones).
So the curve is modelled as

    accuracy(f) = Phi((f / a)^k / 2),     f95 = a (2 Phi^-1(0.95))^(1/k),

and (a, k) are fitted by maximum binomial likelihood to the test counts at every f. f95 is None
(never reached) when it lies above the largest f measured: the fit is not extrapolated. The
interval is a bootstrap over test maps (resampled with replacement at every f) and, for learned
methods, over training seeds (resampled with replacement): 2.5 and 97.5 percentiles, an
unreached resample counting as infinite (so `high` is None when more than 2.5 % are).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize
from scipy.special import ndtr, ndtri

TARGET = 0.95
BOOTSTRAP = 400


SLOPES = (0.25, 8.0)
"""Range of the exponent k: d' between f^(1/4) and f^8 (1 and 2 are the odd and even cases)."""


def _slope(log_k: float) -> float:
    return math.exp(min(max(log_k, math.log(SLOPES[0])), math.log(SLOPES[1])))


def _negative_log_likelihood(params: np.ndarray, log_f: np.ndarray, correct: np.ndarray, n: np.ndarray) -> float:
    log_a, log_k = params
    d_prime = np.exp(np.clip(_slope(log_k) * (log_f - log_a), -50.0, 50.0))
    p = np.clip(ndtr(d_prime / 2), 1e-12, 1 - 1e-12)
    return -float(np.sum(correct * np.log(p) + (n - correct) * np.log1p(-p)))


def fit_curve(f: np.ndarray, correct: np.ndarray, n: np.ndarray, start: np.ndarray | None = None) -> np.ndarray | None:
    """Maximum-likelihood (log a, log k), from several starting points (or from `start`); None
    when no f is above chance."""
    f, correct, n = (np.asarray(x, dtype=np.float64) for x in (f, correct, n))
    accuracy = correct / n
    if accuracy.max() < 0.5 + 1e-9:
        return None
    log_f = np.log(f)
    if start is None:
        centre = math.log(float(f[np.argmin(np.abs(accuracy - 0.75))]))  # a near the f of ~75 %
        starts = [np.array([centre + math.log(s), math.log(k)]) for s in (0.5, 1.0, 2.0) for k in (1.0, 2.0)]
    else:
        starts = [start]
    fits = [minimize(_negative_log_likelihood, x0, args=(log_f, correct, n), method="Nelder-Mead",
                     options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 2000}) for x0 in starts]
    return min(fits, key=lambda r: r.fun).x


def f95_of(params: np.ndarray | None, f_max: float) -> float | None:
    if params is None:
        return None
    log_f95 = params[0] + math.log(2 * ndtri(TARGET)) / _slope(params[1])
    return math.exp(log_f95) if log_f95 <= math.log(f_max) + 1e-12 else None


def fit_f95(f: np.ndarray, correct: np.ndarray, n: np.ndarray) -> float | None:
    """f95 of the fitted curve through (f, correct / n), or None when above max(f)."""
    return f95_of(fit_curve(f, correct, n), float(np.max(f)))


def f95_with_interval(f: np.ndarray, correct: np.ndarray, n: np.ndarray, rng: np.random.Generator,
                      bootstrap: int = BOOTSTRAP) -> dict:
    """{"f95", "low", "high"} from per-seed correctness: correct is (n_seeds, n_f, max n) of 0/1
    with n (n_f,) test maps at each f (entries beyond n[i] ignored)."""
    f, n = np.asarray(f, dtype=np.float64), np.asarray(n)
    correct = np.asarray(correct, dtype=np.float64)
    n_seeds = correct.shape[0]
    counts = np.array([correct[:, i, : n[i]].sum(axis=1) for i in range(len(f))]).T  # (seeds, n_f)
    params = fit_curve(f, counts.sum(0), n * n_seeds)
    estimate = f95_of(params, float(f.max()))
    draws = []
    for _ in range(bootstrap):
        seeds = rng.integers(0, n_seeds, n_seeds)
        resampled = np.array([correct[np.ix_(seeds, [i], rng.integers(0, n[i], n[i]))].sum() for i in range(len(f))])
        value = f95_of(fit_curve(f, resampled, n * n_seeds, start=params), float(f.max()))
        draws.append(math.inf if value is None else value)
    low, high = np.percentile(draws, 2.5, method="lower"), np.percentile(draws, 97.5, method="higher")  # no interpolation with inf
    return {"f95": estimate, "low": None if math.isinf(low) else float(low), "high": None if math.isinf(high) else float(high)}
