# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Steering generation: guidance and inpainting
#
# Guidance and inpainting act on a score function, so they work with any sampler and any score: a
# trained network, or, as here, the exact score of a Gaussian mixture (`GaussianMixture`), whose
# conditional laws are known in closed form, so every result can be checked. The runner does the same
# on images: `--mode sample --config.sampling.task=inpaint` and `sampling.guidance_scale` (see
# [the runner](../../runner/#steering-generation-from-the-runner)). About 30 s on 2 CPU cores.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from score_sde import (
    VPSDE,
    GaussianMixture,
    classifier_free_guided_score,
    classifier_guided_score,
    sample_inpaint,
    sample_ode,
)

process = VPSDE()
angles = 2 * np.pi * np.arange(8) / 8
mixture = GaussianMixture(  # eight overlapping classes on a circle: std 0.6, centres 1.5 apart
    process,
    weights=np.ones(8),
    means=2.0 * np.stack([np.cos(angles), np.sin(angles)], -1),
    covariances=np.tile(0.36 * np.eye(2), (8, 1, 1)),
)

# %% [markdown]
# ## Classifier guidance
#
# `classifier_guided_score(score, classifier_log_probs, labels, scale)` adds
# `scale * grad_x log p_t(y | x)`. With the mixture's exact noise-conditional classifier
# (`log_responsibilities`: the class is the component) and scale 1 it is exactly the score of the
# class-conditional law `p_t(x | y)`, the score of component `y` alone:

# %%
x = mixture.sample(jax.random.PRNGKey(0), 256, t=0.5)[0]
t = jnp.full((256,), 0.5)
labels = jnp.zeros((256,), jnp.int32)
guided = classifier_guided_score(mixture.score, mixture.log_responsibilities, labels, scale=1.0)
difference = jnp.max(jnp.abs(guided(x, t) - mixture.component(0).score(x, t)))
print(f"largest difference from the class-0 score: {float(difference):.1e}")

# %% [markdown]
# ## Classifier-free guidance
#
# `classifier_free_guided_score(conditional_score, labels, null_label, w)` is
# `(1 + w) s(x, t, y) - w s(x, t, null)`: one network trained with label dropout to a null label
# (`training.label_dropout`) gives both terms. Here the conditional score of the mixture: the
# component's score for a class, the whole mixture's for the null label 8. With `w = 0` the samples
# follow class 0's law; larger `w` samples `p(x | y) p(y | x)^w`, pushed away from the other classes
# (the sharper, less diverse samples guidance is known for).

# %%
NULL = 8


def conditional_score(x, t, labels):
    scores = jnp.stack([mixture.component(k).score(x, t) for k in range(8)] + [mixture.score(x, t)])  # (9, B, 2)
    return jnp.take_along_axis(scores, labels[None, :, None], axis=0)[0]


fig, axes = plt.subplots(1, 4, figsize=(12, 3.2), sharex=True, sharey=True)
everything = mixture.sample(jax.random.PRNGKey(1), 2000)[0]
axes[0].scatter(*np.asarray(everything).T, s=1, alpha=0.4, c="gray")
axes[0].set(title="the mixture (8 classes)", aspect="equal")
labels = jnp.zeros((2000,), jnp.int32)
for ax, w in zip(axes[1:], [0.0, 1.0, 4.0]):
    score = classifier_free_guided_score(conditional_score, labels, NULL, w)
    samples, nfe = sample_ode(jax.random.PRNGKey(2), process, score, (2000, 2))
    ax.scatter(*np.asarray(everything).T, s=1, alpha=0.1, c="gray")
    ax.scatter(*np.asarray(samples).T, s=1, alpha=0.5)
    ax.set(title=f"class 0, w = {w:g}", aspect="equal", xlim=(-4.5, 4.5), ylim=(-4.5, 4.5))
    mean, std = np.asarray(samples.mean(0)), np.asarray(samples.std(0))
    print(f"w = {w:g}: mean {mean.round(2)}, std {std.round(2)} (class 0 alone: [2, 0], [0.6, 0.6]), {int(nfe)} NFE")
plt.show()

# %% [markdown]
# ## Inpainting
#
# `sample_inpaint(rng, process, score, data, mask)` generates the coordinates where `mask` is 0 from
# those where it is 1 (the reference's predictor-corrector inpainting: after every update the known
# coordinates are replaced by the data diffused to the current time). Known: the first coordinate,
# `x_1 = 0`. `GaussianMixture.conditional(known, values)` is the exact law of the second coordinate
# given it (here mainly the two classes at the top and the bottom of the circle). With a Langevin
# corrector the method samples it; without one, the unknown part commits to a mode before the known
# part is informative, and the result is measurably off.

# %%
known = np.array([True, False])
values = jnp.zeros((2,))
data = jnp.zeros((4000, 2))
exact = mixture.conditional(known, values)
exact_samples = np.asarray(exact.sample(jax.random.PRNGKey(3), 4000)[0][:, 0])

fig, ax = plt.subplots(figsize=(6, 3))
bins = np.linspace(-4.5, 4.5, 61)
ax.hist(exact_samples, bins=bins, density=True, color="gray", alpha=0.5, label="exact conditional")
for corrector in ["langevin", "none"]:
    filled, nfe = sample_inpaint(
        jax.random.PRNGKey(4), process, mixture.score, data, known.astype(np.float32), corrector=corrector
    )
    unknown = np.asarray(filled[:, 1])
    assert np.all(np.asarray(filled[:, 0]) == 0.0)  # the known coordinate comes back exactly
    ax.hist(unknown, bins=bins, density=True, histtype="step", label=f"sample_inpaint, corrector={corrector}")
    print(
        f"corrector={corrector:8s}: mean {unknown.mean():+.3f} std {unknown.std():.3f} "
        f"(exact: {exact_samples.mean():+.3f}, {exact_samples.std():.3f}), {int(nfe)} NFE"
    )
ax.set(xlabel="x_2 given x_1 = 0", ylabel="density")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The same functions steer image models: `sample_inpaint` with an image mask (1 = known pixel),
# `sample_colorize` for gray inputs, and `interpolate` between two images through the
# probability-flow ODE's latents. For a class-conditional network, `ConditionalNetworkScore` plays
# the part of `conditional_score` above.
