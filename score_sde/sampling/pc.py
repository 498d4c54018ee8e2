"""Predictor-corrector sampling (Song et al. 2021, Algorithms 2-3), as one `lax.scan` on device.

A predictor takes one reverse-time step from t to t - T/N; a corrector runs `n_steps_each`
Langevin MCMC steps at fixed t. Both return (x, x_mean), x_mean being the update without
its final noise. Every predictor and corrector works with every SDE.
"""

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp

from score_sde.checks import check_positive_int, error_if_nonfinite
from score_sde.noise import per_example_normal
from score_sde.registry import Registry
from score_sde.sampling.common import check_sampler_inputs, posterior_step
from score_sde.sde import SDE, VESDE, VPSDE, batch_broadcast

Array = jax.Array
# predictor(rng, sde, score_fn, x, t) -> (x, x_mean)
Predictor = Callable[[Array, SDE, Callable, Array, Array], tuple[Array, Array]]
# corrector(rng, sde, score_fn, x, t, snr, n_steps) -> (x, x_mean)
Corrector = Callable[[Array, SDE, Callable, Array, Array, float, int], tuple[Array, Array]]


@dataclasses.dataclass(frozen=True)
class Step:
    """A registered update with the number of score evaluations it makes per call."""

    fn: Callable
    evals: int  # for correctors: per Langevin step


PREDICTORS: Registry[Step] = Registry("predictor")
CORRECTORS: Registry[Step] = Registry("corrector")


def _euler_maruyama(rng, sde, score_fn, x, t):
    """x <- x - f_rev(x, t) T/N + g(t) sqrt(T/N) z on the reverse SDE."""
    dt = -sde.T / sde.N
    drift, diffusion = sde.reverse(score_fn).sde(x, t)
    x_mean = x + drift * dt
    return x_mean + batch_broadcast(diffusion, x) * jnp.sqrt(-dt) * per_example_normal(rng, x.shape), x_mean


def _reverse_diffusion(rng, sde, score_fn, x, t):
    """x <- x - f_rev + G z with the SDE's own discretisation (DDPM / SMLD form)."""
    rev_f, rev_G = sde.reverse(score_fn).discretize(x, t)
    x_mean = x - rev_f
    return x_mean + batch_broadcast(rev_G, x) * per_example_normal(rng, x.shape), x_mean


def _ancestral(rng, sde, score_fn, x, t):
    """Ancestral sampling: DDPM for VP and SMLD for VE as in the reference; for other SDEs the
    exact Gaussian posterior p(x_s | x_t, x_0 = E[x_0 | x_t]) between t and s = t - T/N."""
    score = score_fn(x, t)
    z = per_example_normal(rng, x.shape)
    if isinstance(sde, VPSDE):
        beta = batch_broadcast(sde.discrete_betas[sde.step_index(t)], x)
        x_mean = (x + beta * score) / jnp.sqrt(1.0 - beta)
        return x_mean + jnp.sqrt(beta) * z, x_mean
    if isinstance(sde, VESDE):
        sigma, previous = sde.discrete_sigma_pair(t)
        x_mean = x + score * batch_broadcast(sigma**2 - previous**2, x)
        std = jnp.sqrt(previous**2 * (sigma**2 - previous**2) / sigma**2)
        return x_mean + batch_broadcast(std, x) * z, x_mean
    s = jnp.maximum(t - sde.T / sde.N, 0.0)
    a_t, std_t = (batch_broadcast(v, x) for v in sde.marginal_coefficients(t))
    a_s, std_s = (batch_broadcast(v, x) for v in sde.marginal_coefficients(s))
    x0 = (x + std_t**2 * score) / a_t
    return posterior_step(x, x0, a_t, std_t, a_s, std_s, 1.0, z)


def _no_predictor(rng, sde, score_fn, x, t):
    return x, x


def _langevin_loop(rng, sde, score_fn, x, t, n_steps, step_size_fn):
    """n_steps of x <- x + e grad + sqrt(2 e) z, with e = step_size_fn(grad, noise, t)."""
    alpha = batch_broadcast(sde.alphas[sde.step_index(t)], x)

    def body(i, carry):
        x, _ = carry
        grad = score_fn(x, t)
        noise = per_example_normal(jax.random.fold_in(rng, i), x.shape)
        step_size = step_size_fn(grad, noise, x, t) * alpha
        x_mean = x + step_size * grad
        return x_mean + jnp.sqrt(2.0 * step_size) * noise, x_mean

    return jax.lax.fori_loop(0, n_steps, body, (x, x))


def _norm(v):
    return jnp.mean(jnp.linalg.norm(jnp.reshape(v, (v.shape[0], -1)), axis=-1))


def _langevin(rng, sde, score_fn, x, t, snr, n_steps):
    """Langevin corrector: step e = 2 alpha_i (snr |z| / |score|)^2, norms averaged over the batch."""
    step = lambda grad, noise, x, t: 2.0 * (snr * _norm(noise) / _norm(grad)) ** 2
    return _langevin_loop(rng, sde, score_fn, x, t, n_steps, step)


