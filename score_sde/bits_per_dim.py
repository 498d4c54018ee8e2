"""Bits/dim of 8-bit images under a score model, as config.eval describes it: by the
probability-flow ODE (dequantised uniformly, the reference's, or by the forward process), by
the variational bound, or by LSGM's bound for a latent model.

Each function returns bpd(params, rng, images) -> ({"bpd": (B,), parts (B,)...}, nfe) for
images (B, H, W, C) given as uint8 pixels or floats in [0, 1]; `process_of(params)` and
`score_of(params, flow)` give the model of its parameters. `settings` holds config.eval's
bpd_num_repeats, bpd_batch_repeats, likelihood_trace, likelihood_rtol, likelihood_atol and
dequantization.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from score_sde.latent_bound import latent_bits_per_dim, latent_bound
from score_sde.likelihood import TRACES, bits_per_dim, log_likelihood
from score_sde.settings import NON_NEGATIVE, POSITIVE, Setting, choice
from score_sde.variational_bound import level_values, ode_bound, variational_bound


def pixel_levels(images: jax.Array) -> jax.Array:
    """Images as pixel levels in [0, 255]: uint8 as they are, float images in [0, 1] (the
    reference's float-resized CelebA and LSUN) times 255, not rounded, as the reference."""
    return images if images.dtype == jnp.uint8 else images.astype(jnp.float32) * 255.0


def _solve_settings(settings: dict) -> dict:
    return dict(trace=settings["likelihood_trace"], rtol=settings["likelihood_rtol"], atol=settings["likelihood_atol"])


def _mean_over_repeats(parts):
    return jax.tree.map(lambda v: jnp.mean(v, axis=0), parts)


def ode_bits_per_dim(
    process_of: Callable, score_of: Callable, settings: dict, data_range: tuple[float, float], t0: float
) -> Callable:
    """Bits/dim by the probability-flow ODE, dequantised uniformly (`bits_per_dim`) or by the forward
    process to t0 (`ode_bound`, with its parts), averaged over bpd_num_repeats draws."""
    solve = _solve_settings(settings)

    def bpd(params, rng, images):
        process, score = process_of(params), score_of(params, True)
        if settings["dequantization"] == "forward":
            x = level_values(pixel_levels(images), data_range)
            draw = lambda k: ode_bound(k, process, score, x, t0=t0, data_range=data_range, **solve)
            parts, nfes = jax.lax.map(draw, jax.random.split(rng, settings["bpd_num_repeats"]))
            return _mean_over_repeats(parts), jnp.sum(nfes)
        values, _, nfe = bits_per_dim(
            rng,
            process,
            score,
            pixel_levels(images),
            data_range=data_range,
            num_repeats=settings["bpd_num_repeats"],
            batch_repeats=bool(settings["bpd_batch_repeats"]),
            **solve,
        )
        return {"bpd": values}, nfe

    return bpd


def bound_bits_per_dim(
    process_of: Callable, score_of: Callable, settings: dict, data_range: tuple[float, float], t0: float
) -> Callable:
    """The variational bound and its parts, averaged over bpd_num_repeats draws of (t, z), times
    uniform in log-SNR; its decoder sits at t0. Needs uint8 images. nfe 0 (no solve)."""
    repeats = int(settings["bpd_num_repeats"])

    def bound(params, rng, images):
        if images.dtype != jnp.uint8:
            raise ValueError("the variational bound (config.eval.likelihood='elbo') needs 8-bit images")
        process, score = process_of(params), score_of(params, False)
        x = level_values(images, data_range)
        draw = lambda k: variational_bound(
            k, process, score.denoise, x, data_range=data_range, t0=t0, time_sampling="log_snr"
        )
        return _mean_over_repeats(jax.lax.map(draw, jax.random.split(rng, repeats))), jnp.zeros((), jnp.int32)

    return bound


def lsgm_bits_per_dim(
    process_of: Callable, score_of: Callable, latent, settings: dict, data_range: tuple[float, float]
) -> Callable:
    """LSGM's bound of a latent model (`latent` a `LatentSpace`) with its parts: each of bpd_num_repeats
    draws dequantises the pixels uniformly (the reference's) and takes one posterior draw z ~ q(z | x);
    the latent's NLL comes from the probability-flow ODE."""
    if settings["dequantization"] != "uniform":
        raise ValueError(
            f"config.eval.dequantization={settings['dequantization']!r}: the bound of a latent model "
            "dequantises uniformly ('uniform')"
        )
    repeats, solve, (lo, hi) = int(settings["bpd_num_repeats"]), _solve_settings(settings), data_range

    def bound(params, rng, images):
        process, score = process_of(params), score_of(params, True)
        pixels = pixel_levels(images).astype(jnp.float32)
        dim = int(np.prod(pixels.shape[1:]))

        def encode(x):
            posterior = latent.posterior(x)
            return posterior.mean, posterior.log_variance

        def latent_logp(key, u):
            logp, _, nfe = log_likelihood(key, process, score, u, **solve)
            return logp, nfe

        def one(key):
            dequantize_key, bound_key = jax.random.split(key)
            x = lo + (hi - lo) * (pixels + jax.random.uniform(dequantize_key, pixels.shape)) / 256.0
            parts = latent_bound(bound_key, encode, latent.decoder_nll, latent_logp, x, scale=latent.scale)
            nfe = parts.pop("nfe")
            return latent_bits_per_dim(parts, dim, data_range), nfe

        parts, nfes = jax.lax.map(one, jax.random.split(rng, repeats))
        return _mean_over_repeats(parts), jnp.sum(nfes)

    return bound


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "eval.likelihood": Setting(
        "ode",
        ("bits/dim from: ode (the probability-flow ODE, exact for the model) or elbo (the variational bound, as VDM)"),
        choice("ode", "elbo"),
    ),
    "eval.dequantization": Setting(
        "uniform",
        (
            "ode bits/dim: dequantise 8-bit pixels by uniform noise (the reference)"
            " or by the forward process at training.eps with VDM's decoder "
            "(forward: a bound for models of discrete, undequantised data)"
        ),
        choice("uniform", "forward"),
    ),
    "eval.bpd_num_repeats": Setting(
        0, ("dequantisation repeats per image for bits/dim (0: the reference's 5 test, 1 train)"), NON_NEGATIVE
    ),
    "eval.bpd_batch_repeats": Setting(
        False, ("ode bits/dim: solve the repeats as one larger batch (fewer sequential steps)")
    ),
    "eval.likelihood_trace": Setting(
        "hutchinson", "divergence of the likelihood ODE: hutchinson or exact", choice(*TRACES)
    ),
    "eval.likelihood_rtol": Setting(1e-05, "likelihood ODE: relative tolerance", POSITIVE),
    "eval.likelihood_atol": Setting(1e-05, "likelihood ODE: absolute tolerance", POSITIVE),
}
