"""A latent score model of CIFAR-10 at full size: the VP SDE with DDPM++ (cont.) on the 8x8x4
latents (downsampling factor 4) of a KL-regularised autoencoder, as latent diffusion's f=4
models, with LSGM's likelihood bound.

Run the autoencoder first (its config: this module's `autoencoder_config`), then the score model:
  python -m experiments.main --config configs/latent/cifar10.py:autoencoder --workdir runs/cifar10_ae
  python -m experiments.main --config configs/latent/cifar10.py --workdir runs/cifar10_latent \
      --config.data.latents_of=runs/cifar10_ae
"""

from configs.vp import cifar10_ddpmpp_continuous


def autoencoder_config():
    config = cifar10_ddpmpp_continuous.get_config()
    config.data.uniform_dequantization = True
    config.training.n_iters = 200001
    config.training.snapshot_freq = 25000
    config.training.final_eval = True

    model = config.model
    model.name = "autoencoder"
    model.ae_channels = 128
    model.ae_channel_mult = (1, 2, 4)
    model.ae_num_res_blocks = 2
    model.ae_latent_channels = 4
    model.ae_attention = True
    model.ae_num_groups = 32
    model.ae_kl_weight = 1e-6
    model.dropout = 0.0
    model.ema_rate = 0.999
    config.optim.lr = 1e-4
    config.eval.num_samples = 10000
    return config


def get_config(which: str = "score"):
    if which == "autoencoder":
        return autoencoder_config()
    if which != "score":
        raise ValueError(f"configs/latent/cifar10.py:{which}: choose 'score' or 'autoencoder'")
    config = cifar10_ddpmpp_continuous.get_config()
    config.data.latents_of = "runs/cifar10_ae"
    config.data.uniform_dequantization = True
    model = config.model
    model.ch_mult = (1, 2, 2)  # 8x8 latents: resolutions 8, 4, 2
    model.attn_resolutions = (4,)
    model.num_res_blocks = 4
    return config
