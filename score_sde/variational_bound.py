"""The continuous-time variational bound of VDM (Kingma et al. 2021) on any process, in bits/dim,
and VDM's training objective for a learned schedule.

For 8-bit images x (pixel levels k, model-range values x = lo + (hi - lo) k / 255; continuous
data takes a Gaussian decoder instead) and a model
with denoiser D(z, t) on a path z_t = a x + s e with log-SNR lambda(t):

  -log P(x) <= KL(q(z_T | x) || p_T)                                     prior
             + 1/2 int_t0^T -lambda'(t) e^lambda(t) E |x - D(z_t, t)|^2 dt   diffusion
             + E_q(z_t0 | x) [-log p(x | z_t0)]                              reconstruction

with p(x | z_t0) VDM's factorised decoder: a softmax over the 256 levels of
-(z / a - x_level)^2 / (2 sigma~^2), sigma~ = s / a, at t0. The diffusion term is estimated with
one time per example, antithetic across the batch (VDM's low-discrepancy sampler). With the
exact denoiser the bound is tight up to the prior mismatch and the decoder's error; it depends
on the schedule's interior only through its variance.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import Array
from score_sde.likelihood import log_likelihood
from score_sde.parameterization import Parameterization
from score_sde.sde import SDE, batch_broadcast
from score_sde.sde.learned import LearnedVPPath

NUM_LEVELS = 256
BOUND_TIME_SAMPLINGS = ("uniform", "log_snr")  # the bound's times: VDM's or uniform in log-SNR


def _sum_event(v: Array) -> Array:
    return jnp.sum(jnp.reshape(v, (v.shape[0], -1)), axis=-1)


def level_values(levels: Array, data_range: tuple[float, float]) -> Array:
    """Pixel levels k in [0, 255] as model-range values lo + (hi - lo) k / 255 (the data pipeline's)."""
    lo, hi = data_range
    return lo + (hi - lo) * jnp.asarray(levels, jnp.float32) / (NUM_LEVELS - 1)


def levels_of(x: Array, data_range: tuple[float, float]) -> Array:
    """Model-range values on the pixel grid back to integer levels (B, ...)."""
    lo, hi = data_range
    return jnp.clip(jnp.round((x - lo) / (hi - lo) * (NUM_LEVELS - 1)), 0, NUM_LEVELS - 1).astype(jnp.int32)


def antithetic_times(rng: Array, batch_size: int, t0: float, T: float) -> Array:
    """Times (B,) in [t0, T): one uniform offset u, example i at (u + i / B) mod 1."""
    u = jnp.mod(jax.random.uniform(rng) + jnp.arange(batch_size) / batch_size, 1.0)
    return t0 + (T - t0) * u


def prior_kl(process: SDE, x: Array) -> Array:
    """KL(N(a_T x, s_T^2 I) || N(0, prior_std^2 I)) in nats, (B,)."""
    a, s = process.marginal_coefficients(jnp.full(x.shape[:1], process.T))
    a, s = batch_broadcast(a, x), batch_broadcast(s, x)
    excess = (s**2 - process.prior_std**2) / process.prior_std**2  # s^2 / prior^2 - 1, small near T
    return 0.5 * _sum_event((a * x) ** 2 / process.prior_std**2 + excess - jnp.log1p(excess))


def diffusion_loss(process: SDE, denoised: Array, x: Array, t: Array, t0: float) -> Array:
    """The diffusion term in nats (B,): (T - t0) / 2 (-lambda'(t)) e^lambda(t) |x - denoised|^2 for
    times t ~ U[t0, T] (one per example) and `denoised` = D(z_t, t)."""
    lam, d_lam = jax.jvp(process.log_snr, (t,), (jnp.ones_like(t),))
    return 0.5 * (process.T - t0) * (-d_lam) * jnp.exp(lam) * _sum_event((x - denoised) ** 2)


def diffusion_loss_log_snr(process: SDE, denoised: Array, x: Array, t: Array, t0: float) -> Array:
    """The same term for times drawn uniformly in log-SNR, lambda(t) ~ U[lambda(T), lambda(t0)]:
    (lambda(t0) - lambda(T)) / 2 e^lambda(t) |x - denoised|^2 (no lambda', so no 1 / t tail on
    fixed schedules)."""
    lam_T, lam_0 = process.log_snr(jnp.array([process.T, t0]))
    return 0.5 * (lam_0 - lam_T) * jnp.exp(process.log_snr(t)) * _sum_event((x - denoised) ** 2)


def decoder_log_prob(levels: Array, z_scaled: Array, sigma: Array, data_range: tuple[float, float]) -> Array:
    """log p(levels | z) in nats (B,) under VDM's decoder: per dimension a softmax over the 256
    levels v_j of -(z_scaled - v_j)^2 / (2 sigma^2), with sigma (B,) = s / a at t0."""
    grid = level_values(jnp.arange(NUM_LEVELS), data_range)
    inverse = batch_broadcast(1.0 / sigma, z_scaled)[..., None]
    logits = -0.5 * jnp.square((z_scaled[..., None] - grid) * inverse)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_probs, jnp.asarray(levels, jnp.int32)[..., None], axis=-1)[..., 0]
    return _sum_event(picked)


