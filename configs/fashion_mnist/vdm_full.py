"""VDM (its CIFAR-10 run) on Fashion-MNIST, for a GPU: configs/vdm/cifar10.py moved to 28 x 28 gray
by `configs.fashion_mnist.full_size`, which says what differs.

Run:  python -m experiments.main --config configs/fashion_mnist/vdm_full.py --workdir runs/fashion_vdm_full
"""

from configs.fashion_mnist import full_size
from configs.vdm import cifar10


def get_config():
    return full_size(cifar10.get_config())
