"""The N-step chain of predictor-corrector sampling, a part of its own beside the path.

A process defines its path (a(t), s(t)) and its prior; `chain_of(process)` gives the chain the
PC predictors and correctors step along: its time grid, the forward transition of one step (which
the reverse-diffusion predictor reverses), the ancestral step and the Langevin corrector's alpha.
`Chain` derives all of them from a(t) and s(t) (exact Gaussian transitions), so a new process
needs nothing here; the reference's VP, sub-VP and VE SDEs register the reference code's own
chains (DDPM, Euler-Maruyama, SMLD) with `register_chain`.

    chain = chain_of(VPSDE(N=1000))
    times, steps = chain.grid(eps=1e-3)
    f, G = chain.discretize(x, t)   # x_t = x_{t-dt} + f + G z
"""

import dataclasses

import jax.numpy as jnp

from score_sde._types import Array, ScoreFn
from score_sde.sde.base import SDE, batch_broadcast, check_time, posterior_step
from score_sde.sde.reference import VESDE, VPSDE, SubVPSDE, _LinearBetaSDE
from score_sde.sde.schedules import get_timesteps


@dataclasses.dataclass(frozen=True)
class Chain:
    """The N-step chain of `process` (N = process.N) from its path alone."""

    process: SDE

    @property
    def N(self) -> int:
        return self.process.N

    def grid(self, eps: float) -> tuple[Array, Array]:
        """Times (N,) from T down to eps on the process's `default_schedule`, and the step (N,) the
        predictor takes at each. On the time-uniform grid every step is T / N (the reference's); on
        other grids a step reaches the next time, the last one t = 0."""
        process, N = self.process, self.N
        if process.default_schedule == "time_uniform":
            return jnp.linspace(process.T, eps, N), jnp.full((N,), process.T / N)
        times = get_timesteps(process, N - 1, eps, process.default_schedule) if N > 1 else jnp.array([process.T])
        return times, times - jnp.concatenate([times[1:], jnp.zeros((1,))])

    def discretize(self, x: Array, t: Array, dt: float | Array | None = None) -> tuple[Array, Array]:
        """The exact forward transition from t - dt to t (dt defaults to T / N), as an update
        x_t = x_{t-dt} + f + G z: f = (r - 1) x, G^2 = s_t^2 - r^2 s_{t-dt}^2 with r = a_t / a_{t-dt}."""
        process = self.process
        check_time(t, process.T)
        dt = process.T / self.N if dt is None else dt
        a_t, s_t = process.marginal_coefficients(t)
        a_prev, s_prev = process.marginal_coefficients(jnp.maximum(t - dt, 0.0))
        ratio = a_t / a_prev
        return (batch_broadcast(ratio, x) - 1.0) * x, jnp.sqrt(jnp.maximum(s_t**2 - ratio**2 * s_prev**2, 0.0))

    def reverse_discretize(
        self, x: Array, t: Array, dt, score_fn: ScoreFn, probability_flow: bool = False
    ) -> tuple[Array, Array]:
        """The reverse update x_{t-dt} = x_t - rev_f + rev_G z of the forward step at t: rev_f = f -
        G^2 score (half of it and rev_G = 0 on the probability flow)."""
        f, G = self.discretize(x, t, dt)
        weight = 0.5 if probability_flow else 1.0
        rev_f = f - batch_broadcast(G**2, x) * score_fn(x, t) * weight
        return rev_f, jnp.zeros_like(G) if probability_flow else G

    def ancestral_step(self, x: Array, t: Array, dt, score: Array, z: Array) -> tuple[Array, Array]:
        """One ancestral step from t to t - dt given score(x, t) and noise z: the exact Gaussian
        posterior p(x_{t-dt} | x_t, x_0 = E[x_0 | x_t]). Returns (x, its mean)."""
        process = self.process
        a_t, s_t = (batch_broadcast(v, x) for v in process.marginal_coefficients(t))
        a_s, s_s = (batch_broadcast(v, x) for v in process.marginal_coefficients(jnp.maximum(t - dt, 0.0)))
        x0 = (x + s_t**2 * score) / a_t
        return posterior_step(x, x0, a_t, s_t, a_s, s_s, 1.0, z)

    def langevin_alpha(self, t: Array, dt) -> Array:
        """The factor alpha (B,) of the Langevin corrector's step size at t: (a_t / a_{t-dt})^2,
        the continuous form of the reference's 1 - beta_i."""
        a = self.process.marginal_coefficients
        return (a(t)[0] / a(jnp.maximum(t - dt, 0.0))[0]) ** 2

    def check(self, setting: str = "N") -> None:
        """Raises a ValueError if the N-step chain is not a valid Markov chain (`setting` names N)."""


_CHAINS: dict[type, type[Chain]] = {}


