"""A TrigFlow diffusion model (Lu & Song 2025) at quickstart scale: the denoising objective on
TrigFlow's path x_t = cos t x_0 + sin t z (z ~ N(0, 0.5^2 I)), the network F(x / sigma_d, t) trained
on the velocity (EDM's weighting of the denoiser) at EDM's log-normal noise levels (P_mean -1.2,
P_std 1.2, as tan t = e^tau / sigma_d). Every sampler and the likelihood run on it; it is the teacher
of configs/scd/digits.py.

Run:  python -m experiments.main --config configs/trigflow/digits.py --workdir runs/trigflow_digits
"""

from configs import quickstart


def get_config():
    config = quickstart.get_config()
    config.training.sde = "trigflow"  # auto: TrigFlow's parameterisation, EDM weighting, log-normal times
    config.model.sigma_data = 0.5
    sampling = config.sampling
    sampling.method = "heun"
    sampling.num_steps = 18
    return config
