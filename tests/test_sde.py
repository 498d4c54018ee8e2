import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import stats

from score_sde.config import base_config
from score_sde.sde import (
    VESDE,
    VPSDE,
    CosineVPSDE,
    EDMPath,
    GaussianPath,
    LinearFlow,
    SubVPSDE,
    TrigFlowPath,
    chain_of,
    get_sde,
)
from tests.helpers import ALL_SDES, NEW_IDS, NEW_PROCESSES, SDE_IDS


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
def test_marginal_prob_matches_monte_carlo(sde, t_end, full_optimizations):
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
        f, G = chain_of(sde).discretize(x, t)
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
        f, G = chain_of(sde).discretize(x, jnp.full((4,), min((i + 0.3) / 99, 1.0)))
        previous = sigmas[i - 1] if i > 0 else 0.0
        np.testing.assert_allclose(f, 0.0)
        np.testing.assert_allclose(G, np.sqrt(sigmas[i] ** 2 - previous**2), rtol=1e-5)


def test_subvp_discretize_is_euler_maruyama():
    sde = SubVPSDE(N=50)
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 4))
    t = jnp.array([0.1, 0.5, 0.9])
    drift, diffusion = sde.sde(x, t)
    f, G = chain_of(sde).discretize(x, t)
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
    _, flow_G = chain_of(sde).reverse_discretize(x, t, None, score_fn, probability_flow=True)
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


# --- the Gaussian-path core: processes beyond the reference's three ------------------------------------


@pytest.mark.parametrize("process", NEW_PROCESSES, ids=NEW_IDS)
@pytest.mark.parametrize("fraction", [pytest.param(0.3, marks=pytest.mark.slow), 0.9])  # 0.3: -m slow
def test_new_marginals_match_monte_carlo_of_their_sde(process, fraction, full_optimizations):
    """Simulating dx = f(t) x dt + g(t) dw with the process's f and g^2 reproduces N(a x0, s^2)."""
    n, t_end = 20000, fraction * process.T
    x0 = jnp.tile(jnp.array([[1.5, -0.5]]), (n, 1))
    x = np.asarray(jax.jit(_forward_em, static_argnums=(0, 2, 3))(process, x0, t_end, 4000, jax.random.PRNGKey(3)))
    a, s = (float(v[0]) for v in process.marginal_coefficients(jnp.array([t_end])))
    # Euler-Maruyama in 4000 steps: its bias is first order in dt, below 3e-3 s here
    np.testing.assert_allclose(x.mean(0), a * np.array([1.5, -0.5]), atol=4.5 * s / np.sqrt(n) + 3e-3 * s)
    np.testing.assert_allclose(x.std(0), s, atol=4.5 * s / np.sqrt(2 * n) + 3e-3 * s)


def _finite_difference(fn, t, h=1e-3):
    """Central difference in float64 of a numpy function of t."""
    return (fn(t + h) - fn(t - h)) / (2 * h)


# the paths in closed form, written from their papers in float64: (a(t), s(t)) as numpy functions
COSINE_ABAR = lambda t, s=0.008: np.cos((t + s) / (1 + s) * np.pi / 2) ** 2 / np.cos(s / (1 + s) * np.pi / 2) ** 2
PATHS = {
    "cosine": (CosineVPSDE(), lambda t: np.sqrt(COSINE_ABAR(t)), lambda t: np.sqrt(1 - COSINE_ABAR(t))),
    "flow": (LinearFlow(), lambda t: 1 - t, lambda t: t),
    "edm": (EDMPath(), lambda t: np.ones_like(t), lambda t: t),
    "trigflow": (TrigFlowPath(), np.cos, lambda t: 0.5 * np.sin(t)),
}


