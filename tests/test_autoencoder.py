"""The KL autoencoder of latent models: shapes, its posterior's KL / entropy / density against
Monte-Carlo and closed forms, the decoder's Gaussian NLL against scipy, and clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from score_sde.models.autoencoder import LOG_SCALE_RATE, Autoencoder, DiagonalGaussian, autoencoder_loss


def tiny(**overrides) -> Autoencoder:
    settings = dict(out_channels=1, channels=8, channel_mult=(1, 2), latent_channels=2, num_groups=4)
    return Autoencoder(**{**settings, **overrides})


def init(module, shape=(2, 16, 16, 1)):
    return module.init({"params": jax.random.PRNGKey(0)}, jnp.zeros(shape), jax.random.PRNGKey(1))["params"]


def test_latents_are_downsampled_by_two_per_level_and_decode_back():
    x = jax.random.uniform(jax.random.PRNGKey(2), (2, 16, 16, 1))
    for channel_mult, size in (((1, 2), 8), ((1, 2, 2), 4)):
        module = tiny(channel_mult=channel_mult)
        params = init(module)
        posterior = module.apply({"params": params}, x, method="encode")
        assert posterior.mean.shape == posterior.log_variance.shape == (2, size, size, 2)
        assert module.apply({"params": params}, posterior.mean, method="decode").shape == x.shape
    count = lambda module: sum(leaf.size for leaf in jax.tree.leaves(init(module)))
    assert count(tiny(attention=True)) > count(tiny(attention=False))


def test_the_posterior_kl_entropy_and_density_against_monte_carlo_and_closed_forms():
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    mean = jax.random.normal(keys[0], (3, 4, 4, 2))
    log_variance = 0.5 * jax.random.normal(keys[1], (3, 4, 4, 2))
    q = DiagonalGaussian(mean, log_variance)
    draws = jax.vmap(q.sample)(jax.random.split(keys[2], 4000))  # (4000, 3, 4, 4, 2)
    log_q = jax.vmap(q.log_prob)(draws)
    log_prior = -0.5 * jnp.sum(draws**2 + jnp.log(2 * jnp.pi), axis=(2, 3, 4))
    estimate = np.asarray(log_q - log_prior)
    stderr = estimate.std(0) / np.sqrt(len(estimate))
    assert np.all(np.abs(estimate.mean(0) - np.asarray(q.kl())) < 4 * stderr)
    variance = np.exp(np.asarray(log_variance))
    entropy = 0.5 * np.sum(np.log(2 * np.pi * np.e * variance), axis=(1, 2, 3))
    np.testing.assert_allclose(q.entropy(), entropy, rtol=1e-5)
    assert np.all(np.abs(-np.asarray(log_q).mean(0) - entropy) < 4 * np.asarray(log_q).std(0) / np.sqrt(4000))
    shifted = DiagonalGaussian(mean + 1.0, log_variance)
    assert np.all(np.asarray(shifted.kl()) > np.asarray(q.kl()) + 4 * stderr)


def test_the_decoder_nll_is_a_gaussian_density_with_the_learned_scale():
    module = tiny()
    params = init(module)
    params = {**params, "log_scale": jnp.asarray(-1.3 / LOG_SCALE_RATE)}
    x = jax.random.uniform(jax.random.PRNGKey(4), (2, 16, 16, 1))
    z = jax.random.normal(jax.random.PRNGKey(5), (2, 8, 8, 2))
    mean = np.asarray(module.apply({"params": params}, z, method="decode"))
    expected = -norm(mean, np.exp(-1.3)).logpdf(np.asarray(x)).reshape(2, -1).sum(1)
    np.testing.assert_allclose(module.apply({"params": params}, x, z, method="decoder_nll"), expected, rtol=1e-5)


def test_the_loss_is_the_decoder_nll_plus_the_weighted_kl_per_dimension():
    module = tiny()
    params = {**init(module), "log_scale": jnp.asarray(-1.3 / LOG_SCALE_RATE)}  # a scale other than 1
    x = jax.random.uniform(jax.random.PRNGKey(6), (2, 16, 16, 1))
    key = jax.random.PRNGKey(7)
    (without, metrics), (with_kl, _) = (autoencoder_loss(module, params, key, x, w, False) for w in (0.0, 1.0))
    posterior = module.apply({"params": params}, x, method="encode")
    np.testing.assert_allclose(with_kl - without, np.mean(posterior.kl()) / 256, rtol=1e-4)
    # the NLL term, computed here: the loss's posterior draw (the first half of its key), the decoder's
    # mean there and scipy's normal density with the learned scale, per pixel dimension
    z = posterior.sample(jax.random.split(key)[0])
    mean = np.asarray(module.apply({"params": params}, z, method="decode"), np.float64)
    scale = np.exp(LOG_SCALE_RATE * float(params["log_scale"]))
    expected = -norm(mean, scale).logpdf(np.asarray(x, np.float64)).reshape(2, -1).sum(1).mean() / 256
    np.testing.assert_allclose(without, expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["nll_per_dim"], expected, rtol=1e-5)


def test_bad_shapes_are_refused_with_the_setting_named():
    with pytest.raises(ValueError, match="num_groups=3 must divide every width"):
        init(tiny(num_groups=3))
    with pytest.raises(
        ValueError, match="images of 10x10 pixels cannot be downsampled by 2\\^\\(len\\(channel_mult\\) - 1\\) = 4"
    ):
        init(tiny(channel_mult=(1, 2, 2)), (1, 10, 10, 1))
