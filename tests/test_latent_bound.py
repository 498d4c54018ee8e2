"""LSGM's bound against closed forms: a linear Gaussian encoder and decoder around a latent
Gaussian-mixture prior (the oracle, whose density the probability-flow ODE recovers), where the
model's marginal p(x) and the exact posterior p(z | x) are mixtures in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from score_sde.latent_bound import latent_bits_per_dim, latent_bound, posterior_draws
from score_sde.likelihood import log_likelihood
from score_sde.oracle import GaussianMixture
from score_sde.sde import VPSDE

EPS = 1e-3
ODE_TOLERANCE = 2e-3  # nats, per example: the ODE at rtol = atol = 1e-6 against the closed form
SIGMA = 0.3  # the decoder's noise
A = np.array([[1.2, 0.4], [-0.3, 0.9]])  # decoder x = A z + b + SIGMA n
B = np.array([0.5, -0.2])
E = np.linalg.inv(A) * 0.9  # an encoder near the inverse, not the exact posterior
F = np.array([0.1, 0.05])
ENCODER_LOG_VARIANCE = np.log(np.array([0.05, 0.08], np.float32))


def latent_prior(scale: float, weights, means, covariances):
    """The oracle of u = scale z at time eps, and the law of z it implies: mixture components
    (weights, means, covariances) of p(z) with u's noise at eps included."""
    sde = VPSDE()
    oracle = GaussianMixture(sde, weights, scale * np.asarray(means), scale**2 * np.asarray(covariances))
    a, s = (float(v[0]) for v in sde.marginal_coefficients(jnp.array([EPS])))
    u_means = a * scale * np.asarray(means)
    u_covariances = a**2 * scale**2 * np.asarray(covariances) + s**2 * np.eye(2)
    return sde, oracle, (np.asarray(weights) / np.sum(weights), u_means / scale, u_covariances / scale**2)


def exact_log_marginal(x, prior, decoder=A) -> np.ndarray:
    """log p(x) = log sum_k w_k N(x; A m_k + b, A C_k A^T + SIGMA^2 I)."""
    weights, means, covariances = prior
    terms = [
        np.log(w)
        + np.atleast_1d(multivariate_normal(decoder @ m + B, decoder @ c @ decoder.T + SIGMA**2 * np.eye(2)).logpdf(x))
        for w, m, c in zip(weights, means, covariances)
    ]
    return logsumexp(np.stack(terms), axis=0)


def exact_posterior(x, prior, decoder=A):
    """p(z | x) of one image x (2,): per component, Gaussian conditioning of N(m_k, C_k) on
    x = A z + b + SIGMA n, weights reweighted by the component's evidence; [(log weight, mean, cov)]."""
    weights, means, covariances = prior
    components = []
    for w, m, c in zip(weights, means, covariances):
        covariance = np.linalg.inv(np.linalg.inv(c) + decoder.T @ decoder / SIGMA**2)
        mean = covariance @ (np.linalg.solve(c, m) + decoder.T @ (x - B) / SIGMA**2)
        evidence = multivariate_normal(decoder @ m + B, decoder @ c @ decoder.T + SIGMA**2 * np.eye(2)).logpdf(x)
        components.append((np.log(w) + evidence, mean, covariance))
    total = logsumexp([log_weight for log_weight, _, _ in components])
    return [(log_weight - total, mean, covariance) for log_weight, mean, covariance in components]


def log_mixture(z, components) -> float:
    return logsumexp([log_weight + multivariate_normal(m, c).logpdf(z) for log_weight, m, c in components])


def run_bound(oracle, sde, x, scale, encoder_mean, encoder_log_variance, rng, decoder=A):
    """latent_bound's parts (one draw per row) with the oracle's latent ODE and the linear decoder."""

    def encode(x):
        return encoder_mean(x), jnp.broadcast_to(encoder_log_variance, x.shape)

    def decoder_nll(x, z):
        residual = x - (z @ jnp.asarray(decoder.T, jnp.float32) + jnp.asarray(B, jnp.float32))
        return jnp.sum(0.5 * residual**2 / SIGMA**2 + np.log(SIGMA) + 0.5 * np.log(2 * np.pi), axis=-1)

    def latent_logp(key, u):
        logp, _, nfe = log_likelihood(key, sde, oracle.score, u, trace="exact", rtol=1e-6, atol=1e-6, eps=EPS)
        return logp, nfe

    bound = jax.jit(lambda rng, x: latent_bound(rng, encode, decoder_nll, latent_logp, x, scale=scale))
    return jax.tree.map(np.asarray, bound(rng, jnp.asarray(x, jnp.float32)))


MIXTURE = (
    np.array([0.6, 0.4]),
    np.array([[-1.0, 0.5], [1.2, -0.4]]),
    np.array([[[0.3, 0.05], [0.05, 0.2]], [[0.25, -0.1], [-0.1, 0.35]]]),
)


