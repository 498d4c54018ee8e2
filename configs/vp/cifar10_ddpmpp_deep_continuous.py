"""DDPM++ cont. (deep: 8 residual blocks per level) on CIFAR-10 with the VP SDE."""

from configs.vp import cifar10_ddpmpp_continuous


def get_config():
    config = cifar10_ddpmpp_continuous.get_config(num_res_blocks=8)
    config.training.n_iters = 950001
    return config
