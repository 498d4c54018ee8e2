import jax
import jax.numpy as jnp
import numpy as np
import pytest

from score_sde.evaluation.mmd import mmd_squared
from score_sde.noise import per_example_normal
from score_sde.oracle import example_mixture
from score_sde.sampling import sample_ddim, sample_dpm_solver, sample_heun
from score_sde.sde import VPSDE, EDMPath, get_timesteps
from tests.helpers import ALL_SDES, SDE_IDS, assert_matches_mixture, counting, exact_flow_solution, mixture_denoiser

EPS = 1e-2


@pytest.mark.parametrize(
    "sde", [ALL_SDES[0], *[pytest.param(sde, marks=pytest.mark.slow) for sde in ALL_SDES[1:]]], ids=SDE_IDS
)
@pytest.mark.parametrize(
    "sampler, order",
    [
        (lambda r, s, f, n: sample_ddim(r, s, f, (64, 2), num_steps=n, eps=EPS, denoise=False), 1.0),
        (lambda r, s, f, n: sample_heun(r, s, f, (64, 2), num_steps=n, eps=EPS, denoise=False), 2.0),
        (lambda r, s, f, n: sample_dpm_solver(r, s, f, (64, 2), num_steps=n, eps=EPS, denoise=False), 2.0),
    ],
    ids=["ddim", "heun", "dpm_solver_2m"],
)
def test_fast_samplers_converge_to_the_ode_solution_at_their_order(sde, sampler, order):
    score, rng = example_mixture(sde).score, jax.random.PRNGKey(0)
    exact = exact_flow_solution(sde, (64, 2), EPS)
    steps = np.array([20, 40, 80])
    errors = [float(jnp.max(jnp.abs(sampler(rng, sde, score, int(n))[0] - exact))) for n in steps]
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    # 20-80 steps are close to, not in, the asymptotic regime: measured slopes lie within 0.2 of
    # the order (DPM-Solver++(2M): 1.8-1.9); a first-order method could not reach 1.7.
    assert abs(slope - order) < 0.3, (errors, slope)


@pytest.mark.parametrize(
    "sampler",
    [
        lambda r, s, f: sample_ddim(r, s, f, (10000, 2), num_steps=200, eta=1.0, denoise=False),
        lambda r, s, f: sample_heun(r, s, f, (10000, 2), num_steps=60, S_churn=30.0),
    ],
    ids=["ddim_eta1", "heun_churn"],
)
def test_stochastic_variants_sample_the_mixture(sampler):
    sde = VPSDE()
    oracle = example_mixture(sde)
    x, _ = sampler(jax.random.PRNGKey(1), sde, oracle.score)
    assert_matches_mixture(x, oracle)


def edm_sampler(denoise, latents, noises, num_steps, sigma_min, sigma_max, rho, S_churn, S_min, S_max, S_noise):
    """NVlabs/edm's `edm_sampler` (generate.py) transcribed step by step in float64, its randn_like draws
    given as noises[i]: the rho grid with t_N = 0, churn at every level in [S_min, S_max], Heun steps and
    the last one Euler."""
    indices = np.arange(num_steps)
    t_steps = (
        sigma_max ** (1 / rho) + indices / (num_steps - 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))
    ) ** rho
    t_steps = np.concatenate([t_steps, [0.0]])
    x_next = latents * t_steps[0]
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:])):
        x_cur = x_next
        gamma = min(S_churn / num_steps, np.sqrt(2) - 1) if S_min <= t_cur <= S_max else 0
        t_hat = t_cur + gamma * t_cur
        x_hat = x_cur + np.sqrt(t_hat**2 - t_cur**2) * S_noise * noises[i]
        denoised = denoise(x_hat, t_hat)
        d_cur = (x_hat - denoised) / t_hat
        x_next = x_hat + (t_next - t_hat) * d_cur
        if i < num_steps - 1:
            denoised = denoise(x_next, t_next)
            d_prime = (x_next - denoised) / t_next
            x_next = x_hat + (t_next - t_hat) * (0.5 * d_cur + 0.5 * d_prime)
    return x_next


@pytest.mark.parametrize(
    "churn",
    [dict(), dict(S_churn=10.0, S_max=50.0, S_noise=1.003), dict(S_churn=10.0, S_min=0.05, S_max=50.0)],
    ids=["deterministic", "churn_to_the_last_level", "churn_between_levels"],
)
def test_heun_is_edms_sampler_on_the_same_noise(churn):
    """sample_heun on EDM's path with the exact mixture denoiser against the float64 transcription of
    EDM's sampler fed the same draws (the prior's, and the per-level noise of level i). Float32 against
    float64: agreement to 2e-4 (measured 2.5e-6 deterministic, 6e-5 with churn); the sampler that added
    sqrt(sigma_hat^2 - sigma^2) noise at gamma = 0 and left churn out of the last level missed by 9e-3,
    6e-3 and 2e-3 here. S_max < sigma_max keeps EDM's uncapped sigma_hat inside [eps, T]."""
    sde, num_steps, shape, rng = EDMPath(), 18, (256, 2), jax.random.PRNGKey(7)
    settings = dict(S_churn=0.0, S_min=0.0, S_max=float("inf"), S_noise=1.0) | churn
    x, _ = sample_heun(rng, sde, example_mixture(sde).score, shape, num_steps=num_steps, **settings)
    latents = np.asarray(sde.prior_sampling(rng, shape), np.float64) / sde.sigma_max
    noise_rng = jax.random.split(rng)[1]
    noises = [
        np.asarray(per_example_normal(jax.random.fold_in(noise_rng, i), shape), np.float64) for i in range(num_steps)
    ]
    expected = edm_sampler(mixture_denoiser, latents, noises, num_steps, sde.sigma_min, sde.sigma_max, 7.0, **settings)
    np.testing.assert_allclose(np.asarray(x), expected, atol=2e-4)


