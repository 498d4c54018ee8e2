"""Progressive and consistency distillation against the 2-D Gaussian-mixture oracle, whose exact
denoiser is the teacher: the DDIM algebra and samplers exactly, and (in -m slow) trained students
that match two teacher steps with one, reach the teacher's 64-step quality in 4 steps, and draw the
mixture's component weights in one step."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import toy2d
from score_sde.distillation import (
    Consistency,
    ConsistencyParameterization,
    FewStep,
    consistency_distillation_loss,
    consistency_time,
    distillation_target,
    few_step_times,
    halving_rounds,
    heun_teacher_step,
    num_points_schedule,
    progressive_distillation_loss,
    sample_consistency,
    sample_few_step,
    target_ema_decay,
)
from score_sde.evaluation.mmd import mmd_squared
from score_sde.models import MLPScoreNet
from score_sde.oracle import GaussianMixture, example_mixture
from score_sde.parameterization import PARAMETERIZATIONS, VPrediction
from score_sde.runner.setup import build
from score_sde.sde import VPSDE, EDMPath, get_timesteps
from tests.helpers import mixture_denoiser

EPS = 1e-3
PROCESS = VPSDE()
ORACLE = example_mixture(PROCESS)
EDM_ORACLE = example_mixture(EDMPath())


def test_the_target_makes_one_ddim_step_land_on_the_teachers_two():
    """x~ from x_t and x'' must give x'' back by the student's DDIM step a'' x~ + s'' (x_t - a x~) / s,
    for a noisy end and for the clean end (a'' = 1, s'' = 0)."""
    x_t, x_end = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 3))
    for a_t, s_t, a_end, s_end in ((0.6, 0.8, 0.9, 0.43), (0.3, 0.95, 1.0, 0.0)):
        target = distillation_target(x_t, x_end, a_t, s_t, a_end, s_end)
        np.testing.assert_allclose(a_end * target + s_end * (x_t - a_t * target) / s_t, x_end, atol=1e-5)


def test_few_step_sampling_is_ddim_on_the_time_uniform_grid_ending_on_the_denoiser():
    """An independent loop in numpy: D at T..t_{N-1} of the uniform grid, DDIM steps between them,
    the last denoised value as the sample; one step is D(x_T, T)."""
    rng, shape = jax.random.PRNGKey(1), (64, 2)
    x_T = np.asarray(PROCESS.prior_sampling(rng, shape))
    for steps in (1, 3):
        x, nfe = sample_few_step(rng, PROCESS, ORACLE.denoise, shape, steps, EPS)
        assert int(nfe) == steps
        grid = np.linspace(PROCESS.T, EPS, steps + 1)
        y = x_T
        for i in range(steps):
            (a,), (s,) = (np.asarray(v) for v in PROCESS.marginal_coefficients(jnp.array([grid[i]])))
            x0 = np.asarray(ORACLE.denoise(jnp.asarray(y), jnp.full((64,), grid[i])))
            if i == steps - 1:
                y = x0
            else:
                (a2,), (s2,) = (np.asarray(v) for v in PROCESS.marginal_coefficients(jnp.array([grid[i + 1]])))
                y = a2 * x0 + s2 * (y - a * x0) / s
        np.testing.assert_allclose(x, y, atol=1e-4)
    times, next_a, next_s = few_step_times(PROCESS, 4, EPS)
    np.testing.assert_allclose(times, np.linspace(PROCESS.T, EPS, 5)[:-1], rtol=1e-6)
    assert float(next_a[-1]) == 1.0 and float(next_s[-1]) == 0.0


def test_the_loss_vanishes_for_a_student_that_takes_the_teachers_two_steps_in_one():
    """With a linear teacher (one Gaussian component), the map x_t -> x~ is known in closed form at
    each time, so a student returning it has loss 0, and one off by 0.1 has loss 0.01 max(SNR, 1)."""
    single = GaussianMixture(PROCESS, jnp.ones(1), jnp.array([[0.5, -1.0]]), jnp.array([[[0.4, 0.1], [0.1, 0.3]]]))
    # the teacher's grid of a 2-step student, written out: 4 time-uniform DDIM steps from T, the last to
    # clean data (a = 1, s = 0); the student steps from t_0 over t_1 to t_2 and from t_2 over t_3 to clean
    grid = jnp.asarray(np.linspace(PROCESS.T, EPS, 5)[:4], jnp.float32)
    coefficients = lambda t: tuple(v[:, None] for v in PROCESS.marginal_coefficients(t))

    def ddim(x, t, a, s, a_to, s_to):
        x0 = single.denoise(x, t)
        return a_to * x0 + s_to * (x - a * x0) / s

    def exact_student(x, t, offset=0.0):
        """x~ such that one DDIM step of the student lands where the teacher's two do:
        x_end = a_end x~ + s_end (x - a x~) / s, so x~ = (x_end - s_end x / s) / (a_end - s_end a / s)."""
        index = jnp.argmin(jnp.abs(grid[None] - t[:, None]), axis=1)  # t is a student time: t_0 or t_2
        (a, s), (a_mid, s_mid) = coefficients(t), coefficients(grid[index + 1])
        clean = (index + 2 == 4)[:, None]
        a_end, s_end = coefficients(grid[jnp.minimum(index + 2, 3)])
        a_end, s_end = jnp.where(clean, 1.0, a_end), jnp.where(clean, 0.0, s_end)
        x_end = ddim(ddim(x, t, a, s, a_mid, s_mid), grid[index + 1], a_mid, s_mid, a_end, s_end)
        return (x_end - s_end * x / s) / (a_end - s_end * a / s) + offset

    x0 = single.sample(jax.random.PRNGKey(2), 256)[0]
    loss = lambda student, weighting: float(
        progressive_distillation_loss(jax.random.PRNGKey(3), PROCESS, student, single.denoise, x0, 2, EPS, weighting)
    )
    assert loss(exact_student, "truncated_snr") < 1e-9
    snr = lambda t: float((lambda a, s: (a[0] / s[0]) ** 2)(*PROCESS.marginal_coefficients(jnp.array([t]))))
    weights = [max(snr(float(t)), 1.0) for t in grid[::2]]
    off = loss(functools.partial(exact_student, offset=0.1), "truncated_snr")
    assert min(weights) * 0.01 * 0.999 <= off <= max(weights) * 0.01 * 1.001
    with pytest.raises(ValueError, match="unknown weighting='snr'"):
        loss(exact_student, "snr")


def test_halving_rounds():
    assert halving_rounds(64, 1) == [32, 16, 8, 4, 2, 1]
    assert halving_rounds(16, 4) == [8, 4]
    with pytest.raises(ValueError, match="teacher_steps=12 must be final_steps=1 times a power of two"):
        halving_rounds(12, 1)


def test_the_consistency_student_meets_its_boundary_condition_with_any_network():
    """f(x, eps) = x / a(eps) for random outputs F, c_skip(eps) = 1, c_out(eps) = 0, c_skip -> 0 at T."""
    parameterization = ConsistencyParameterization(sigma_data=0.5, eps=EPS)
    assert PARAMETERIZATIONS.get("consistency", "name") is ConsistencyParameterization
    x, output = jax.random.normal(jax.random.PRNGKey(4), (2, 16, 2))
    a_eps = PROCESS.marginal_coefficients(jnp.array([EPS]))[0][0]
    base = VPrediction(noise_condition="time")
    for student in (parameterization, ConsistencyParameterization(sigma_data=0.5, eps=EPS, base=base)):
        boundary = student.denoise(PROCESS, x, jnp.full((16,), EPS), output)
        np.testing.assert_allclose(boundary, x / a_eps, rtol=1e-5)
    # the denoiser form at t = 0.7: f = c_skip x~ + (1 - c_skip) D_base with c_skip from sigma~ = s / a
    t = jnp.full((16,), 0.7)
    f = ConsistencyParameterization(sigma_data=0.5, eps=EPS, base=base).denoise(PROCESS, x, t, output)
    (a,), (s,) = PROCESS.marginal_coefficients(jnp.array([0.7]))
    (a_min,), (s_min,) = PROCESS.marginal_coefficients(jnp.array([EPS]))
    c_skip = 0.25 / ((s / a - s_min / a_min) ** 2 + 0.25)
    np.testing.assert_allclose(f, c_skip * x / a + (1 - c_skip) * base.denoise(PROCESS, x, t, output), rtol=1e-5)
    c_skip, c_out = parameterization.output_coefficients(PROCESS, jnp.array([PROCESS.T]), x[:1])
    a_T = PROCESS.marginal_coefficients(jnp.array([PROCESS.T]))[0][0]
    assert float(c_skip[0, 0] * a_T) < 1e-4 and float(c_out[0, 0]) > 0.49


def test_the_teachers_heun_step_is_second_order_on_a_gaussian():
    """For one Gaussian N(mu, S) the probability-flow ODE is linear with a closed-form solution: in
    the scaled space, y(sigma) = mu + U diag(sqrt((l + sigma^2) / (l + sigma0^2))) U^T (y0 - mu).
    The Heun step's error must shrink about 8x when the step halves (measured: 0.0142 -> 0.0014)."""
    mu, covariance = np.array([0.5, -1.0]), np.array([[0.4, 0.1], [0.1, 0.3]])
    single = GaussianMixture(PROCESS, jnp.ones(1), jnp.asarray(mu[None]), jnp.asarray(covariance[None]))
    values, vectors = np.linalg.eigh(covariance)
    x = np.asarray(single.sample(jax.random.PRNGKey(5), 32, t=0.5)[0])
    sigma = lambda t: float(np.exp(-0.5 * PROCESS.log_snr(jnp.array([t]))[0]))
    scale = lambda t: float(PROCESS.marginal_coefficients(jnp.array([t]))[0][0])
    errors = []
    for t_to in (0.4, 0.45):
        y0 = x / scale(0.5)
        gain = vectors @ np.diag(np.sqrt((values + sigma(t_to) ** 2) / (values + sigma(0.5) ** 2))) @ vectors.T
        exact = scale(t_to) * (mu + (y0 - mu) @ gain.T)
        step = heun_teacher_step(PROCESS, single.denoise, jnp.asarray(x), jnp.full((32,), 0.5), jnp.full((32,), t_to))
        errors.append(np.max(np.abs(np.asarray(step) - exact)))
    assert errors[1] < errors[0] / 6  # local error O(h^3): 8x; a first-order step would give 4x


