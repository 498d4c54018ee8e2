"""iCT and MeanFlow against the 2-D Gaussian-mixture oracle, whose probability flow is solved here to
solver precision (`GaussianMixture.flow_map`): the exact consistency map and the exact average
velocity make the losses behave as predicted and the one-step samplers draw the mixture; the
losses and schedules equal transcriptions of the papers' code on the same draws; both objectives
train, evaluate and sample through the runner; and (in -m slow) both learn the toy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf, expit, logit
from scipy.stats import norm

from configs import toy2d
from score_sde.conversions import denoiser_across
from score_sde.distillation import Consistency, ConsistencyParameterization, sample_consistency
from score_sde.few_step import (
    ConsistencyTrainingSchedule,
    ContinuousConsistencySettings,
    MeanFlowSampler,
    MeanFlowSettings,
    consistency_tangent,
    consistency_training_loss,
    continuous_consistency_loss,
    doubling_num_points,
    grid_sigmas,
    guided_velocity,
    lognormal_interval_logits,
    mean_flow_loss,
    mean_flow_target,
    sample_mean_flow,
    time_pairs,
    trigflow_times,
    trigflow_velocity,
)
from score_sde.models import MLPScoreNet, NetApply
from score_sde.oracle import example_mixture
from score_sde.parameterization import TrigFlowParameterization
from score_sde.runner import check, sample
from score_sde.runner.distill import distill
from score_sde.runner.modes import compute_likelihood
from score_sde.runner.restore import load_params
from score_sde.runner.setup import build
from score_sde.runner.train_loop import train
from score_sde.sde import VPSDE, EDMPath, LinearFlow, TrigFlowPath
from tests.helpers import assert_matches_mixture
from tests.runner_helpers import tiny_toy_config

EDM = EDMPath()
FLOW = LinearFlow()
EDM_ORACLE = example_mixture(EDM)
FLOW_ORACLE = example_mixture(FLOW)
SIGMA_MIN = 0.002


def exact_consistency_map(x, t):
    """f*(x, t): the end at sigma_min of EDM's probability flow through (x, t), to solver precision (100
    RK4 steps in ln sigma: within 3e-4 of 300 steps' map)."""
    return EDM_ORACLE.flow_map(x, t, jnp.full_like(t, SIGMA_MIN), steps=100, log_time=True)


def exact_average_velocity(z, r, t):
    """u*(z, r, t) = (z - Phi_{t -> r}(z)) / (t - r) of the linear path (50 RK4 steps: within 1e-4 of 200),
    the velocity itself at r = t."""
    gap = t - r
    apart = gap > 1e-3
    safe_r = jnp.where(apart, r, t - 1e-3)
    average = (z - FLOW_ORACLE.flow_map(z, t, safe_r, steps=50)) / (t - safe_r)[:, None]
    return jnp.where(apart[:, None], average, FLOW_ORACLE.velocity(z, t))


# --- iCT ---------------------------------------------------------------------------------------


