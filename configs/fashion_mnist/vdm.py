"""VDM (Kingma et al. 2021) on Fashion-MNIST on a 2-core CPU: configs/vdm/digits.py (a learned
log-SNR schedule trained on the variational bound, eps-prediction, Fourier features of the input,
8-bit data, bits/dim from the bound) at `configs.fashion_mnist.on_cpu`'s size.

Run:  python -m experiments.main --config configs/fashion_mnist/vdm.py --workdir runs/fashion_vdm
"""

from configs.fashion_mnist import on_cpu
from configs.vdm import digits


def get_config():
    return on_cpu(digits.get_config())