def official_ema_and_scales(step, total_steps, start_ema, start_scales, end_scales):
    """openai/consistency_models' ema_and_scales_fn (target_ema_mode "adaptive", scale_mode "progressive")
    transcribed: (target_ema, scales)."""
    scales = np.ceil(np.sqrt((step / total_steps) * ((end_scales + 1) ** 2 - start_scales**2) + start_scales**2) - 1)
    scales = np.maximum(scales.astype(np.int32), 1)
    c = -np.log(start_ema) * start_scales
    target_ema = np.exp(-c / scales)
    return float(target_ema), int(scales + 1)


def test_the_schedules_follow_the_official_code():
    """N(k) and mu(k) against the official code's; mu(0) = mu0^2 = 0.9025 at s0 = 2 (dividing by N(k),
    as the paper's text reads, gives 0.95: off by 0.05)."""
    total, s0, s1, mu0 = 1000, 2, 150, 0.95
    for k in (0, 1, 250, 999, 1000):
        expected_mu, expected_points = official_ema_and_scales(k, total, mu0, s0, s1)
        assert int(num_points_schedule(k, total, s0, s1)) == expected_points
        np.testing.assert_allclose(target_ema_decay(k, total, s0, s1, mu0), expected_mu, rtol=1e-6)
    np.testing.assert_allclose(target_ema_decay(0, total, s0, s1, mu0), 0.9025, rtol=1e-6)
    assert float(target_ema_decay(500, total, s0, s1, 0.0)) == 0.0  # mu0 = 0: the online network throughout
    assert int(num_points_schedule(0, total)) == s0 and int(num_points_schedule(total, total)) == s1 + 1
    times = consistency_time(PROCESS, jnp.arange(18), 18, EPS)
    sigmas = np.exp(-0.5 * np.asarray(PROCESS.log_snr(times)))
    rho_roots = sigmas ** (1 / 7)
    np.testing.assert_allclose(np.diff(rho_roots), np.diff(rho_roots)[0], rtol=1e-3)  # Karras: equal in sigma^(1/rho)
    np.testing.assert_allclose([times[0], times[-1]], [EPS, PROCESS.T], rtol=1e-6)


