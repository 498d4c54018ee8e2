"""MeanFlow (Geng, Deng, Bai, Kolter & He 2025) on unconditional CIFAR-10: the settings of the
authors' CIFAR-10 code (py-meanflow, its v0 script, the paper's; 1-NFE FID 2.92).

As the paper: the linear path, u(z, r, t) conditioned on t and t - r, logit-normal(-2, 2) times
for t and r (t the larger), r != t for 75 % of pairs, the adaptive weight 1 / (|Delta|^2 + 1e-3)^0.75,
batch 1024, Adam (0.9, 0.999) at a constant lr 6e-4 after a 10k-step warm-up, 800k steps
(16,000 epochs), dropout 0.2, EMA 0.99995, one-step sampling.
Where it differs: the authors train EDM's SongUNet (DDPM++, 128 channels, multipliers (2, 2, 2),
4 blocks, attention at 16x16) with EDM's augmentation (p 0.12, its labels as a condition); this
config trains the project's DDPM++ of the same shape, without that augmentation.
"""

from configs.flow import cifar10_ddpmpp


def get_config():
    config = cifar10_ddpmpp.get_config()
    config.training.objective = "mean_flow"
    config.training.batch_size = 1024
    config.training.n_iters = 800_000
    config.training.snapshot_freq = 50_000

    model = config.model
    model.parameterization = "mean_flow"
    model.interval_embedding = True
    model.ch_mult = (2, 2, 2)
    model.dropout = 0.2
    model.ema_rate = 0.99995

    mean_flow = config.mean_flow
    mean_flow.P_mean, mean_flow.P_std = -2.0, 2.0
    mean_flow.ratio = 0.75
    mean_flow.adaptive_power = 0.75
    mean_flow.adaptive_c = 1e-3

    optim = config.optim
    optim.lr = 6e-4
    optim.warmup = 10_000
    optim.grad_clip = -1.0

    sampling = config.sampling
    sampling.method = "auto"  # the mean_flow sampler
    sampling.num_steps = 1
    return config