@pytest.mark.parametrize(
    "churn",
    [
        pytest.param(dict(), marks=pytest.mark.slow),
        pytest.param(dict(S_churn=40.0, S_min=0.05, S_max=50.0, S_noise=1.003), marks=pytest.mark.slow),
    ],
    ids=["deterministic", "stochastic"],
)
def test_edm_sampler_reaches_the_mixture_in_35_evaluations(churn):
    """EDM's 18-level Heun sampler (its CIFAR-10 setting, and the stochastic one with its ImageNet
    churn) on EDM's path with the exact denoiser, 35 NFE: the mixture's component weights, and an
    MMD^2 to exact samples near the floor of two exact sample sets (|MMD^2| <= 3e-4 at 4000 samples;
    measured 6e-4 deterministic, 3e-3 stochastic, against 0.3 at 11 NFE and 0.02 at 19)."""
    sde = EDMPath()
    oracle = example_mixture(sde)
    n = 4000
    x, nfe = sample_heun(jax.random.PRNGKey(2), sde, oracle.score, (n, 2), num_steps=18, **churn)
    assert int(nfe) == 35
    weights = np.asarray(oracle.responsibilities(x, jnp.zeros((n,)))).mean(0)
    np.testing.assert_allclose(weights, oracle.weights, atol=0.02)
    exact, _ = oracle.sample(jax.random.PRNGKey(100), n)
    assert float(mmd_squared(x, exact)) < 5e-3
    few, _ = sample_heun(jax.random.PRNGKey(2), sde, oracle.score, (n, 2), num_steps=6, **churn)
    assert float(mmd_squared(few, exact)) > 0.1  # the statistic can tell: 11 NFE are far off


@pytest.mark.parametrize(
    "run",
    [
        lambda s, f: sample_ddim(jax.random.PRNGKey(0), s, f, (4, 2), num_steps=7, denoise=True),
        lambda s, f: sample_heun(jax.random.PRNGKey(0), s, f, (4, 2), num_steps=7),
        lambda s, f: sample_dpm_solver(jax.random.PRNGKey(0), s, f, (4, 2), num_steps=7, order=1, denoise=False),
    ],
    ids=["ddim", "heun", "dpm_solver"],
)
def test_nfe_counts_and_reproducibility(run):
    sde = ALL_SDES[1]
    score_fn, count = counting(example_mixture(sde).score)
    x, nfe = run(sde, score_fn)
    jax.block_until_ready(x)
    assert nfe == count[0]
    np.testing.assert_array_equal(x, run(sde, score_fn)[0])


@pytest.mark.parametrize("sde", ALL_SDES, ids=SDE_IDS)
def test_schedules(sde):
    n, eps = 8, 1e-3
    for schedule in ("time_uniform", "log_snr_uniform", "karras"):
        times = np.asarray(get_timesteps(sde, n, eps, schedule))
        assert times.shape == (n + 1,) and times[0] == sde.T and times[-1] == pytest.approx(eps)
        assert np.all(np.diff(times) < 0)
    lams = np.asarray(sde.log_snr(get_timesteps(sde, n, eps, "log_snr_uniform")), np.float64)
    np.testing.assert_allclose(np.diff(lams), (lams[-1] - lams[0]) / n, rtol=2e-3)
    sigmas = np.exp(-0.5 * np.asarray(sde.log_snr(get_timesteps(sde, n, eps, "karras")), np.float64))  # s / a
    hi, lo = sigmas[0], sigmas[-1]
    expected = (hi ** (1 / 7) + np.arange(n + 1) / n * (lo ** (1 / 7) - hi ** (1 / 7))) ** 7  # EDM eq. 5
    np.testing.assert_allclose(sigmas, expected, rtol=2e-3)


def test_log_snr_inverse_round_trips():
    t = jnp.linspace(1e-3, 1.0, 11)
    for sde in ALL_SDES:
        np.testing.assert_allclose(sde.inverse_log_snr(sde.log_snr(t)), t, atol=1e-6)


def test_bad_arguments():
    sde = ALL_SDES[0]
    score = example_mixture(sde).score
    rng = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="unknown schedule='cosine'"):
        sample_ddim(rng, sde, score, (2, 2), schedule="cosine")
    with pytest.raises(ValueError, match=r"eta must lie in \[0, 1\]"):
        sample_ddim(rng, sde, score, (2, 2), eta=1.5)
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        sample_dpm_solver(rng, sde, score, (2, 2), order=3)
    with pytest.raises(ValueError, match="num_steps must be a positive integer"):
        sample_heun(rng, sde, score, (2, 2), num_steps=0)
    with pytest.raises(ValueError, match="at least 2 noise levels"):
        sample_heun(rng, sde, score, (2, 2), num_steps=1)
