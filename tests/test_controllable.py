import jax
import jax.numpy as jnp
import numpy as np
import pytest

from score_sde.evaluation.mmd import mmd_squared
from score_sde.oracle import GaussianMixture, example_mixture
from score_sde.sampling import interpolate, slerp
from score_sde.sampling.inpaint import COLOR_BASIS, sample_colorize, sample_inpaint
from score_sde.sde import VESDE, VPSDE

N = 2000
KNOWN_FIRST = np.array([True, False])


def _conditional_check(x_unknown, conditional, floor_seed=7):
    """Moments and MMD^2 of samples against exact samples of the closed-form conditional; the
    MMD^2 must be within a few times that between two exact sets (the noise floor)."""
    exact, _ = conditional.sample(jax.random.PRNGKey(1), N)
    exact_again, _ = conditional.sample(jax.random.PRNGKey(floor_seed), N)
    floor = abs(float(mmd_squared(exact_again, exact)))
    np.testing.assert_allclose(np.mean(x_unknown, 0), np.mean(exact, 0), atol=0.05)
    np.testing.assert_allclose(np.std(x_unknown, 0), np.std(exact, 0), atol=0.05)
    assert float(mmd_squared(x_unknown, exact)) < max(5 * floor, 2e-4)


def test_the_oracle_conditional_is_gaussian_conditioning():
    """Closed form against Monte Carlo: joint samples whose known coordinate falls near the value."""
    oracle = example_mixture(VPSDE())
    joint, _ = oracle.sample(jax.random.PRNGKey(0), 200_000)
    near = np.asarray(joint[np.abs(joint[:, 0] - 2.0) < 0.03, 1])
    exact, _ = oracle.conditional(KNOWN_FIRST, jnp.array([2.0, 0.0])).sample(jax.random.PRNGKey(1), 20_000)
    np.testing.assert_allclose(near.mean(), np.mean(exact), atol=0.05)
    np.testing.assert_allclose(near.std(), np.std(exact), atol=0.05)


@pytest.mark.parametrize("sde", [VPSDE(), pytest.param(VESDE(), marks=pytest.mark.slow)], ids=["vp", "ve"])
def test_inpainting_keeps_the_known_and_samples_the_exact_conditional(sde):
    """Reference PC inpainting (reverse diffusion + Langevin) with the exact score: the known
    coordinate is the data bit for bit; the unknown one follows the closed-form conditional."""
    oracle = example_mixture(sde)
    data = jnp.tile(jnp.array([2.0, 0.0]), (N, 1))
    x, nfe = sample_inpaint(jax.random.PRNGKey(0), sde, oracle.score, data, jnp.array([1.0, 0.0]))
    assert nfe == 2 * sde.N
    np.testing.assert_array_equal(x[:, 0], 2.0)
    _conditional_check(np.asarray(x[:, 1:]), oracle.conditional(KNOWN_FIRST, data[0]))


@pytest.mark.slow
def test_inpainting_without_the_corrector_is_biased():
    """The replacement alone lets the unknown coordinate commit to a mode before the known one
    is informative; the Langevin corrector is what pulls it to the conditional (documented)."""
    sde = VPSDE()
    oracle = example_mixture(sde)
    data = jnp.tile(jnp.array([2.0, 0.0]), (N, 1))
    x, _ = sample_inpaint(jax.random.PRNGKey(0), sde, oracle.score, data, jnp.array([1.0, 0.0]), corrector="none")
    np.testing.assert_array_equal(x[:, 0], 2.0)  # the known coordinate is still exact
    unknown = np.asarray(x[:, 1])
    exact, _ = oracle.conditional(KNOWN_FIRST, data[0]).sample(jax.random.PRNGKey(1), N)
    exact = np.asarray(exact[:, 0])
    # measured: mean 0.35 against the conditional's 1.02, spread 1.37 against 0.63 (samples of
    # the other mode survive); far outside Monte-Carlo error, in the direction of the prior mixture
    standard_error = np.std(exact) / np.sqrt(N)
    assert np.mean(exact) - np.mean(unknown) > 20 * standard_error
    assert np.std(unknown) > 1.5 * np.std(exact)
    assert np.mean(unknown < 0) > 0.15 > np.mean(exact < 0)  # mass left in the other component: 24% vs 6%


