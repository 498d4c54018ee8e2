import jax
import jax.numpy as jnp
import numpy as np
import pytest

from score_sde.likelihood import bits_per_dim, log_likelihood
from score_sde.oracle import GaussianMixture, example_mixture
from score_sde.sde import VESDE, VPSDE
from tests.helpers import ALL_SDES, NEW_IDS, NEW_PROCESSES, SDE_IDS

EPS = 1e-5


def _prior_mismatch(sde, oracle, z):
    """log p_T(z) - prior_logp(z): what the ODE likelihood misses by using the prior at T."""
    return oracle.log_prob(z, jnp.full((z.shape[0],), sde.T)) - sde.prior_logp(z)


@pytest.mark.parametrize("sde", ALL_SDES + NEW_PROCESSES, ids=SDE_IDS + NEW_IDS)
def test_exact_trace_likelihood_equals_the_oracle_density(sde):
    oracle = example_mixture(sde)
    x, _ = oracle.sample(jax.random.PRNGKey(1), 128, t=EPS)
    logp, z, nfe = log_likelihood(jax.random.PRNGKey(0), sde, oracle.score, x, trace="exact", eps=EPS)
    expected = oracle.log_prob(x, jnp.full((128,), EPS))
    np.testing.assert_allclose(logp + _prior_mismatch(sde, oracle, z), expected, atol=1e-2)
    assert logp.shape == (128,) and z.shape == x.shape and int(nfe) > 0


@pytest.mark.parametrize("noise", ["rademacher", pytest.param("gaussian", marks=pytest.mark.slow)])
def test_hutchinson_agrees_with_exact_in_expectation(noise):
    sde = VPSDE()
    oracle = example_mixture(sde)
    x, _ = oracle.sample(jax.random.PRNGKey(2), 512, t=EPS)
    exact, _, _ = log_likelihood(jax.random.PRNGKey(0), sde, oracle.score, x, trace="exact", eps=EPS)
    estimates = jnp.stack(
        [log_likelihood(jax.random.PRNGKey(seed), sde, oracle.score, x, noise=noise, eps=EPS)[0] for seed in range(4)]
    )
    # each example has its own probe: the 2048 errors are independent with mean zero
    errors = np.asarray(estimates - exact[None]).ravel()
    assert abs(errors.mean()) < 4.5 * errors.std() / np.sqrt(errors.size), (errors.mean(), errors.std())
    assert errors.std() > 1e-3  # it is an estimate, not the exact trace


def _image_mixture(sde, scale, shift):
    """A 2x2x1 'image' mixture, optionally moved to another data range (x -> scale x + shift)."""
    means = np.array([[0.3, 0.4, 0.5, 0.6], [0.7, 0.6, 0.4, 0.2]]) * scale + shift
    covs = np.stack([np.eye(4) * 0.01, np.eye(4) * 0.02 + 0.005]) * scale**2
    return GaussianMixture(sde, np.array([0.5, 0.5]), means, covs, event_shape=(2, 2, 1))


def test_bits_per_dim_is_the_discrete_likelihood_of_the_oracle():
    sde = VESDE(sigma_min=0.01, sigma_max=5.0)
    oracle = _image_mixture(sde, 1.0, 0.0)
    images = jnp.array([[[[70], [110]], [[130], [150]]], [[[180], [150]], [[100], [50]]]], jnp.uint8)
    bpd, z, _ = bits_per_dim(
        jax.random.PRNGKey(0), sde, oracle.score, images, dequantize="none", eps=EPS, trace="exact"
    )
    x = (np.asarray(images, np.float64) + 0.5) / 256.0  # bin centres in [0, 1]
    logp_x = np.asarray(oracle.log_prob(jnp.asarray(x, jnp.float32), jnp.full((2,), EPS)), np.float64)
    expected = -(logp_x - 4 * np.log(256.0)) / (4 * np.log(2.0))  # -log2 of density x bin volume, per dim
    corrected = bpd - np.asarray(_prior_mismatch(sde, oracle, z[0])) / (4 * np.log(2.0))
    np.testing.assert_allclose(corrected, expected, atol=1e-2 / (4 * np.log(2.0)))


