"""EDM (Karras et al. 2022) on Fashion-MNIST on a 2-core CPU: configs/edm/digits.py (EDM's
preconditioning, loss, noise levels, EMA by half-life, Heun with 18 levels = 35 NFE) at
`configs.fashion_mnist.on_cpu`'s size.

Run:  python -m experiments.main --config configs/fashion_mnist/edm.py --workdir runs/fashion_edm
"""

from configs.edm import digits
from configs.fashion_mnist import on_cpu


def get_config():
    return on_cpu(digits.get_config())