def test_the_curriculum_doubles_as_the_papers_code():
    """N(k) = min(s0 2^floor(k / K'), s1) + 1, K' = floor(K / (log2 floor(s1 / s0) + 1)), transcribed from
    the reference implementations: 11, 21, ..., 1281 every 50k of 400k steps."""

    def transcribed(k, K, s0=10, s1=1280):
        stage = int(np.floor(K / (np.log2(np.floor(s1 / s0)) + 1)))
        return min(s0 * 2 ** (k // stage), s1) + 1

    steps = np.array([0, 49_999, 50_000, 100_000, 349_999, 350_000, 399_999])
    ours = np.asarray(doubling_num_points(steps, 400_000))
    np.testing.assert_array_equal(ours, [transcribed(k, 400_000) for k in steps])
    np.testing.assert_array_equal(ours, [11, 11, 21, 41, 641, 1281, 1281])
    np.testing.assert_array_equal(np.asarray(doubling_num_points(np.array([0, 40, 99]), 100, 2, 8)), [3, 5, 9])


def test_the_ict_loss_is_the_papers_loss_on_the_same_draws():
    """On EDM's path with a small fixed network through the consistency parameterisation: the interval
    probabilities and the loss equal a float64 transcription of iCT (the Karras grid ascending from
    sigma_min, p_i by the log-normal's erf, lambda_i = 1 / (sigma_{i+1} - sigma_i), pseudo-Huber over
    each example, the target at the lower level with the same noise) fed the same index and noise."""
    weights = (np.array([[0.8, -0.3], [0.2, 1.1]]), np.array([0.5, -0.7]))
    network = lambda xp: lambda x_in, c_noise: xp.tanh(x_in @ weights[0] + c_noise[:, None] * weights[1])
    parameterization = ConsistencyParameterization(sigma_data=0.5, eps=SIGMA_MIN, noise_condition="log_sigma")

    def f(x, t):
        x_in, c_noise = parameterization.network_inputs(EDM, x, t)
        return parameterization.denoise(EDM, x, t, network(jnp)(x_in, c_noise))

    def f_transcribed(x, sigma, sd=0.5):
        c_skip = sd**2 / ((sigma - SIGMA_MIN) ** 2 + sd**2)
        c_out = (sigma - SIGMA_MIN) * sd / np.sqrt(sigma**2 + sd**2)
        c_in = 1 / np.sqrt(sigma**2 + sd**2)
        return c_skip[:, None] * x + c_out[:, None] * network(np)(c_in[:, None] * x, 0.25 * np.log(sigma))

    schedule = ConsistencyTrainingSchedule(total_steps=400_000, huber_c=0.03)
    step, batch = 60_000, 4096  # N = 21
    x0 = np.asarray(EDM_ORACLE.sample(jax.random.PRNGKey(1), batch)[0], np.float64)
    rng = jax.random.PRNGKey(2)
    loss = consistency_training_loss(rng, EDM, f, jnp.asarray(x0, jnp.float32), schedule, SIGMA_MIN, step)

    num_points = 21
    ramp = np.linspace(0, 1, num_points)
    sigmas = (SIGMA_MIN ** (1 / 7) + ramp * (80.0 ** (1 / 7) - SIGMA_MIN ** (1 / 7))) ** 7
    cdf = erf((np.log(sigmas) + 1.1) / (np.sqrt(2) * 2.0))
    probabilities = (cdf[1:] - cdf[:-1]) / np.sum(cdf[1:] - cdf[:-1])
    _, our_sigmas = grid_sigmas(EDM, num_points, schedule.max_points, SIGMA_MIN, 7.0)
    logits = lognormal_interval_logits(our_sigmas, num_points, -1.1, 2.0)
    np.testing.assert_allclose(np.asarray(jax.nn.softmax(logits))[: num_points - 1], probabilities, rtol=1e-4)
    assert np.all(np.isneginf(np.asarray(logits)[num_points - 1 :]))

    index_rng, noise_rng = jax.random.split(rng)
    index = np.asarray(jax.random.categorical(index_rng, logits, shape=(batch,)))
    z = np.asarray(jax.random.normal(noise_rng, x0.shape), np.float64)
    sigma, sigma_next = sigmas[index], sigmas[index + 1]
    difference = f_transcribed(x0 + sigma_next[:, None] * z, sigma_next) - f_transcribed(x0 + sigma[:, None] * z, sigma)
    distance = np.sqrt(np.sum(difference**2, axis=-1) + 0.03**2) - 0.03
    expected = np.mean(distance / (sigma_next - sigma))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)


def test_the_exact_consistency_map_meets_the_ict_loss_as_predicted():
    """With f* (the mixture's exact probability-flow map to sigma_min) and a pseudo-Huber c large enough
    that d = |.|^2 / (2c): f* + delta (sigma - sigma_min) c_vec raises the loss by delta^2 |c_vec|^2
    E[sigma_{i+1} - sigma_i] / (2c) (the cross term vanishes because E[f*(x_i) | x_{i+1}] = f*(x_{i+1}) to
    O(step^2): the CT target's mean is one Euler step of the flow, along which f* is constant), and the
    loss at f* (the estimator's variance) lies far below."""
    c, delta, shift = 100.0, 2.0, jnp.array([3.0, -4.0])  # |shift|^2 = 25
    x0 = EDM_ORACLE.sample(jax.random.PRNGKey(3), 4096)[0]
    rng = jax.random.PRNGKey(4)
    schedule = ConsistencyTrainingSchedule(total_steps=1, s0=1280, s1=1280, huber_c=c)
    assert int(schedule.num_points(0)) == schedule.max_points == 1281

    def perturbed(x, t):
        return exact_consistency_map(x, t) + delta * (t - SIGMA_MIN)[:, None] * shift

    exact = float(consistency_training_loss(rng, EDM, exact_consistency_map, x0, schedule, SIGMA_MIN, step=0))
    moved = float(consistency_training_loss(rng, EDM, perturbed, x0, schedule, SIGMA_MIN, step=0))
    _, sigmas = grid_sigmas(EDM, 1281, 1281, SIGMA_MIN, 7.0)
    logits = lognormal_interval_logits(sigmas, 1281, -1.1, 2.0)
    index = jax.random.categorical(jax.random.split(rng)[0], logits, shape=(4096,))
    predicted_rise = delta**2 * 25.0 * float(jnp.mean(sigmas[index + 1] - sigmas[index])) / (2 * c)
    np.testing.assert_allclose(moved - exact, predicted_rise, rtol=0.05)
    assert exact < 0.1 * predicted_rise, (exact, predicted_rise)


def test_one_step_consistency_sampling_with_the_exact_map_draws_the_mixture():
    """f*(x_T, T) of the prior's draws is a draw of the mixture at sigma_min; two steps (T, then 0.821:
    iCT's CIFAR-10 midpoint) too."""
    shape = (4000, 2)
    one, nfe = sample_consistency(jax.random.PRNGKey(5), EDM, exact_consistency_map, shape, [EDM.T], SIGMA_MIN)
    assert int(nfe) == 1
    assert_matches_mixture(one, EDM_ORACLE)
    two, nfe = sample_consistency(jax.random.PRNGKey(6), EDM, exact_consistency_map, shape, [EDM.T, 0.821], SIGMA_MIN)
    assert int(nfe) == 2
    assert_matches_mixture(two, EDM_ORACLE)


def test_the_consistency_sampler_takes_explicit_times():
    """num_steps times from T: T and the first num_steps - 1 given times (iCT's 0.821), or the Karras grid's;
    times that do not descend inside (eps, T), or too few of them, are refused in one line."""
    rng, shape = jax.random.PRNGKey(25), (16, 2)
    two = Consistency(num_steps=2, eps=SIGMA_MIN, times=(0.821, 0.1))(rng, EDM, EDM_ORACLE, shape)[0]
    expected = sample_consistency(rng, EDM, EDM_ORACLE.denoise, shape, [EDM.T, 0.821], SIGMA_MIN)[0]
    np.testing.assert_allclose(two, expected, rtol=1e-6)
    one = Consistency(num_steps=1, eps=SIGMA_MIN, times=(0.821,))(rng, EDM, EDM_ORACLE, shape)[0]
    np.testing.assert_allclose(one, sample_consistency(rng, EDM, EDM_ORACLE.denoise, shape, [EDM.T], SIGMA_MIN)[0])
    for steps, times in ((3, (0.821,)), (2, (90.0,)), (2, (0.001,))):
        with pytest.raises(ValueError, match="config.sampling.consistency_times"):
            Consistency(num_steps=steps, eps=SIGMA_MIN, times=times)(rng, EDM, EDM_ORACLE, shape)


# --- MeanFlow ----------------------------------------------------------------------------------


def test_time_pairs_follow_the_papers_sampler():
    """t = max and r = min of two logit-normal draws, so P(t <= tau) = Phi((logit tau - P_mean) / P_std)^2;
    r = t for a fraction 1 - ratio."""
    r, t = time_pairs(jax.random.PRNGKey(7), 200_000, -0.4, 1.0, 0.25)
    r, t = np.asarray(r), np.asarray(t)
    assert np.all(r <= t) and np.all((t > 0) & (t < 1))
    assert np.mean(r != t) == pytest.approx(0.25, abs=0.005)
    for tau in (0.2, 0.4, 0.6, 0.8):
        assert np.mean(t <= tau) == pytest.approx(norm.cdf((logit(tau) + 0.4) / 1.0) ** 2, abs=0.005)
    apart = r != t
    assert np.mean(r[apart] <= 0.4) == pytest.approx(1 - (1 - norm.cdf(logit(0.4) + 0.4)) ** 2, abs=0.01)
    assert expit(-0.4) == pytest.approx(np.median(np.concatenate([r[apart], t[apart]])), abs=0.01)


def test_the_exact_average_velocity_satisfies_the_meanflow_identity():
    """u* = v - (t - r) du*/dt along the flow, with the marginal velocity v and du*/dt by jax.jvp (tangents
    (v, 0, 1)): the target equals u* to solver precision. The conditional velocity e - x0 in its place
    misses (the identity holds for the marginal flow), and a perturbation delta t c_vec moves the residual
    by delta (2t - r) c_vec (its own derivative along the path enters the target)."""
    n = 512
    x0, _ = FLOW_ORACLE.sample(jax.random.PRNGKey(8), n)
    e = jax.random.normal(jax.random.PRNGKey(9), (n, 2))
    t = jax.random.uniform(jax.random.PRNGKey(10), (n,), minval=0.2, maxval=0.95)
    r = t * jax.random.uniform(jax.random.PRNGKey(11), (n,), minval=0.0, maxval=0.8)
    z = (1 - t)[:, None] * x0 + t[:, None] * e
    velocity = FLOW_ORACLE.velocity(z, t)
    u, target = mean_flow_target(exact_average_velocity, z, r, t, velocity)
    np.testing.assert_allclose(target, u, atol=2e-3)
    assert float(jnp.max(jnp.abs(u - exact_average_velocity(z, r, t)))) == 0.0
    _, conditional_target = mean_flow_target(exact_average_velocity, z, r, t, e - x0)
    assert float(jnp.mean(jnp.abs(conditional_target - u))) > 0.3

    delta, shift = 0.1, jnp.array([1.0, -2.0])
    perturbed = lambda z, r, t: exact_average_velocity(z, r, t) + delta * t[:, None] * shift
    u, target = mean_flow_target(perturbed, z, r, t, velocity)
    np.testing.assert_allclose(u - target, delta * (2 * t - r)[:, None] * shift, atol=2e-3)


def test_the_meanflow_loss_rises_by_the_predicted_amount():
    """With the plain squared error (p = 0) on the data's own draws: the loss at u* is the conditional
    velocity's irreducible variance, and u* + delta c_vec raises it by delta^2 |c_vec|^2 (u*'s residual
    has mean zero given (z, r, t)), within Monte-Carlo error; the adaptive weight at p = 1 maps every
    example's error e to e / (e + c), below 1."""
    settings = MeanFlowSettings(power=0.0, ratio=0.75)
    x0 = FLOW_ORACLE.sample(jax.random.PRNGKey(12), 8192)[0]
    rng = jax.random.PRNGKey(13)
    delta, shift = 0.5, jnp.array([1.0, -2.0])
    at_exact = float(mean_flow_loss(rng, exact_average_velocity, x0, settings))
    moved = float(mean_flow_loss(rng, lambda z, r, t: exact_average_velocity(z, r, t) + delta * shift, x0, settings))
    np.testing.assert_allclose(moved - at_exact, delta**2 * 5.0, rtol=0.08)
    adaptive = float(mean_flow_loss(rng, exact_average_velocity, x0, MeanFlowSettings(power=1.0, ratio=0.75)))
    assert 0.5 < adaptive < 1.0


def test_one_step_meanflow_sampling_with_the_exact_average_velocity_draws_the_mixture():
    """x = e - u*(e, 0, 1) is a draw of the mixture; so are two jumps (1 -> 0.5 -> 0); the sampler object
    refuses a score function that is not a MeanFlow model's."""
    shape = (4000, 2)
    one, nfe = sample_mean_flow(jax.random.PRNGKey(14), exact_average_velocity, shape, [1.0, 0.0])
    assert int(nfe) == 1
    assert_matches_mixture(one, FLOW_ORACLE)
    two, nfe = sample_mean_flow(jax.random.PRNGKey(15), exact_average_velocity, shape, [1.0, 0.5, 0.0])
    assert int(nfe) == 2
    assert_matches_mixture(two, FLOW_ORACLE)
    with pytest.raises(ValueError, match="needs a MeanFlow model's average velocity"):
        MeanFlowSampler(num_steps=1)(jax.random.PRNGKey(0), FLOW, FLOW_ORACLE.score, (4, 2))


def test_folded_guidance_is_the_official_target_velocity():
    """The guided target velocity as the official code writes it: kappa = 0: v_uncond + omega (v - v_uncond);
    kappa > 0: omega v + (1 - omega - kappa) v_uncond + kappa v_cond; v itself where inactive."""
    keys = jax.random.split(jax.random.PRNGKey(16), 3)
    v, cond, uncond = (jax.random.normal(k, (6, 2)) for k in keys)
    active = jnp.array([True, True, True, False, True, False])
    plain = guided_velocity(v, cond, uncond, 3.0, 0.0, active)
    expected = np.where(np.asarray(active)[:, None], uncond + 3.0 * (v - uncond), v)
    np.testing.assert_allclose(plain, expected, rtol=1e-6)
    mixed = guided_velocity(v, cond, uncond, 1.0, 0.5, active)
    expected = np.where(np.asarray(active)[:, None], 1.0 * v + (1 - 1.0 - 0.5) * uncond + 0.5 * cond, v)
    np.testing.assert_allclose(mixed, expected, rtol=1e-6)


def test_the_interval_embedding_defaults_to_zero_and_one_time_networks_refuse_it():
    network = MLPScoreNet(hidden_dims=(16,), interval_embedding=True)
    x, t = jnp.ones((3, 2)), jnp.array([10.0, 500.0, 900.0])
    params = network.init(jax.random.PRNGKey(0), x, t)["params"]
    leaves, tree = jax.tree.flatten(params)  # the output layer starts at zero: give every weight a value
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    params = jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, p.shape) for k, p in zip(keys, leaves)])
    apply = NetApply(network)
    np.testing.assert_array_equal(apply(params, x, t), apply(params, x, t, interval=jnp.zeros(3)))
    assert not np.allclose(apply(params, x, t), apply(params, x, t, interval=jnp.full((3,), 300.0)))
    one_time = MLPScoreNet(hidden_dims=(16,))
    one_params = one_time.init(jax.random.PRNGKey(0), x, t)["params"]
    with pytest.raises(ValueError, match="config.model.interval_embedding=True gives it a second"):
        NetApply(one_time)(one_params, x, t, interval=t)


