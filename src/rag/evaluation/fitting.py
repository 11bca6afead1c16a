"""Logistic regression for the answerer's two models (pure numpy).

L2-regularised (ridge on the weights, not the bias) on standardised features, so
the penalty treats every feature alike whatever its scale, fitted by Newton's method:
a handful of features and a few hundred rows converge in under ten steps, and the
result does not depend on a learning rate or a seed.

    >>> x = [[0.0], [0.2], [0.8], [1.0]]
    >>> model = fit_logistic(x, [0, 0, 1, 1], ["f"], l2=0.01)
    >>> model.probability({"f": 1.0}) > 0.9 > 0.1 > model.probability({"f": 0.0})
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..tuning import LinearModel

L2 = 1.0  # ridge strength: a plain default that keeps weights finite on separable data
STEPS = 50


def fit_logistic(
    rows: Sequence[Sequence[float]], labels: Sequence[int], names: Sequence[str], l2: float = L2
) -> LinearModel:
    """The LinearModel maximising the penalised log-likelihood of `labels` (0/1)."""
    x = np.asarray(rows, dtype=float)
    y = np.asarray(labels, dtype=float)
    if x.ndim != 2 or len(x) != len(y) or x.shape[1] != len(names):
        raise ValueError("rows, labels and names do not fit together")
    if len(set(labels)) < 2:
        raise ValueError("both classes are needed to fit a logistic model")
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    a = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w = np.zeros(a.shape[1])
    penalty = np.full(a.shape[1], l2)
    penalty[0] = 0.0  # the bias is not shrunk
    for _ in range(STEPS):
        p = 1.0 / (1.0 + np.exp(-(a @ w)))
        gradient = a.T @ (p - y) + penalty * w
        hessian = (a * (p * (1 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    weights = w[1:] / std  # back to the raw features' scale
    bias = w[0] - float(weights @ mean)
    return LinearModel(
        bias=round(float(bias), 3),
        weights=tuple((n, round(float(v), 3)) for n, v in zip(names, weights, strict=True)),
    )
