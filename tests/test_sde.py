import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import stats

from score_sde.sde import VESDE, VPSDE, SubVPSDE, get_sde
from tests.helpers import ALL_SDES, SDE_IDS


def _forward_em(sde, x0, t_end, n_steps, rng):
    """Euler-Maruyama simulation of the forward SDE from x(0) ~ marginal_prob(x0, 0) to t_end."""
    mean0, std0 = sde.marginal_prob(x0, jnp.zeros(x0.shape[0]))
    x = mean0 + std0[:, None] * jax.random.normal(jax.random.split(rng)[1], x0.shape)
    dt = t_end / n_steps

    def step(x, i):
        t = jnp.full((x.shape[0],), i * dt)
        drift, diffusion = sde.sde(x, t)
        z = jax.random.normal(jax.random.fold_in(rng, i), x.shape)
        return x + drift * dt + diffusion[:, None] * jnp.sqrt(dt) * z, None

    return jax.lax.scan(step, x, jnp.arange(n_steps))[0]


@pytest.mark.parametrize("sde", ALL_SDES, ids=SDE_IDS)
@pytest.mark.parametrize("t_end", [0.3, 1.0])
def test_marginal_prob_matches_monte_carlo(sde, t_end):
    n = 20000
    x0 = jnp.tile(jnp.array([[1.5, -0.5]]), (n, 1))
    x = np.asarray(jax.jit(_forward_em, static_argnums=(0, 2, 3))(sde, x0, t_end, 2000, jax.random.PRNGKey(0)))
    mean, std = sde.marginal_prob(x0[:1], jnp.array([t_end]))
    std = float(std[0])
    # Monte-Carlo standard errors: std / sqrt(n) for the mean, std / sqrt(2n) for the std.
    # Euler-Maruyama with dt = 5e-4 adds a bias far below these (first order in dt).
    np.testing.assert_allclose(x.mean(0), np.asarray(mean[0]), atol=4.5 * std / np.sqrt(n))
    np.testing.assert_allclose(x.std(0), std, atol=4.5 * std / np.sqrt(2 * n) + 1e-3 * std)


def test_vp_discretize_is_the_ddpm_update():
    sde = VPSDE(beta_min=0.1, beta_max=20.0, N=1000)
    betas = np.linspace(0.1 / 1000, 20.0 / 1000, 1000)
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
    for i in [0, 1, 500, 999]:
        # a time inside step i: the index is int(t (N - 1) / T), which truncates as in the reference
        t = jnp.full((5,), min((i + 0.3) / 999, 1.0))
        f, G = sde.discretize(x, t)
        np.testing.assert_allclose(x + f, np.sqrt(1 - betas[i]) * np.asarray(x), rtol=1e-6)
        np.testing.assert_allclose(G, np.sqrt(betas[i]), rtol=1e-6)


def test_vp_discrete_chain_approaches_the_continuous_marginal():
    sde = VPSDE()
    betas = np.linspace(0.1 / 1000, 20.0 / 1000, 1000)
    alphas_cumprod = np.cumprod(1 - betas)
    np.testing.assert_allclose(sde.alphas_cumprod, alphas_cumprod, rtol=1e-5)
    t = np.array([0.25, 0.5, 1.0])
    a = np.asarray(sde.marginal_coefficients(jnp.asarray(t))[0], np.float64)
    steps = (t * 1000).astype(int)
    # log prod(1 - beta_i) = -sum beta_i - sum beta_i^2 / 2 - ...; -sum beta_i is the continuous
    # 2 log a(t) up to the midpoint-rule error, so the gap is bounded by sum beta_i^2 (first order in 1/N).
    bound = np.cumsum(betas**2)[steps - 1]
    np.testing.assert_array_less(np.abs(np.log(alphas_cumprod[steps - 1]) - 2 * np.log(a)), bound)


def test_ve_discretize_is_the_smld_update():
    sde = VESDE(sigma_min=0.01, sigma_max=50.0, N=100)
    sigmas = 0.01 * (50.0 / 0.01) ** (np.arange(100) / 99)
    x = jnp.ones((4, 2))
    for i in [0, 1, 50, 99]:
        f, G = sde.discretize(x, jnp.full((4,), min((i + 0.3) / 99, 1.0)))
        previous = sigmas[i - 1] if i > 0 else 0.0
        np.testing.assert_allclose(f, 0.0)
        np.testing.assert_allclose(G, np.sqrt(sigmas[i] ** 2 - previous**2), rtol=1e-5)