def official_consistency_loss(student, target, teacher, x_start, indices, noise, num_scales, sigma_min, sigma_max, rho):
    """openai/consistency_models' consistency_losses (karras_diffusion.py) for consistency distillation,
    weight_schedule "uniform", loss_norm "l2", transcribed in float64: indices in [0, N - 2] on the
    descending Karras grid, the student at the larger sigma t, the teacher's Heun step to t2, the target
    at t2; the mean over the batch (the trainer's .mean())."""
    inv_max, inv_min = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    t = (inv_max + indices / (num_scales - 1) * (inv_min - inv_max)) ** rho
    t2 = (inv_max + (indices + 1) / (num_scales - 1) * (inv_min - inv_max)) ** rho
    x_t = x_start + noise * t[:, None]
    distiller = student(x_t, t)
    d = (x_t - teacher(x_t, t)) / t[:, None]
    samples = x_t + d * (t2 - t)[:, None]
    next_d = (samples - teacher(samples, t2)) / t2[:, None]
    x_t2 = x_t + (d + next_d) * ((t2 - t) / 2)[:, None]
    distiller_target = target(x_t2, t2)
    return np.mean(np.mean((distiller - distiller_target) ** 2, axis=-1))


def official_denoise(network, sigma_min, sigma_data=0.5):
    """The official `denoise` with get_scalings_for_boundary_condition: c_out model(c_in x, 250 ln sigma)
    + c_skip x, the network taking its time as 1000 * 0.25 ln(sigma + 1e-44)."""

    def denoise(x, sigma):
        c_skip = sigma_data**2 / ((sigma - sigma_min) ** 2 + sigma_data**2)
        c_out = (sigma - sigma_min) * sigma_data / (sigma**2 + sigma_data**2) ** 0.5
        c_in = 1 / (sigma**2 + sigma_data**2) ** 0.5
        output = network(c_in[:, None] * x, 1000 * 0.25 * np.log(sigma + 1e-44))
        return c_out[:, None] * output + c_skip[:, None] * x

    return denoise


