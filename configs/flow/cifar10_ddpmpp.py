"""Flow matching (rectified flow) on CIFAR-10 with the reference's DDPM++ (cont.) network: velocity
training on the linear path with independent coupling, sampled by an adaptive ODE solve.

Reflow: --mode reflow --config.reflow.teacher=<this run's workdir> (see configs/flow/digits.py).
"""

from configs.vp import cifar10_ddpmpp_continuous


def get_config():
    config = cifar10_ddpmpp_continuous.get_config()
    config.training.sde = "linear_flow"
    config.training.reduce_mean = True

    sampling = config.sampling
    sampling.method = "ode"
    sampling.ode_solver = "tsit5"
    sampling.ode_denoise_step = "tweedie"
    sampling.eps = 1e-3
    return config
