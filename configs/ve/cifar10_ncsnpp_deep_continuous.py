"""NCSN++ cont. (deep: 8 residual blocks per level) on CIFAR-10 with the VE SDE."""

from configs.ve import cifar10_ncsnpp_continuous


def get_config():
    config = cifar10_ncsnpp_continuous.get_config(num_res_blocks=8)
    config.training.n_iters = 950001
    return config
