import jax
import jax.numpy as jnp
import numpy as np
import pytest

from score_sde.oracle import example_mixture
from score_sde.sampling import (
    CORRECTORS,
    PREDICTORS,
    decode,
    encode,
    sample_ddim,
    sample_dpm_solver,
    sample_heun,
    sample_ode,
    sample_pc,
    sample_sde,
)
from score_sde.sde import VPSDE
from tests.helpers import (
    ALL_SDES,
    NEW_IDS,
    NEW_PROCESSES,
    SDE_IDS,
    assert_matches_mixture,
    counting,
    exact_flow_solution,
)

N_SAMPLES = 10000


MIXTURE_SAMPLERS = {
    "pc": lambda rng, sde, score, shape: sample_pc(rng, sde, score, shape),
    "ode": lambda rng, sde, score, shape: sample_ode(rng, sde, score, shape, denoise=False),
    "sde": lambda rng, sde, score, shape: sample_sde(rng, sde, score, shape, num_steps=1000),
}
# the reverse SDE on sub-VP and VE repeats what VP shows of the solver: run by hand (-m slow)
MIXTURE_CASES = [
    pytest.param(
        sde,
        name,
        id=f"{name}-{sde_id}",
        marks=pytest.mark.slow if (name == "sde" and sde_id != "vp") or (name, sde_id) == ("pc", "subvp") else (),
    )
    for name in MIXTURE_SAMPLERS
    for sde, sde_id in zip(ALL_SDES, SDE_IDS)
]


@pytest.mark.parametrize("sde, sampler_name", MIXTURE_CASES)
def test_samples_match_the_mixture(sde, sampler_name, full_optimizations):
    oracle = example_mixture(sde)
    x, _ = MIXTURE_SAMPLERS[sampler_name](jax.random.PRNGKey(0), sde, oracle.score, (N_SAMPLES, 2))
    assert_matches_mixture(x, oracle)


