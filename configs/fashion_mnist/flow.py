"""Flow matching (rectified flow) on Fashion-MNIST on a 2-core CPU: configs/flow/digits.py (velocity
training on the linear path, an adaptive tsit5 solve to sample) at `configs.fashion_mnist.on_cpu`'s
size. Reflow as for the digits: --mode reflow --config.reflow.teacher=runs/fashion_flow.

Run:  python -m experiments.main --config configs/fashion_mnist/flow.py --workdir runs/fashion_flow
"""

from configs.fashion_mnist import on_cpu
from configs.flow import digits


def get_config():
    config = on_cpu(digits.get_config())
    config.reflow.num_pairs = 6000  # reflow pairs drawn from the teacher
    return config
