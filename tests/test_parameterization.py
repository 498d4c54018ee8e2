"""Parameterisations, conversions and the one denoising loss, against closed forms.

The loss tests use Gaussian data, where the exact denoiser E[x_0 | x_t] and the irreducible
error E |x_0 - E[x_0 | x_t]|^2 = tr Cov(x_0 | x_t) are closed forms: a loss is right when the
oracle's denoiser attains exactly the expected irreducible error and any other denoiser does
worse by the expected amount.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import monitoring

from score_sde import conversions
from score_sde.likelihood import log_likelihood
from score_sde.losses import LossSettings, denoising_loss
from score_sde.models import MLPScoreNet, NetApply
from score_sde.oracle import GaussianMixture, example_mixture
from score_sde.parameterization import (
    DataPrediction,
    EDMPreconditioning,
    EpsPrediction,
    FlowVelocity,
    NetworkScore,
    ReferenceNoise,
    ReferenceScore,
    VPrediction,
)
from score_sde.sampling import sample_dpm_solver, sample_ode
from score_sde.sde import VESDE, VPSDE, CosineVPSDE, EDMPath, LinearFlow, SubVPSDE

PROCESSES = [VPSDE(), VESDE(), CosineVPSDE(), LinearFlow(), EDMPath()]
GENERAL = [
    EpsPrediction(),
    EpsPrediction(noise_condition="time"),
    DataPrediction(noise_condition="sigma"),
    VPrediction(),
    FlowVelocity(),
    EDMPreconditioning(sigma_data=0.7),
]
# (parameterisation, process) pairs: the reference's on theirs, the others on every process
PAIRS = [
    (ReferenceNoise(True), VPSDE()),
    (ReferenceNoise(True), SubVPSDE()),
    (ReferenceNoise(False), VPSDE()),
    (ReferenceScore(True), VESDE()),
    (ReferenceScore(False), VESDE()),
] + [(p, q) for p in GENERAL for q in PROCESSES]
PAIR_IDS = [f"{type(p).__name__}-{getattr(p, 'noise_condition', '')}-{type(q).__name__}" for p, q in PAIRS]


def _times(process, n=16):
    return jnp.linspace(0.05, 0.95, n) * process.T


def test_conversions_are_mutual_inverses_and_the_flow_velocity_is_z_minus_x0():
    rng = jax.random.split(jax.random.PRNGKey(0), 4)
    x, denoised = jax.random.normal(rng[0], (2, 16, 3))
    a, s, da, ds = (jax.random.uniform(k, (16, 1), minval=0.2, maxval=2.0) for k in jax.random.split(rng[1], 4))
    pairs = [
        (conversions.score_from_denoiser, conversions.denoiser_from_score),
        (conversions.eps_from_denoiser, conversions.denoiser_from_eps),
        (conversions.v_from_denoiser, conversions.denoiser_from_v),
    ]
    for forward, backward in pairs:
        np.testing.assert_allclose(backward(x, forward(x, denoised, a, s), a, s), denoised, rtol=1e-5, atol=1e-5)
    velocity = conversions.velocity_from_denoiser(x, denoised, a, s, da, ds)
    np.testing.assert_allclose(
        conversions.denoiser_from_velocity(x, velocity, a, s, da, ds), denoised, rtol=1e-4, atol=1e-4
    )
    # on the linear flow with the exact x0, the velocity is z - x0 and v is a eps - s x0 on VP paths
    x0, z = jax.random.normal(rng[2], (2, 16, 3))
    t = jax.random.uniform(rng[3], (16, 1), minval=0.05, maxval=0.95)
    x_t = (1 - t) * x0 + t * z
    np.testing.assert_allclose(
        conversions.velocity_from_denoiser(x_t, x0, 1 - t, t, -1.0, 1.0), z - x0, rtol=1e-4, atol=1e-4
    )
    a_vp, s_vp = jnp.cos(t), jnp.sin(t)
    np.testing.assert_allclose(
        conversions.v_from_denoiser(a_vp * x0 + s_vp * z, x0, a_vp, s_vp), a_vp * z - s_vp * x0, rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("parameterization, process", PAIRS, ids=PAIR_IDS)
def test_every_parameterisation_round_trips_and_its_target_denoises_to_the_data(parameterization, process):
    rng = jax.random.split(jax.random.PRNGKey(1), 3)
    t = _times(process)
    x, score = jax.random.normal(rng[0], (2, 16, 2, 2))
    output = parameterization.output_from_score(process, x, t, score)
    np.testing.assert_allclose(parameterization.score(process, x, t, output), score, rtol=2e-4, atol=2e-4)
    x0, z = jax.random.normal(rng[1], (2, 16, 2, 2))
    a, s = parameterization.path_coefficients(process, t, x0)  # the discrete DDPM networks: their chain's
    target = parameterization.target(process, x0, z, t)
    np.testing.assert_allclose(parameterization.denoise(process, a * x0 + s * z, t, target), x0, rtol=1e-4, atol=1e-4)


def test_what_the_networks_are_fed():
    t = jnp.array([0.1, 0.5, 0.9])
    x = jnp.ones((3, 2))
    vp, edm = VPSDE(), EDMPath()
    a, s = vp.marginal_coefficients(t)
    sigma = np.asarray(s / a)
    assert np.allclose(EpsPrediction().network_inputs(vp, x, t)[1], 0.25 * np.log(sigma), rtol=1e-5)
    assert np.allclose(EpsPrediction(noise_condition="sigma").network_inputs(vp, x, t)[1], sigma, rtol=1e-5)
    assert np.allclose(EpsPrediction(noise_condition="time").network_inputs(vp, x, t)[1], 999 * np.asarray(t))
    np.testing.assert_allclose(EpsPrediction().network_inputs(vp, x, t)[0], x, rtol=1e-6)  # a^2 + s^2 = 1 on VP
    sigmas = jnp.array([0.01, 1.0, 50.0])
    x_in, c_noise = EDMPreconditioning(sigma_data=0.5).network_inputs(edm, x, sigmas)  # EDM, table 1
    np.testing.assert_allclose(x_in[:, 0], 1 / np.sqrt(np.asarray(sigmas) ** 2 + 0.25), rtol=1e-6)
    np.testing.assert_allclose(c_noise, 0.25 * np.log(np.asarray(sigmas)), rtol=1e-6)
    c_skip, c_out = EDMPreconditioning(sigma_data=0.5).output_coefficients(edm, sigmas, x)
    np.testing.assert_allclose(c_skip[:, 0], 0.25 / (np.asarray(sigmas) ** 2 + 0.25), rtol=1e-6)
    np.testing.assert_allclose(
        c_out[:, 0], np.asarray(sigmas) * 0.5 / np.sqrt(np.asarray(sigmas) ** 2 + 0.25), rtol=1e-6
    )


# --- the denoising loss ------------------------------------------------------------------------------

MEAN, STD = np.array([0.5, -1.0]), np.array([0.6, 1.3])  # the Gaussian data, per coordinate


def _gaussian(process):
    return GaussianMixture(process, jnp.ones((1,)), jnp.asarray(MEAN[None]), jnp.diag(jnp.asarray(STD**2))[None])


def _irreducible(process, t):
    """E |x_0 - E[x_0 | x_t]|^2 / D for the Gaussian data: the mean posterior variance."""
    a, s = (np.asarray(v, np.float64) for v in process.marginal_coefficients(jnp.asarray(t, jnp.float32)))
    return np.mean(STD[:, None] ** 2 * s**2 / (a**2 * STD[:, None] ** 2 + s**2), axis=0)


def _time_of(process, parameterization, c_noise):
    """The time whose noise condition is c_noise (every condition here increases with t)."""
    ones = jnp.ones((c_noise.shape[0], 1))

    def halve(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        later = parameterization.network_inputs(process, ones, mid)[1] < c_noise
        return jnp.where(later, mid, lo), jnp.where(later, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 60, halve, (jnp.zeros_like(c_noise), jnp.full_like(c_noise, process.T)))
    return 0.5 * (lo + hi)


def _oracle_network(process, parameterization, shift):
    """net_fn(x_in, c_noise) whose denoiser is the exact one of the Gaussian data plus `shift`
    (x and t are recovered from what the network is fed)."""
    oracle = _gaussian(process)

    def net_fn(x_in, c_noise):
        t = _time_of(process, parameterization, c_noise)
        x = x_in / parameterization.network_inputs(process, jnp.ones_like(x_in), t)[0]
        a, s = (v[:, None] for v in process.marginal_coefficients(t))
        score = conversions.score_from_denoiser(x, oracle.denoise(x, t) + shift, a, s)
        return parameterization.output_from_score(process, x, t, score)

    return net_fn


def _mean_loss(process, parameterization, settings, shifts, repeats=32, batch=4096):
    """Loss of the oracle network shifted by each of `shifts`, over `repeats` batches of Gaussian
    data with the same random numbers for every shift: (mean, standard error, per-batch values)."""

    def loss(rng, x0, shift):
        net_fn = _oracle_network(process, parameterization, shift)
        return denoising_loss(rng, process, parameterization, net_fn, x0, settings)

    losses = jax.jit(jax.vmap(loss, in_axes=(0, 0, None)))
    data = jax.random.normal(jax.random.PRNGKey(7), (repeats, batch, 2)) * STD + MEAN
    keys = jax.random.split(jax.random.PRNGKey(8), repeats)
    results = []
    for shift in shifts:
        values = np.asarray(losses(keys, data, shift), np.float64)
        results.append((values.mean(), values.std() / np.sqrt(repeats), values))
    return results


def _expected(process, settings, weight_of, extra=0.0):
    """E_t w(t) (irreducible(t) + extra) under the settings' time distribution, by the trapezoid
    rule on a fine grid (geometric near eps, where the integrands vary fastest)."""
    if settings.time_sampling == "log_normal":
        log_sigma = np.linspace(settings.P_mean - 8 * settings.P_std, settings.P_mean + 8 * settings.P_std, 20001)
        t = np.asarray(process.inverse_log_snr(jnp.asarray(-2.0 * log_sigma, jnp.float32)), np.float64)
        t = np.clip(t, settings.eps, process.T)
        density = np.exp(-0.5 * ((log_sigma - settings.P_mean) / settings.P_std) ** 2) / (
            settings.P_std * np.sqrt(2 * np.pi)
        )
        return np.trapezoid(weight_of(process, t) * (_irreducible(process, t) + extra) * density, log_sigma)
    t = np.unique(
        np.concatenate([np.geomspace(settings.eps, process.T, 20001), np.linspace(settings.eps, process.T, 20001)])
    )
    integrand = weight_of(process, t) * (_irreducible(process, t) + extra)
    return np.trapezoid(integrand, t) / (process.T - settings.eps)


def _coefficients(process, t):
    a, s = process.marginal_coefficients(jnp.asarray(t, jnp.float32))
    return np.asarray(a, np.float64), np.asarray(s, np.float64)


def _derivatives(process, t, h=1e-3):
    """(a', s') by central differences of the process's own a(t), s(t)."""
    h = h * process.T
    lo, hi = np.maximum(t - h, 1e-6), np.minimum(t + h, process.T)
    (a0, s0), (a1, s1) = _coefficients(process, lo), _coefficients(process, hi)
    return (a1 - a0) / (hi - lo), (s1 - s0) / (hi - lo)


