import dataclasses

import jax
import numpy as np
import pytest
from PIL import Image

from score_sde.runner.config_check import check_config
from score_sde.runner.controllable import check_task, run_task
from score_sde.runner.setup import build
from score_sde.sampling.masks import make_mask
from tests.runner_helpers import tiny_image_config


@pytest.fixture
def colour_config(tmp_path):
    """The tiny image config on a folder of eight 8x8 RGB images, unconditional."""
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(images / f"{i}.png")
    config = tiny_image_config()
    config.data.dataset, config.data.path, config.data.num_channels = "folder", str(images), 3
    config.model.num_classes = 0
    config.sampling.inputs = str(images)
    config.sampling.method, config.sampling.num_steps, config.sampling.ode_num_steps = "pc", 21, 2
    return config


def test_inpaint_colorize_and_interpolate_from_the_runner(colour_config, tmp_path):
    mask_file = tmp_path / "mask.png"
    Image.fromarray(np.tile(np.array([255] * 3 + [0] * 5, np.uint8), (8, 1))).save(mask_file)  # 3 left columns
    colour_config.sampling.mask = str(mask_file)
    setup = build(colour_config)
    params = setup.init_state().ema_params
    inputs = np.stack([np.asarray(Image.open(tmp_path / "images" / f"{i}.png")) for i in range(4)])

    record = run_task(setup, params, jax.random.PRNGKey(0), "inpaint", tmp_path / "out")
    assert record["count"] == 4 and record["nfe"] == 21
    results = np.load(tmp_path / "out" / "inpaint.npz")["results"]
    np.testing.assert_array_equal(results[:, :, :3], inputs[:, :, :3])  # known pixels kept exactly
    assert np.abs(results[:, :, 3:].astype(int) - inputs[:, :, 3:]).mean() > 10  # the rest is generated
    assert Image.open(tmp_path / "out" / "inpaint.png").size[0] > 12 * 8 * 8  # 12 panels of 8 px, scaled

    run_task(setup, params, jax.random.PRNGKey(0), "colorize", tmp_path / "out")
    coloured = np.load(tmp_path / "out" / "colorize.npz")["samples"]  # model range, [-1, 1] here
    np.testing.assert_allclose(coloured.mean(-1), inputs.mean(-1) / 127.5 - 1.0, atol=1e-5)  # the gray level is kept
    assert coloured.std(-1).mean() > 0.05  # and colour is generated

    setup = dataclasses.replace(setup, run=dataclasses.replace(setup.run, interpolation_points=5))
    record = run_task(setup, params, jax.random.PRNGKey(0), "interpolate", tmp_path / "out")
    path = np.load(tmp_path / "out" / "interpolate.npz")["interpolation"]
    assert path.shape == (2, 5, 8, 8, 3) and np.isfinite(record["endpoint_reconstruction_max_error"])
    assert record["nfe"] > 0


def test_masks_and_task_settings_are_checked(colour_config):
    mask = make_mask("right_half", 8)
    assert mask.shape == (1, 8, 8, 1) and mask[0, :, :4].all() and not mask[0, :, 4:].any()
    assert 0 < make_mask("center", 8).mean() < 1 and make_mask("checkerboard", 8).mean() == 0.5
    with pytest.raises(ValueError, match="config.sampling.mask='moon'"):
        make_mask("moon", 8)
    colour_config.sampling.task = "paint"
    with pytest.raises(ValueError, match="config.sampling.task='paint'"):
        check_config(colour_config)
    colour_config.sampling.task = "generate"
    objective = build(colour_config, with_data=False).objective
    with pytest.raises(ValueError, match="3-channel"):
        check_task("colorize", objective, True, 1)
    with pytest.raises(ValueError, match="needs image data"):
        check_task("colorize", objective, False, 2)