def reconstruction_nll(rng: Array, process: SDE, x: Array, t0: float, data_range: tuple[float, float] | None) -> Array:
    """-log p(x | z_t0) in nats (B,) for one draw z_t0 ~ q(z_t0 | x): VDM's decoder over the 8-bit
    levels of x (x on the pixel grid of `data_range`), or with data_range None (continuous data) the
    Gaussian decoder N(x; z / a, sigma~^2 I), a density."""
    a, s = process.marginal_coefficients(jnp.full(x.shape[:1], t0))
    e = jax.random.normal(rng, x.shape)
    z_scaled = x + batch_broadcast(s / a, x) * e
    if data_range is None:
        dim = int(np.prod(x.shape[1:]))
        return 0.5 * _sum_event(e**2) + dim * (0.5 * np.log(2 * np.pi) + jnp.log(s / a))
    return -decoder_log_prob(levels_of(x, data_range), z_scaled, s / a, data_range)


def to_bits_per_dim(nats: Array, dim: int) -> Array:
    return nats / (dim * np.log(2.0))


def variational_bound(
    rng: Array,
    process: SDE,
    denoiser,
    x: Array,
    *,
    t0: float,
    data_range: tuple[float, float] | None = None,
    time_sampling: str = "uniform",
) -> dict[str, Array]:
    """The bound on -log P(x) per dimension in bits, with its parts, each (B,).

    Args:
      denoiser: D(z, t) -> E[x | z_t = z], shaped like z.
      x: data (B, *event): model-range images on the pixel grid of `data_range` (8-bit levels,
        VDM's discrete decoder), or continuous data with data_range None (a Gaussian decoder; the
        bound is then on the density).
      t0: the time of the decoder (the bound's diffusion term runs over [t0, T]).
      time_sampling: "uniform" (VDM's: t ~ U[t0, T], whose variance a learned schedule minimises)
        or "log_snr" (lambda ~ U[lambda(T), lambda(t0)]: far lower variance on a fixed schedule);
        antithetic across the batch, the same expectation either way.
    Returns {"bpd", "prior", "diffusion", "reconstruction"}.
    """
    if time_sampling not in BOUND_TIME_SAMPLINGS:
        raise ValueError(f"time_sampling={time_sampling!r}: choose from {BOUND_TIME_SAMPLINGS}")
    t_rng, z_rng, recon_rng = jax.random.split(rng, 3)
    batch = x.shape[0]
    if time_sampling == "uniform":
        t, term = antithetic_times(t_rng, batch, t0, process.T), diffusion_loss
    else:
        lam_T, lam_0 = process.log_snr(jnp.array([process.T, t0]))
        t = process.inverse_log_snr(lam_T + (lam_0 - lam_T) * antithetic_times(t_rng, batch, 0.0, 1.0))
        term = diffusion_loss_log_snr
    a, s = process.marginal_coefficients(t)
    z = batch_broadcast(a, x) * x + batch_broadcast(s, x) * jax.random.normal(z_rng, x.shape)
    dim = int(np.prod(x.shape[1:]))
    parts = {
        "prior": prior_kl(process, x),
        "diffusion": term(process, denoiser(z, t), x, t, t0),
        "reconstruction": reconstruction_nll(recon_rng, process, x, t0, data_range),
    }
    parts = {name: to_bits_per_dim(value, dim) for name, value in parts.items()}
    return {"bpd": parts["prior"] + parts["diffusion"] + parts["reconstruction"], **parts}


