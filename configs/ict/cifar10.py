"""Improved consistency training (iCT; Song & Dhariwal, ICLR 2024) on CIFAR-10: the paper's
training settings on this project's DDPM++.

As the paper: EDM's sigma path (sigma_min 0.002, sigma_max 80, rho 7), the consistency
parameterisation with sigma_data 0.5 and the boundary at sigma_min, the pseudo-Huber distance
with c = 0.00054 sqrt(3072) = 0.03, the weighting 1 / (sigma_{i+1} - sigma_i), log-normal
intervals (P_mean -1.1, P_std 2.0), N doubling from 11 to 1281 points over 400k steps, no EMA
target (the stopped-gradient online network, with the student's dropout draw), batch 1024,
lr 1e-4 without decay, dropout 0.3, EMA 0.99993 for evaluation; one- and two-step sampling
(published FID 2.83 / 2.46 for this network's depth, 2.51 / 2.24 for iCT-deep).
Where it differs: the paper trains the official consistency code's NCSN++ with RAdam; this
config trains DDPM++ (128 channels, multipliers (2, 2, 2), 4 blocks, attention at 16x16, as EDM's
CIFAR-10 run) fed c_noise = ln(sigma) / 4 through positional embeddings, with Adam.
Two steps at the paper's intermediate level: --config.sampling.num_steps=2 uses the Karras grid's
second time instead (sigma 2.5).
"""

from configs.edm import cifar10_ddpmpp


def get_config():
    config = cifar10_ddpmpp.get_config()
    config.training.objective = "consistency_training"
    config.training.batch_size = 1024
    config.training.n_iters = 400_000
    config.training.snapshot_freq = 25_000

    model = config.model
    model.parameterization = "consistency"
    model.noise_condition = "log_sigma"
    model.dropout = 0.3
    model.ema_rate = 0.99993
    model.ema_halflife_kimg = 0.0  # the fixed rate above instead of EDM's half-life

    optim = config.optim
    optim.lr = 1e-4
    optim.warmup = 0
    optim.grad_clip = -1.0

    sampling = config.sampling
    sampling.method = "auto"  # the consistency sampler
    sampling.num_steps = 1
    sampling.eps = 0.002
    config.eval.enable_bpd = False  # a consistency model defines no density
    return config
