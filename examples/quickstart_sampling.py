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
# # Sampling and likelihood of a trained quickstart
#
# `make run` trains the quickstart (a DDPM++ on the built-in 16x16 digits, VP SDE) into
# `runs/quickstart`. This page reads such a run back and samples it with the library's samplers at a
# few network evaluations, then asks the runner for its bits/dim.
#
# If `runs/quickstart` holds no checkpoint (a fresh clone, or CI), the page first trains a **tiny**
# version (half the channels, 100 steps) into a temporary workdir through the runner (the same code as
# `python -m experiments.main --config configs/quickstart.py`), so that it runs in about a minute on 2
# CPU cores: its samples are then blurry shapes, not digits. Run `make run` first for the real figures.
# `SCORE_SDE_QUICKSTART=<workdir>` points the page at another run of the quickstart config.

# %%
import json
import os
import tempfile
import time
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

from configs import quickstart
from score_sde import NetworkScore, sample_ddim, sample_dpm_solver, sample_heun
from score_sde.checkpoints import Checkpointer
from score_sde.models import NetApply
from score_sde.runner import MODES, build
from score_sde.runner.restore import load_params

workdir = Path(os.environ.get("SCORE_SDE_QUICKSTART", "runs/quickstart"))
config = quickstart.get_config()
if workdir.is_dir() and Checkpointer(workdir).all_steps():
    print(f"reading the trained run in {workdir}")
else:
    workdir = Path(tempfile.mkdtemp()) / "quickstart"
    config.model.nf = 8  # half the quickstart's channels, two resolutions instead of three
    config.model.ch_mult = (1, 2)
    config.training.n_iters = 100
    config.training.n_jitted_steps = 1  # one step per dispatch: compiles in a fraction of the time
    for field in ("snapshot_freq", "snapshot_freq_for_preemption"):
        config.training[field] = 100
    config.training.eval_freq = 1000  # no held-out loss: one program less to compile
    config.training.log_freq = 25
    config.training.snapshot_sampling = False
    config.training.final_eval = False
    config.eval.likelihood_rtol = config.eval.likelihood_atol = 1e-3  # a looser solve than the 1e-5 of the run
    print(f"no checkpoint in runs/quickstart: training a tiny quickstart (100 steps) into {workdir}")
    start = time.perf_counter()
    MODES["train"](config, workdir, progress=False)
    print(f"trained in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# ## What a run leaves
#
# A workdir holds the resolved `config.json`, `checkpoints/<step>/` (kept snapshots),
# `checkpoints-meta/<step>/` (preemption checkpoints), `metrics.jsonl` (the loss every
# `training.log_freq` steps, the held-out loss every `training.eval_freq`, and with
# `training.final_eval` one record with the samples' FD-digits and the test bits/dim) and
# `samples/step_<k>/`. The [runner page](../../runner/) describes every file.

# %%
print(sorted(p.name for p in workdir.iterdir()))
records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
for record in records[-3:]:
    print(record)

# %% [markdown]
# ## The network as a score function
#
# `build(config)` makes everything the config names (process, parameterisation, network, sampler) and
# checks every setting; `load_params` restores the EMA parameters of a checkpoint (-1: the newest).
# `NetworkScore` turns them into `score(x, t)` with `denoise(x, t)`, which every sampler takes.

# %%
setup = build(config, with_data=False)
params, step, label = load_params(setup, workdir, -1)
score = NetworkScore(NetApply(setup.model), params, setup.sde, setup.parameterization)
print(f"{label}: process {type(setup.sde).__name__}, parameterisation {setup.parameterization.name}")

# %% [markdown]
# ## Few-step samplers
#
# The quickstart's own sampler is the reference's PC sampler with 500 Euler-Maruyama steps. The
# deterministic samplers reach the probability-flow ODE's quality in far fewer evaluations: here
# DDIM, EDM's Heun and DPM-Solver++(2M) at about 10 network evaluations, from the same noise.
# The model works in [-1, 1] (`data.centered=True`).

# %%
rng = jax.random.PRNGKey(0)
shape = (16, *setup.event_shape)
rows = {}
for name, sampler, num_steps in [
    ("DDIM", sample_ddim, 10),
    ("EDM Heun", sample_heun, 6),  # 2 num_steps - 1 evaluations, and the final denoising step
    ("DPM-Solver++(2M)", sample_dpm_solver, 10),
]:
    samples, nfe = sampler(rng, setup.sde, score, shape, num_steps=num_steps)
    rows[f"{name}, {int(nfe)} NFE"] = np.asarray(samples)

fig, axes = plt.subplots(len(rows), 1, figsize=(8, 0.75 * len(rows)))
for ax, (title, samples) in zip(axes, rows.items()):
    strip = np.concatenate(list(np.clip((samples[..., 0] + 1) / 2, 0, 1)), axis=1)
    ax.imshow(strip, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=8, loc="left")
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Likelihood through the runner
#
# `--mode likelihood` (here `MODES["likelihood"]`, what the command line calls) computes bits/dim of
# the test digits with the probability-flow ODE: uniform dequantisation, the change of variables
# from the model's range, and the Hutchinson trace. Its record lands in
# `likelihood/step_<k>.json`; here on the first 10 test digits. The trained quickstart scores about
# 1.95 bits/dim on 100 (a uniform model of 8-bit pixels: 8).

# %%
config.eval.num_bpd_examples = 10
config.eval.batch_size = 10
record = MODES["likelihood"](config, workdir, progress=False)
print(json.dumps(record, indent=1))
