"""Flow matching (rectified flow) at quickstart scale: velocity training on the linear path
x_t = (1 - t) x_0 + t z with independent coupling, the quickstart's network, data and budget,
and an adaptive ODE solve (tsit5) to sample.

Run:  python -m experiments.main --config configs/flow/digits.py --workdir runs/flow_digits
Reflow (one round): python -m experiments.main --config configs/flow/digits.py --mode reflow \\
    --workdir runs/flow_digits_reflow --config.reflow.teacher=runs/flow_digits
"""

from configs import quickstart


def get_config():
    config = quickstart.get_config()
    config.training.sde = "linear_flow"  # auto: velocity parameterisation and loss

    sampling = config.sampling
    sampling.method = "ode"
    sampling.ode_solver = "tsit5"
    sampling.ode_denoise_step = "tweedie"
    sampling.eps = 1e-3
    config.reflow.num_pairs = 3000  # twice the 1,497 training digits
    return config
