"""Predictor-corrector sampling (Song et al. 2021, Algorithms 2-3), as one `lax.scan` on device.

On the process's chain (`score_sde.sde.chain.chain_of(process)`: N times from T to eps, each
with its step dt), a predictor takes one reverse-time step from t to t - dt; a corrector runs
`n_steps_each` Langevin MCMC steps at fixed t. Both return (x, x_mean), x_mean being the update
without its final noise. Every predictor and corrector works with every process: the chain
supplies the discretisation (`discretize`), the ancestral step and the Langevin step factor.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, cast, final

import equinox as eqx
import jax
import jax.numpy as jnp

from score_sde._types import NFE, Array, ScoreFn
from score_sde.checks import check_positive_int, check_sampler_inputs, error_if_nonfinite
from score_sde.noise import per_example_normal
from score_sde.registry import Registry
from score_sde.sampling.samplers import Sampler, config_steps, register
from score_sde.sde import SDE, batch_broadcast
from score_sde.sde.chain import chain_of
from score_sde.settings import AT_LEAST_ONE, POSITIVE, Setting, choice_of

# predictor(rng, sde, score_fn, x, t, dt, probability_flow) -> (x, x_mean)
Predictor = Callable[[Array, SDE, ScoreFn, Array, Array, Array, bool], tuple[Array, Array]]
# corrector(rng, sde, score_fn, x, t, dt, snr, n_steps) -> (x, x_mean)
Corrector = Callable[[Array, SDE, ScoreFn, Array, Array, Array, float, int], tuple[Array, Array]]


@dataclasses.dataclass(frozen=True)
class Step:
    """A registered update with the number of score evaluations it makes per call."""

    fn: Callable
    evals: int  # for correctors: per Langevin step
    probability_flow: bool = False  # predictors: step the probability-flow ODE instead of the reverse SDE


PREDICTORS: Registry[Step] = Registry("predictor")
CORRECTORS: Registry[Step] = Registry("corrector")


def _euler_maruyama(rng, process, score_fn, x, t, dt, probability_flow):
    """x <- x - f_rev(x, t) dt + g(t) sqrt(dt) z on the reverse SDE (no noise on the ODE)."""
    drift, diffusion = process.reverse(score_fn, probability_flow).sde(x, t)
    x_mean = x - drift * dt
    return x_mean + batch_broadcast(diffusion, x) * jnp.sqrt(dt) * per_example_normal(rng, x.shape), x_mean


def _reverse_diffusion(rng, process, score_fn, x, t, dt, probability_flow):
    """x <- x - f_rev + G z with the process's own discretisation (DDPM / SMLD form for VP / VE);
    on the probability-flow ODE, f_rev = f - G^2 score / 2 and G = 0."""
    rev_f, rev_G = chain_of(process).reverse_discretize(x, t, dt, score_fn, probability_flow)
    x_mean = x - rev_f
    return x_mean + batch_broadcast(rev_G, x) * per_example_normal(rng, x.shape), x_mean


def _ancestral(rng, process, score_fn, x, t, dt, probability_flow):
    """Ancestral sampling: DDPM for VP and SMLD for VE as in the reference; for other processes the
    exact Gaussian posterior p(x_{t-dt} | x_t, x_0 = E[x_0 | x_t])."""
    return chain_of(process).ancestral_step(x, t, dt, score_fn(x, t), per_example_normal(rng, x.shape))


def _no_predictor(rng, process, score_fn, x, t, dt, probability_flow):
    return x, x


def _langevin_loop(rng, process, score_fn, x, t, dt, n_steps, step_size_fn):
    """n_steps of x <- x + e grad + sqrt(2 e) z, with e = step_size_fn(grad, noise, x, t) alpha."""
    alpha = batch_broadcast(chain_of(process).langevin_alpha(t, dt), x)

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


def _langevin(rng, process, score_fn, x, t, dt, snr, n_steps):
    """Langevin corrector: step e = 2 alpha (snr |z| / |score|)^2, norms averaged over the batch."""
    step = lambda grad, noise, x, t: 2.0 * (snr * _norm(noise) / _norm(grad)) ** 2
    return _langevin_loop(rng, process, score_fn, x, t, dt, n_steps, step)


def _annealed_langevin(rng, process, score_fn, x, t, dt, snr, n_steps):
    """Annealed Langevin dynamics (NCSN): step e = 2 alpha (snr s(t))^2."""
    step = lambda grad, noise, x, t: 2.0 * batch_broadcast((snr * process.marginal_prob(x, t)[1]) ** 2, x)
    return _langevin_loop(rng, process, score_fn, x, t, dt, n_steps, step)


def _no_corrector(rng, process, score_fn, x, t, dt, snr, n_steps):
    return x, x


PREDICTORS.register("euler_maruyama")(Step(_euler_maruyama, 1))
PREDICTORS.register("reverse_diffusion")(Step(_reverse_diffusion, 1))
PREDICTORS.register("ancestral_sampling")(Step(_ancestral, 1))
PREDICTORS.register("none")(Step(_no_predictor, 0))
CORRECTORS.register("langevin")(Step(_langevin, 1))
CORRECTORS.register("ald")(Step(_annealed_langevin, 1))
CORRECTORS.register("none")(Step(_no_corrector, 0))


def pc_scan(rng, process, score_fn, x, sampler: "PredictorCorrector", project=None):
    """The PC loop of `sampler` (eps resolved) from x at T down to eps on `process`'s grid (traced,
    call inside jit); returns (x, x_mean).

    project(rng, x, x_mean, t (B,)) -> (x, x_mean), if given, runs after every corrector and
    predictor update (inpainting replaces the known coordinates there).
    """
    times, steps = chain_of(process).grid(cast(float, sampler.eps))  # resolved by `resolve`
    predictor, corrector = sampler.steps()
    project = project or (lambda rng, x, x_mean, t: (x, x_mean))

    def step(carry, inputs):
        x, _ = carry
        i, t, dt = inputs
        t_vec = jnp.full((x.shape[0],), t, x.dtype)
        step_rng = jax.random.fold_in(rng, i)
        c_rng, p_rng = jax.random.split(step_rng)
        cp_rng, pp_rng = jax.random.split(jax.random.fold_in(step_rng, 1))
        corrected = corrector.fn(c_rng, process, score_fn, x, t_vec, dt, sampler.snr, sampler.n_steps_each)
        x, x_mean = project(cp_rng, *corrected, t_vec)
        x, x_mean = predictor.fn(p_rng, process, score_fn, x, t_vec, dt, predictor.probability_flow)
        return project(pp_rng, x, x_mean, t_vec), None

    (x, x_mean), _ = jax.lax.scan(step, (x, x), (jnp.arange(process.N), times, steps))
    return x, x_mean


@eqx.filter_jit
def _sample_pc(rng, process, score_fn, shape, sampler: "PredictorCorrector"):
    prior_rng, loop_rng = jax.random.split(rng)
    x = process.prior_sampling(prior_rng, shape)
    x, x_mean = pc_scan(loop_rng, process, score_fn, x, sampler)
    return error_if_nonfinite(x_mean if sampler.denoise else x, "sample_pc")


@register
@final
@dataclasses.dataclass(frozen=True)
class PredictorCorrector(Sampler):
    """Predictor-corrector sampling from the prior at T down to eps.

    At each of the `num_steps` times of the process's chain (`Chain.grid`: linspace(T, eps, num_steps)
    with steps T / num_steps, as in the reference, or EDM's grid for `EDMPath`), runs the
    corrector, then the predictor. `num_steps` None is the process's N; another value
    re-discretises the process with N = num_steps. Sample i depends only on (rng, i).

    predictor: one of PREDICTORS (euler_maruyama, reverse_diffusion, ancestral_sampling, none).
    corrector: one of CORRECTORS (langevin, ald, none); snr and n_steps_each configure it.
    eps: the smallest time (None: the process's `eps`). denoise: return the last update's mean,
    without its noise (for reverse diffusion, the Tweedie step x + std^2 score at eps, as in the
    reference). probability_flow: the predictor steps the probability-flow ODE (drift f - g^2
    score / 2, no noise), the reference's option; the corrector is unchanged; ancestral_sampling
    has no such form. nfe = num_steps * (predictor evals + n_steps_each corrector evals).
    """

    name: ClassVar[str] = "pc"
    predictor: str = "reverse_diffusion"
    corrector: str = "langevin"
    snr: float = 0.16
    n_steps_each: int = 1
    num_steps: int | None = None
    eps: float | None = None
    denoise: bool = True
    probability_flow: bool = False

    def __post_init__(self):
        PREDICTORS.get(self.predictor, "predictor")
        CORRECTORS.get(self.corrector, "corrector")
        if self.probability_flow and self.predictor == "ancestral_sampling":
            raise ValueError(
                "probability_flow=True: predictor='ancestral_sampling' has no probability-flow form (as in the "
                "reference); choose reverse_diffusion, euler_maruyama or none, or probability_flow=False "
                "(config.sampling.predictor, config.sampling.probability_flow)"
            )
        check_positive_int(self.n_steps_each, "n_steps_each")
        if self.num_steps is not None:
            check_positive_int(self.num_steps, "num_steps")

    @classmethod
    def from_config(cls, sampling) -> "PredictorCorrector":
        return cls(
            predictor=str(sampling.predictor),
            corrector=str(sampling.corrector),
            snr=float(sampling.snr),
            n_steps_each=int(sampling.n_steps_each),
            num_steps=config_steps(sampling),
            eps=float(sampling.eps),
            denoise=bool(sampling.noise_removal),
            probability_flow=bool(sampling.probability_flow),
        )

    def steps(self) -> tuple[Step, Step]:
        """The predictor's and the corrector's registered `Step`s (the predictor on the probability flow if asked)."""
        predictor = PREDICTORS.get(self.predictor, "predictor")
        if self.probability_flow:
            predictor = dataclasses.replace(predictor, probability_flow=True)
        return predictor, CORRECTORS.get(self.corrector, "corrector")

    def resolve(self, process: SDE, score_fn: ScoreFn, shape) -> tuple[SDE, "PredictorCorrector", tuple, int]:
        """(process re-discretised to num_steps and checked, this sampler with eps resolved, the checked
        shape, nfe) of a run on `process`."""
        shape, eps = check_sampler_inputs(process, score_fn, shape, self.eps)
        if self.num_steps is not None:
            process = dataclasses.replace(cast(Any, process), N=int(self.num_steps))
        chain_of(process).check("num_steps" if self.num_steps is not None else "N")
        predictor, corrector = self.steps()
        nfe = process.N * (predictor.evals + corrector.evals * self.n_steps_each)
        resolved = dataclasses.replace(
            self, snr=float(self.snr), n_steps_each=int(self.n_steps_each), eps=eps, denoise=bool(self.denoise)
        )
        return process, resolved, shape, nfe

    def __call__(self, rng, process, score_fn, shape):
        process, resolved, shape, nfe = self.resolve(process, score_fn, shape)
        return _sample_pc(rng, process, score_fn, shape, resolved), jnp.asarray(nfe, jnp.int32)

    @property
    def marginal_score_use(self) -> str:
        if not self.probability_flow:
            return "the reverse-SDE predictor"
        return f"the {self.corrector} corrector" if self.corrector != "none" else ""


def sample_pc(
    rng: Array,
    process: SDE,
    score_fn: ScoreFn,
    shape: tuple[int, ...],
    *,
    predictor: str = "reverse_diffusion",
    corrector: str = "langevin",
    snr: float = 0.16,
    n_steps_each: int = 1,
    num_steps: int | None = None,
    eps: float | None = None,
    denoise: bool = True,
    probability_flow: bool = False,
) -> tuple[Array, NFE]:
    """`PredictorCorrector` with these settings: samples (B, *event) from the prior at T and
    nfe = num_steps * (predictor evals + n_steps_each corrector evals)."""
    sampler = PredictorCorrector(predictor, corrector, snr, n_steps_each, num_steps, eps, denoise, probability_flow)
    return sampler(rng, process, score_fn, shape)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "sampling.predictor": Setting(
        "reverse_diffusion", "pc: euler_maruyama, reverse_diffusion, ancestral_sampling, none", choice_of(PREDICTORS)
    ),
    "sampling.corrector": Setting("langevin", "pc: langevin, ald, none", choice_of(CORRECTORS)),
    "sampling.snr": Setting(0.16, "pc: the corrector's signal-to-noise ratio", POSITIVE),
    "sampling.n_steps_each": Setting(1, "pc: corrector steps per predictor step", AT_LEAST_ONE),
    "sampling.probability_flow": Setting(False, "pc: predictors on the probability-flow ODE (not ancestral_sampling)"),
}
