"""LSGM's likelihood bound (Vahdat, Kreis & Kautz 2021) for a score model in an autoencoder's latent space.

With an encoder q(z | x) = N(m(x), diag v(x)), a decoder density p(x | z) and a score model of the
scaled latents u = c z whose probability-flow ODE gives log p_u (so log p(z) = log p_u(c z) +
d_z log c),
  -log p(x) <= E_{z ~ q(z | x)} [-log p(z) - log p(x | z)] - H[q(z | x)],
the latent NLL plus the decoder's NLL minus the encoder's entropy. The gap is KL(q(z | x) ||
p(z | x)), and the ODE's own looseness adds to it: an upper bound on the NLL, not the model's
exact likelihood.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import Array


def _sum_event(values: Array) -> Array:
    return jnp.sum(jnp.reshape(values, (values.shape[0], -1)), axis=-1)


def posterior_draws(rng: Array, mean: Array, log_variance: Array, num_samples: int) -> Array:
    """num_samples reparameterised draws (num_samples, B, ...) of N(mean, diag exp(log_variance)),
    the i-th from fold_in(rng, i): the latents `latent_bound` evaluates."""

    def draw(i):
        noise = jax.random.normal(jax.random.fold_in(rng, i), mean.shape, mean.dtype)
        return mean + jnp.exp(0.5 * log_variance) * noise

    return jax.vmap(draw)(jnp.arange(num_samples))


def latent_bound(
    rng: Array,
    encode: Callable[[Array], tuple[Array, Array]],
    decoder_nll: Callable[[Array, Array], Array],
    latent_logp: Callable[[Array, Array], tuple[Array, Array]],
    x: Array,
    *,
    scale: float,
    num_samples: int = 1,
) -> dict:
    """The bound's parts (B,) each in nats, averaged over `num_samples` posterior draws.

    Args:
      encode: x -> (mean, log_variance) of q(z | x), unscaled latents.
      decoder_nll: (x, z) -> -log p(x | z) (B,).
      latent_logp: (rng, u) -> (log p_u(u) (B,), nfe) of the score model at scaled latents u = c z.
      scale: c.

    The latents are `posterior_draws(split(rng)[0], ...)`. Returns {"latent_nll": -log p(z) =
    -log p_u(c z) - d log c, "decoder_nll", "encoder_entropy"
    (the closed form H[q]: the same expectation as E[-log q(z | x)] with no variance),
    "bound" = latent_nll + decoder_nll - encoder_entropy, "nfe" (the largest solve's)}.
    """
    mean, log_variance = encode(x)
    latent_dim = int(np.prod(mean.shape[1:]))
    entropy = 0.5 * _sum_event(jnp.log(2.0 * jnp.pi * jnp.e) + log_variance)
    draw_rng, ode_rng = jax.random.split(rng)
    draws = posterior_draws(draw_rng, mean, log_variance, num_samples)

    def one(inputs):
        i, z = inputs
        logp, nfe = latent_logp(jax.random.fold_in(ode_rng, i), scale * z)
        return -logp - latent_dim * np.log(scale), decoder_nll(x, z), nfe

    latent_nll, decoder, nfes = jax.lax.map(one, (jnp.arange(num_samples), draws))
    parts = {
        "latent_nll": jnp.mean(latent_nll, axis=0),
        "decoder_nll": jnp.mean(decoder, axis=0),
        "encoder_entropy": entropy,
    }
    parts["bound"] = parts["latent_nll"] + parts["decoder_nll"] - parts["encoder_entropy"]
    return {**parts, "nfe": jnp.max(nfes)}


def latent_bits_per_dim(parts: dict, pixels_dim: int, data_range: tuple[float, float] = (0.0, 1.0)) -> dict:
    """The bound's parts as bits/dim of 8-bit images of `pixels_dim` dimensions whose dequantised
    values lie in `data_range` (as `score_sde.likelihood.bits_per_dim`): "bpd" = bound / (D ln 2)
    - log2(hi - lo) + 8, and "latent_nll", "decoder_nll", "encoder_entropy" in bits/dim with the
    dequantisation offset on the decoder's part, so latent_nll + decoder_nll - encoder_entropy = bpd.
    An upper bound on the images' bits/dim (see the module docstring)."""
    lo, hi = (float(v) for v in data_range)
    to_bits = lambda nats: nats / (pixels_dim * np.log(2.0))
    offset = 8.0 - np.log2(hi - lo)
    return {
        "bpd": to_bits(parts["bound"]) + offset,
        "latent_nll": to_bits(parts["latent_nll"]),
        "decoder_nll": to_bits(parts["decoder_nll"]) + offset,
        "encoder_entropy": to_bits(parts["encoder_entropy"]),
    }
