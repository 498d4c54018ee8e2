"""Reading a finished run back: its config and the EMA parameters of one of its checkpoints (or
their post-hoc EMA), the latent space (`score_sde.latent_space.LatentSpace`) of a latent score
model, read from the autoencoder run named by config.data.latents_of, and the weaker model of
autoguidance (config.sampling.autoguidance).

Checkpoint numbers follow the reference: checkpoint k is the snapshot of step
k * config.training.snapshot_freq; -1 means the newest checkpoint of any kind.

The latent model is trained on u = c z with z ~ q(z | x) drawn from the encoder's posterior
inside the train step (no cache: every step sees fresh posterior draws of its images) and c the
scale factor. c is config.data.latent_scale, or when that is 0 latent diffusion's estimate
1 / std(z) over the encoded first `SCALE_EXAMPLES` training images (preprocessed as in training
without flips, posterior draws with a fixed key), computed once per autoencoder checkpoint and
stored in <autoencoder workdir>/latent_scale/step_<k>.json, so that every run on those latents
uses the same value.
"""

import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from score_sde.checkpoints import Checkpointer
from score_sde.config import on_schema
from score_sde.datasets import get_image_source
from score_sde.datasets.images import to_model_input
from score_sde.files import write_json_atomic
from score_sde.latent_space import LatentSpace
from score_sde.objectives import Objective, teachers
from score_sde.posthoc_ema import posthoc_coefficients

logger = logging.getLogger(__name__)


