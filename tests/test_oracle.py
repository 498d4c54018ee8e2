import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from score_sde.oracle import GaussianMixture, example_mixture
from tests.helpers import ALL_SDES, NEW_IDS, NEW_PROCESSES, SDE_IDS


@pytest.mark.parametrize("sde", ALL_SDES + NEW_PROCESSES, ids=SDE_IDS + NEW_IDS)
def test_score_is_the_gradient_of_log_prob(sde):
    oracle = example_mixture(sde)
    x = jax.random.normal(jax.random.PRNGKey(0), (16, 2)) * 2.0
    t = jnp.linspace(1e-3, 1.0, 16) * sde.T
    grad = jax.grad(lambda x: oracle.log_prob(x, t).sum())(x)
    np.testing.assert_allclose(oracle.score(x, t), grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sde", ALL_SDES + NEW_PROCESSES, ids=SDE_IDS + NEW_IDS)
def test_log_prob_matches_scipy(sde):
    oracle = example_mixture(sde)
    x = jax.random.normal(jax.random.PRNGKey(1), (8, 2))
    t = 0.4 * sde.T
    a, s = (float(v[0]) for v in sde.marginal_coefficients(jnp.array([t])))
    density = sum(
        float(w)
        * stats.multivariate_normal(a * np.asarray(m), a**2 * np.asarray(c) + s**2 * np.eye(2)).pdf(np.asarray(x))
        for w, m, c in zip(oracle.weights, oracle.means, oracle.covariances)
    )
    np.testing.assert_allclose(oracle.log_prob(x, jnp.full((8,), t)), np.log(density), rtol=1e-5)


@pytest.mark.parametrize("sde", ALL_SDES + NEW_PROCESSES, ids=SDE_IDS + NEW_IDS)
def test_the_denoiser_is_the_posterior_mean(sde):
    """E[x_0 | x_t] against Gaussian conditioning in float64 (one component at a time, weighted
    by the exact responsibilities), and Tweedie's formula from the score where a(t) > 0."""
    oracle = example_mixture(sde)
    x = jax.random.normal(jax.random.PRNGKey(3), (6, 2)) * 2.0
    t = jnp.array([0.01, 0.2, 0.5, 0.8, 0.95, 1.0]) * sde.T
    a, s = (np.asarray(v, np.float64) for v in sde.marginal_coefficients(t))
    r = np.asarray(oracle.responsibilities(x, t), np.float64)
    expected = np.zeros((6, 2))
    for k, (m, c) in enumerate(zip(np.asarray(oracle.means, np.float64), np.asarray(oracle.covariances, np.float64))):
        for i in range(6):
            gain = a[i] * c @ np.linalg.inv(a[i] ** 2 * c + s[i] ** 2 * np.eye(2))
            expected[i] += r[i, k] * (m + gain @ (np.asarray(x[i], np.float64) - a[i] * m))
    np.testing.assert_allclose(oracle.denoise(x, t), expected, rtol=1e-4, atol=1e-5)
    tweedie = (x + (s**2)[:, None] * oracle.score(x, t)) / a[:, None]
    np.testing.assert_allclose(oracle.denoise(x, t), tweedie, rtol=1e-3, atol=1e-3)


def test_image_shaped_events():
    sde = ALL_SDES[0]
    D = 2 * 2 * 3
    rng = np.random.default_rng(0)
    covs = np.stack([np.eye(D) * 0.1 + 0.01 * (lambda a: a @ a.T)(rng.normal(size=(D, D))) for _ in range(2)])
    oracle = GaussianMixture(sde, np.array([0.4, 0.6]), rng.normal(size=(2, D)), covs, event_shape=(2, 2, 3))
    x, labels = oracle.sample(jax.random.PRNGKey(0), 5)
    assert x.shape == (5, 2, 2, 3) and labels.shape == (5,)
    t = jnp.full((5,), 0.3)
    grad = jax.jit(jax.grad(lambda x: oracle.log_prob(x, t).sum()))(x)
    np.testing.assert_allclose(jax.jit(oracle.score)(x, t), grad, rtol=1e-4, atol=1e-4)


def test_samples_have_the_closed_form_moments():
    oracle = example_mixture(ALL_SDES[0])
    x, _ = oracle.sample(jax.random.PRNGKey(2), 40000, t=0.2)
    mean, cov = oracle.moments(0.2)
    se = np.sqrt(np.diag(cov) / 40000)
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), 4.5 * se)
    np.testing.assert_allclose(np.cov(np.asarray(x).T), cov, atol=0.06)  # ~4 standard errors of entries ~2


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="covariances"):
        GaussianMixture(ALL_SDES[0], np.ones(2), np.zeros((2, 3)), np.ones((2, 2, 2)))