# the weights on |D - x_0|^2, from each objective's definition
def _snr(process, t):
    a, s = _coefficients(process, t)
    return a**2 / s**2


def _velocity_weight(process, t):  # |u - u*|^2 with u = a' D + s' (x - a D) / s
    a, s = _coefficients(process, t)
    da, ds = _derivatives(process, t)
    return (da - ds * a / s) ** 2


def _likelihood_weight(process, t):  # g^2 |score - score*|^2 with score = (a D - x) / s^2
    a, s = _coefficients(process, t)
    da, ds = _derivatives(process, t)
    g2 = 2 * s * ds - 2 * (da / a) * s**2
    return g2 * a**2 / s**4


DEFINITIONS = {
    "eps": _snr,
    "x0": lambda process, t: np.ones_like(t),
    "v": lambda process, t: 1.0 + _snr(process, t),  # |v - v*|^2 = (a^2 + s^2) / s^2 |D - x0|^2
    "velocity": _velocity_weight,
    "edm": lambda process, t: (1 / _snr(process, t) + 0.25) / (0.25 / _snr(process, t)),
    "min_snr": lambda process, t: np.minimum(_snr(process, t), 5.0),
    "score": lambda process, t: _snr(process, t) / _coefficients(process, t)[1] ** 2,
    "likelihood": _likelihood_weight,
}
CASES = [  # (parameterisation, process, settings): each parameterisation with its own weighting
    (ReferenceNoise(True), VPSDE(), LossSettings(weighting="eps", eps=1e-3)),
    (ReferenceScore(True), VESDE(), LossSettings(weighting="eps", eps=1e-3)),
    (EpsPrediction(), CosineVPSDE(), LossSettings(weighting="eps", eps=1e-3)),
    (DataPrediction(), EDMPath(), LossSettings(weighting="x0", eps=1e-3)),
    (VPrediction(), VPSDE(), LossSettings(weighting="v", eps=1e-3)),
    (FlowVelocity(), LinearFlow(), LossSettings(weighting="velocity", eps=1e-3)),
    (EDMPreconditioning(sigma_data=0.5), EDMPath(), LossSettings(weighting="edm", time_sampling="log_normal")),
]