def ode_bound(
    rng: Array,
    process: SDE,
    score_fn,
    x: Array,
    *,
    t0: float,
    data_range: tuple[float, float],
    **likelihood_kwargs,
) -> tuple[dict[str, Array], Array]:
    """-log2 P(x) per dimension bounded through the probability-flow ODE, dequantised by the
    forward process itself (variational dequantisation with q(z_t0 | x), as in VDM's decoder):

      -log P(x) <= E_q(z_t0 | x) [-log p_ode(z_t0) + log q(z_t0 | x) - log p(x | z_t0)],

    one draw of z_t0 per example, p_ode by `score_sde.likelihood.log_likelihood` from t0.
    For models of discrete data (VDM), whose density between pixel levels uniform dequantisation
    would probe. Returns ({"bpd", "ode", "reconstruction"} each (B,) in bits/dim, nfe).
    """
    z_rng, ode_rng = jax.random.split(rng)
    a, s = process.marginal_coefficients(jnp.full(x.shape[:1], t0))
    e = jax.random.normal(z_rng, x.shape)
    z = batch_broadcast(a, x) * x + batch_broadcast(s, x) * e
    logp, _, nfe = log_likelihood(ode_rng, process, score_fn, z, eps=t0, **likelihood_kwargs)
    dim = int(np.prod(x.shape[1:]))
    log_q = -0.5 * _sum_event(e**2) - dim * (jnp.log(s) + 0.5 * np.log(2 * np.pi))
    recon = -decoder_log_prob(levels_of(x, data_range), z / batch_broadcast(a, x), s / a, data_range)
    parts = {"ode": to_bits_per_dim(log_q - logp, dim), "reconstruction": to_bits_per_dim(recon, dim)}
    return {"bpd": parts["ode"] + parts["reconstruction"], **parts}, nfe


SHAPE_PARAMETERS = ("linear", "l2_kernel", "l2_bias", "l3_kernel")


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: its process holds arrays
class BoundObjective:
    """VDM's training objective for a network on a `LearnedVPPath`: the variational bound in
    bits/dim, averaged over the batch, of parameters {"network": ..., "schedule": ...}.

    Its `value_and_grad` gives the network and the schedule's endpoints the bound's gradient,
    and the schedule's shape (which the bound's expectation does not depend on) the gradient of
    the mean squared diffusion term, i.e. of its variance (VDM's variance minimisation): with
    the schedule's parameters repeated per example, one backward pass yields every example's
    gradient g_i, and the shape gets sum_i 2 L_i g_i for diffusion terms L_i.

    Args:
      net_apply: net_apply(params, x_in, c_noise, dropout_rng or None, labels or None).
      data_range: the model range of 8-bit images (VDM's discrete decoder), or None for
        continuous data (a Gaussian decoder).
    """

    process: LearnedVPPath
    parameterization: Parameterization
    net_apply: object
    data_range: tuple[float, float] | None
    t0: float
    train: bool = True

    def _per_example(self, network_params, schedule_params, rng, x, labels, per_example=False):
        net_rng, bound_rng = jax.random.split(rng)
        process = LearnedVPPath(schedule_params, self.process.N, self.process.eps, per_example)
        dropout_rng = net_rng if self.train else None

        def denoiser(z, t):
            x_in, c_noise = self.parameterization.network_inputs(process, z, t)
            output = self.net_apply(network_params, x_in, c_noise, dropout_rng, labels)
            return self.parameterization.denoise(process, z, t, output)

        return variational_bound(bound_rng, process, denoiser, x, data_range=self.data_range, t0=self.t0)

    def __call__(self, params, rng, x, labels=None) -> Array:
        parts = self._per_example(params["network"], params["schedule"], rng, x, labels)
        return jnp.mean(parts["bpd"])

    def value_and_grad(self, params, rng, x, labels=None):
        batch = x.shape[0]
        repeated = jax.tree.map(lambda p: jnp.broadcast_to(p, (batch, *p.shape)), params["schedule"])

        def mean_bound(network_params, schedule_params):
            parts = self._per_example(network_params, schedule_params, rng, x, labels, per_example=True)
            return jnp.mean(parts["bpd"]), parts["diffusion"]

        (loss, diffusion), (network_grads, per_example) = jax.value_and_grad(mean_bound, argnums=(0, 1), has_aux=True)(
            params["network"], repeated
        )
        diffusion = jax.lax.stop_gradient(diffusion)
        schedule_grads = {
            name: jnp.tensordot(2.0 * diffusion, g, axes=1) if name in SHAPE_PARAMETERS else jnp.sum(g, axis=0)
            for name, g in per_example.items()
        }
        return loss, {"network": network_grads, "schedule": schedule_grads}
