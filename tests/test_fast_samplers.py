import jax
import jax.numpy as jnp
import numpy as np
import pytest

from score_sde.evaluation.mmd import mmd_squared
from score_sde.oracle import example_mixture
from score_sde.sampling import sample_ddim, sample_dpm_solver, sample_heun
from score_sde.sde import VPSDE, EDMPath, get_timesteps
from tests.helpers import ALL_SDES, SDE_IDS, assert_matches_mixture, counting, exact_flow_solution

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
