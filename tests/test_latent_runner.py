"""Latent score models through the runner: an autoencoder trained by the runner, a score model on
its latents whose samples (also guided ones) decode to images, LSGM's bound with its parts. The
documented digits runs behind the documented figures are a benchmark: benchmarks/documented_runs.py."""

import json

import numpy as np
import pytest

from score_sde.runner.modes import sample
from score_sde.runner.setup import build
from score_sde.runner.train_loop import train
from tests.runner_helpers import tiny_image_config


def tiny_autoencoder_config():
    config = tiny_image_config()
    config.model.name, config.model.num_classes = "autoencoder", 0
    model = config.model
    model.ae_channels, model.ae_channel_mult, model.ae_num_res_blocks = 8, (1, 2), 1
    model.ae_latent_channels, model.ae_num_groups, model.ae_attention = 2, 4, True
    config.training.final_eval = True
    config.training.eval_freq = 100  # no held-out loss during the 4 steps
    config.eval.num_samples = 8
    return config


@pytest.fixture(scope="module")
def autoencoder_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("latent") / "autoencoder"
    record = train(tiny_autoencoder_config(), workdir, progress=False)
    return workdir, record


def test_the_runner_trains_an_autoencoder_and_reports_its_reconstructions(autoencoder_run):
    workdir, record = autoencoder_run
    assert record["reconstruction_examples"] == 8
    assert 0 < record["reconstruction_rmse"] < 2 and record["kl_per_latent_dim"] >= 0
    np.testing.assert_allclose(
        record["reconstruction_psnr"], 20 * np.log10(255 / record["reconstruction_rmse_levels"]), rtol=1e-6
    )
    pairs = np.load(workdir / "samples" / "final" / "samples.npz")["images"]
    assert pairs.shape == (16, 8, 8, 1) and pairs.dtype == np.uint8  # image, reconstruction, image, ...
    assert (workdir / "samples" / "step_4" / "samples.png").is_file()  # snapshot reconstructions


@pytest.mark.slow  # an end-to-end run of 25-40 s: in the slow tier, so the default one stays under 10 minutes
def test_a_latent_model_trains_on_the_latents_and_decodes_its_samples(autoencoder_run, tmp_path):
    ae_workdir, _ = autoencoder_run
    config = tiny_image_config()  # class-conditional with classifier-free guidance
    config.data.latents_of = str(ae_workdir)
    config.training.final_eval, config.training.eval_freq = True, 100
    config.eval.enable_bpd, config.eval.likelihood_rtol, config.eval.likelihood_atol = True, 1e-3, 1e-3
    setup = build(config, with_data=False)
    assert setup.event_shape == (4, 4, 2) and setup.output_shape == (8, 8, 1)
    stored = json.loads((ae_workdir / "latent_scale" / "step_4.json").read_text())
    assert setup.latent.scale == pytest.approx(stored["scale"]) and stored["examples"] > 0

    workdir = tmp_path / "latent_model"
    record = train(config, workdir, progress=False)
    assert record["bpd_method"] == "lsgm_bound"
    parts = record["bpd_latent_nll"] + record["bpd_decoder_nll"] - record["bpd_encoder_entropy"]
    np.testing.assert_allclose(record["bpd"], parts, rtol=1e-5)
    images = np.load(workdir / "samples" / "final" / "samples.npz")["images"]
    assert images.shape == (4, 8, 8, 1) and images.dtype == np.uint8
    snapshot = np.load(workdir / "samples" / "step_4" / "samples.npz")["images"]  # decoded snapshot grid
    assert snapshot.shape == (4, 8, 8, 1) and (workdir / "samples" / "step_4" / "samples.png").is_file()

    config.sampling.task = "inpaint"
    with pytest.raises(ValueError, match="latent model .* only 'generate'"):
        sample(config, workdir, progress=False)


def test_a_latent_model_refuses_an_autoencoder_of_other_data(autoencoder_run):
    config = tiny_image_config()
    config.data.latents_of, config.data.image_size = str(autoencoder_run[0]), 16
    with pytest.raises(ValueError, match="config.data.image_size=16 differs from the autoencoder's"):
        build(config, with_data=False)
    config.data.latents_of = "/nonexistent/run"
    with pytest.raises(FileNotFoundError, match="config.data.latents_of='/nonexistent/run'"):
        build(config, with_data=False)