@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_every_draw_of_the_bound_equals_the_exact_evidence_plus_the_posterior_gap(scale):
    """bound_i = -log p(z_i) - log p(x | z_i) - H[q] must equal -log p(x) - log p(z_i | x) - H[q] at
    the same draw z_i, with p(x) and p(z | x) in closed form; with scale c != 1 the ODE sees u = c z
    and the bound must carry the change of variables d log c."""
    sde, oracle, prior = latent_prior(scale, *MIXTURE)
    x = np.array([[0.8, -0.3], [-1.5, 1.0], [2.0, 0.2]])
    encoder_mean = lambda x: x @ jnp.asarray(E.T, jnp.float32) + jnp.asarray(F, jnp.float32)
    rng = jax.random.PRNGKey(3)
    parts = run_bound(oracle, sde, x, scale, encoder_mean, ENCODER_LOG_VARIANCE, rng)
    log_variance = jnp.broadcast_to(ENCODER_LOG_VARIANCE, x.shape)
    z = np.asarray(posterior_draws(jax.random.split(rng)[0], encoder_mean(x), log_variance, 1))[0]
    entropy = 0.5 * np.sum(np.log(2 * np.pi * np.e) + ENCODER_LOG_VARIANCE)
    np.testing.assert_allclose(parts["encoder_entropy"], entropy, atol=1e-6)  # float32 round-off
    prior_components = [(np.log(w), m, c) for w, m, c in zip(*prior)]
    np.testing.assert_allclose(
        parts["latent_nll"], [-log_mixture(z_i, prior_components) for z_i in z], atol=ODE_TOLERANCE
    )
    exact = [
        -exact_log_marginal(x_i[None], prior)[0] - log_mixture(z_i, exact_posterior(x_i, prior)) - entropy
        for x_i, z_i in zip(x, z)
    ]
    np.testing.assert_allclose(parts["bound"], exact, atol=ODE_TOLERANCE)


def test_the_bound_is_tight_with_the_exact_posterior_as_encoder():
    """One diagonal latent Gaussian and a diagonal decoder: the exact posterior is a diagonal Gaussian,
    so an encoder equal to it makes the bound's expectation -log p(x) (a KL gap of 0), and one whose
    mean is one posterior standard deviation off in both coordinates makes it larger by KL = 1 nat."""
    decoder = np.diag([1.3, 0.7])
    sde, oracle, prior = latent_prior(1.0, np.ones(1), np.array([[0.4, -0.6]]), np.array([np.diag([0.5, 0.2])]))
    x = np.array([0.9, -0.8])
    [(_, mean, covariance)] = exact_posterior(x, prior, decoder)
    exact = -exact_log_marginal(x[None], prior, decoder)[0]
    rows = np.repeat(x[None], 1000, axis=0)
    log_variance = np.log(np.diag(covariance)).astype(np.float32)
    for shift in (0.0, 1.0):  # the encoder's mean off by `shift` posterior standard deviations: KL = shift^2
        offset = mean + shift * np.sqrt(np.diag(covariance))
        encoder_mean = lambda r, offset=offset: jnp.broadcast_to(jnp.asarray(offset, jnp.float32), r.shape)
        draws = run_bound(oracle, sde, rows, 1.0, encoder_mean, log_variance, jax.random.PRNGKey(6), decoder)["bound"]
        stderr = np.std(draws) / np.sqrt(len(draws))
        assert stderr < (0.05 if shift == 0 else 0.1)
        assert abs(np.mean(draws) - exact - shift**2) < 4 * stderr + ODE_TOLERANCE


def test_the_bits_per_dim_parts_are_the_likelihood_conversion_of_each_part():
    """Each part in bits/dim by itself: nats / (D ln 2), the dequantisation offset 8 - log2(hi - lo)
    (7 for [-1, 1], as score_sde.likelihood.bits_per_dim) on the decoder's part alone, and the total
    from the bound (a bound unequal to its parts shows it is not recomputed from them)."""
    parts = {"latent_nll": np.array([300.0]), "decoder_nll": np.array([-120.0]), "encoder_entropy": np.array([40.0])}
    parts["bound"] = np.array([150.0])
    dims, nats_to_bits = 256, 1 / (256 * np.log(2))
    for data_range, offset in (((-1.0, 1.0), 7.0), ((0.0, 1.0), 8.0)):
        bits = latent_bits_per_dim(parts, dims, data_range)
        np.testing.assert_allclose(bits["bpd"], 150.0 * nats_to_bits + offset, rtol=1e-12)
        np.testing.assert_allclose(bits["latent_nll"], 300.0 * nats_to_bits, rtol=1e-12)
        np.testing.assert_allclose(bits["decoder_nll"], -120.0 * nats_to_bits + offset, rtol=1e-12)
        np.testing.assert_allclose(bits["encoder_entropy"], 40.0 * nats_to_bits, rtol=1e-12)
