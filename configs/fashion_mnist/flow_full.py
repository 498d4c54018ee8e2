"""Flow matching with DDPM++ (Rectified Flow's CIFAR-10 run) on Fashion-MNIST, for a GPU:
configs/flow/cifar10_ddpmpp.py moved to 28 x 28 gray
by `configs.fashion_mnist.full_size`, which says what differs.

Run:  python -m experiments.main --config configs/fashion_mnist/flow_full.py --workdir runs/fashion_flow_full
"""

from configs.fashion_mnist import full_size
from configs.flow import cifar10_ddpmpp


def get_config():
    return full_size(cifar10_ddpmpp.get_config())
