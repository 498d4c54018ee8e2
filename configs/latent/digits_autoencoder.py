"""The first stage of a latent score model at quickstart scale: a KL-regularised autoencoder
(latent diffusion's) of the built-in 16x16 digits into 8x8x2 latents.

Run:  python -m experiments.main --config configs/latent/digits_autoencoder.py --workdir runs/digits_ae
Then train the score model on its latents with configs/latent/digits.py. About 6 minutes on 2
CPU cores (RMS reconstruction error 1.4 of 255 levels); the held-out reconstruction figures are
in metrics.jsonl (final evaluation) and the image / reconstruction pairs in
runs/digits_ae/samples/final/samples.png.
"""

from configs import quickstart


def get_config():
    config = quickstart.get_config()
    config.training.n_iters = 1500
    config.training.eval_freq = 500
    config.data.uniform_dequantization = True  # the decoder's density is over dequantised pixels, as the score model's

    model = config.model
    model.name = "autoencoder"
    model.ae_channels = 16
    model.ae_channel_mult = (1, 2)
    model.ae_num_res_blocks = 1
    model.ae_latent_channels = 2
    model.ae_attention = True
    model.ae_num_groups = 8
    model.ae_kl_weight = 1e-3
    model.ema_rate = 0.99
    config.optim.lr = 1e-3
    config.eval.num_samples = 300  # the held-out digits to reconstruct
    return config