@pytest.mark.slow  # the runner's colorization is in the default run (test_controllable_runner)
def test_colorization_keeps_the_gray_level_and_samples_the_conditional_colour():
    """1x1 colour images whose law is a mixture in the decoupled (gray, chroma) basis: the
    channel mean is the given gray, and the chroma follows the exact conditional."""
    sde = VPSDE()
    means_y = jnp.array([[1.0, 0.8, -0.5], [-1.0, -0.6, 0.4]])
    covs_y = jnp.array([np.diag([0.2, 0.1, 0.05]), np.diag([0.2, 0.08, 0.1])])
    basis = jnp.asarray(COLOR_BASIS)
    pixels = GaussianMixture(
        sde,
        jnp.array([0.5, 0.5]),
        means_y @ basis.T,
        jnp.einsum("ij,kjl,ml->kim", basis, covs_y, basis),
        event_shape=(1, 1, 3),
    )
    gray = 0.8 / np.sqrt(3.0)  # decoupled gray coordinate 0.8: mostly the first component
    x, _ = sample_colorize(jax.random.PRNGKey(0), sde, pixels.score, jnp.full((N, 1, 1, 1), gray))
    assert x.shape == (N, 1, 1, 3)
    np.testing.assert_allclose(np.mean(np.asarray(x), axis=-1), gray, atol=1e-6)
    chroma = np.asarray(x.reshape(N, 3) @ basis)[:, 1:]
    in_basis = GaussianMixture(sde, jnp.array([0.5, 0.5]), means_y, covs_y)
    _conditional_check(chroma, in_basis.conditional(np.array([True, False, False]), jnp.array([0.8, 0.0, 0.0])))


def test_inpainting_is_reproducible_and_checks_its_inputs():
    sde = VPSDE(N=50)
    oracle = example_mixture(sde)
    data = jnp.ones((4, 2))
    first, _ = sample_inpaint(jax.random.PRNGKey(3), sde, oracle.score, data, jnp.array([1.0, 0.0]))
    again, _ = sample_inpaint(jax.random.PRNGKey(3), sde, oracle.score, data, jnp.array([1.0, 0.0]))
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError, match="does not broadcast"):
        sample_inpaint(jax.random.PRNGKey(3), sde, oracle.score, data, jnp.ones(3))
    with pytest.raises(ValueError, match="only 0"):
        sample_inpaint(jax.random.PRNGKey(3), sde, oracle.score, data, jnp.array([0.5, 0.0]))
    with pytest.raises(ValueError, match="colorization needs"):
        sample_colorize(jax.random.PRNGKey(3), sde, oracle.score, data)


def test_slerp_follows_the_great_circle():
    """Between latents of equal norm r at angle theta, point f has norm r and angle f theta from z0."""
    flat = lambda z: np.asarray(z).reshape(3, -1)
    z0 = jax.random.normal(jax.random.PRNGKey(0), (3, 4, 4, 2))
    z1 = jax.random.normal(jax.random.PRNGKey(1), (3, 4, 4, 2))
    z1 = z1 * (np.linalg.norm(flat(z0), axis=-1) / np.linalg.norm(flat(z1), axis=-1))[:, None, None, None]
    fractions = np.linspace(0.0, 1.0, 5)
    path = slerp(z0, z1, jnp.asarray(fractions))
    assert path.shape == (3, 5, 4, 4, 2)
    np.testing.assert_allclose(path[:, 0], z0, atol=1e-5)
    np.testing.assert_allclose(path[:, -1], z1, atol=1e-5)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)
    theta = np.arccos(np.sum(unit(flat(z0)) * unit(flat(z1)), -1))
    for i, f in enumerate(fractions):
        point = flat(path[:, i])
        np.testing.assert_allclose(np.linalg.norm(point, axis=-1), np.linalg.norm(flat(z0), axis=-1), rtol=1e-5)
        angle = np.arccos(np.clip(np.sum(unit(point) * unit(flat(z0)), -1), -1, 1))
        np.testing.assert_allclose(angle, f * theta, atol=1e-3)
    same = slerp(z0, z0, jnp.array([0.5]))  # parallel latents: no division by sin(0)
    np.testing.assert_allclose(same[:, 0], z0, atol=1e-5)


def test_interpolation_endpoints_reconstruct_the_data():
    """With the exact score, the first and last decoded points are the two inputs (solver tolerance)
    and the path stays in the data's range."""
    sde = VPSDE()
    oracle = example_mixture(sde)
    x0, _ = oracle.sample(jax.random.PRNGKey(0), 6)
    x1, _ = oracle.sample(jax.random.PRNGKey(1), 6)
    path, nfe = interpolate(sde, oracle.score, x0, x1, 4)
    assert path.shape == (6, 4, 2) and int(nfe) > 0
    np.testing.assert_allclose(path[:, 0], x0, atol=2e-3)
    np.testing.assert_allclose(path[:, -1], x1, atol=2e-3)
    assert np.all(np.abs(np.asarray(path)) < 6.0)
    with pytest.raises(ValueError, match="num_points must be at least 2"):
        interpolate(sde, oracle.score, x0, x1, 1)
