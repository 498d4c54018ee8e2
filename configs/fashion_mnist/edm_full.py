"""EDM with DDPM++ (EDM's CIFAR-10 run) on Fashion-MNIST, for a GPU: configs/edm/cifar10_ddpmpp.py moved to 28 x 28 gray
by `configs.fashion_mnist.full_size`, which says what differs.

Run:  python -m experiments.main --config configs/fashion_mnist/edm_full.py --workdir runs/fashion_edm_full
"""

from configs.edm import cifar10_ddpmpp
from configs.fashion_mnist import full_size


def get_config():
    return full_size(cifar10_ddpmpp.get_config())
