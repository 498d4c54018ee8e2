"""EDM (Karras et al. 2022) at quickstart scale: the quickstart's network, data and budget with
EDM's preconditioning, loss and noise-level sampling, EMA by half-life, and EDM's Heun sampler
(18 noise levels, 35 NFE), 8-bit samples rounded as EDM rounds them. It keeps the quickstart's
optimiser: the loss averaged over pixels and clipped at norm 1 (EDM sums and does not clip).

Run:  python -m experiments.main --config configs/edm/digits.py --workdir runs/edm_digits
"""

from configs import quickstart


def get_config():
    config = quickstart.get_config()
    config.training.sde = "edm"
    config.training.eps = 0.002  # sigma_min: the log-normal levels' lower clip, and the bound's decoder level
    config.model.sigma_data = 0.5
    config.model.ema_halflife_kimg = 10.0  # ~ the quickstart's EMA (0.995 per step of 64 images)
    config.model.ema_rampup_ratio = 0.05

    sampling = config.sampling
    sampling.method = "heun"
    sampling.num_steps = 18
    sampling.eps = 0.002  # sigma_min
    sampling.to_uint8 = "round"  # EDM's (x * 127.5 + 128).clip(0, 255).to(uint8)
    return config
