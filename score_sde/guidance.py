"""Steering generation: classifier guidance and classifier-free guidance as score functions.

Both return a plain score_fn(x, t), so they work with every sampler.
"""

from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array
ScoreFn = Callable[[Array, Array], Array]


def classifier_guided_score(
    score_fn: ScoreFn,
    classifier_log_probs: Callable[[Array, Array], Array],
    labels: Array,
    scale: float = 1.0,
) -> ScoreFn:
    """score(x, t) + scale * grad_x log p_t(y | x) (Dhariwal & Nichol 2021; the reference's
    class-conditional sampling is scale = 1).

    Args:
      classifier_log_probs: a noise-conditional classifier, (x (B, ...), t (B,)) -> log-probabilities
        (B, num_classes).
      labels: requested classes (B,).
      scale: guidance scale; 1 targets p_t(x | y) exactly when the classifier is exact.
    """

    def guided(x, t):
        log_prob = lambda x: jnp.sum(jnp.take_along_axis(classifier_log_probs(x, t), labels[:, None], axis=1))
        return score_fn(x, t) + scale * jax.grad(log_prob)(x)

    return guided


def classifier_free_guided_score(
    conditional_score_fn: Callable[[Array, Array, Array], Array],
    labels: Array,
    null_label: int,
    w: float,
) -> ScoreFn:
    """(1 + w) score(x, t, y) - w score(x, t, null) (Ho & Salimans 2022), equivalently on noise
    predictions; w = 0 is plain conditional sampling.

    Args:
      conditional_score_fn: (x, t, labels (B,)) -> score, trained with label dropout to `null_label`.
      labels: requested classes (B,).
    """

    def guided(x, t):
        conditional = conditional_score_fn(x, t, labels)
        if w == 0:
            return conditional
        unconditional = conditional_score_fn(x, t, jnp.full_like(labels, null_label))
        return (1.0 + w) * conditional - w * unconditional

    return guided
