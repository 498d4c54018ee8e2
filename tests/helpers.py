"""Shared test fixtures: the SDEs under test and Monte-Carlo checks against the oracle."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from score_sde.sde import VESDE, VPSDE, CosineVPSDE, EDMPath, LinearFlow, SubVPSDE, TrigFlowPath

ALL_SDES = [VPSDE(), SubVPSDE(), VESDE()]
SDE_IDS = ["vp", "subvp", "ve"]
# the processes beyond the reference's three
NEW_PROCESSES = [CosineVPSDE(), LinearFlow(), EDMPath(), TrigFlowPath()]
NEW_IDS = ["cosine", "flow", "edm", "trigflow"]


def assert_matches_mixture(samples, oracle, z_max: float = 4.5):
    """Checks component weights, means and covariances of samples against the oracle at t = 0.

    Uses responsibility-weighted moments, unbiased for the exact mixture:
      E[r_k(x)] = w_k,  E[r_k(x) x] = w_k mu_k,  E[r_k(x) x x^T] = w_k (Sigma_k + mu_k mu_k^T).
    Each estimate must lie within z_max Monte-Carlo standard errors (estimated from the samples)
    of the exact value; 4.5 sigma keeps the chance of a false failure over ~40 checks below 1e-4.
    """
    x = np.asarray(samples, np.float64).reshape(samples.shape[0], -1)
    n = x.shape[0]
    r = np.asarray(oracle.responsibilities(jnp.asarray(samples), jnp.zeros((n,))), np.float64)
    weights = np.asarray(oracle.weights, np.float64)
    means = np.asarray(oracle.means, np.float64)
    covs = np.asarray(oracle.covariances, np.float64)
    s0 = float(oracle.process.marginal_coefficients(jnp.zeros((1,)))[1][0])  # VE: sigma_min noise at t=0
    covs = covs + s0**2 * np.eye(x.shape[1])
    stats = {
        "weights": (r, weights[None, :]),
    }
    for k in range(len(weights)):
        stats[f"mean{k}"] = (r[:, k : k + 1] * x, (weights[k] * means[k])[None])
        second = r[:, k, None, None] * x[:, :, None] * x[:, None, :]
        stats[f"second{k}"] = (
            second.reshape(n, -1),
            (weights[k] * (covs[k] + np.outer(means[k], means[k]))).reshape(1, -1),
        )
    for name, (values, expected) in stats.items():
        estimate = values.mean(0)
        stderr = values.std(0) / np.sqrt(n)
        # a statistic with no sampling variance (one component: r = 1) must match exactly
        difference = np.abs(estimate - expected[0])
        z = np.where(
            stderr > 0, difference / np.where(stderr > 0, stderr, 1.0), np.where(difference < 1e-9, 0.0, np.inf)
        )
        assert np.all(z < z_max), f"{name}: estimate {estimate} vs exact {expected[0]} ({z.max():.1f} standard errors)"


def counting(score_fn):
    """Wraps score_fn so that each evaluation on device increments a host-side counter.

    Returns (counted_score_fn, count) with count[0] the number of evaluations so far.
    """
    count = [0]

    def counted(x, t):
        jax.debug.callback(lambda: count.__setitem__(0, count[0] + 1))
        return score_fn(x, t)

    return counted, count


@functools.cache
def exact_flow_solution(sde, shape: tuple[int, ...], eps: float):
    """The probability-flow ODE solved from seed 0's prior draw to eps with dopri8 at tolerance
    1e-7 and the example mixture's exact score: the reference of the convergence-order tests
    (computed once per process in a test run)."""
    from score_sde.oracle import example_mixture
    from score_sde.sampling import sample_ode

    score = example_mixture(sde).score
    return sample_ode(
        jax.random.PRNGKey(0), sde, score, shape, solver="dopri8", rtol=1e-7, atol=1e-7, eps=eps, denoise=False
    )[0]


MIXTURE_WEIGHTS = np.array([0.5, 0.3, 0.2])
MIXTURE_MEANS = np.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]])
MIXTURE_COVARIANCES = np.array([[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]], [[0.25, 0.0], [0.0, 0.15]]])


def mixture_denoiser(x: np.ndarray, sigma) -> np.ndarray:
    """E[x_0 | x_0 + sigma z = x] (B, 2) of example_mixture's data in float64, written out here for
    sigma a scalar or per example (B,): sum_k r_k(x) (m_k + C_k (C_k + sigma^2 I)^-1 (x - m_k)),
    r_k proportional to w_k N(x; m_k, C_k + sigma^2 I)."""
    variance = np.broadcast_to(np.asarray(sigma, np.float64) ** 2, x.shape[:1])[:, None, None]
    log_r, means = [], []
    for w, m, c in zip(MIXTURE_WEIGHTS, MIXTURE_MEANS, MIXTURE_COVARIANCES):
        cov = c + variance * np.eye(2)  # (B, 2, 2)
        diff = x - m
        solved = np.linalg.solve(cov, diff[..., None])[..., 0]
        log_r.append(np.log(w) - 0.5 * np.sum(diff * solved, -1) - 0.5 * np.log(np.linalg.det(cov)))
        means.append(m + solved @ c.T)
    log_r = np.stack(log_r)
    r = np.exp(log_r - log_r.max(0))
    return np.einsum("kb,kbd->bd", r / r.sum(0), np.stack(means))