def test_consistency_distillation_loss_is_the_official_loss_on_the_same_draws():
    """On EDM's path (the official code's sigma space) with the exact mixture denoiser as teacher and two
    small fixed networks as student and target: the loss equals the official loss fed the same index and
    noise draws (our index i is its N - 2 - i on the descending grid), float32 against float64: to 1e-4
    (measured 1e-7); an Euler teacher step instead of Heun's misses by 2e-2."""
    process, num_points, sigma_min = EDMPath(), 18, 0.002
    weights = {
        "student": (np.array([[0.8, -0.3], [0.2, 1.1]]), np.array([0.5, -0.7])),
        "target": (np.array([[1.0, 0.4], [-0.2, 0.9]]), np.array([-0.3, 0.6])),
    }
    network = lambda name, xp: (
        lambda x_in, c_noise: xp.tanh(x_in @ weights[name][0] + c_noise[:, None] * weights[name][1])
    )
    parameterization = ConsistencyParameterization(sigma_data=0.5, eps=sigma_min, noise_condition="log_sigma")

    def ours(name):
        def f(x, t):
            x_in, c_noise = parameterization.network_inputs(process, x, t)
            return parameterization.denoise(process, x, t, network(name, jnp)(x_in, c_noise))

        return f

    rng = jax.random.PRNGKey(11)
    x0 = jnp.asarray(EDM_ORACLE.sample(jax.random.PRNGKey(12), 256)[0])
    loss = consistency_distillation_loss(
        rng, process, ours("student"), ours("target"), EDM_ORACLE.denoise, x0, num_points, sigma_min
    )
    index_rng, noise_rng = jax.random.split(rng)
    index = np.asarray(jax.random.randint(index_rng, (256,), 0, num_points - 1))
    noise = np.asarray(jax.random.normal(noise_rng, x0.shape), np.float64)
    official = lambda name: official_denoise(lambda x, r: network(name, np)(x, r / 1000), sigma_min)
    expected = official_consistency_loss(
        official("student"),
        official("target"),
        mixture_denoiser,
        np.asarray(x0, np.float64),
        num_points - 2 - index,
        noise,
        num_points,
        sigma_min,
        process.sigma_max,
        7.0,
    )
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)


