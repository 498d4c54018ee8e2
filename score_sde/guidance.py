"""Steering generation: classifier guidance and classifier-free guidance as score functions.

Both are score functions, so they work with every sampler; both are pytrees (equinox
modules), so the labels and any network parameters inside them are traced, not compiled in.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from score_sde._types import Array, ScoreFn
from score_sde.settings import UNIT, Setting, number


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


class ClassifierFreeGuidedScore(eqx.Module):
    """(1 + w) score(x, t, y) - w score(x, t, null); see `classifier_free_guided_score`."""

    conditional_score_fn: Callable[[Array, Array, Array], Array]
    labels: Array
    null_label: int = eqx.field(static=True)
    w: float = eqx.field(static=True)

    def __call__(self, x: Array, t: Array) -> Array:
        conditional = self.conditional_score_fn(x, t, self.labels)
        if self.w == 0:
            return conditional
        unconditional = self.conditional_score_fn(x, t, jnp.full_like(self.labels, self.null_label))
        return (1.0 + self.w) * conditional - self.w * unconditional


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
) -> ClassifierFreeGuidedScore:
    """(1 + w) score(x, t, y) - w score(x, t, null) (Ho & Salimans 2022), equivalently on noise
    predictions; w = 0 is plain conditional sampling.

    Args:
      conditional_score_fn: (x, t, labels (B,)) -> score, trained with label dropout to `null_label`;
        a pytree (e.g. `ConditionalNetworkScore`) keeps its parameters traced.
      labels: requested classes (B,).
    """
    return ClassifierFreeGuidedScore(conditional_score_fn, jnp.asarray(labels), int(null_label), float(w))


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "training.label_dropout": Setting(
        0.1, ("class-conditional models: probability of the null label (classifier-free guidance)"), UNIT
    ),
    "sampling.guidance_scale": Setting(0.0, "class-conditional models: classifier-free guidance weight w"),
    "sampling.class_label": Setting(
        -1, ("class-conditional models: the class to draw (-1: 0, 1, ... in turn along the batch)"), number(-1)
    ),
}
