"""Steering generation: classifier guidance, classifier-free guidance and autoguidance as score
functions, each optionally limited to an interval of noise levels.

All are score functions, so they work with every sampler; all are pytrees (equinox modules), so
the labels and any network parameters inside them are traced, not compiled in. A guidance
interval (Kynkaanniemi et al. 2024) applies the guidance only where the noise level
sigma~(t) = s(t) / a(t) lies in [sigma_min, sigma_max] and the unguided score elsewhere.
"""

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from score_sde._types import Array, ScoreFn
from score_sde.sde import SDE, batch_broadcast
from score_sde.settings import NON_NEGATIVE, POSITIVE, UNIT, Setting, number


class ClassifierGuidedScore(eqx.Module):
    """score(x, t) + scale * grad_x log p_t(y | x) (Dhariwal & Nichol 2021); see
    `classifier_guided_score`."""

    score_fn: ScoreFn
    classifier_log_probs: Callable[[Array, Array], Array]
    labels: Array
    scale: float = eqx.field(static=True, default=1.0)

    def __call__(self, x: Array, t: Array) -> Array:
        def log_prob(x):
            return jnp.sum(jnp.take_along_axis(self.classifier_log_probs(x, t), self.labels[:, None], axis=1))

        return self.score_fn(x, t) + self.scale * jax.grad(log_prob)(x)


class GuidanceInterval(eqx.Module):
    """The noise levels sigma~ = s(t) / a(t) in [sigma_min, sigma_max] of `process` where guidance applies."""

    process: SDE
    sigma_min: float = eqx.field(static=True, default=0.0)
    sigma_max: float = eqx.field(static=True, default=math.inf)

    def weight(self, w: float, t: Array, x: Array) -> Array:
        """w where t's noise level lies in the interval, else 0, shaped to broadcast against x."""
        sigma = jnp.exp(-0.5 * self.process.log_snr(t))
        inside = (sigma >= self.sigma_min) & (sigma <= self.sigma_max)
        return batch_broadcast(jnp.where(inside, w, 0.0), x)


def _guided(x: Array, t: Array, better: Array, worse: Array, w: float, interval: GuidanceInterval | None) -> Array:
    """(1 + w) better - w worse, with w zero outside the interval."""
    weight = w if interval is None else interval.weight(w, t, x)
    return better + weight * (better - worse)


class ClassifierFreeGuidedScore(eqx.Module):
    """(1 + w) score(x, t, y) - w score(x, t, null); see `classifier_free_guided_score`."""

    conditional_score_fn: Callable[[Array, Array, Array], Array]
    labels: Array
    null_label: int = eqx.field(static=True)
    w: float = eqx.field(static=True)
    interval: GuidanceInterval | None = None

    def __call__(self, x: Array, t: Array) -> Array:
        conditional = self.conditional_score_fn(x, t, self.labels)
        if self.w == 0:
            return conditional
        unconditional = self.conditional_score_fn(x, t, jnp.full_like(self.labels, self.null_label))
        return _guided(x, t, conditional, unconditional, self.w, self.interval)


class AutoguidedScore(eqx.Module):
    """(1 + w) score(x, t) - w weak_score(x, t); see `autoguided_score`."""

    score_fn: ScoreFn
    weak_score_fn: ScoreFn
    w: float = eqx.field(static=True)
    interval: GuidanceInterval | None = None

    def __call__(self, x: Array, t: Array) -> Array:
        score = self.score_fn(x, t)
        if self.w == 0:
            return score
        return _guided(x, t, score, self.weak_score_fn(x, t), self.w, self.interval)


def classifier_guided_score(
    score_fn: ScoreFn,
    classifier_log_probs: Callable[[Array, Array], Array],
    labels: Array,
    scale: float = 1.0,
) -> ClassifierGuidedScore:
    """score(x, t) + scale * grad_x log p_t(y | x) (the reference's class-conditional sampling is
    scale = 1).

    Args:
      classifier_log_probs: a noise-conditional classifier, (x (B, ...), t (B,)) -> log-probabilities
        (B, num_classes).
      labels: requested classes (B,).
      scale: guidance scale; 1 targets p_t(x | y) exactly when the classifier is exact.
    """
    return ClassifierGuidedScore(score_fn, classifier_log_probs, jnp.asarray(labels), float(scale))


def classifier_free_guided_score(
    conditional_score_fn: Callable[[Array, Array, Array], Array],
    labels: Array,
    null_label: int,
    w: float,
    interval: GuidanceInterval | None = None,
) -> ClassifierFreeGuidedScore:
    """(1 + w) score(x, t, y) - w score(x, t, null) (Ho & Salimans 2022), equivalently on noise
    predictions; w = 0 is plain conditional sampling.

    Args:
      conditional_score_fn: (x, t, labels (B,)) -> score, trained with label dropout to `null_label`;
        a pytree (e.g. `ConditionalNetworkScore`) keeps its parameters traced.
      labels: requested classes (B,).
      interval: guide only at these noise levels (None: everywhere).
    """
    return ClassifierFreeGuidedScore(conditional_score_fn, jnp.asarray(labels), int(null_label), float(w), interval)


def autoguided_score(
    score_fn: ScoreFn, weak_score_fn: ScoreFn, w: float, interval: GuidanceInterval | None = None
) -> AutoguidedScore:
    """Autoguidance (Karras et al. 2024): (1 + w) score - w weak_score, guiding a model by a weaker
    version of itself (a smaller network or an earlier checkpoint, same process and conditioning).
    Scores are affine in the denoiser at fixed t, so this is EDM2's D_weak + g (D - D_weak) with
    guidance g = 1 + w; w = 0 is the model alone.

    Args:
      score_fn, weak_score_fn: (x, t) -> score of the model and of its weak version.
      interval: guide only at these noise levels (None: everywhere).
    """
    return AutoguidedScore(score_fn, weak_score_fn, float(w), interval)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "training.label_dropout": Setting(
        0.1, ("class-conditional models: probability of the null label (classifier-free guidance)"), UNIT
    ),
    "sampling.guidance_scale": Setting(0.0, "class-conditional models: classifier-free guidance weight w"),
    "sampling.guidance_sigma_min": Setting(
        0.0,
        "guidance interval: guide (classifier-free or autoguidance) only at noise levels s / a >= this",
        NON_NEGATIVE,
        below="sampling.guidance_sigma_max",
    ),
    "sampling.guidance_sigma_max": Setting(
        math.inf, "guidance interval: guide only at noise levels s / a <= this (Kynkaanniemi et al. 2024)", POSITIVE
    ),
    "sampling.autoguidance": Setting(
        "",
        "autoguidance (Karras et al. 2024): the workdir of a weaker run of the same process and data (a smaller "
        "network or an earlier run) to guide by ('': none)",
    ),
    "sampling.autoguidance_ckpt": Setting(
        -1, "autoguidance: the weaker run's snapshot number (-1: its newest checkpoint)", number(-1)
    ),
    "sampling.autoguidance_scale": Setting(
        0.0, "autoguidance: the weight w of (1 + w) score - w weak score (EDM2's guidance g = 1 + w)", NON_NEGATIVE
    ),
    "sampling.class_label": Setting(
        -1, ("class-conditional models: the class to draw (-1: 0, 1, ... in turn along the batch)"), number(-1)
    ),
}