def test_consistency_sampling_with_the_oracle_consistency_map():
    """With f = the exact denoiser (a consistency function only where the posterior is a point; here
    the point is the wiring): one step is f(x_T, T), nfe counts one evaluation per time, and a time
    list re-noises by the forward process between evaluations (against a loop written here)."""
    shape = (8, 2)
    x, nfe = sample_consistency(jax.random.PRNGKey(6), PROCESS, ORACLE.denoise, shape, [PROCESS.T], EPS)
    prior = PROCESS.prior_sampling(jax.random.split(jax.random.PRNGKey(6))[0], shape)
    a_eps = PROCESS.marginal_coefficients(jnp.array([EPS]))[0][0]
    np.testing.assert_allclose(x, a_eps * ORACLE.denoise(prior, jnp.full((8,), PROCESS.T)), rtol=1e-6)
    assert int(nfe) == 1
    # three times: after f at T, the forward process from eps to tau re-noises y (the draws of step i:
    # fold_in(second key, i)), x_tau = a_tau y + sqrt(s_tau^2 - (a_tau s_eps / a_eps)^2) z, then f again
    times = [PROCESS.T, 0.5, 0.1]
    x, nfe = sample_consistency(jax.random.PRNGKey(6), PROCESS, ORACLE.denoise, shape, times, EPS)
    assert int(nfe) == 3
    coefficients = lambda t: [float(v[0]) for v in PROCESS.marginal_coefficients(jnp.array([t]))]
    (a_eps, s_eps), noise_rng = coefficients(EPS), jax.random.split(jax.random.PRNGKey(6))[1]
    y = np.asarray(ORACLE.denoise(prior, jnp.full((8,), PROCESS.T)), np.float64)
    for i, tau in enumerate(times[1:]):
        a_tau, s_tau = coefficients(tau)
        z = np.asarray(jax.random.normal(jax.random.fold_in(noise_rng, i), shape))
        x_tau = a_tau * y + np.sqrt(s_tau**2 - (a_tau * s_eps / a_eps) ** 2) * z
        y = np.asarray(ORACLE.denoise(jnp.asarray(x_tau, jnp.float32), jnp.full((8,), tau)), np.float64)
    np.testing.assert_allclose(x, a_eps * y, rtol=1e-4, atol=1e-5)


# --- trained students (slow) ------------------------------------------------------------------


def _mlp_student(parameterization, width: int = 128):
    network = MLPScoreNet(hidden_dims=(width,) * 3, embedding_type="positional")
    params = network.init(jax.random.PRNGKey(7), jnp.zeros((1, 2)), jnp.ones((1,)))["params"]

    def denoiser(params):
        def denoise(x, t):
            x_in, c_noise = parameterization.network_inputs(PROCESS, x, t)
            return parameterization.denoise(PROCESS, x, t, network.apply({"params": params}, x_in, c_noise))

        return denoise

    return params, denoiser


