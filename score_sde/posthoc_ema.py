"""Post-hoc EMA (Karras et al. 2024, EDM2 section 3): power-function EMA profiles, tracked during
training, and any other profile reconstructed from their snapshots afterwards.

A power-function EMA of exponent gamma averages the parameters theta_1 .. theta_t of steps 1..t
with the profile p_t(tau) = (gamma + 1) tau^gamma / t^(gamma + 1) on [0, t]; its width relative to
t is sigma_rel = sqrt((gamma + 1) / ((gamma + 2)^2 (gamma + 3))). It is tracked by the EMA update
theta_ema <- theta_ema + c_t (theta_t - theta_ema) with c_t = 1 - (1 - 1 / t)^(gamma + 1)
(`power_ema_weight`), which gives step k exactly the weight of p_t over [k - 1, k].

Given snapshots of tracked profiles (their step and sigma_rel), the profile of any other sigma_rel
at any step is approximated by the combination of the snapshots whose profile is closest in
L2 (`posthoc_coefficients`: normal equations with the profiles' closed-form inner products), and
the parameters are the same combination of the snapshots' parameters (`combine`).

    weights = posthoc_coefficients(steps, sigma_rels, target_step, target_sigma_rel)
    params = combine(snapshot_params, weights)
"""

import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import Array


def sigma_rel_to_gamma(sigma_rel: float) -> float:
    """The exponent gamma of the profile of relative width `sigma_rel` in (0, 1 / sqrt(12)): the
    largest real root of gamma^3 + 7 gamma^2 + (16 - s^-2) gamma + (12 - s^-2), s = sigma_rel."""
    if not 0.0 < sigma_rel < 12**-0.5:
        raise ValueError(f"sigma_rel={sigma_rel!r} must lie in (0, 1 / sqrt(12) = {12**-0.5:.4f})")
    inverse = float(sigma_rel) ** -2
    roots = np.roots([1.0, 7.0, 16.0 - inverse, 12.0 - inverse])
    return float(roots[np.abs(roots.imag) < 1e-9].real.max())


def gamma_to_sigma_rel(gamma: float) -> float:
    """The relative width sqrt((gamma + 1) / ((gamma + 2)^2 (gamma + 3))) of exponent `gamma` > -1."""
    return float(np.sqrt((gamma + 1.0) / ((gamma + 2.0) ** 2 * (gamma + 3.0))))


def power_ema_weight(sigma_rel: float, step: Array) -> Array:
    """c_t = 1 - (1 - 1 / t)^(gamma + 1), the weight of the parameters of step t >= 1 in the EMA update
    (1 at t = 1: the average starts at theta_1), as -expm1((gamma + 1) log1p(-1 / t)): accurate in
    float32 at any step (1 - beta_t in float32 loses 2 % of the profile by 1.3M steps and freezes
    the average past 3e7)."""
    step = jnp.maximum(jnp.asarray(step, jnp.float32), 1.0)
    return -jnp.expm1((sigma_rel_to_gamma(sigma_rel) + 1.0) * jnp.log1p(-1.0 / step))


def profile_inner_products(steps_a, gammas_a, steps_b, gammas_b) -> np.ndarray:
    """<p_a, p_b> = int p_a(tau) p_b(tau) dtau of power-function profiles (broadcast over a and b):
    (g_a + 1)(g_b + 1) r^e / ((g_a + g_b + 1) max(t_a, t_b)) with r = t_a / t_b, e = g_b if
    t_a < t_b else -g_a."""
    t_a, g_a, t_b, g_b = (np.asarray(v, np.float64) for v in (steps_a, gammas_a, steps_b, gammas_b))
    exponent = np.where(t_a < t_b, g_b, -g_a)
    return (g_a + 1.0) * (g_b + 1.0) * (t_a / t_b) ** exponent / ((g_a + g_b + 1.0) * np.maximum(t_a, t_b))


def posthoc_coefficients(steps, sigma_rels, target_step: float, target_sigma_rel: float) -> np.ndarray:
    """Weights (n,) of n snapshots (their steps and tracked sigma_rel, each (n,)) whose combination
    of profiles is the L2-closest to the target profile, normalised to sum to 1 (float64)."""
    steps, sigma_rels = np.broadcast_arrays(np.asarray(steps, np.float64), np.asarray(sigma_rels, np.float64))
    if steps.ndim != 1 or not len(steps):
        raise ValueError(f"posthoc_coefficients needs a 1-D list of snapshots; got steps of shape {steps.shape}")
    if np.any(steps < 1):
        raise ValueError(f"snapshot steps must be >= 1; got {steps.min():g}")
    gammas = np.array([sigma_rel_to_gamma(s) for s in sigma_rels])
    target_gamma = sigma_rel_to_gamma(target_sigma_rel)
    gram = profile_inner_products(steps[:, None], gammas[:, None], steps[None, :], gammas[None, :])
    projections = profile_inner_products(steps, gammas, float(target_step), target_gamma)
    weights = np.linalg.lstsq(gram, projections, rcond=None)[0]
    return weights / weights.sum()


def combine(snapshots: list, weights) -> object:
    """sum_i weights[i] snapshots[i] of parameter pytrees of one structure (float32 leaves)."""
    if len(snapshots) != len(weights):
        raise ValueError(f"{len(snapshots)} snapshots but {len(weights)} weights")
    weights = [float(w) for w in weights]
    return jax.tree.map(lambda *leaves: sum(w * leaf for w, leaf in zip(weights, leaves)), *snapshots)