def register_chain(process_class: type):
    """Class decorator: the chain of `process_class` and its subclasses."""

    def add(chain_class: type[Chain]) -> type[Chain]:
        _CHAINS[process_class] = chain_class
        return chain_class

    return add


def chain_of(process: SDE) -> Chain:
    """The chain registered for the process's class (the nearest in its MRO), else `Chain`."""
    for klass in type(process).__mro__:
        if klass in _CHAINS:
            return _CHAINS[klass](process)
    return Chain(process)


def _step_index(process: SDE, t: Array) -> Array:
    """Index i of the discretisation step containing t: int(t (N - 1) / T), as in the reference."""
    return (t * (process.N - 1) / process.T).astype(jnp.int32)


@register_chain(_LinearBetaSDE)
@dataclasses.dataclass(frozen=True)
class LinearBetaChain(Chain):
    """VP and sub-VP: the reference's Langevin alpha_i = 1 - beta_i and its check that beta_i < 1."""

    process: _LinearBetaSDE

    def langevin_alpha(self, t, dt=None):
        return self.process.alphas[_step_index(self.process, t)]

    def check(self, setting="N"):
        """The DDPM chain needs every beta_i = beta(t_i) / N < 1, i.e. N > beta_max."""
        process = self.process
        if process.beta_max / self.N >= 1.0:
            raise ValueError(
                f"{setting}={self.N} is too few steps for the {type(process).__name__} discretisation: "
                f"beta_max / N = {process.beta_max / self.N:.3g} must be < 1; use {setting} > {process.beta_max:g}"
            )


@register_chain(SubVPSDE)
@dataclasses.dataclass(frozen=True)
class SubVPChain(LinearBetaChain):
    """Sub-VP: Euler-Maruyama forward steps and the generic ancestral step, as in the reference."""

    def discretize(self, x, t, dt=None):
        """f = f(x, t) dt, G = g(t) sqrt(dt) with step dt (default T / N)."""
        process = self.process
        dt = process.T / self.N if dt is None else dt
        drift, diffusion = process.sde(x, t)
        return drift * dt, diffusion * jnp.sqrt(dt)


@register_chain(VPSDE)
@dataclasses.dataclass(frozen=True)
class DDPMChain(LinearBetaChain):
    """VP: the DDPM chain on the discrete betas beta_i = linspace(beta_min / N, beta_max / N, N)."""

    def discretize(self, x, t, dt=None):
        """f = (sqrt(1 - beta_i) - 1) x, G = sqrt(beta_i) of the step containing t (dt is the chain's own)."""
        process = self.process
        check_time(t, process.T)
        beta = process.discrete_betas[_step_index(process, t)]
        return (batch_broadcast(jnp.sqrt(1.0 - beta), x) - 1.0) * x, jnp.sqrt(beta)

    def ancestral_step(self, x, t, dt, score, z):
        """x_mean = (x + beta_i score) / sqrt(1 - beta_i), plus sqrt(beta_i) z."""
        process = self.process
        beta = batch_broadcast(process.discrete_betas[_step_index(process, t)], x)
        x_mean = (x + beta * score) / jnp.sqrt(1.0 - beta)
        return x_mean + jnp.sqrt(beta) * z, x_mean


@register_chain(VESDE)
@dataclasses.dataclass(frozen=True)
class SMLDChain(Chain):
    """VE: the SMLD chain on sigma_i = exp(linspace(log sigma_min, log sigma_max, N)), Langevin alpha_i = 1."""

    process: VESDE

    def _sigma_pair(self, t: Array) -> tuple[Array, Array]:
        """sigma_i and sigma_{i-1} (sigma_{-1} = 0) of the step containing t, both (B,)."""
        sigmas = self.process.discrete_sigmas
        i = _step_index(self.process, t)
        return sigmas[i], jnp.where(i == 0, 0.0, sigmas[jnp.maximum(i - 1, 0)])

    def discretize(self, x, t, dt=None):
        """f = 0, G = sqrt(sigma_i^2 - sigma_{i-1}^2) (dt is the chain's own)."""
        check_time(t, self.process.T)
        sigma, previous = self._sigma_pair(t)
        return jnp.zeros_like(x), jnp.sqrt(sigma**2 - previous**2)

    def ancestral_step(self, x, t, dt, score, z):
        """SMLD ancestral sampling on the discrete sigmas, as in the reference."""
        sigma, previous = self._sigma_pair(t)
        x_mean = x + score * batch_broadcast(sigma**2 - previous**2, x)
        std = jnp.sqrt(previous**2 * (sigma**2 - previous**2) / sigma**2)
        return x_mean + batch_broadcast(std, x) * z, x_mean

    def langevin_alpha(self, t, dt=None):
        return jnp.ones_like(t)
