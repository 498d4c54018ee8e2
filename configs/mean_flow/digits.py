"""MeanFlow (Geng et al. 2025) at quickstart scale: the average velocity u(z, r, t) of the linear
path, trained from scratch by the MeanFlow identity with one forward-mode JVP per step, sampled in
one step, x = e - u(e, 0, 1). The paper's CIFAR-10 loss settings (logit-normal(-2, 2) times, r != t
for 75 % of pairs, adaptive weight power 0.75); the quickstart's network (with a second time
embedding for t - r), data, optimiser and budget.

Run:  python -m experiments.main --config configs/mean_flow/digits.py --workdir runs/mean_flow_digits
Few steps: --mode sample --config.sampling.num_steps=2; its velocity u(z, t, t) also samples with
--config.sampling.method=ode, and the likelihood mode gives its bits/dim.
"""

from configs import quickstart


def get_config():
    config = quickstart.get_config()
    config.training.objective = "mean_flow"
    config.training.sde = "linear_flow"
    config.model.parameterization = "mean_flow"  # what "auto" means for this objective
    config.model.interval_embedding = True  # the network sees t and t - r

    mean_flow = config.mean_flow
    mean_flow.P_mean, mean_flow.P_std = -2.0, 2.0
    mean_flow.ratio = 0.75
    mean_flow.adaptive_power = 0.75

    sampling = config.sampling
    sampling.method = "auto"  # the mean_flow sampler
    sampling.num_steps = 1
    config.eval.enable_bpd = False  # the ODE likelihood of its velocity: --mode likelihood
    return config