# --- sCM on TrigFlow ----------------------------------------------------------------------------

TRIG = TrigFlowPath()  # sigma_d = 0.5
TRIG_ORACLE = example_mixture(TRIG)


def exact_trigflow_network(x_in, t):
    """F* with cos t x - sin t sigma_d F*(x / sigma_d, t) = f*(x, t), the end at t = 0 of the mixture's
    probability flow through (x, t) (40 RK4 steps in t: within 1e-4 of 300)."""
    x = 0.5 * x_in
    end = TRIG_ORACLE.flow_map(x, t, jnp.zeros_like(t), steps=40)
    return (jnp.cos(t)[:, None] * x - end) / (0.5 * jnp.sin(t))[:, None]


def test_the_scm_tangent_is_the_papers_on_a_transcription():
    """g = -cos^2 t (sigma_d F - dx/dt) - r cos t sin t (x_t + sigma_d dF/dt) (Algorithm 1), transcribed in
    float64 with dF/dt by central differences of a small fixed network along (dx/dt, 1), equals the
    tangent from one jax.jvp with the scaled tangents, at r = 1 and in the warm-up (r = 0.3); and at r = 1
    it is cos t times the derivative of f = cos t x - sin t sigma_d F along the path."""
    weights = (np.array([[0.8, -0.3], [0.2, 1.1]]), np.array([0.5, -0.7]))
    network = lambda xp: lambda x_in, t: xp.tanh(x_in @ weights[0] + t[:, None] * weights[1])
    keys = jax.random.split(jax.random.PRNGKey(20), 3)
    x_t = jax.random.normal(keys[0], (64, 2))
    velocity = jax.random.normal(keys[1], (64, 2))
    t = jax.random.uniform(keys[2], (64,), minval=0.05, maxval=1.5)
    x, v, tt = (np.asarray(a, np.float64) for a in (x_t, velocity, t))
    h = 1e-5
    dF_dt = (network(np)((x + h * v) / 0.5, tt + h) - network(np)((x - h * v) / 0.5, tt - h)) / (2 * h)
    F = network(np)(x / 0.5, tt)
    cos, sin = np.cos(tt)[:, None], np.sin(tt)[:, None]
    for r in (1.0, 0.3):
        expected = -(cos**2) * (0.5 * F - v) - r * cos * sin * (x + 0.5 * dF_dt)
        output, tangent = consistency_tangent(network(jnp), x_t, t, velocity, 0.5, jnp.asarray(r))
        np.testing.assert_allclose(output, F, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(tangent, expected, rtol=1e-4, atol=1e-5)
    f = lambda x, t: jnp.cos(t)[:, None] * x - 0.5 * jnp.sin(t)[:, None] * network(jnp)(x / 0.5, t)
    df_dt = jax.jvp(f, (x_t, t), (velocity, jnp.ones_like(t)))[1]
    np.testing.assert_allclose(
        tangent_at_one := consistency_tangent(network(jnp), x_t, t, velocity, 0.5, 1.0)[1],
        jnp.cos(t)[:, None] * df_dt,
        rtol=1e-4,
        atol=1e-5,
    )
    assert tangent_at_one.shape == (64, 2)


def test_the_exact_consistency_function_zeroes_scd_and_the_loss_rises_as_predicted():
    """With F* (the mixture's exact flow map) and the exact probability-flow velocity as the teacher
    (sCD): the tangent g = cos t df*/dt vanishes, so the loss is 0 to solver precision; F* + delta c_vec
    gives g = -cos^2 t sigma_d delta c_vec, so the loss (w = 0, tangent normalisation c = 0.1) is the mean of
    |g|^2 / (|g| + c)^2 / D over the drawn times. sCT (the path's own velocity) sees F* unbiased: the
    loss's gradient in delta at F* is 0 within Monte-Carlo error (4 standard errors, each 2 % of the
    signal below), and at F* + delta c_vec it is the predicted 2 sigma_d delta |c_vec|^2 E[cos^2 t] / D."""
    x0 = TRIG_ORACLE.sample(jax.random.PRNGKey(21), 4096)[0]
    rng = jax.random.PRNGKey(22)
    shift = jnp.array([1.0, -2.0])  # |c_vec|^2 = 5
    net_fn = lambda delta, x_in, t: exact_trigflow_network(x_in, t) + delta * shift
    settings = ContinuousConsistencySettings(tangent_c=0.1, warmup_steps=0)

    def scd(delta):
        return float(
            continuous_consistency_loss(
                rng, net_fn, jnp.asarray(delta), x0, 0.5, settings, 0, None, TRIG_ORACLE.velocity
            )
        )

    assert scd(0.0) < 1e-6
    t = trigflow_times(jax.random.split(rng)[0], 4096, 0.5, -1.0, 1.4)
    norm = 0.5 * 0.3 * np.sqrt(5.0) * np.cos(np.asarray(t)) ** 2  # |g| at delta = 0.3
    np.testing.assert_allclose(scd(0.3), np.mean(norm**2 / (norm + 0.1) ** 2) / 2, rtol=2e-3)

    # sCT: the gradient in delta is -(2 / D) mean_b c_vec . g_b, whose Monte-Carlo standard error comes from
    # the per-example tangents of the same draws
    plain = ContinuousConsistencySettings(tangent_c=0.0, warmup_steps=0)
    gradient = jax.grad(lambda delta: continuous_consistency_loss(rng, net_fn, delta, x0, 0.5, plain, 0))
    z = 0.5 * jax.random.normal(jax.random.split(rng)[1], x0.shape)
    cos, sin = jnp.cos(t)[:, None], jnp.sin(t)[:, None]
    x_t, dxt_dt = cos * x0 + sin * z, cos * z - sin * x0
    g = consistency_tangent(exact_trigflow_network, x_t, t, dxt_dt, 0.5, 1.0)[1]
    standard_error = float(jnp.std(g @ shift) / np.sqrt(4096))
    predicted = 2 * 0.5 * 1.0 * 5.0 * float(jnp.mean(jnp.cos(t) ** 2)) / 2  # at delta = 1
    assert standard_error < 0.05 * predicted
    assert abs(float(gradient(jnp.asarray(0.0)))) < 4 * standard_error
    assert abs(float(gradient(jnp.asarray(1.0))) - predicted) < 4 * standard_error


def test_a_teacher_of_another_process_gives_trigflows_exact_velocity():
    """sCD's teacher velocity from a VP teacher: the VP oracle's denoiser read at TrigFlow's noise levels
    (`denoiser_across`) is TrigFlow's own oracle denoiser, and `trigflow_velocity` of it is the exact
    probability-flow velocity of the mixture on TrigFlow's path."""
    x = jax.random.normal(jax.random.PRNGKey(26), (64, 2))
    t = jax.random.uniform(jax.random.PRNGKey(27), (64,), minval=0.05, maxval=1.5)
    across = denoiser_across(TRIG, VPSDE(), example_mixture(VPSDE()).denoise)
    np.testing.assert_allclose(across(x, t), TRIG_ORACLE.denoise(x, t), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(trigflow_velocity(across, x, t, 0.5), TRIG_ORACLE.velocity(x, t), rtol=1e-3, atol=1e-3)


def test_one_step_scm_sampling_with_the_exact_consistency_function_draws_the_mixture():
    """TrigFlow's denoiser with F* is the consistency function: one step from T = arctan(160), and two
    (T, then sCM's t_mid = 1.1), draw the mixture."""
    parameterization = TrigFlowParameterization(0.5)

    def consistency_fn(x, t):
        x_in, c_noise = parameterization.network_inputs(TRIG, x, t)
        return parameterization.denoise(TRIG, x, t, exact_trigflow_network(x_in, c_noise))

    shape = (4000, 2)
    one, nfe = sample_consistency(jax.random.PRNGKey(23), TRIG, consistency_fn, shape, [TRIG.T], TRIG.eps)
    assert int(nfe) == 1
    assert_matches_mixture(one, TRIG_ORACLE)
    two, _ = sample_consistency(jax.random.PRNGKey(24), TRIG, consistency_fn, shape, [TRIG.T, 1.1], TRIG.eps)
    assert_matches_mixture(two, TRIG_ORACLE)


# --- through the runner ------------------------------------------------------------------------


def _toy(objective: str, n_iters: int = 20):
    config = tiny_toy_config(n_iters=n_iters)
    config.training.objective = objective
    config.sampling.method, config.sampling.num_steps = "auto", 2
    config.eval.enable_bpd = objective == "mean_flow"
    config.training.final_eval = True
    config.eval.num_samples = config.eval.batch_size = 100
    if objective == "consistency_training":
        config.training.sde, config.sampling.eps, config.ict.s1 = "edm", SIGMA_MIN, 40
    elif objective == "scm":
        config.training.sde, config.scm.warmup_steps = "trigflow", 10
    else:
        config.training.sde, config.model.interval_embedding = "linear_flow", True
    return config


@pytest.mark.parametrize("objective", ["consistency_training", "mean_flow", "scm"])
def test_each_method_trains_evaluates_and_samples_through_the_runner(objective, tmp_path):
    config = _toy(objective)
    summary = check(config)
    assert summary["objective"].startswith(objective)
    assert summary["sampler"].startswith("mean_flow" if objective == "mean_flow" else "consistency")
    record = train(config, tmp_path, progress=False)
    assert record["step"] == 20 and record["sample_nfe"] == 2
    assert np.isfinite(record["eval_loss"]) and np.isfinite(record["mmd2_samples_vs_data"])
    assert ("nll_nats" in record) == (objective == "mean_flow")  # MeanFlow's velocity has a density
    config.sampling.num_steps = 1
    assert sample(config, tmp_path, progress=False)["sample_nfe"] == 1
    if objective != "mean_flow":
        with pytest.raises(ValueError, match="is a few-step sampler and defines no density"):
            compute_likelihood(config, tmp_path, progress=False)


@pytest.mark.parametrize(
    "objective, overrides, message",
    [
        ("mean_flow", {"model.interval_embedding": False}, "set config.model.interval_embedding=True"),
        ("mean_flow", {"training.sde": "vpsde"}, "average velocity of the linear path: set config.training.sde="),
        ("mean_flow", {"model.embedding_type": "fourier"}, "set config.model.embedding_type='positional'"),
        ("mean_flow", {"mean_flow.guidance_scale": 2.0}, "needs a class-conditional model"),
        ("mean_flow", {"model.parameterization": "velocity"}, "set config.model.parameterization='mean_flow'"),
        ("consistency_training", {"model.parameterization": "edm"}, "set config.model.parameterization='consistency'"),
        ("consistency_training", {"ict.s0": 80}, r"config.ict.s0=80 must not exceed config.ict.s1=40"),
        ("scm", {"training.sde": "edm"}, "is defined on TrigFlow's path: set config.training.sde='trigflow'"),
        ("scm", {"model.parameterization": "edm"}, "set config.training.sde='trigflow'"),
        ("scm", {"model.embedding_type": "fourier"}, "set config.model.embedding_type='positional'"),
        ("scm", {"model.attention_implementation": "cudnn"}, "attention_implementation='auto' or 'xla'"),
        ("mean_flow", {"model.attention_implementation": "cudnn"}, "attention_implementation='auto' or 'xla'"),
    ],
)
def test_bad_few_step_settings_fail_in_one_line(objective, overrides, message):
    config = _toy(objective)
    for name, value in overrides.items():
        section, field = name.split(".")
        config[section][field] = value
    with pytest.raises(ValueError, match=message):
        build(config, with_data=False)


@pytest.mark.slow  # two end-to-end runs each: in the slow tier, so the default one stays under 10 minutes
@pytest.mark.parametrize("teacher_process", ["trigflow", "vpsde"])
def test_scd_distils_a_teacher_of_any_process_through_the_runner(teacher_process, tmp_path):
    """--mode distill with method scm: the teacher's network rides along frozen; a TrigFlow teacher's
    weights start the student (the paper), a VP teacher's only give its velocity (the student starts
    afresh); the student samples in one step."""
    teacher = tiny_toy_config(n_iters=10)
    teacher.training.sde = teacher_process
    train(teacher, tmp_path / "teacher", progress=False)
    config = _toy("scm", n_iters=4)
    config.distill.method, config.distill.teacher = "scm", str(tmp_path / "teacher")
    config.training.final_eval = False
    record = distill(config, tmp_path / "student", progress=False)
    assert record["step"] == 4
    setup = build(config, with_data=False)
    params = load_params(setup, tmp_path / "student", -1)[0]
    teacher_setup = build(teacher, with_data=False)
    teacher_params = load_params(teacher_setup, tmp_path / "teacher", -1)[0]
    same = jax.tree.map(lambda a, b: bool(jnp.allclose(a, b, rtol=1e-6, atol=1e-7)), params["teacher"], teacher_params)
    assert all(jax.tree.leaves(same))  # frozen (its EMA moves by float rounding alone)
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), params["student"], teacher_params)
    assert max(jax.tree.leaves(moved)) > 0  # trained
    # four Adam steps move a TrigFlow teacher's copy by < 0.05; a fresh start differs from the VP teacher's
    assert (max(jax.tree.leaves(moved)) < 0.05) == (teacher_process == "trigflow")
    config.sampling.num_steps = 1
    assert sample(config, tmp_path / "student", progress=False)["sample_nfe"] == 1


