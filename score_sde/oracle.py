"""Analytic Gaussian-mixture oracle: exact scores, denoisers and densities under any process.

If x_0 follows sum_k w_k N(mu_k, Sigma_k) and the process's marginal is x_t = a(t) x_0 + s(t) z
(`process.marginal_coefficients`), then p_t = sum_k w_k N(a(t) mu_k, a(t)^2 Sigma_k + s(t)^2 I)
exactly. That p_t is the law of the forward process at time t started from p_0 (for the VE
SDE, whose s(0) = sigma_min, p_0 already carries that small noise). Scores, denoisers and
log-densities are closed forms, so samplers, losses and likelihoods can be proven right
without training a network.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import Array
from score_sde.sde import SDE


@dataclasses.dataclass(frozen=True, eq=False)
class GaussianMixture:
    """Mixture of K full-covariance Gaussians on events of shape `event_shape` (D = prod).

    Args:
      process: the forward process whose marginals are used.
      weights: (K,) positive mixture weights (normalised here).
      means: (K, D) component means.
      covariances: (K, D, D) symmetric positive-definite covariances at t = 0.
      event_shape: shape of one example; defaults to (D,).
    """

    process: SDE
    weights: Array
    means: Array
    covariances: Array
    event_shape: tuple[int, ...] | None = None

    def __post_init__(self):
        weights = jnp.asarray(self.weights, jnp.float32)
        means = jnp.asarray(self.means, jnp.float32)
        covs = jnp.asarray(self.covariances, jnp.float32)
        K, D = means.shape
        if weights.shape != (K,) or covs.shape != (K, D, D):
            raise ValueError(
                f"GaussianMixture expects weights (K,), means (K, D), covariances (K, D, D); "
                f"got {weights.shape}, {means.shape}, {covs.shape}"
            )
        event_shape = (D,) if self.event_shape is None else tuple(self.event_shape)
        if int(np.prod(event_shape)) != D:
            raise ValueError(f"event_shape={event_shape} does not hold D={D} values")
        object.__setattr__(self, "weights", weights / jnp.sum(weights))
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "covariances", covs)
        object.__setattr__(self, "event_shape", event_shape)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def _eigen(self) -> tuple[Array, Array]:
        """Sigma_k = U_k diag(lambda_k) U_k^T: eigenvalues (K, D) and eigenvectors (K, D, D).

        a^2 Sigma_k + s^2 I has the same eigenvectors and eigenvalues a^2 lambda + s^2, so every
        time shares one decomposition: no factorisation per call.
        """
        return jnp.linalg.eigh(self.covariances)

    def _flat(self, x: Array) -> Array:
        return jnp.reshape(x, (x.shape[0], self.dim))

    def _component_terms(self, x: Array, t: Array, posterior: bool = False):
        """log w_k + log N_k(x) (B, K), and C_k^-1 r (B, K, D) for the residuals r = x - a mu_k,
        with C_k = a^2 Sigma_k + s^2 I; with `posterior`, Sigma_k C_k^-1 r instead."""
        a, s = self.process.marginal_coefficients(t)
        eigenvalues, eigenvectors = self._eigen()
        variances = a[:, None, None] ** 2 * eigenvalues[None] + (s**2)[:, None, None]  # (B, K, D)
        residual = self._flat(x)[:, None, :] - a[:, None, None] * self.means[None]
        rotated = jnp.einsum("kdj,bkd->bkj", eigenvectors, residual)  # U^T r
        log_norm = -0.5 * jnp.sum(rotated**2 / variances + jnp.log(2 * jnp.pi * variances), axis=-1)
        scaled = rotated / variances * (eigenvalues[None] if posterior else 1.0)
        return jnp.log(self.weights)[None] + log_norm, jnp.einsum("kdj,bkj->bkd", eigenvectors, scaled)

    def log_prob(self, x: Array, t: Array) -> Array:
        """log p_t(x), shape (B,), for x (B, *event_shape) and t (B,)."""
        logits, _ = self._component_terms(x, t)
        return jax.nn.logsumexp(logits, axis=-1)

    def responsibilities(self, x: Array, t: Array) -> Array:
        """Posterior component probabilities p_t(k | x), shape (B, K)."""
        logits, _ = self._component_terms(x, t)
        return jax.nn.softmax(logits, axis=-1)

    def log_responsibilities(self, x: Array, t: Array) -> Array:
        """log p_t(k | x), shape (B, K): the exact noise-conditional classifier when class = component."""
        logits, _ = self._component_terms(x, t)
        return jax.nn.log_softmax(logits, axis=-1)

    def component(self, k: int) -> "GaussianMixture":
        """The oracle of component k alone: the exact class-conditional p_t(x | k)."""
        return GaussianMixture(
            self.process, jnp.ones((1,)), self.means[k : k + 1], self.covariances[k : k + 1], self.event_shape
        )

    def conditional(self, known: np.ndarray, values: Array) -> "GaussianMixture":
        """The exact law of the unknown coordinates given x_0[known] = values, a mixture over the
        unknown coordinates (Gaussian conditioning in each component, weights reweighted by the
        likelihood of the values): what exact inpainting samples.

        Args:
          known: boolean (D,) over the flattened event; values: (D,) (only the known ones are read).
        """
        known = np.asarray(known, bool).reshape(-1)
        k, u = np.flatnonzero(known), np.flatnonzero(~known)
        y = jnp.reshape(jnp.asarray(values, jnp.float32), (-1,))[k]
        cov_kk = self.covariances[:, k][:, :, k]
        cov_uk = self.covariances[:, u][:, :, k]
        residual = y[None] - self.means[:, k]
        gain = jnp.linalg.solve(cov_kk, jnp.swapaxes(cov_uk, 1, 2))  # Sigma_kk^-1 Sigma_ku, (K, k, u)
        means = self.means[:, u] + jnp.einsum("kiu,ki->ku", gain, residual)
        covs = self.covariances[:, u][:, :, u] - jnp.einsum("kui,kiv->kuv", cov_uk, gain)
        _, logdet = jnp.linalg.slogdet(cov_kk)
        log_lik = -0.5 * (
            jnp.einsum("ki,ki->k", residual, jnp.linalg.solve(cov_kk, residual[..., None])[..., 0]) + logdet
        )
        weights = jax.nn.softmax(jnp.log(self.weights) + log_lik)
        return GaussianMixture(self.process, weights, means, covs)

    def score(self, x: Array, t: Array) -> Array:
        """grad_x log p_t(x) = -sum_k p(k | x) C_k^-1 (x - m_k), shaped like x."""
        logits, precision_residual = self._component_terms(x, t)
        score = -jnp.sum(jax.nn.softmax(logits, -1)[..., None] * precision_residual, axis=1)
        return jnp.reshape(score, x.shape)

    def denoise(self, x: Array, t: Array) -> Array:
        """E[x_0 | x_t = x] = sum_k p(k | x) (mu_k + a Sigma_k C_k^-1 (x - a mu_k)), shaped like x;
        finite also where a(t) = 0."""
        logits, gain_residual = self._component_terms(x, t, posterior=True)
        a = self.process.marginal_coefficients(t)[0]
        means = self.means[None] + a[:, None, None] * gain_residual  # (B, K, D)
        return jnp.reshape(jnp.sum(jax.nn.softmax(logits, -1)[..., None] * means, axis=1), x.shape)

    def velocity(self, x: Array, t: Array) -> Array:
        """The probability flow's velocity dx/dt = E[a' x_0 + s' z | x_t = x] = a' D(x, t) - s' s score,
        shaped like x; finite also where a(t) or s(t) = 0 (the ends of the linear path)."""
        (_, s), (da, ds) = jax.jvp(self.process.marginal_coefficients, (t,), (jnp.ones_like(t),))
        expand = lambda c: jnp.reshape(c, (-1,) + (1,) * (x.ndim - 1))
        return expand(da) * self.denoise(x, t) - expand(ds * s) * self.score(x, t)

    def flow_map(self, x: Array, t_from: Array, t_to: Array, steps: int = 200, log_time: bool = False) -> Array:
        """The probability-flow ODE's solution at times t_to (B,) from x (B, *event) at t_from (B,), by
        `steps` RK4 steps uniform in t (or in ln t, for paths whose time is a noise level spanning
        decades, as EDM's); differentiable, also forward-mode."""
        start, end = (jnp.log(t_from), jnp.log(t_to)) if log_time else (t_from, t_to)
        expand = lambda c: jnp.reshape(c, (-1,) + (1,) * (x.ndim - 1))

        def slope(y, fraction):  # dy / d(fraction) with the time start + fraction (end - start)
            u = start + fraction * (end - start)
            t = jnp.exp(u) if log_time else u
            return expand((t if log_time else 1.0) * (end - start)) * self.velocity(y, t)

        def step(y, i):
            f0, h = i / steps, 1.0 / steps
            k1 = slope(y, f0)
            k2 = slope(y + 0.5 * h * k1, f0 + 0.5 * h)
            k3 = slope(y + 0.5 * h * k2, f0 + 0.5 * h)
            k4 = slope(y + h * k3, f0 + h)
            return y + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4), None

        return jax.lax.scan(step, x, jnp.arange(steps, dtype=jnp.float32))[0]

    def _components(self, t: Array):
        """Component means (B, K, D) and covariance square roots (B, K, D, D) at times t (B,)."""
        a, s = self.process.marginal_coefficients(t)
        eigenvalues, eigenvectors = self._eigen()
        scales = jnp.sqrt(a[:, None, None] ** 2 * eigenvalues[None] + (s**2)[:, None, None])
        return a[:, None, None] * self.means[None], eigenvectors[None] * scales[:, :, None, :]

    def sample(self, rng: Array, n: int, t: float | Array = 0.0) -> tuple[Array, Array]:
        """n samples of p_t (n, *event_shape) and their component labels (n,)."""
        k_rng, z_rng = jax.random.split(rng)
        labels = jax.random.choice(k_rng, self.weights.shape[0], (n,), p=self.weights)
        means, chol = self._components(jnp.full((n,), t, jnp.float32))
        z = jax.random.normal(z_rng, (n, self.dim))
        idx = jnp.arange(n)
        x = means[idx, labels] + jnp.einsum("bij,bj->bi", chol[idx, labels], z)
        return jnp.reshape(x, (n, *(self.event_shape or ()))), labels

    def moments(self, t: float = 0.0) -> tuple[Array, Array]:
        """Mean (D,) and covariance (D, D) of p_t, in closed form."""
        means, chol = self._components(jnp.full((1,), t, jnp.float32))
        means, covs = means[0], chol[0] @ jnp.swapaxes(chol[0], -1, -2)
        mean = self.weights @ means
        centred = means - mean
        cov = jnp.einsum("k,kij->ij", self.weights, covs) + jnp.einsum("k,ki,kj->ij", self.weights, centred, centred)
        return mean, cov


def example_mixture(process: SDE) -> GaussianMixture:
    """The 2-D, three-component, anisotropic mixture used by the tests and benchmarks."""
    means = jnp.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]])
    covariances = jnp.array(
        [
            [[0.3, 0.1], [0.1, 0.2]],
            [[0.2, -0.05], [-0.05, 0.4]],
            [[0.25, 0.0], [0.0, 0.15]],
        ]
    )
    return GaussianMixture(process, jnp.array([0.5, 0.3, 0.2]), means, covariances)
