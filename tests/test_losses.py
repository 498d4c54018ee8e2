import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from configs import toy2d
from score_sde.losses import ddpm_loss, dsm_loss, get_loss_fn, smld_loss
from score_sde.oracle import GaussianMixture, example_mixture
from score_sde.parameterization import ReferenceNoise, ReferenceScore, get_parameterization
from score_sde.sde import VESDE, VPSDE, SubVPSDE
from tests.helpers import ALL_SDES, SDE_IDS

D, S0 = 3, 0.7  # data N(mu, S0^2 I) in D dimensions
MU = np.array([0.5, -1.0, 2.0])


def _gaussian(sde):
    return GaussianMixture(sde, np.ones(1), MU[None], (S0**2 * np.eye(D))[None])


def _coefficients(sde, t):
    a, s = sde.marginal_coefficients(jnp.array([t]))
    return float(a[0]), float(s[0])


def _monte_carlo(loss, repeats=40):
    """Mean and standard error of a scalar loss over independent keys."""
    values = np.array([float(loss(jax.random.PRNGKey(i))) for i in range(repeats)])
    return values.mean(), values.std(ddof=1) / np.sqrt(repeats)


@pytest.mark.parametrize("sde", ALL_SDES, ids=SDE_IDS)
@pytest.mark.parametrize("likelihood_weighting", [False, True])
def test_dsm_loss_at_the_exact_score_is_the_closed_form_minimum(sde, likelihood_weighting):
    oracle, eps = _gaussian(sde), 1e-3

    def per_time(t):  # x_t = a mu + a s0 e + s z, v = a^2 s0^2 + s^2
        a, s = _coefficients(sde, t)
        v = a**2 * S0**2 + s**2
        if not likelihood_weighting:
            return a**2 * S0**2 / v  # E|s score + z|^2 per dimension, reduce_mean
        g2 = float(sde.sde(jnp.zeros((1, 1)), jnp.array([t]))[1][0]) ** 2
        return g2 * 0.5 * D * a**2 * S0**2 / (s**2 * v)  # g^2 E|score + z / s|^2 / 2, summed

    expected = integrate.quad(per_time, eps, 1.0, limit=500, epsrel=1e-6)[0] / (1.0 - eps)
    data = jnp.asarray(MU + S0 * np.random.default_rng(1).normal(size=(4096, D)), jnp.float32)
    loss = jax.jit(
        lambda rng: dsm_loss(
            rng,
            sde,
            oracle.score,
            data,
            reduce_mean=not likelihood_weighting,
            likelihood_weighting=likelihood_weighting,
            eps=eps,
        )
    )
    mean, stderr = _monte_carlo(loss)
    assert abs(mean - expected) < 4.5 * stderr, (mean, expected, stderr)


@pytest.mark.parametrize("sde", ALL_SDES, ids=SDE_IDS)
def test_dsm_loss_prefers_the_exact_score(sde):
    oracle = example_mixture(sde)
    data, _ = oracle.sample(jax.random.PRNGKey(0), 2048)
    rng = jax.random.PRNGKey(1)  # same t and z for both: a paired comparison
    exact = dsm_loss(rng, sde, oracle.score, data)
    for scale in [0.9, 1.1]:
        perturbed = dsm_loss(rng, sde, lambda x, t, scale=scale: scale * oracle.score(x, t), data)
        assert perturbed > exact
    shifted = dsm_loss(rng, sde, lambda x, t: oracle.score(x, t) + 0.05, data)
    assert shifted > exact


def test_ddpm_loss_at_the_optimal_noise_predictor_is_the_closed_form():
    sde = VPSDE(N=1000)
    abar = np.cumprod(1 - np.linspace(0.1 / 1000, 20.0 / 1000, 1000))
    v = abar * S0**2 + (1 - abar)
    expected = np.mean(abar * S0**2 / v)  # E|E[z | x_i] - z|^2 per dimension, i uniform
    data = jnp.asarray(MU + S0 * np.random.default_rng(0).normal(size=(4096, D)), jnp.float32)

    def optimal(x, labels):
        i = labels.astype(jnp.int32)
        ab = sde.alphas_cumprod[i][:, None]
        return jnp.sqrt(1 - ab) * (x - jnp.sqrt(ab) * MU) / (ab * S0**2 + 1 - ab)

    mean, stderr = _monte_carlo(jax.jit(lambda rng: ddpm_loss(rng, sde, optimal, data)))
    assert abs(mean - expected) < 4.5 * stderr, (mean, expected, stderr)
    worse = float(ddpm_loss(jax.random.PRNGKey(0), sde, lambda x, labels: 1.1 * optimal(x, labels), data))
    assert worse > float(ddpm_loss(jax.random.PRNGKey(0), sde, optimal, data))