# --- learning the toy (slow) -------------------------------------------------------------------

# the documented toy run's overrides of configs/toy2d.py for each method (docs/recipes/few_step.md)
TOY_METHODS = {
    "consistency_training": {"training.sde": "edm", "sampling.eps": SIGMA_MIN, "model.sigma_data": 1.0},
    "mean_flow": {"training.sde": "linear_flow", "model.interval_embedding": True},
    "scm": {"training.sde": "trigflow", "model.sigma_data": 1.0, "scm.warmup_steps": 1000},
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "objective, bound_one, bound_two",
    [("consistency_training", 0.03, 0.01), ("mean_flow", 0.05, 0.06), ("scm", 0.02, 0.015)],
)
def test_each_method_learns_the_toy_in_one_and_two_steps(objective, bound_one, bound_two, tmp_path):
    """The documented toy runs (5,000 steps on the eight Gaussians): MMD^2 of 2,000 samples against the
    data at 1 and 2 network evaluations below the stated bounds. For scale: two exact sample sets give
    5e-5, the documented 500-step reverse-SDE run stays below 4.5e-3, and an untrained model's samples
    give about 1."""
    config = toy2d.get_config()
    config.training.objective, config.sampling.method, config.sampling.num_steps = objective, "auto", 1
    config.eval.enable_bpd = False
    for name, value in TOY_METHODS[objective].items():
        section, field = name.split(".")
        config[section][field] = value
    record = train(config, tmp_path, progress=False)
    config.sampling.num_steps = 2
    two = sample(config, tmp_path, progress=False)
    print(f"{objective}: MMD^2 1 step {record['mmd2_samples_vs_data']:.2e}, 2 steps {two['mmd2_samples_vs_data']:.2e}")
    assert record["sample_nfe"] == 1 and two["sample_nfe"] == 2
    assert record["mmd2_samples_vs_data"] < bound_one
    assert two["mmd2_samples_vs_data"] < bound_two
