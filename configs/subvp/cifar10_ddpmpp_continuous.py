"""DDPM++ (cont.) on CIFAR-10 with the sub-VP SDE."""

from configs.vp import cifar10_ddpmpp_continuous


def get_config():
    return cifar10_ddpmpp_continuous.get_config(sde="subvpsde")