@pytest.mark.parametrize(
    "parameterization, process, settings", CASES, ids=[f"{type(p).__name__}-{type(q).__name__}" for p, q, _ in CASES]
)
def test_the_oracle_denoiser_minimises_each_parameterisations_loss(parameterization, process, settings):
    weight = DEFINITIONS[settings.weighting]
    (mean, stderr, values), *shifted = _mean_loss(process, parameterization, settings, (0.0, -0.2, 0.2))
    expected = _expected(process, settings, weight)
    assert abs(mean - expected) < 4.5 * stderr + 1e-3 * expected, (mean, expected, stderr)
    # any other denoiser pays w(t) |shift|^2 on top, on both sides of the minimum
    for shift, (_, _, shifted_values) in zip((-0.2, 0.2), shifted):
        increase = _expected(process, settings, weight, extra=shift**2) - expected
        differences = shifted_values - values  # common random numbers: a precise difference
        assert (
            increase > 0
            and abs(differences.mean() - increase)
            < 4.5 * differences.std() / np.sqrt(len(differences)) + 2e-3 * increase
        ), (differences.mean(), increase)


@pytest.mark.parametrize("weighting", sorted(DEFINITIONS))
def test_each_weighting_is_its_definition(weighting):
    """x_0-prediction makes the weight act on |D - x_0|^2 directly: the loss at the oracle is
    E_t w(t) tr Cov(x_0 | x_t) with w from each objective's definition."""
    process = LinearFlow() if weighting == "velocity" else VPSDE()
    settings = LossSettings(weighting=weighting, eps=1e-2)
    [(mean, stderr, _)] = _mean_loss(process, DataPrediction(), settings, (0.0,))
    expected = _expected(process, settings, DEFINITIONS[weighting])
    assert abs(mean - expected) < 4.5 * stderr + 2e-3 * expected, (mean, expected, stderr)