@pytest.mark.parametrize("name", list(PATHS))
def test_paths_are_their_papers_and_f_g_follow_from_a_and_s(name):
    process, a_of, s_of = PATHS[name]
    t = np.linspace(0.05, 0.95, 7) * process.T
    a, s = (np.asarray(v, np.float64) for v in process.marginal_coefficients(jnp.asarray(t, jnp.float32)))
    np.testing.assert_allclose(a, a_of(t), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(s, s_of(t), rtol=2e-5, atol=1e-6)
    # f = d log a / dt and g^2 = d s^2 / dt - 2 f s^2, by finite differences of the paper's a and s
    f = _finite_difference(lambda u: np.log(a_of(u)), t, 1e-4 * process.T)
    g2 = _finite_difference(lambda u: s_of(u) ** 2, t, 1e-4 * process.T) - 2 * f * s_of(t) ** 2
    tt = jnp.asarray(t, jnp.float32)
    np.testing.assert_allclose(process.drift_coefficient(tt), f, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(process.diffusion_squared(tt), g2, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(process.log_snr(tt), np.log(a_of(t) ** 2 / s_of(t) ** 2), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(process.inverse_log_snr(process.log_snr(tt)), t, rtol=1e-4, atol=1e-5 * process.T)


def test_cosine_is_clipped_where_its_beta_reaches_999_and_the_flow_stops_short_of_one():
    cosine = CosineVPSDE()
    theta = (cosine.T + 0.008) / 1.008 * np.pi / 2
    assert np.pi * np.tan(theta) / 1.008 == pytest.approx(999.0, rel=1e-6)  # beta(T) = -d log abar / dt
    assert float(cosine.marginal_coefficients(jnp.array([cosine.T]))[0][0]) < 4e-3
    flow = LinearFlow()
    assert flow.T == 0.999 and flow.prior_std == 1.0
    assert float(flow.diffusion_squared(jnp.array([flow.T]))[0]) == pytest.approx(2 * 0.999 / 0.001, rel=1e-3)
    edm = EDMPath()
    assert (edm.T, edm.eps, edm.prior_std, edm.default_schedule) == (80.0, 0.002, 80.0, "karras")


@pytest.mark.parametrize("reference", [VPSDE(), SubVPSDE(), VESDE()], ids=SDE_IDS)
def test_a_general_path_reproduces_the_reference_sdes_by_autodiff(reference):
    """GaussianPath from a(t), s(t) alone gets f, g^2, lambda and its inverse by autodiff and
    bisection; they equal the reference's closed forms."""
    path = GaussianPath(
        scale=lambda t: reference.marginal_coefficients(t)[0], noise=lambda t: reference.marginal_coefficients(t)[1]
    )
    t = jnp.linspace(0.02, 0.98, 9)
    x = jax.random.normal(jax.random.PRNGKey(0), (9, 3))
    for ours, theirs in zip(path.sde(x, t), reference.sde(x, t)):
        np.testing.assert_allclose(ours, theirs, rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(path.log_snr(t), reference.log_snr(t), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(path.inverse_log_snr(reference.log_snr(t)), t, atol=1e-6)


def test_a_path_given_by_its_log_snr_is_variance_preserving_or_exploding():
    vp = GaussianPath(log_snr_fn=VPSDE().log_snr)
    ve = GaussianPath(log_snr_fn=VESDE().log_snr, variance_preserving=False)
    t = jnp.linspace(0.02, 0.98, 9)
    for path, reference in ((vp, VPSDE()), (ve, VESDE())):
        for ours, theirs in zip(path.marginal_coefficients(t), reference.marginal_coefficients(t)):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5)
        np.testing.assert_allclose(path.diffusion_squared(t), reference.diffusion_squared(t), rtol=2e-4)
    with pytest.raises(ValueError, match="either both scale and noise"):
        GaussianPath(scale=lambda t: 1 - t)


@pytest.mark.parametrize("process", NEW_PROCESSES, ids=NEW_IDS)
def test_new_priors_and_discretisations(process):
    z = process.prior_sampling(jax.random.PRNGKey(0), (6, 2, 3))
    var = process.prior_std**2
    expected = stats.multivariate_normal(np.zeros(6), var * np.eye(6)).logpdf(np.asarray(z).reshape(6, 6))
    np.testing.assert_allclose(process.prior_logp(z), expected, rtol=1e-5)
    # the generic N-step chain is the exact forward transition: marginal variance is kept
    t, dt = jnp.full((4,), 0.5 * process.T), 0.01 * process.T
    x = jnp.ones((4, 2))
    f, G = chain_of(process).discretize(x, t, dt)
    a_t, s_t = process.marginal_coefficients(t)
    a_p, s_p = process.marginal_coefficients(t - dt)
    np.testing.assert_allclose(x + f, (a_t / a_p)[:, None] * x, rtol=1e-5)
    np.testing.assert_allclose(G**2 + (a_t / a_p) ** 2 * s_p**2, s_t**2, rtol=1e-4)


def test_every_process_is_registered_and_built_from_the_config():
    config = base_config()
    built = {}
    for name in ("vpsde", "subvpsde", "vesde", "cosine_vp", "linear_flow", "edm", "trigflow"):
        config.training.sde = name
        built[name] = get_sde(config)
    assert {name: type(p).__name__ for name, p in built.items()} == {
        "vpsde": "VPSDE",
        "subvpsde": "SubVPSDE",
        "vesde": "VESDE",
        "cosine_vp": "CosineVPSDE",
        "linear_flow": "LinearFlow",
        "edm": "EDMPath",
        "trigflow": "TrigFlowPath",
    }
    assert built["edm"] == EDMPath(0.002, 80.0, 1000) and built["cosine_vp"] == CosineVPSDE(s=0.008)
    assert built["trigflow"] == TrigFlowPath(0.5, 0.002, 80.0, 1000)
    assert built["trigflow"].T == pytest.approx(np.arctan(160.0)) and built["trigflow"].eps == pytest.approx(
        np.arctan(0.004)
    )