def test_smld_loss_at_the_optimal_score_is_the_closed_form():
    sde = VESDE(sigma_min=0.01, sigma_max=5.0, N=100)
    sigmas = np.flip(0.01 * (5.0 / 0.01) ** (np.arange(100) / 99))  # index 0 = sigma_max
    v = S0**2 + sigmas**2
    expected = np.mean(0.5 * D * S0**2 / v)  # sigma^2 E|score - target|^2 / 2 summed over D
    data = jnp.asarray(MU + S0 * np.random.default_rng(0).normal(size=(4096, D)), jnp.float32)

    def optimal(x, labels):
        sigma = jnp.asarray(sigmas.copy(), jnp.float32)[labels][:, None]
        return -(x - MU) / (S0**2 + sigma**2)

    mean, stderr = _monte_carlo(jax.jit(lambda rng: smld_loss(rng, sde, optimal, data)))
    assert abs(mean - expected) < 4.5 * stderr, (mean, expected, stderr)


def _label_net(x, labels):
    """A fake network whose output is its label, so the score exposes what the network saw."""
    return jnp.broadcast_to(jnp.reshape(labels.astype(jnp.float32), (-1, 1)), x.shape)


def _network_score(sde, parameterization, net):
    return lambda x, t: parameterization.score(sde, x, t, net(*parameterization.network_inputs(sde, x, t)))


def test_score_fn_label_conventions():
    t = jnp.array([0.0005, 0.25, 0.5, 1.0])
    x = jnp.zeros((4, 2))
    for sde in [VPSDE(), SubVPSDE()]:
        t64 = np.asarray(t, np.float64)
        variance = 1 - np.exp(2 * (-0.25 * t64**2 * 19.9 - 0.05 * t64))
        std = np.sqrt(variance) if isinstance(sde, VPSDE) else variance
        score = _network_score(sde, ReferenceNoise(continuous=True), _label_net)(x, t)
        np.testing.assert_allclose(score[:, 0], -(np.asarray(t) * 999) / std, rtol=1e-4)
    vp = VPSDE(N=1000)
    labels = np.asarray(t) * 999
    std = np.sqrt(1 - np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)))[labels.astype(int)]
    discrete_vp = _network_score(vp, ReferenceNoise(continuous=False), _label_net)
    np.testing.assert_allclose(discrete_vp(x, t)[:, 0], -labels / std, rtol=1e-4)
    ve = VESDE(N=10)
    continuous_ve = _network_score(ve, ReferenceScore(continuous=True), _label_net)
    np.testing.assert_allclose(continuous_ve(x, t)[:, 0], 0.01 * 5000.0 ** np.asarray(t), rtol=1e-5)
    discrete_ve = _network_score(ve, ReferenceScore(continuous=False), _label_net)
    np.testing.assert_array_equal(discrete_ve(x, t)[:, 0], np.round((1 - np.asarray(t)) * 9))


def test_loss_fn_dispatch_and_bad_modes():
    apply = lambda params, x, cond, rng, labels: params * x
    for sde, continuous in [(VPSDE(), True), (VPSDE(), False), (VESDE(), False), (SubVPSDE(), True)]:
        config = toy2d.get_config()
        config.training.continuous = continuous
        parameterization = get_parameterization(config, sde)
        loss = get_loss_fn(sde, parameterization, apply)(jnp.float32(0.5), jax.random.PRNGKey(0), jnp.ones((8, 2)))
        assert loss.shape == () and np.isfinite(loss)
    config = toy2d.get_config()
    config.training.continuous = False
    with pytest.raises(ValueError, match="training.continuous=False"):
        get_parameterization(config, SubVPSDE())


def test_coupled_noise_is_the_noise_the_loss_uses():
    """Reflow's couplings: with `noise` given, the flow-matching target is z - x_0 for that z. A
    zero network's velocity loss is then exactly mean |z - x_0|^2, whatever the rng."""
    from score_sde.losses import LossSettings, denoising_loss
    from score_sde.parameterization import FlowVelocity
    from score_sde.sde import LinearFlow

    x0 = jax.random.normal(jax.random.PRNGKey(0), (64, 3))
    z = jax.random.normal(jax.random.PRNGKey(1), (64, 3))
    zero_net = lambda x, c: jnp.zeros_like(x)
    settings = LossSettings(weighting="velocity")
    for seed in range(3):
        loss = denoising_loss(jax.random.PRNGKey(seed), LinearFlow(), FlowVelocity(), zero_net, x0, settings, noise=z)
        np.testing.assert_allclose(loss, jnp.mean((z - x0) ** 2), rtol=1e-5)
