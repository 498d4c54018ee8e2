"""Improved consistency training (iCT; Song & Dhariwal 2024) at quickstart scale: a consistency
model trained from scratch on the built-in digits, no teacher, no EMA target. EDM's sigma path
(0.002 to 80), the consistency parameterisation (sigma_data 0.5), the pseudo-Huber distance
with c = 0.00054 sqrt(256), log-normal intervals (P_mean -1.1, P_std 2.0) and N doubling from
11 to 1281 points over the run, the paper's settings; the quickstart's network, data, optimiser
and budget. One-step samples and FD-digits at the end.

Run:  python -m experiments.main --config configs/ict/digits.py --workdir runs/ict_digits
Two or four steps: --mode sample --config.sampling.num_steps=2 (times of the Karras grid from T).
"""

from configs import quickstart


def get_config():
    config = quickstart.get_config()
    config.training.objective = "consistency_training"
    config.training.sde = "edm"
    config.model.sigma_data = 0.5
    config.model.parameterization = "consistency"  # what "auto" means for this objective

    sampling = config.sampling
    sampling.method = "auto"  # the consistency sampler
    sampling.num_steps = 1
    sampling.eps = 0.002  # sigma_min: the consistency function's boundary and the grid's first point

    config.eval.enable_bpd = False  # a consistency model defines no density
    return config