def test_subvp_discretize_is_euler_maruyama():
    sde = SubVPSDE(N=50)
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 4))
    t = jnp.array([0.1, 0.5, 0.9])
    drift, diffusion = sde.sde(x, t)
    f, G = sde.discretize(x, t)
    np.testing.assert_allclose(f, drift / 50, rtol=1e-6)
    np.testing.assert_allclose(G, diffusion * np.sqrt(1 / 50), rtol=1e-6)


@pytest.mark.parametrize("sde", ALL_SDES, ids=SDE_IDS)
def test_prior_logp_is_the_gaussian_density(sde):
    z = sde.prior_sampling(jax.random.PRNGKey(0), (6, 2, 3))
    var = 50.0**2 if isinstance(sde, VESDE) else 1.0
    expected = stats.multivariate_normal(np.zeros(6), var * np.eye(6)).logpdf(np.asarray(z).reshape(6, 6))
    np.testing.assert_allclose(sde.prior_logp(z), expected, rtol=1e-5)
    assert z.std() == pytest.approx(np.sqrt(var), rel=0.5)


@pytest.mark.parametrize("sde", ALL_SDES, ids=SDE_IDS)
def test_reverse_sde_and_probability_flow(sde):
    score_fn = lambda x, t: -x * (1.0 + t[:, None])
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 3))
    t = jnp.linspace(0.1, 0.9, 4)
    drift, diffusion = sde.sde(x, t)
    g2 = (diffusion**2)[:, None]
    rev_drift, rev_diffusion = sde.reverse(score_fn).sde(x, t)
    flow_drift, flow_diffusion = sde.reverse(score_fn, probability_flow=True).sde(x, t)
    np.testing.assert_allclose(rev_drift, drift - g2 * score_fn(x, t), rtol=1e-5)
    np.testing.assert_allclose(rev_diffusion, diffusion)
    np.testing.assert_allclose(flow_drift, drift - 0.5 * g2 * score_fn(x, t), rtol=1e-5)
    np.testing.assert_array_equal(flow_diffusion, 0.0)
    _, flow_G = sde.reverse(score_fn, probability_flow=True).discretize(x, t)
    np.testing.assert_array_equal(flow_G, 0.0)


@pytest.mark.parametrize("sde", ALL_SDES, ids=SDE_IDS)
def test_sdes_are_hashable_and_jit_static(sde):
    assert hash(sde) == hash(dataclasses.replace(sde))
    f = jax.jit(lambda s, x: s.marginal_prob(x, jnp.full((x.shape[0],), 0.5))[0], static_argnums=0)
    x = jnp.ones((2, 3, 3, 1))
    assert f(sde, x).shape == x.shape
    assert jax.vmap(lambda xi: sde.marginal_prob(xi[None], jnp.array([0.5]))[0])(x).shape == (2, 1, 3, 3, 1)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: VPSDE(beta_min=20.0, beta_max=0.1), "beta_min < beta_max"),
        (lambda: SubVPSDE(beta_min=1.0, beta_max=1.0), "beta_min < beta_max"),
        (lambda: VESDE(sigma_min=50.0, sigma_max=0.01), "sigma_min < sigma_max"),
        (lambda: VPSDE(N=0), "N "),
        (lambda: VESDE(N=2.5), "N "),
    ],
)
def test_bad_parameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_time_outside_the_interval_is_refused():
    with pytest.raises(ValueError, match=r"t must lie in \[0, T=1.0\]"):
        VPSDE().marginal_prob(jnp.ones((1, 2)), jnp.array([1.5]))
    with pytest.raises(ValueError, match="t must lie"):
        VESDE().sde(jnp.ones((1, 2)), jnp.array([-0.1]))


def test_get_sde_reads_the_config_and_names_unknown_sdes():
    config = ml_collections.ConfigDict(
        {"training": {"sde": "vesde"}, "model": {"sigma_min": 0.02, "sigma_max": 10.0, "num_scales": 7}}
    )
    assert get_sde(config) == VESDE(0.02, 10.0, 7)
    config.training.sde = "vpsd"
    with pytest.raises(ValueError, match=r"config.training.sde='vpsd'.*subvpsde.*vesde.*vpsde"):
        get_sde(config)