def _train(params, loss_fn, steps: int, lr: float = 1e-3, chunk: int = 500):
    """Adam on loss_fn(params, rng, step) for `steps` steps in jitted scans; returns (params, EMA 0.999
    of the parameters, mean loss of the last chunk)."""
    optimizer = optax.adam(optax.cosine_decay_schedule(lr, steps, 0.05))
    state = (params, optimizer.init(params), params, jnp.zeros((), jnp.int32))

    @jax.jit
    def run(state):
        def step(state, _):
            params, opt_state, ema, k = state
            loss, grads = jax.value_and_grad(loss_fn)(params, jax.random.fold_in(jax.random.PRNGKey(8), k), k)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            ema = jax.tree.map(lambda e, p: 0.999 * e + 0.001 * p, ema, params)
            return (params, opt_state, ema, k + 1), loss

        return jax.lax.scan(step, state, None, length=chunk)

    for _ in range(steps // chunk):
        state, losses = run(state)
    return state[0], state[2], float(jnp.mean(losses))


def _distil_round(student_params, denoiser, teacher, student_steps: int, steps: int):
    def loss_fn(params, rng, _):
        data_rng, loss_rng = jax.random.split(rng)
        x0 = ORACLE.sample(data_rng, 512)[0]
        return progressive_distillation_loss(loss_rng, PROCESS, denoiser(params), teacher, x0, student_steps, EPS)

    return _train(student_params, loss_fn, steps)


@pytest.mark.slow
def test_one_round_gives_a_student_whose_one_step_is_the_teachers_two(full_optimizations):
    """Round 2 -> 1 with the oracle as teacher: on fresh x_T the student's one step equals the
    teacher's two DDIM steps to the training error (the loss at the only student time, T, where the
    weight max(SNR, 1) is 1, is the mean squared difference per coordinate)."""
    params, denoiser = _mlp_student(VPrediction(noise_condition="time"))
    trained, _, final_loss = _distil_round(params, denoiser, ORACLE.denoise, 1, 4000)
    shape = (4000, 2)
    student, _ = sample_few_step(jax.random.PRNGKey(9), PROCESS, denoiser(trained), shape, 1, EPS)
    teacher, _ = sample_few_step(jax.random.PRNGKey(9), PROCESS, ORACLE.denoise, shape, 2, EPS)
    rms = float(jnp.sqrt(jnp.mean((student - teacher) ** 2)))
    print(f"one round: final training loss {final_loss:.2e}, rms(student 1 step - teacher 2 steps) {rms:.4f}")
    assert rms < 2.0 * np.sqrt(final_loss) and rms < 0.05


@pytest.mark.slow
def test_four_rounds_reach_the_teachers_64_step_quality_in_4_steps(full_optimizations):
    """Rounds 64 -> 32 -> 16 -> 8 -> 4 (each student starts from its teacher, the oracle first):
    the 4-step student's MMD^2 to exact samples is within 2x of the oracle's 64-step DDIM (which is
    at the estimator's noise, so: within 2x of it plus three standard deviations of that noise)."""
    params, denoiser = _mlp_student(VPrediction(noise_condition="time"), width=256)
    teacher = ORACLE.denoise
    for steps in halving_rounds(64, 4):
        _, params, final_loss = _distil_round(params, denoiser, teacher, steps, 5000)
        print(f"round to {steps} steps: final loss {final_loss:.2e}")
        teacher = denoiser(params)
    exact = ORACLE.sample(jax.random.PRNGKey(10), 4000)[0]
    student, _ = sample_few_step(jax.random.PRNGKey(11), PROCESS, teacher, (4000, 2), 4, EPS)
    oracle_64, _ = sample_few_step(jax.random.PRNGKey(11), PROCESS, ORACLE.denoise, (4000, 2), 64, EPS)
    oracle_4, _ = sample_few_step(jax.random.PRNGKey(11), PROCESS, ORACLE.denoise, (4000, 2), 4, EPS)
    mmd_student, mmd_64, mmd_4 = (float(mmd_squared(x, exact)) for x in (student, oracle_64, oracle_4))
    # the estimator's noise: MMD^2 of independent exact sample sets (the unbiased estimate scatters around 0)
    floor = np.std([float(mmd_squared(ORACLE.sample(jax.random.PRNGKey(20 + i), 4000)[0], exact)) for i in range(5)])
    print(f"MMD^2: 4-step student {mmd_student:.2e}, teacher 64 {mmd_64:.2e}, teacher 4 {mmd_4:.2e}, noise {floor:.1e}")
    assert mmd_student <= 2.0 * max(mmd_64, 0.0) + 3.0 * floor
    assert mmd_student < mmd_4 / 10  # the teacher's own 4 DDIM steps


@pytest.mark.slow
def test_a_consistency_student_draws_the_component_weights_in_one_step(full_optimizations):
    """Consistency distillation of the oracle (N = 18, mu = 0.95): one-step samples assigned to their
    most likely component have the mixture's weights (0.5, 0.3, 0.2) within 0.05."""
    parameterization = ConsistencyParameterization(sigma_data=1.0, eps=EPS, noise_condition="time")
    params, student = _mlp_student(parameterization)
    target_params = params

    def loss_fn(params_and_target, rng, _):
        params, target = params_and_target
        data_rng, loss_rng = jax.random.split(rng)
        x0 = ORACLE.sample(data_rng, 512)[0]
        return consistency_distillation_loss(
            loss_rng, PROCESS, student(params), student(jax.lax.stop_gradient(target)), ORACLE.denoise, x0, 18, EPS
        )

    # the target network follows the student by EMA mu = 0.95 after every step
    optimizer = optax.adam(optax.cosine_decay_schedule(1e-3, 6000, 0.05))
    state = ((params, target_params), optimizer.init(params), jnp.zeros((), jnp.int32))

    @jax.jit
    def run(state):
        def step(state, _):
            (params, target), opt_state, k = state
            loss, grads = jax.value_and_grad(loss_fn)(
                (params, target), jax.random.fold_in(jax.random.PRNGKey(13), k), k
            )
            updates, opt_state = optimizer.update(grads[0], opt_state, params)
            params = optax.apply_updates(params, updates)
            target = jax.tree.map(lambda t, p: 0.95 * t + 0.05 * p, target, params)
            return ((params, target), opt_state, k + 1), loss

        return jax.lax.scan(step, state, None, length=500)

    for _ in range(12):
        state, losses = run(state)
    params = state[0][0]
    samples, _ = sample_consistency(jax.random.PRNGKey(14), PROCESS, student(params), (4000, 2), [PROCESS.T], EPS)
    components = np.argmax(np.asarray(ORACLE.responsibilities(samples, jnp.zeros(4000))), axis=1)
    fractions = np.bincount(components, minlength=3) / 4000
    exact = ORACLE.sample(jax.random.PRNGKey(10), 4000)[0]
    two_step, _ = sample_consistency(jax.random.PRNGKey(14), PROCESS, student(params), (4000, 2), [PROCESS.T, 0.3], EPS)
    print(
        f"consistency: fractions {fractions}, loss {float(jnp.mean(losses)):.2e}, MMD^2 1 step "
        f"{float(mmd_squared(samples, exact)):.2e}, 2 steps {float(mmd_squared(two_step, exact)):.2e}"
    )
    np.testing.assert_allclose(fractions, np.asarray(ORACLE.weights), atol=0.05)


def test_a_students_own_sampler_is_its_few_step_or_consistency_sampler():
    """sampling.method "auto" (or "student"): a progressive student samples by `sample_few_step` with its
    steps (0: distill.final_steps), a consistency student by `sample_consistency` on the Karras grid's
    first times (`FewStep`, `Consistency`, built by the student objectives)."""
    shape, rng = (16, 2), jax.random.PRNGKey(15)
    config = toy2d.get_config()
    config.distill.method, config.distill.final_steps, config.sampling.method = "progressive", 2, "auto"
    config.sampling.num_steps = 0  # the student's own count
    sampler = build(config, with_data=False).sampler
    assert sampler == FewStep(num_steps=2, eps=float(config.sampling.eps))
    x, nfe = FewStep(num_steps=2, eps=EPS)(rng, PROCESS, ORACLE.score, shape)
    expected, _ = sample_few_step(rng, PROCESS, ORACLE.denoise, shape, 2, EPS)
    np.testing.assert_allclose(x, expected, atol=1e-5)
    assert int(nfe) == 2
    config.distill.method, config.sampling.num_steps, config.model.parameterization = "consistency", 3, "auto"
    config.sampling.method = "student"
    assert build(config, with_data=False).sampler == Consistency(num_steps=3, eps=float(config.sampling.eps), rho=7.0)
    x, nfe = Consistency(num_steps=3, eps=EPS)(rng, PROCESS, ORACLE.score, shape)
    times = get_timesteps(PROCESS, 3, EPS, "karras", 7.0)[:-1]
    np.testing.assert_allclose(x, sample_consistency(rng, PROCESS, ORACLE.denoise, shape, times, EPS)[0], atol=1e-5)
    assert int(nfe) == 3