def test_repeats_solved_as_one_batch_give_the_repeats_solved_in_turn():
    sde = VESDE(sigma_min=0.01, sigma_max=5.0)
    oracle = _image_mixture(sde, 1.0, 0.0)
    images = jax.random.randint(jax.random.PRNGKey(3), (3, 2, 2, 1), 0, 256)
    common = dict(dequantize="uniform", eps=EPS, trace="exact", num_repeats=3, rtol=1e-6, atol=1e-6)
    in_turn, z, _ = bits_per_dim(jax.random.PRNGKey(1), sde, oracle.score, images, **common)
    batched, z_batched, _ = bits_per_dim(jax.random.PRNGKey(1), sde, oracle.score, images, batch_repeats=True, **common)
    np.testing.assert_allclose(batched, in_turn, atol=1e-4)  # the same draws, solved to the tolerance
    np.testing.assert_allclose(z_batched, z, atol=1e-3)
    assert np.abs(np.asarray(z[0]) - np.asarray(z[1])).max() > 1e-3  # the repeats do differ


@pytest.mark.slow
def test_bits_per_dim_does_not_depend_on_the_data_range():
    """The same model expressed on [0, 1] or on [-1, 1] gives the same bits/dim (change of variables)."""
    sde = VESDE(sigma_min=0.01, sigma_max=5.0)
    images = jax.random.randint(jax.random.PRNGKey(3), (8, 2, 2, 1), 0, 256)
    common = dict(dequantize="uniform", eps=EPS, trace="exact", num_repeats=2)
    unit = _image_mixture(VESDE(sigma_min=0.01 / 2, sigma_max=5.0 / 2), 1.0, 0.0)
    centred = _image_mixture(sde, 2.0, -1.0)
    bpd_unit, z_unit, _ = bits_per_dim(
        jax.random.PRNGKey(1), unit.process, unit.score, images, data_range=(0, 1), **common
    )
    bpd_centred, z, nfe = bits_per_dim(jax.random.PRNGKey(1), sde, centred.score, images, data_range=(-1, 1), **common)
    # VE(sigma/2) on [0, 1] is exactly VE(sigma) on [-1, 1] scaled by 1/2, so the flows match;
    # only the priors differ, which the latents let us undo exactly. A wrong log-determinant
    # of the range change would shift the result by a whole bit.
    mismatch_unit = _prior_mismatch(unit.process, unit, z_unit.reshape(-1, 2, 2, 1))
    mismatch_centred = _prior_mismatch(sde, centred, z.reshape(-1, 2, 2, 1))
    shift = (np.asarray(mismatch_centred) - np.asarray(mismatch_unit)).reshape(2, 8).mean(0) / (4 * np.log(2.0))
    np.testing.assert_allclose(bpd_centred - shift, bpd_unit, atol=5e-3)
    assert z.shape == (2, 8, 2, 2, 1) and int(nfe) > 0


def test_likelihood_is_reproducible_and_refuses_bad_input():
    sde = VPSDE()
    oracle = example_mixture(sde)
    x = jnp.ones((4, 2))
    first = log_likelihood(jax.random.PRNGKey(0), sde, oracle.score, x)[0]
    np.testing.assert_array_equal(first, log_likelihood(jax.random.PRNGKey(0), sde, oracle.score, x)[0])
    with pytest.raises(ValueError, match=r"unknown trace='hutch'"):
        log_likelihood(jax.random.PRNGKey(0), sde, oracle.score, x, trace="hutch")
    with pytest.raises(ValueError, match=r"unknown noise='uniform'"):
        log_likelihood(jax.random.PRNGKey(0), sde, oracle.score, x, noise="uniform")
    with pytest.raises(ValueError, match="has no error estimate"):
        log_likelihood(jax.random.PRNGKey(0), sde, oracle.score, x, solver="euler")
    with pytest.raises(ValueError, match=r"integer pixel values in \[0, 255\]"):
        bits_per_dim(jax.random.PRNGKey(0), sde, oracle.score, jnp.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="unknown dequantize='gaussian'"):
        bits_per_dim(jax.random.PRNGKey(0), sde, oracle.score, jnp.ones((2, 2)), dequantize="gaussian")