@pytest.mark.parametrize("process", NEW_PROCESSES, ids=NEW_IDS)
@pytest.mark.parametrize(
    "sampler",
    [
        lambda rng, sde, score, shape: sample_pc(rng, sde, score, shape, num_steps=500),
        pytest.param(
            lambda rng, sde, score, shape: sample_pc(
                rng, sde, score, shape, predictor="euler_maruyama", corrector="none", num_steps=500
            ),
            marks=pytest.mark.slow,
        ),
        pytest.param(
            lambda rng, sde, score, shape: sample_pc(
                rng, sde, score, shape, predictor="ancestral_sampling", corrector="ald", num_steps=500
            ),
            marks=pytest.mark.slow,
        ),
        lambda rng, sde, score, shape: sample_ode(rng, sde, score, shape),
        pytest.param(
            lambda rng, sde, score, shape: sample_sde(rng, sde, score, shape, num_steps=500), marks=pytest.mark.slow
        ),
        pytest.param(
            lambda rng, sde, score, shape: sample_ddim(rng, sde, score, shape, num_steps=100), marks=pytest.mark.slow
        ),
        lambda rng, sde, score, shape: sample_heun(rng, sde, score, shape, num_steps=30),
        lambda rng, sde, score, shape: sample_dpm_solver(rng, sde, score, shape, num_steps=30),
    ],
    ids=["pc", "pc_euler_maruyama", "pc_ancestral_ald", "ode", "sde", "ddim", "heun", "dpm_solver"],
)
def test_every_sampler_reaches_the_mixture_on_every_process(process, sampler, full_optimizations):
    """Cosine VP, the linear flow and EDM's path through a(t), s(t) and lambda(t) alone: component
    weights, means and covariances within Monte-Carlo error of the exact mixture."""
    oracle = example_mixture(process)
    x, _ = sampler(jax.random.PRNGKey(0), process, oracle.score, (N_SAMPLES // 2, 2))
    assert_matches_mixture(x, oracle)


@pytest.mark.parametrize("sde, n", [(ALL_SDES[0], N_SAMPLES), (NEW_PROCESSES[2], N_SAMPLES // 2)], ids=["vp", "edm"])
def test_a_wrong_score_fails_the_mixture_check(sde, n):
    """The distribution check has power at the sample sizes used: a 10% error in the score is caught."""
    oracle = example_mixture(sde)
    x, _ = sample_ode(jax.random.PRNGKey(0), sde, lambda x, t: 0.9 * oracle.score(x, t), (n, 2), denoise=False)
    with pytest.raises(AssertionError):
        assert_matches_mixture(x, oracle)


# every predictor and every corrector meets every process, in 4 runs per process
COVERING_PAIRS = [
    ("euler_maruyama", "langevin"),
    ("reverse_diffusion", "ald"),
    ("ancestral_sampling", "none"),
    ("none", "langevin"),
]


def test_the_covering_pairs_cover_every_predictor_and_corrector():
    assert {p for p, _ in COVERING_PAIRS} == set(PREDICTORS.names())
    assert {c for _, c in COVERING_PAIRS} == set(CORRECTORS.names())


# On the new processes the default run keeps the pairs of their generic code (the exact-posterior
# ancestral step, ALD's step on a general s(t)); the other pairs run there with -m slow.
GENERIC_PAIRS = (("ancestral_sampling", "none"), ("reverse_diffusion", "ald"))
EVERY_PROCESS_AND_PAIR = [
    pytest.param(
        sde,
        *pair,
        id=f"{pair[0]}-{pair[1]}-{sde_id}",
        marks=pytest.mark.slow if sde_id in NEW_IDS and pair not in GENERIC_PAIRS else (),
    )
    for pair in COVERING_PAIRS
    for sde, sde_id in zip(ALL_SDES + NEW_PROCESSES, SDE_IDS + NEW_IDS)
]


@pytest.mark.parametrize("sde, predictor, corrector", EVERY_PROCESS_AND_PAIR)
def test_every_predictor_and_corrector_runs_with_every_sde(sde, predictor, corrector):
    oracle = example_mixture(sde)
    x, nfe = sample_pc(
        jax.random.PRNGKey(0),
        sde,
        oracle.score,
        (4, 2),
        predictor=predictor,
        corrector=corrector,
        n_steps_each=2,
        num_steps=25,
    )
    assert x.shape == (4, 2) and np.all(np.isfinite(x))
    evals = {"none": 0}.get(predictor, 1) + {"none": 0}.get(corrector, 2)
    assert nfe == 25 * evals


@pytest.mark.parametrize(
    "run",
    [
        lambda s, f: sample_pc(jax.random.PRNGKey(0), s, f, (8, 2), num_steps=27, n_steps_each=2),
        lambda s, f: sample_pc(jax.random.PRNGKey(0), s, f, (8, 2), predictor="none", num_steps=27),
        pytest.param(  # the fixed-step rule, shown by heun (-m slow)
            lambda s, f: sample_ode(jax.random.PRNGKey(0), s, f, (8, 2), solver="euler", num_steps=9, denoise=False),
            marks=pytest.mark.slow,
        ),
        lambda s, f: sample_ode(jax.random.PRNGKey(0), s, f, (8, 2), solver="heun", num_steps=9, denoise=True),
        pytest.param(  # the counting rule of euler and heun again (-m slow)
            lambda s, f: sample_ode(jax.random.PRNGKey(0), s, f, (8, 2), solver="midpoint", num_steps=9, denoise=False),
            marks=pytest.mark.slow,
        ),
        lambda s, f: sample_ode(jax.random.PRNGKey(0), s, f, (8, 2), solver="tsit5", denoise=False),
        pytest.param(  # the adaptive counting of tsit5 again (-m slow)
            lambda s, f: sample_ode(
                jax.random.PRNGKey(0), s, f, (8, 2), solver="bosh3", rtol=1e-3, atol=1e-3, denoise=False
            ),
            marks=pytest.mark.slow,
        ),
        lambda s, f: sample_ode(
            jax.random.PRNGKey(0), s, f, (8, 2), solver="heun", rtol=1e-3, atol=1e-3, denoise=False
        ),
        pytest.param(  # one evaluation per step, as reversible heun (-m slow)
            lambda s, f: sample_sde(jax.random.PRNGKey(0), s, f, (8, 2), solver="euler_maruyama", num_steps=9),
            marks=pytest.mark.slow,
        ),
        lambda s, f: sample_sde(jax.random.PRNGKey(0), s, f, (8, 2), solver="heun", num_steps=9),
        lambda s, f: sample_sde(jax.random.PRNGKey(0), s, f, (8, 2), solver="reversible_heun", num_steps=9),
        lambda s, f: encode(s, f, jnp.ones((8, 2))),
    ],
    ids=[
        "pc",
        "pc-corrector-only",
        "ode-euler",
        "ode-heun-denoise",
        "ode-midpoint",
        "ode-tsit5",
        "ode-bosh3",
        "ode-heun-adaptive",
        "sde-em",
        "sde-heun",
        "sde-reversible-heun",
        "encode",
    ],
)
def test_nfe_counts_every_score_evaluation(run):
    sde = ALL_SDES[0]
    score_fn, count = counting(example_mixture(sde).score)
    x, nfe = run(sde, score_fn)
    jax.block_until_ready(x)
    assert int(nfe) == count[0]


def test_fixed_step_nfe_is_steps_times_stage_evaluations():
    sde, score = ALL_SDES[0], example_mixture(ALL_SDES[0]).score
    assert (
        int(sample_ode(jax.random.PRNGKey(0), sde, score, (2, 2), solver="heun", num_steps=11, denoise=False)[1]) == 22
    )
    assert int(sample_sde(jax.random.PRNGKey(0), sde, score, (2, 2), num_steps=11, denoise=False)[1]) == 11
    assert sample_pc(jax.random.PRNGKey(0), sde, score, (2, 2), num_steps=31, n_steps_each=3)[1] == 124


@pytest.mark.parametrize(
    "sampler",
    [
        lambda rng, s, f, shape: sample_pc(rng, s, f, shape, num_steps=30),
        pytest.param(  # its randomness is the prior draw alone, as pc's (-m slow)
            lambda rng, s, f, shape: sample_ode(rng, s, f, shape, denoise=False), marks=pytest.mark.slow
        ),
        lambda rng, s, f, shape: sample_sde(rng, s, f, shape, num_steps=20),
    ],
    ids=["pc", "ode", "sde"],
)
def test_sampling_is_reproducible_under_jit(sampler):
    sde = ALL_SDES[2]
    score = example_mixture(sde).score
    jitted = jax.jit(lambda rng: sampler(rng, sde, score, (16, 2))[0])
    first, second = jitted(jax.random.PRNGKey(3)), jitted(jax.random.PRNGKey(3))
    np.testing.assert_array_equal(first, second)
    # Inlined into an outer jit, XLA may fuse differently: equal up to float32 round-off
    # accumulated over the solve.
    np.testing.assert_allclose(first, sampler(jax.random.PRNGKey(3), sde, score, (16, 2))[0], rtol=1e-4, atol=1e-4)
    assert not np.allclose(first, jitted(jax.random.PRNGKey(4)))


@pytest.mark.parametrize(
    "sampler",
    [
        lambda rng, s, f, shape: sample_pc(rng, s, f, shape, corrector="none", num_steps=30),
        pytest.param(  # deterministic given the prior draw, which pc shows is per example: run by hand
            lambda rng, s, f, shape: sample_ode(rng, s, f, shape, solver="heun", num_steps=20, denoise=False),
            marks=pytest.mark.slow,
        ),
        lambda rng, s, f, shape: sample_sde(rng, s, f, shape, num_steps=20),
    ],
    ids=["pc", "ode", "sde"],
)
def test_a_sample_does_not_depend_on_the_batch_size(sampler):
    sde = ALL_SDES[0]
    score = example_mixture(sde).score
    small = sampler(jax.random.PRNGKey(5), sde, score, (3, 2))[0]
    large = sampler(jax.random.PRNGKey(5), sde, score, (9, 2))[0]
    np.testing.assert_allclose(small, large[:3], rtol=1e-5, atol=1e-6)


# heun shows the order measurement; euler and midpoint repeat it on other tableaus (-m slow)
@pytest.mark.parametrize(
    "solver, order",
    [
        pytest.param("euler", 1.0, marks=pytest.mark.slow),
        ("heun", 2.0),
        pytest.param("midpoint", 2.0, marks=pytest.mark.slow),
    ],
)
def test_fixed_step_ode_solvers_converge_at_their_order(solver, order):
    sde = VPSDE()
    score = example_mixture(sde).score
    rng = jax.random.PRNGKey(0)
    reference = exact_flow_solution(sde, (64, 2), 0.05)
    steps = np.array([64, 128, 256])  # the asymptotic regime; float32 round-off stays below these errors
    errors = [
        float(
            jnp.max(
                jnp.abs(
                    sample_ode(rng, sde, score, (64, 2), solver=solver, num_steps=int(n), eps=0.05, denoise=False)[0]
                    - reference
                )
            )
        )
        for n in steps
    ]
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.15, (errors, slope)


@pytest.mark.parametrize(
    "sde",
    # VP by default; the others repeat the same solves (-m slow)
    [ALL_SDES[0], *[pytest.param(p, marks=pytest.mark.slow) for p in ALL_SDES[1:] + NEW_PROCESSES]],
    ids=SDE_IDS + NEW_IDS,
)
def test_decode_inverts_encode(sde):
    oracle = example_mixture(sde)
    x, _ = oracle.sample(jax.random.PRNGKey(0), 256, t=sde.eps)
    z, _ = encode(sde, oracle.score, x)
    recovered, _ = decode(sde, oracle.score, z)
    np.testing.assert_allclose(recovered, x, atol=1e-3)
    # the latent is distributed like p_T: its mean and variance are close to the prior's
    assert abs(float(jnp.std(z)) / sde.prior_std - 1.0) < 0.15


@pytest.mark.parametrize("predictor", ["reverse_diffusion", "euler_maruyama"])
def test_pc_on_the_probability_flow_takes_the_reference_updates(predictor):
    """sample_pc(probability_flow=True) with no corrector, against the reference's updates written
    out step by step: reverse diffusion x <- x - (sqrt(1 - beta_i) - 1) x + beta_i score / 2 on
    the DDPM betas; Euler x <- x + beta(t) (x + score) / (2 N)."""
    n, sde = 50, VPSDE(N=50)
    score = example_mixture(sde).score
    rng = jax.random.PRNGKey(3)
    got, nfe = sample_pc(
        rng, sde, score, (6, 2), predictor=predictor, corrector="none", probability_flow=True, denoise=False
    )
    x = sde.prior_sampling(jax.random.split(rng)[0], (6, 2))
    betas = np.linspace(0.1 / n, 20.0 / n, n)
    for t in np.linspace(1.0, sde.eps, n):
        s = score(x, jnp.full((6,), t))
        if predictor == "reverse_diffusion":
            beta = betas[int(t * (n - 1))]
            x = x - (np.sqrt(1 - beta) - 1) * x + 0.5 * beta * s
        else:
            x = x + (0.1 + t * 19.9) * (x + s) / (2 * n)
    np.testing.assert_allclose(got, x, rtol=1e-4, atol=1e-5)
    assert int(nfe) == n
    with pytest.raises(ValueError, match="ancestral_sampling' has no probability-flow form"):
        sample_pc(rng, sde, score, (6, 2), predictor="ancestral_sampling", probability_flow=True)


@pytest.mark.parametrize("sde", ALL_SDES[::2], ids=SDE_IDS[::2])
def test_the_reference_ode_denoising_step(sde):
    """denoise_step="reverse_diffusion" ends an ODE solve as the reference does: VP
    (2 - sqrt(1 - beta_0)) x + beta_0 score with beta_0 = beta_min / N; VE x + sigma_min^2 score;
    "tweedie" (the default) is the denoiser (x + s^2 score) / a."""
    score, rng = example_mixture(sde).score, jax.random.PRNGKey(0)
    solve = dict(solver="euler", num_steps=20)
    x, _ = sample_ode(rng, sde, score, (8, 2), denoise=False, **solve)
    reference, nfe = sample_ode(rng, sde, score, (8, 2), denoise_step="reverse_diffusion", **solve)
    tweedie, _ = sample_ode(rng, sde, score, (8, 2), **solve)
    eps = jnp.full((8,), sde.eps)
    s = score(x, eps)
    if isinstance(sde, VPSDE):
        beta0 = 0.1 / sde.N
        expected = (2 - np.sqrt(1 - beta0)) * x + beta0 * s
    else:
        expected = x + sde.sigma_min**2 * s
    np.testing.assert_allclose(reference, expected, rtol=1e-5, atol=1e-6)
    a, std = sde.marginal_coefficients(eps)
    np.testing.assert_allclose(tweedie, (x + std[:, None] ** 2 * s) / a[:, None], rtol=1e-5, atol=1e-6)
    assert int(nfe) == 21
    if isinstance(sde, VPSDE):  # on VE at eps = 1e-5 the two steps agree to float precision
        assert np.abs(np.asarray(reference - tweedie)).max() > 1e-5
    with pytest.raises(ValueError, match="denoise_step='last'"):
        sample_ode(rng, sde, score, (8, 2), denoise_step="last", **solve)


def test_bad_input_is_refused_with_a_clear_message():
    sde = ALL_SDES[0]
    score = example_mixture(sde).score
    rng = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match=r"unknown predictor predictor='reverse'.*reverse_diffusion"):
        sample_pc(rng, sde, score, (2, 2), predictor="reverse")
    with pytest.raises(ValueError, match=r"unknown corrector corrector='lang'.*langevin"):
        sample_pc(rng, sde, score, (2, 2), corrector="lang")
    with pytest.raises(ValueError, match=r"unknown ODE solver solver='rk4'"):
        sample_ode(rng, sde, score, (2, 2), solver="rk4")
    with pytest.raises(ValueError, match=r"unknown SDE solver solver='milstein'"):
        sample_sde(rng, sde, score, (2, 2), solver="milstein")
    with pytest.raises(ValueError, match="has no error estimate"):
        sample_ode(rng, sde, score, (2, 2), solver="euler")
    with pytest.raises(ValueError, match=r"eps must lie in \(0, T=1.0\)"):
        sample_ode(rng, sde, score, (2, 2), eps=0.0)
    with pytest.raises(ValueError, match=r"eps must lie in"):
        sample_pc(rng, sde, score, (2, 2), eps=1.5)
    with pytest.raises(ValueError, match=r"score_fn\(x, t\) fails for x of shape \(2, 3\)"):
        sample_sde(rng, sde, score, (2, 3))
    with pytest.raises(ValueError, match=r"must return an array shaped like x \(2, 2\); got \(2, 1\)"):
        sample_pc(rng, sde, lambda x, t: x[:, :1], (2, 2))
    with pytest.raises(ValueError, match="num_steps must be a positive integer"):
        sample_sde(rng, sde, score, (2, 2), num_steps=0)
    with pytest.raises(ValueError, match=r"num_steps=10 is too few steps for the VPSDE discretisation"):
        sample_pc(rng, sde, score, (2, 2), num_steps=10)


def test_max_steps_and_non_finite_values_raise():
    sde = ALL_SDES[0]
    score = example_mixture(sde).score
    with pytest.raises(Exception, match="maximum number of solver steps"):
        jax.block_until_ready(sample_ode(jax.random.PRNGKey(0), sde, score, (4, 2), rtol=1e-9, atol=1e-9, max_steps=5))
    blow_up = lambda x, t: x * jnp.log(t[:, None] - 2.0)  # NaN at every time
    with pytest.raises(Exception, match="sample_pc produced non-finite values"):
        jax.block_until_ready(
            sample_pc(jax.random.PRNGKey(0), sde, lambda x, t: jnp.exp(1e3 * x), (4, 2), num_steps=25)
        )
    with pytest.raises(Exception, match="non-finite"):
        jax.block_until_ready(sample_ode(jax.random.PRNGKey(0), sde, blow_up, (4, 2), solver="euler", num_steps=2))
