"""A latent score model at quickstart scale: the quickstart's VP SDE and DDPM++ on the 8x8x2
latents of the autoencoder trained with configs/latent/digits_autoencoder.py.

Run (after the autoencoder):
  python -m experiments.main --config configs/latent/digits.py --workdir runs/digits_latent \
      --config.data.latents_of=runs/digits_ae
Latents are drawn from the encoder's posterior inside every train step and scaled by latent
diffusion's 1/std factor (stored in runs/digits_ae/latent_scale/). Samples are decoded to digits
(samples/final/samples.png, FD-digits in metrics.jsonl); bits/dim is LSGM's bound. About 8
minutes on 2 CPU cores (FD-digits about 15, 10 classes; with the autoencoder, 14.5 minutes).
"""

from configs import quickstart


def get_config():
    config = quickstart.get_config()
    config.data.latents_of = "runs/digits_ae"
    config.training.n_iters = 1500

    model = config.model
    model.nf = 32
    model.ch_mult = (1, 2)
    model.num_res_blocks = 1

    sampling = config.sampling
    sampling.num_steps = 200
    config.eval.batch_size = 50
    config.eval.num_bpd_examples = 50
    return config
