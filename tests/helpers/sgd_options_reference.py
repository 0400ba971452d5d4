"""A pure-NumPy reference for MiniBatchSGDRegressor's scikit-learn options: the losses,
the L1 / elastic-net penalty by the cumulative truncation (Tsuruoka et al. 2009), averaging
(ASGD), the learning-rate schedules, sample weights and a starting point, one batch at a
time in the plainest code, to check the fused kernel against (same maths)."""

import numpy as np


def loss_slope(loss, eps, r):
    """dL/dr of scikit-learn's regression losses, r = prediction - target."""
    if loss == "squared_error":
        return r
    if loss == "huber":
        return np.clip(r, -eps, eps)
    if loss == "epsilon_insensitive":
        return np.where(r > eps, 1.0, np.where(r < -eps, -1.0, 0.0))
    if loss == "squared_epsilon_insensitive":
        return np.where(r > eps, 2 * (r - eps), np.where(r < -eps, 2 * (r + eps), 0.0))
    raise ValueError(loss)


def loss_value(loss, eps, r):
    """L(r), as scikit-learn defines it (the squared error is r^2 / 2)."""
    a = np.abs(r)
    if loss == "squared_error":
        return r * r / 2
    if loss == "huber":
        return np.where(a <= eps, r * r / 2, eps * a - eps * eps / 2)
    if loss == "epsilon_insensitive":
        return np.maximum(0.0, a - eps)
    if loss == "squared_epsilon_insensitive":
        return np.maximum(0.0, a - eps) ** 2
    raise ValueError(loss)


def strengths(penalty, alpha, l1_ratio):
    """(l1, l2): the penalty is l1 ||beta||_1 + l2 / 2 ||beta||^2."""
    ratio = {"l2": 0.0, "l1": 1.0, "elasticnet": l1_ratio, None: 0.0}[penalty]
    if penalty is None:
        return 0.0, 0.0
    return alpha * ratio, alpha * (1 - ratio)


class ReferenceSGD:
    """Mini-batch SGD on standardised rows ``Z`` one batch at a time.

    Per batch (weights ``w``, ``W = sum w``; a batch with ``W == 0`` is not a step of
    the parameters, but counts as a step): ``g = w L'(r)``,
    ``beta -= lr (Z^T g / W + l2 beta)``, ``b -= lr sum(g) / W``; then the cumulative L1
    truncation; then, from step ``average`` on, running means of the iterates.  With
    ``power_t`` the rate of step t (counted from 1 over the whole fit) is
    ``lr / t**power_t``.
    """

    def __init__(self, Z, y, *, w=None, alpha=0.0, penalty="l2", l1_ratio=0.15,
                 loss="squared_error", epsilon=0.1, average=0, fit_intercept=True,
                 beta=None, b=0.0):
        self.Z, self.y = np.asarray(Z, dtype=np.float64), np.asarray(y, dtype=np.float64)
        n, d = self.Z.shape
        self.w = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
        self.l1, self.l2 = strengths(penalty, alpha, l1_ratio)
        self.loss, self.eps, self.average = loss, epsilon, average
        self.fit_intercept = fit_intercept
        self.beta = np.zeros(d) if beta is None else np.array(beta, dtype=np.float64)
        self.b = float(b)
        self.u, self.q, self.t = 0.0, np.zeros(d), 0
        self.avg, self.avg_b = np.zeros(d), 0.0

    def epoch(self, order, batch_size, lr, power_t=None):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            self.t += 1
            rate = lr / self.t ** power_t if power_t else lr
            Zb, w = self.Z[idx], self.w[idx]
            g = w * loss_slope(self.loss, self.eps, Zb @ self.beta + self.b - self.y[idx])
            W = w.sum()
            if W > 0:
                self.beta = self.beta - rate * (Zb.T @ g / W + self.l2 * self.beta)
                if self.fit_intercept:
                    self.b -= rate * g.sum() / W
                if self.l1:
                    self.u += rate * self.l1
                    self._clip()
            if self.average and self.t >= self.average:
                count = self.t - self.average + 1
                self.avg = self.avg + (self.beta - self.avg) / count
                self.avg_b += (self.b - self.avg_b) / count
        return self

    def _clip(self):
        z = self.beta.copy()
        pos, neg = z > 0, z < 0
        self.beta[pos] = np.maximum(0.0, z[pos] - (self.u + self.q[pos]))
        self.beta[neg] = np.minimum(0.0, z[neg] + (self.u - self.q[neg]))
        self.q += self.beta - z

    def fitted(self):
        """(beta, b) as the model stands: the averages once averaging has started."""
        if self.average and self.t >= self.average:
            return self.avg, self.avg_b
        return self.beta, self.b

    def objective(self):
        """J = sum(w L(r)) / sum(w) + the penalty, for the fitted parameters."""
        beta, b = self.fitted()
        r = self.Z @ beta + b - self.y
        data = self.w @ loss_value(self.loss, self.eps, r) / self.w.sum()
        return data + self.l1 * np.abs(beta).sum() + self.l2 / 2 * beta @ beta


def elastic_net_objective(Z, y, coef, intercept, alpha, l1_ratio):
    """scikit-learn ElasticNet's objective (unweighted)."""
    r = Z @ coef + intercept - y
    return (r @ r / (2 * len(y)) + alpha * l1_ratio * np.abs(coef).sum()
            + alpha * (1 - l1_ratio) / 2 * coef @ coef)


def sparse_standardized_data(n, d, relevant, *, seed=0, noise=0.5):
    """``(Z, y, truth)``: standardised features (exactly mean 0, std 1), a truth with
    ``relevant`` non-zero coefficients, and y with Gaussian noise."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, d))
    Z = (Z - Z.mean(0)) / Z.std(0)
    truth = np.zeros(d)
    truth[:relevant] = rng.choice([-1.0, 1.0], relevant) * rng.uniform(1.0, 3.0, relevant)
    y = Z @ truth + 0.7 + noise * rng.standard_normal(n)
    return Z, y, truth
