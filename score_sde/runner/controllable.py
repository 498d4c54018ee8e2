"""The sample mode's controllable tasks: inpainting, colorization and latent interpolation of
real images, with PNG strips to look at.

config.sampling.task: "generate" (plain sampling), "inpaint", "colorize" or "interpolate".
config.sampling.inputs: "" for the eval split of the run's dataset, else a folder of images
  (read with the dataset's size and channels); the first config.eval.num_samples are used
  (interpolation: consecutive pairs).
config.sampling.mask: what inpainting fills in, a built-in name (`score_sde.sampling.masks.MASKS`: the region that is
  generated, the rest being known) or a PNG file whose white pixels (>= 128) are known.
config.sampling.interpolation_points: points per interpolation, endpoints included.
Inpainting and colorization run the `PredictorCorrector` of config.sampling (predictor, corrector,
snr, n_steps_each, num_steps, eps, noise_removal), so a reflowed flow refuses them; interpolation
runs its `ProbabilityFlowODE` (ode_solver, rtol, atol, eps, ode_num_steps, schedule).
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from score_sde.datasets import get_image_source
from score_sde.datasets.images import to_model_input, to_uint8
from score_sde.datasets.sources import load_folder
from score_sde.files import write_npz_atomic
from score_sde.objectives import Objective
from score_sde.parallel import to_host
from score_sde.plotting import image_grid_png
from score_sde.runner.setup import Setup
from score_sde.sampling import PredictorCorrector, ProbabilityFlowODE, colorize, inpaint
from score_sde.sampling.interpolation import interpolate_path
from score_sde.sampling.masks import make_mask

# steering outputs are rounded to 8 bits, whatever config.sampling.to_uint8 says: the known pixels
# k / 255 then come back as exactly k (truncation would turn some into k - 1)
STEERING_UINT8_RULE = "round"


def check_task(task: str, objective: Objective, image: bool, num_channels: int) -> str:
    """`task` (config.sampling.task), checked against the data and the objective's model before any work."""
    if task != "generate" and not image:
        raise ValueError(f"config.sampling.task={task!r} needs image data; config.data.dataset is 2-D")
    objective.check_task(task)
    if task == "colorize" and num_channels != 3:
        raise ValueError(
            f"config.sampling.task='colorize' needs a 3-channel model; config.data.num_channels={num_channels}"
        )
    return task


def load_inputs(setup: Setup, count: int) -> np.ndarray:
    """The first `count` images (count, H, W, C) of config.sampling.inputs, as uint8 (float
    images of CelebA / LSUN rounded to the nearest level)."""
    data = setup.config.data
    folder = setup.run.inputs
    source = (
        load_folder(folder, "all", int(data.image_size), int(data.num_channels))
        if folder
        else get_image_source(setup.config, "eval")
    )
    if len(source) < count:
        where = f"config.sampling.inputs={folder!r}" if folder else f"the eval split of {data.dataset!r}"
        raise ValueError(f"{where} holds {len(source)} images; the task needs {count} (config.eval.num_samples)")
    images = source.get(np.arange(count))[0]
    return to_uint8(images, centered=False, rule=STEERING_UINT8_RULE)


def _interpolate(setup: Setup, params, pixels: np.ndarray, x):
    """Strips (pairs, points + 2, H, W, C) with the originals at the ends, outputs, figures."""
    ode = ProbabilityFlowODE.from_config(setup.config.sampling)
    points = setup.run.interpolation_points
    path, nfe = interpolate_path(
        ode, setup.process(params), setup.score_fn(params, flow=True), x[0::2], x[1::2], points
    )
    path = to_host(path)
    path_pixels = to_uint8(path, centered=setup.centered, rule=STEERING_UINT8_RULE)
    strips = np.concatenate([pixels[0::2, None], path_pixels, pixels[1::2, None]], axis=1)
    error = float(np.max(np.abs(path[:, [0, -1]] - np.stack([x[0::2], x[1::2]], 1))))
    return (
        strips,
        {"inputs": pixels, "interpolation": path},
        {"nfe": int(nfe), "endpoint_reconstruction_max_error": error},
    )


def _fill_in(setup: Setup, params, rng, task: str, pixels: np.ndarray, x):
    """Panels (N, 3, H, W, C) of input | condition | result for inpaint or colorize, outputs, figures."""
    count = len(pixels)
    score_fn, sampler = setup.sampling_score_fn(params, count), PredictorCorrector.from_config(setup.config.sampling)
    if task == "inpaint":
        mask = make_mask(setup.run.mask, pixels.shape[1])
        result, nfe = inpaint(sampler, rng, setup.process(params), score_fn, x, mask)
        shown = np.where(mask > 0, pixels, 128).astype(np.uint8)  # unknown pixels shown gray
        outputs = {"inputs": pixels, "mask": mask}
    else:
        result, nfe = colorize(sampler, rng, setup.process(params), score_fn, x)
        shown = np.repeat(np.round(pixels.mean(-1, keepdims=True)).astype(np.uint8), 3, axis=-1)
        outputs = {"inputs": pixels}
    outputs["samples"] = to_host(result)  # model range
    outputs["results"] = to_uint8(outputs["samples"], centered=setup.centered, rule=STEERING_UINT8_RULE)
    return np.stack([pixels, shown, outputs["results"]], axis=1), outputs, {"nfe": int(nfe)}


def run_task(setup: Setup, params, rng, task: str, folder: Path) -> dict:
    """Runs inpaint / colorize / interpolate on the configured inputs, writes <folder>/<task>.png
    (rows of input | condition | result, or interpolation strips) and <task>.npz; returns figures."""
    num_samples = int(setup.run.evaluation["num_samples"])
    count = num_samples if task != "interpolate" else 2 * max(1, num_samples // 2)
    pixels = load_inputs(setup, count)
    x = to_model_input(
        jax.random.PRNGKey(0),
        jnp.asarray(pixels),
        centered=setup.centered,
        uniform_dequantization=False,
        random_flip=False,
    )
    if task == "interpolate":
        panels, outputs, figures = _interpolate(setup, params, pixels, x)
        columns = panels.shape[1]
    else:
        panels, outputs, figures = _fill_in(setup, params, rng, task, pixels, x)
        columns = 3 * min(4, count)
    if jax.process_index() == 0:
        write_npz_atomic(folder / f"{task}.npz", **outputs)
        image_grid_png(
            folder / f"{task}.png",
            panels.reshape(-1, *pixels.shape[1:]),
            columns=columns,
            scale=max(1, 64 // pixels.shape[1]),
        )
    return {"task": task, "count": count, **figures}
