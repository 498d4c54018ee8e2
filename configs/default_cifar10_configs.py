"""The reference's CIFAR-10 defaults (its configs/default_cifar10_configs.py) on the base config,
and the NCSN++ / DDPM++ architecture fields its CIFAR-10 configs share.

The base config (`score_sde.config.base_config`) already holds the reference's CIFAR-10 values;
this module names them for the reference's config files (and its explicit sampling.method="pc").
"""

from score_sde.config import base_config


def get_default_configs():
    config = base_config()
    config.sampling.method = "pc"  # the reference's default_cifar10_configs names it (the schema's "auto" is pc too)
    return config


def set_ncsnpp(
    config, *, fir: bool, progressive_input: str, num_res_blocks: int, scale_by_sigma: bool, ema_rate: float
) -> None:
    """The NCSN++ / DDPM++ fields that vary among the reference's CIFAR-10 configs (nf 128, four
    levels, attention at 16, BigGAN blocks and the rest are the base config's)."""
    model = config.model
    model.name = "ncsnpp"
    model.fir = fir
    model.progressive_input = progressive_input
    model.num_res_blocks = num_res_blocks
    model.scale_by_sigma = scale_by_sigma
    model.ema_rate = ema_rate