def checkpoint_step(checkpointer: Checkpointer, config, number: int, setting: str = "config.eval.ckpt") -> int:
    """The step of checkpoint `number` (-1: the newest) in `checkpointer`'s workdir; `setting` names
    the config field that gave the number, for the error message."""
    steps = checkpointer.all_steps()
    if not steps:
        raise FileNotFoundError(
            f"no checkpoints in {checkpointer.snapshots.directory.parent}: train first (--mode train)"
        )
    if number == -1:
        return steps[-1]
    step = number * int(config.training.snapshot_freq)
    if step not in steps:
        snapshots = [s // int(config.training.snapshot_freq) for s in checkpointer.snapshot_steps()]
        raise FileNotFoundError(
            f"{setting}={number}: no checkpoint of step {step}; snapshot numbers "
            f"available: {snapshots} (or -1 for the newest)"
        )
    return step


def load_params(setup, workdir: Path, number: int, setting: str = "config.eval.ckpt"):
    """(EMA parameters, step, label) of checkpoint `number` of `workdir` (-1: the newest), laid out
    like `setup.abstract_state()` (the setup of the run's config). With config.eval.posthoc_sigma_rel
    > 0, the post-hoc EMA of that width at the checkpoint's step instead (`posthoc_params`)."""
    checkpointer = Checkpointer(workdir)
    step = checkpoint_step(checkpointer, setup.config, number, setting)
    params, label = params_at(setup, checkpointer, step)
    checkpointer.close()
    return params, step, label


def params_at(setup, checkpointer: Checkpointer, step: int):
    """(parameters, label) of the checkpoint of `step`: its EMA, labelled "step_<k>", or with
    config.eval.posthoc_sigma_rel = s > 0 the post-hoc EMA of that width, "step_<k>_posthoc_<s>"
    (the label names the folders of a mode's outputs and pieces, so the two never share them)."""
    sigma_rel = setup.run.posthoc_sigma_rel
    if sigma_rel > 0:
        return posthoc_params(setup, checkpointer, step, sigma_rel), f"step_{step}_posthoc_{sigma_rel:g}"
    return checkpointer.restore(step, setup.abstract_state()).ema_params, f"step_{step}"


def posthoc_params(setup, checkpointer: Checkpointer, step: int, sigma_rel: float):
    """The post-hoc EMA of relative width `sigma_rel` at `step` (EDM2): the least-squares combination
    (`score_sde.posthoc_ema`) of the power-function EMAs of every kept snapshot before `step` and of
    the checkpoint of `step` itself (a preemption checkpoint past the last snapshot too), read one
    checkpoint at a time. Checkpoints hold the widths they track; other config ones are refused."""
    tracked = setup.run.loop.power_ema_sigma_rels
    if not tracked:
        raise ValueError(
            f"config.eval.posthoc_sigma_rel={sigma_rel:g} reconstructs from the run's power-function EMAs: set "
            "config.model.power_ema_sigma_rels to the widths it was trained with (a run tracks them when trained "
            "with it, EDM2: (0.05, 0.1))"
        )
    if step < 1:
        raise FileNotFoundError(f"the checkpoint of step {step} has no power-function EMAs to reconstruct from")
    steps = sorted({s for s in checkpointer.snapshot_steps() if 0 < s < step} | {step})
    weights = posthoc_coefficients(
        [s for s in steps for _ in tracked], [sigma for _ in steps for sigma in tracked], step, sigma_rel
    )
    logger.info("post-hoc EMA sigma_rel %g at step %d from %d snapshots of %s", sigma_rel, step, len(steps), tracked)
    total = None
    for i, snapshot in enumerate(steps):
        state = checkpointer.restore(snapshot, setup.abstract_state())
        for j, power_ema in enumerate(state.power_emas):
            weight = float(weights[i * len(tracked) + j])
            scaled = jax.tree.map(lambda leaf, w=weight: w * leaf, power_ema)
            total = scaled if total is None else jax.tree.map(jnp.add, total, scaled)
    return total


REFLOW_PAIRS_FOLDER = "reflow_pairs"  # what --mode reflow leaves in its workdir


def check_reflowed_run(config, workdir: Path) -> None:
    """A workdir trained by --mode reflow (it holds reflow_pairs/) is a reflowed flow, sampled only by
    integrating its probability flow: the config must say so (config.reflow.teacher), as in training."""
    if (Path(workdir) / REFLOW_PAIRS_FOLDER).is_dir() and not config.reflow.teacher:
        raise ValueError(
            f"{workdir} holds a flow trained by --mode reflow ({REFLOW_PAIRS_FOLDER}/): pass the "
            "--config.reflow.teacher of its training (in its config.json), so that it is sampled as a reflowed flow"
        )


def run_config(workdir, setting: str) -> ml_collections.ConfigDict:
    """The config a run saved in <workdir>/config.json, on the current schema (fields added since
    the run keep their defaults); `setting` names the config field that pointed here, for the
    error message."""
    path = Path(workdir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{setting}={str(workdir)!r}: no {path}; give the workdir of a trained run")
    with open(path) as file:
        values = json.load(file)
    return on_schema(values)


SCALE_EXAMPLES = 1024
SCALE_KEY = 0x5CA1E


def load_latent_space(config, build: Callable, with_weights: bool = True) -> LatentSpace:
    """The autoencoder of config.data.latents_of (checkpoint config.data.latents_ckpt) and its scale;
    `build(config, with_data=False)` builds a run's setup (passed in: this module is part of it).

    Without `with_weights` only the autoencoder's config.json is read (start-up checks, --mode check, an
    autoencoder still training): the parameters are shapes alone, step -1, and the scale
    config.data.latent_scale (0: estimated when the weights are loaded)."""
    workdir = str(config.data.latents_of)
    ae_config = run_config(workdir, "config.data.latents_of")
    if ae_config.model.name != "autoencoder":
        raise ValueError(
            f"config.data.latents_of={workdir!r} is a {ae_config.model.name!r} run: give the workdir of a run "
            "with config.model.name='autoencoder'"
        )
    for field in ("dataset", "image_size", "num_channels", "centered"):
        if ae_config.data[field] != config.data[field]:
            raise ValueError(
                f"config.data.{field}={config.data[field]!r} differs from the autoencoder's "
                f"({ae_config.data[field]!r} in {workdir}/config.json): a latent model sees the autoencoder's data"
            )
    ae_setup = build(ae_config, with_data=False)
    if with_weights:
        params, step, _ = load_params(
            ae_setup, Path(workdir), int(config.data.latents_ckpt), "config.data.latents_ckpt"
        )
    else:
        params, step = ae_setup.abstract_params(), -1
    image_shape = ae_setup.event_shape
    latent_shape = jax.eval_shape(
        lambda p, x: ae_setup.model.apply({"params": p}, x, method="encode").mean, params, jnp.zeros((1, *image_shape))
    ).shape[1:]
    space = LatentSpace(ae_setup.model, params, 1.0, image_shape, tuple(latent_shape), workdir, step)
    scale = float(config.data.latent_scale)
    if with_weights and not scale:
        scale = stored_scale(space, config)
    return dataclasses.replace(space, scale=scale)


def stored_scale(space: LatentSpace, config) -> float:
    """1 / std of the unscaled latents of the first SCALE_EXAMPLES training images, read from
    <autoencoder workdir>/latent_scale/step_<k>.json, or estimated and written there."""
    path = Path(space.workdir) / "latent_scale" / f"step_{space.step}.json"
    if path.is_file():
        with open(path) as file:
            return float(json.load(file)["scale"])
    source = get_image_source(config, "train")
    count = min(SCALE_EXAMPLES, len(source))
    images = source.get(np.arange(count))[0]
    settings = dict(
        centered=bool(config.data.centered),
        uniform_dequantization=bool(config.data.uniform_dequantization),
        random_flip=False,
    )

    def preprocess(rng, pixels):
        input_rng, latent_rng = jax.random.split(rng)
        return space.posterior(to_model_input(input_rng, pixels, **settings)).sample(latent_rng)

    preprocess = jax.jit(preprocess)
    z = np.concatenate(
        [
            np.asarray(preprocess(jax.random.fold_in(jax.random.PRNGKey(SCALE_KEY), i), images[i : i + 256]))
            for i in range(0, count, 256)
        ]
    )
    std = float(z.std())
    record = {"scale": 1.0 / std, "std": std, "examples": count, "latent_shape": list(space.latent_shape)}
    if jax.process_index() == 0:
        write_json_atomic(path, record)
    logger.info("latent scale factor of %s (step %d): %s", space.workdir, space.step, record)
    return 1.0 / std


@dataclasses.dataclass(frozen=True)
class WeakModel:
    """Autoguidance's weaker model: its objective and EMA parameters (None when built without weights)."""

    objective: Objective
    params: object


def load_weak_model(config, parts, build: Callable, with_weights: bool = True) -> WeakModel:
    """The run of config.sampling.autoguidance (checkpoint autoguidance_ckpt), checked against this
    run's `parts` (`score_sde.objectives.Parts`): a score model of the same process, examples and
    classes; `build` as for `load_latent_space`."""
    sampling = config.sampling
    if float(sampling.guidance_scale) > 0:
        raise ValueError(
            "config.sampling.autoguidance guides by a weaker model, config.sampling.guidance_scale by the null "
            "label: use one of them (set guidance_scale=0 or autoguidance='')"
        )
    workdir = str(sampling.autoguidance)
    weak_setup = build(run_config(workdir, "config.sampling.autoguidance"), with_data=False, with_weights=with_weights)
    weak_parts = weak_setup.parts
    if "distill" not in weak_setup.objective.teaches:
        raise ValueError(
            f"config.sampling.autoguidance={workdir!r} must be a score model on a fixed process (objective "
            f"{' or '.join(teachers('distill'))}), not {weak_setup.objective.name!r}"
        )

    def space(p) -> tuple:  # what the scores are of: process, examples, classes, data range, latent space
        latent = None if p.latent is None else (p.latent.workdir, p.latent.step, p.latent.scale)
        return p.process, p.event_shape, p.num_classes, p.data_range, latent

    if space(weak_parts) != space(parts):
        raise ValueError(
            f"config.sampling.autoguidance={workdir!r} models (process, examples, classes, data range, latent "
            f"space) {space(weak_parts)}; this run {space(parts)}: the weaker model must share them"
        )
    if not with_weights:
        return WeakModel(weak_setup.objective, None)
    params, _, _ = load_params(
        weak_setup, Path(workdir), int(sampling.autoguidance_ckpt), "config.sampling.autoguidance_ckpt"
    )
    return WeakModel(weak_setup.objective, params)
