"""The VP SDE on Fashion-MNIST on a 2-core CPU: the quickstart's recipe (continuous DSM loss, Adam
with warm-up and clipping, EMA, the reference's PC sampler with 500 Euler-Maruyama steps, test
bits/dim by the probability-flow ODE) at `configs.fashion_mnist.on_cpu`'s size.

Run:  python -m experiments.main --config configs/fashion_mnist/vp.py --workdir runs/fashion_vp
"""

from configs import quickstart
from configs.fashion_mnist import on_cpu


def get_config():
    return on_cpu(quickstart.get_config())
