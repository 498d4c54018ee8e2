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
# # Three recipes on the 2-D toy: score SDE (VP), EDM, flow matching
#
# A recipe is a **process** (the Gaussian path `x_t = a(t) x_0 + s(t) z`), a **parameterisation** (what
# the network outputs, and how that becomes the denoiser `D` and the score) and the loss's **weighting
# and time sampling**. Everything else is shared: the same network, optimizer, data and steps for each,
# and the same samplers and likelihood, which see only `(process, score)`. The runner's recipes
# (`configs/edm/`, `configs/flow/`) are these same choices on images; on the toy,
# `--config.training.sde=edm` or `=linear_flow` with `configs/toy2d.py`.
#
# Executed at every `make docs` with 800 steps per recipe (about 1.5 minutes on 2 CPU cores); set
# `SCORE_SDE_EXAMPLE_SCALE=5` for longer training.

# %%
import os
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from score_sde import (
    VPSDE,
    EDMPath,
    EDMPreconditioning,
    FlowVelocity,
    LinearFlow,
    LossSettings,
    NetworkScore,
    ReferenceNoise,
    get_loss_fn,
    log_likelihood,
    sample_dpm_solver,
    sample_heun,
    sample_ode,
)
from score_sde.config import base_config
from score_sde.datasets import eight_gaussians
from score_sde.evaluation.mmd import mmd_squared
from score_sde.models import MLPScoreNet, NetApply
from score_sde.train_step import create_train_state, make_optimizer, make_train_step

SCALE = float(os.environ.get("SCORE_SDE_EXAMPLE_SCALE", "1"))
STEPS, STEPS_PER_CALL, BATCH = int(800 * SCALE), 100, 512

# %% [markdown]
# ## The recipes
#
# - **score SDE, VP** (Song et al. 2021): `VPSDE`, `a = exp(-t^2 (b1 - b0)/4 - t b0/2)`,
#   `s = sqrt(1 - a^2)`; the network predicts the noise `z` (`ReferenceNoise`); weighting SNR (the
#   eps-MSE); times uniform on `[1e-5, 1]`.
# - **EDM** (Karras et al. 2022): `EDMPath`, `a = 1`, `s = t = sigma`; EDM's preconditioned `F`
#   (`EDMPreconditioning`); weighting `(sigma^2 + sd^2) / (sigma sd)^2`; `ln sigma ~ N(-1.2, 1.2^2)`.
# - **flow matching** (Lipman et al., Liu et al. 2023): `LinearFlow`, `a = 1 - t`, `s = t`; the
#   network predicts the velocity `z - x_0` (`FlowVelocity`); the velocity MSE; times uniform.
#
# The runner's `auto` weighting and time sampling pick each parameterisation's defaults; the
# library's `LossSettings` takes them explicitly, as written out here.

# %%
data_std = float(jnp.std(eight_gaussians(jax.random.PRNGKey(0), 10000)))
recipes = {
    "VP (score SDE)": (VPSDE(), ReferenceNoise(), LossSettings(weighting="eps")),
    "EDM": (
        EDMPath(),
        EDMPreconditioning(sigma_data=data_std),
        LossSettings(weighting="edm", time_sampling="log_normal", sigma_data=data_std),
    ),
    "flow matching": (LinearFlow(), FlowVelocity(), LossSettings(weighting="velocity")),
}
print(f"sigma_data = {data_std:.2f} (the data's std, EDM's preconditioning constant)")

# %% [markdown]
# ## Training
#
# One function trains any recipe: only the process, the parameterisation and the loss settings differ.

# %%
model = MLPScoreNet(hidden_dims=(128, 128, 128), embedding_dim=32, embedding_type="positional")
net_apply = NetApply(model)
optim = base_config().optim
optim.lr, optim.warmup = 2e-3, 100
optimizer = make_optimizer(optim)


def train(process, parameterization, settings):
    loss_fn = get_loss_fn(process, parameterization, net_apply, settings)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)), jnp.ones((1,)))["params"]
    state = create_train_state(params, optimizer, jax.random.PRNGKey(1))
    step = make_train_step(loss_fn, optimizer, ema_rate=0.995)
    losses = []
    for k in range(STEPS // STEPS_PER_CALL):
        batches = eight_gaussians(jax.random.fold_in(jax.random.PRNGKey(2), k), STEPS_PER_CALL * BATCH)
        state, metrics = step(state, batches.reshape(STEPS_PER_CALL, BATCH, 2))
        losses.extend(np.asarray(metrics["loss"]).tolist())
    return NetworkScore(net_apply, state.ema_params, process, parameterization), losses


scores = {}
for name, (process, parameterization, settings) in recipes.items():
    start = time.perf_counter()
    scores[name], losses = train(process, parameterization, settings)
    print(f"{name:15s} {STEPS} steps in {time.perf_counter() - start:4.1f} s, final loss {np.mean(losses[-100:]):.3f}")

# %% [markdown]
# ## Samples, sample quality and likelihood
#
# For each model: the adaptive probability-flow ODE (`sample_ode`), EDM's Heun with 10 noise levels
# (19 NFE) and DPM-Solver++(2M) with 10 steps; MMD² of 2,000 samples against the data (two exact sample
# sets score about 0, with a standard deviation of about 1e-4), and the test negative
# log-likelihood in nats from the probability-flow ODE (the data's entropy is about 0.33).

# %%
data = eight_gaussians(jax.random.PRNGKey(3), 2000)
test = eight_gaussians(jax.random.PRNGKey(4), 300)
samplers = {
    "ODE (adaptive)": lambda rng, process, score: sample_ode(rng, process, score, (2000, 2)),
    "Heun, 10 levels": lambda rng, process, score: sample_heun(rng, process, score, (2000, 2), num_steps=10),
    "DPM-Solver++, 10 steps": lambda rng, process, score: sample_dpm_solver(
        rng, process, score, (2000, 2), num_steps=10
    ),
}
fig, axes = plt.subplots(len(recipes), len(samplers), figsize=(9, 9), sharex=True, sharey=True)
print(f"{'recipe':15s} " + "  ".join(f"{s:>22s}" for s in samplers) + "   NLL (nats)")
for row, (name, score) in zip(axes, scores.items()):
    process = recipes[name][0]
    cells = []
    for ax, (sampler_name, sampler) in zip(row, samplers.items()):
        samples, nfe = sampler(jax.random.PRNGKey(5), process, score)
        mmd = float(mmd_squared(samples, data))
        cells.append(f"MMD² {mmd:.1e}, {int(nfe):3d} NFE")
        ax.scatter(*np.asarray(samples).T, s=1, alpha=0.4)
        ax.set(title=f"{name}\n{sampler_name}: {int(nfe)} NFE", aspect="equal", xlim=(-3, 3), ylim=(-3, 3))
        ax.title.set_fontsize(8)
    logp, _, _ = log_likelihood(jax.random.PRNGKey(6), process, score, test, trace="exact")
    print(f"{name:15s} " + "  ".join(f"{c:>22s}" for c in cells) + f"   {-float(jnp.mean(logp)):.3f}")
plt.tight_layout()
plt.show()

# %% [markdown]
# What to look for: all three reach the data with the adaptive ODE; with few evaluations the recipes
# differ, and how much depends on the path's curvature and on how well the denoiser is trained at the
# noise levels the sampler visits. The digits version of this comparison, with the runner, is on the
# [recipes page](../../recipes/).