def test_importance_sampling_on_the_log_snr_keeps_the_time_uniform_objective():
    process = VPSDE()
    uniform = LossSettings(weighting="x0", eps=1e-3)
    importance = LossSettings(weighting="x0", eps=1e-3, time_sampling="log_snr")
    [(mean, stderr, _)] = _mean_loss(process, DataPrediction(), importance, (0.0,))
    expected = _expected(process, uniform, DEFINITIONS["x0"])
    assert abs(mean - expected) < 4.5 * stderr + 1e-3 * expected, (mean, expected, stderr)


# --- parameters are traced, never compiled in ------------------------------------------------------------


class _Lowerings:
    """Counts programs lowered to XLA (each new trace of a jitted function lowers once)."""

    EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"

    def __enter__(self):
        self.count = 0
        self.listener = lambda event, duration, **kwargs: setattr(self, "count", self.count + (event == self.EVENT))
        monitoring.register_event_duration_secs_listener(self.listener)
        return self

    def __exit__(self, *exc):
        monitoring.unregister_event_duration_listener(self.listener)


# the adaptive ODE solve repeats what the likelihood's shows (-m slow)
@pytest.mark.parametrize("solve", ["dpm_solver", pytest.param("ode", marks=pytest.mark.slow), "likelihood"])
def test_new_parameters_of_the_same_shapes_compile_nothing(solve):
    process = VPSDE()
    model = MLPScoreNet(hidden_dims=(16, 16), embedding_dim=8)
    params = [
        jax.tree.map(
            lambda p, k=k: p + 0.01 * k, model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)), jnp.ones((1,)))["params"]
        )
        for k in (1, 2, 3)
    ]
    x = example_mixture(process).sample(jax.random.PRNGKey(1), 8)[0]
    run = {
        "dpm_solver": lambda score: sample_dpm_solver(jax.random.PRNGKey(0), process, score, (8, 2), num_steps=5)[0],
        "ode": lambda score: sample_ode(jax.random.PRNGKey(0), process, score, (8, 2), solver="euler", num_steps=4)[0],
        "likelihood": lambda score: log_likelihood(
            jax.random.PRNGKey(0), process, score, x, trace="exact", eps=0.1, rtol=1e-3, atol=1e-3
        )[0],
    }[solve]
    network = lambda p: NetworkScore(NetApply(model), p, process, DataPrediction())
    with _Lowerings() as first:
        first_result = jax.block_until_ready(run(network(params[0])))
    with _Lowerings() as second:
        second_result = jax.block_until_ready(run(network(params[1])))
    assert first.count > 0 and second.count == 0, (first.count, second.count)
    assert not np.allclose(first_result, second_result)  # the new parameters were used
    if solve == "dpm_solver":  # the counter sees what a closure over the parameters costs: a new program
        closure = lambda p: lambda x, t: network(p)(x, t)
        run(closure(params[1]))
        with _Lowerings() as baked:
            jax.block_until_ready(run(closure(params[2])))
        assert baked.count > 0