def _annealed_langevin(rng, sde, score_fn, x, t, snr, n_steps):
    """Annealed Langevin dynamics (NCSN): step e = 2 alpha_i (snr std(t))^2."""
    step = lambda grad, noise, x, t: 2.0 * batch_broadcast((snr * sde.marginal_prob(x, t)[1]) ** 2, x)
    return _langevin_loop(rng, sde, score_fn, x, t, n_steps, step)


def _no_corrector(rng, sde, score_fn, x, t, snr, n_steps):
    return x, x


PREDICTORS.register("euler_maruyama")(Step(_euler_maruyama, 1))
PREDICTORS.register("reverse_diffusion")(Step(_reverse_diffusion, 1))
PREDICTORS.register("ancestral_sampling")(Step(_ancestral, 1))
PREDICTORS.register("none")(Step(_no_predictor, 0))
CORRECTORS.register("langevin")(Step(_langevin, 1))
CORRECTORS.register("ald")(Step(_annealed_langevin, 1))
CORRECTORS.register("none")(Step(_no_corrector, 0))


def pc_scan(rng, sde, score_fn, x, predictor, corrector, snr, n_steps_each, eps, project=None):
    """The PC loop from x at T down to eps (traced, call inside jit); returns (x, x_mean).

    project(rng, x, x_mean, t (B,)) -> (x, x_mean), if given, runs after every corrector and
    predictor update (inpainting replaces the known coordinates there).
    """
    timesteps = jnp.linspace(sde.T, eps, sde.N)
    project = project or (lambda rng, x, x_mean, t: (x, x_mean))

    def step(carry, inputs):
        x, _ = carry
        i, t = inputs
        t_vec = jnp.full((x.shape[0],), t, x.dtype)
        step_rng = jax.random.fold_in(rng, i)
        c_rng, p_rng = jax.random.split(step_rng)
        cp_rng, pp_rng = jax.random.split(jax.random.fold_in(step_rng, 1))
        x, x_mean = project(cp_rng, *corrector.fn(c_rng, sde, score_fn, x, t_vec, snr, n_steps_each), t_vec)
        return project(pp_rng, *predictor.fn(p_rng, sde, score_fn, x, t_vec), t_vec), None

    (x, x_mean), _ = jax.lax.scan(step, (x, x), (jnp.arange(sde.N), timesteps))
    return x, x_mean


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6, 7, 8, 9))
def _sample_pc(rng, sde, score_fn, shape, predictor, corrector, snr, n_steps_each, eps, denoise):
    prior_rng, loop_rng = jax.random.split(rng)
    x = sde.prior_sampling(prior_rng, shape)
    x, x_mean = pc_scan(loop_rng, sde, score_fn, x, predictor, corrector, snr, n_steps_each, eps)
    return error_if_nonfinite(x_mean if denoise else x, "sample_pc")


def resolve_pc(sde: SDE, predictor: str, corrector: str, n_steps_each: int, num_steps: int | None):
    """Checked (sde re-discretised to num_steps, predictor Step, corrector Step, nfe)."""
    predictor_step = PREDICTORS.get(predictor, "predictor")
    corrector_step = CORRECTORS.get(corrector, "corrector")
    check_positive_int(n_steps_each, "n_steps_each")
    if num_steps is not None:
        check_positive_int(num_steps, "num_steps")
        sde = dataclasses.replace(sde, N=int(num_steps))
    sde.check_discretization("num_steps" if num_steps is not None else "N")
    nfe = sde.N * (predictor_step.evals + corrector_step.evals * n_steps_each)
    return sde, predictor_step, corrector_step, nfe


def sample_pc(
    rng: Array,
    sde: SDE,
    score_fn: Callable[[Array, Array], Array],
    shape: tuple[int, ...],
    *,
    predictor: str = "reverse_diffusion",
    corrector: str = "langevin",
    snr: float = 0.16,
    n_steps_each: int = 1,
    num_steps: int | None = None,
    eps: float = 1e-3,
    denoise: bool = True,
) -> tuple[Array, int]:
    """Predictor-corrector sampling from the prior at T down to eps.

    At each of `num_steps` times t_i = linspace(T, eps, num_steps), runs the corrector, then
    the predictor (one step of size T / num_steps). `num_steps` defaults to `sde.N`; another
    value re-discretises the SDE with N = num_steps.

    Args:
      rng: PRNG key; sample i depends only on (rng, i) for the prior and the noise.
      sde: forward SDE; score_fn(x (B, *event), t (B,)) -> score like x.
      shape: (B, *event) of the samples.
      predictor: one of PREDICTORS (euler_maruyama, reverse_diffusion, ancestral_sampling, none).
      corrector: one of CORRECTORS (langevin, ald, none); snr and n_steps_each configure it.
      denoise: return the last update's mean, without its noise (for reverse diffusion, the
        Tweedie step x + std^2 score at eps, as in the reference).

    Returns:
      samples (B, *event) and nfe = num_steps * (predictor evals + n_steps_each corrector evals).
    """
    shape = check_sampler_inputs(sde, score_fn, shape, eps)
    sde, predictor_step, corrector_step, nfe = resolve_pc(sde, predictor, corrector, n_steps_each, num_steps)
    x = _sample_pc(rng, sde, score_fn, shape, predictor_step, corrector_step, float(snr), int(n_steps_each),
                   float(eps), bool(denoise))
    return x, nfe
