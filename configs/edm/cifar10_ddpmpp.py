"""EDM (Karras et al. 2022) on CIFAR-10 with the DDPM++ backbone of its VP-style run.

EDM's preconditioning, loss weighting and log-normal noise levels (sigma_data 0.5, P_mean -1.2,
P_std 1.2) on EDM's sigma path, and its CIFAR-10 training settings (train.py, cond=0,
arch=ddpmpp): Adam at lr 1e-3 with a 10 Mimg linear ramp-up, batch 512, 200 Mimg, EMA by
half-life 500 kimg (ramp-up ratio 0.05), dropout 0.13, no gradient clipping, the loss summed over
pixels (half the sum here, the reference's reduction: a factor of 2 that only Adam's eps sees),
8-bit samples rounded to the nearest level, DDPM++ with 128 channels, channel multipliers
(2, 2, 2), 4 blocks per resolution, attention at 16x16 and positional embeddings of
c_noise = ln(sigma) / 4. Left out: EDM's non-leaking augmentation (and its augmentation labels),
and its resample filter [1, 1] (this DDPM++ resamples with the reference's strided and
nearest-neighbour convolutions). Sampling: EDM's deterministic Heun, 18 noise levels, 35 NFE;
--config.sampling.S_churn=40 --config.sampling.S_min=0.05 --config.sampling.S_max=50
--config.sampling.S_noise=1.003 gives its stochastic sampler.
"""

from score_sde.config import base_config


def get_config():
    config = base_config()
    training = config.training
    training.sde = "edm"  # auto: EDM's preconditioning, EDM weighting, log-normal noise levels
    training.reduce_mean = False  # EDM sums over pixels; half the sum here (with no clipping only Adam's eps sees it)
    training.eps = 0.002  # sigma_min: the log-normal levels' lower clip, and the bound's decoder level
    training.batch_size = 512
    training.n_iters = 390625  # 200 Mimg
    training.snapshot_freq = 25000

    data = config.data
    data.centered = True
    data.random_flip = False  # EDM's flips come with its augmentation, left out here

    model = config.model
    model.name = "ncsnpp"
    model.sigma_data = 0.5
    model.nf = 128
    model.ch_mult = (2, 2, 2)
    model.num_res_blocks = 4
    model.attn_resolutions = (16,)
    model.dropout = 0.13
    model.fir = False
    model.progressive_input = "none"
    model.embedding_type = "positional"
    model.scale_by_sigma = False
    model.ema_halflife_kimg = 500.0
    model.ema_rampup_ratio = 0.05

    optim = config.optim
    optim.lr = 1e-3
    optim.warmup = 19531  # 10 Mimg at batch 512
    optim.grad_clip = -1.0

    sampling = config.sampling
    sampling.method = "heun"
    sampling.num_steps = 18  # noise levels: 17 Heun steps and the final Euler step, 35 NFE
    sampling.eps = 0.002  # sigma_min
    sampling.to_uint8 = "round"  # EDM's (x * 127.5 + 128).clip(0, 255).to(uint8)
    return config
