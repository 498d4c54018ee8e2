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
# # The 2-D toy end to end, with the library alone
#
# A score model of eight Gaussians trained, sampled and scored with `score_sde`'s functions, no
# runner and no config file: the process (`VPSDE`), the parameterisation (`ReferenceNoise`, the
# reference's noise prediction), the loss (`get_loss_fn`), the jitted train step
# (`score_sde.train_step`), a sampler (`sample_sde`, `sample_ode`) and the likelihood
# (`log_likelihood`). The runner does the same with `configs/toy2d.py`
# (`make run CONFIG=configs/toy2d.py WORKDIR=runs/toy2d`).
#
# This page is executed at every `make docs` on 2 CPU cores (about a minute). Set
# `SCORE_SDE_EXAMPLE_SCALE=5` for a five times longer training and a better fit.

# %%
import os
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from score_sde import (
    VPSDE,
    GaussianMixture,
    LossSettings,
    NetworkScore,
    ReferenceNoise,
    get_loss_fn,
    log_likelihood,
    sample_ode,
    sample_sde,
)
from score_sde.config import base_config
from score_sde.datasets import eight_gaussians
from score_sde.evaluation.mmd import mmd_squared
from score_sde.models import MLPScoreNet, NetApply
from score_sde.train_step import create_train_state, make_optimizer, make_train_step

SCALE = float(os.environ.get("SCORE_SDE_EXAMPLE_SCALE", "1"))
STEPS = int(1500 * SCALE)  # optimizer steps
STEPS_PER_CALL = 100  # steps per dispatch: one lax.scan inside jit

# %% [markdown]
# ## The data and its exact law
#
# `eight_gaussians(rng, n)` draws from eight Gaussians of std 0.1 on a circle of radius 2. The same
# law as a `GaussianMixture` gives its exact density, so the model's negative log-likelihood can be
# compared with the data's entropy (its lowest possible value).

# %%
process = VPSDE()  # beta_min 0.1, beta_max 20: x_t = a(t) x_0 + s(t) z
angles = 2 * np.pi * np.arange(8) / 8
truth = GaussianMixture(
    process,
    weights=np.ones(8),
    means=2.0 * np.stack([np.cos(angles), np.sin(angles)], -1),
    covariances=np.tile(0.01 * np.eye(2), (8, 1, 1)),
)
test = eight_gaussians(jax.random.PRNGKey(1), 2000)
entropy = -float(jnp.mean(truth.log_prob(test, jnp.zeros(len(test)))))
print(f"entropy of the data (Monte-Carlo over 2000 points): {entropy:.3f} nats")

# %% [markdown]
# ## Network, loss and train step
#
# The network maps `(x, c_noise)` to an output shaped like `x`; the parameterisation says what it is
# fed and what its output means: for `ReferenceNoise` the network predicts the noise `z` and the score
# is `-F / s(t)`. `get_loss_fn` returns `loss_fn(params, rng, batch)`, the denoising loss
# `E_t w(t) |D(x_t, t) - x_0|^2` with the eps-weighting (the reference's DSM). `make_train_step` jits
# Adam, the EMA and `STEPS_PER_CALL` steps per call in one `lax.scan`.

# %%
model = MLPScoreNet(hidden_dims=(128, 128, 128), embedding_dim=32, embedding_type="positional")
net_apply = NetApply(model)
parameterization = ReferenceNoise()
loss_fn = get_loss_fn(process, parameterization, net_apply, LossSettings(reduce_mean=True))

optim = base_config().optim  # Adam with warm-up and clipping, the schema's defaults ...
optim.lr, optim.warmup = 2e-3, 100  # ... with a larger learning rate for this small problem
optimizer = make_optimizer(optim)
params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)), jnp.ones((1,)))["params"]
state = create_train_state(params, optimizer, jax.random.PRNGKey(2))
train = make_train_step(loss_fn, optimizer, ema_rate=0.995)
print(f"{sum(p.size for p in jax.tree.leaves(params)):,} parameters")

# %%
losses, start = [], time.perf_counter()
for k in range(STEPS // STEPS_PER_CALL):
    # the batch of call k is a pure function of k: fold_in(key, k)
    batches = eight_gaussians(jax.random.fold_in(jax.random.PRNGKey(3), k), STEPS_PER_CALL * 512)
    state, metrics = train(state, batches.reshape(STEPS_PER_CALL, 512, 2))
    losses.extend(np.asarray(metrics["loss"]).tolist())
print(
    f"{int(state.step)} steps in {time.perf_counter() - start:.1f} s, last 100 steps' loss {np.mean(losses[-100:]):.3f}"
)

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(np.convolve(losses, np.ones(50) / 50, mode="valid"))
ax.set(xlabel="step", ylabel="loss (50-step mean)", yscale="log")
plt.show()

# %% [markdown]
# ## Sampling
#
# `NetworkScore(apply_fn, params, process, parameterization)` is the trained network as a score
# function `score(x, t)` (a pytree: its parameters are traced, not compiled in). Every sampler takes
# any score function and returns `(samples, nfe)`. Here the reverse SDE with 500 Euler-Maruyama steps
# and the probability-flow ODE with an adaptive Tsit5 solve, from the EMA parameters.

# %%
score = NetworkScore(net_apply, state.ema_params, process, parameterization)
data = eight_gaussians(jax.random.PRNGKey(4), 2000)
sde_samples, sde_nfe = sample_sde(jax.random.PRNGKey(5), process, score, (2000, 2), num_steps=500)
ode_samples, ode_nfe = sample_ode(jax.random.PRNGKey(5), process, score, (2000, 2))
reference_mmd = float(mmd_squared(data, eight_gaussians(jax.random.PRNGKey(6), 2000)))
for name, samples, nfe in [("reverse SDE", sde_samples, sde_nfe), ("ODE", ode_samples, ode_nfe)]:
    print(f"{name:12s} NFE {int(nfe):4d}  MMD^2 to the data {float(mmd_squared(samples, data)):.2e}")
print(f"two exact sample sets: MMD^2 {reference_mmd:.2e}")

fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), sharex=True, sharey=True)
for ax, (title, points) in zip(
    axes, [("data", data), ("reverse SDE", sde_samples), ("probability-flow ODE", ode_samples)]
):
    ax.scatter(*np.asarray(points).T, s=1, alpha=0.5)
    ax.set(title=title, aspect="equal", xlim=(-3, 3), ylim=(-3, 3))
plt.show()

# %% [markdown]
# ## Likelihood
#
# `log_likelihood` solves the probability-flow ODE with the divergence of its drift (exact in 2-D:
# one Jacobian-vector product per dimension) and returns `log p(x)` in nats at `eps`. Its mean over
# test points is the model's negative log-likelihood; the data's entropy above is the floor.

# %%
logp, _, nfe = log_likelihood(jax.random.PRNGKey(7), process, score, test[:300], trace="exact")
print(f"test NLL {-float(jnp.mean(logp)):.3f} nats (data entropy {entropy:.3f}), {int(nfe)} NFE")
