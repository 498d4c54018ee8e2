"""The VP SDE with DDPM++ (the score-SDE paper's CIFAR-10 run) on Fashion-MNIST, for a GPU:
configs/vp/cifar10_ddpmpp_continuous.py moved to 28 x 28 gray
by `configs.fashion_mnist.full_size`, which says what differs.

Run:  python -m experiments.main --config configs/fashion_mnist/vp_full.py --workdir runs/fashion_vp_full
"""

from configs.fashion_mnist import full_size
from configs.vp import cifar10_ddpmpp_continuous


def get_config():
    return full_size(cifar10_ddpmpp_continuous.get_config())
