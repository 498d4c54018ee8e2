"""VDM (Kingma et al. 2021) on CIFAR-10: the paper's network and schedule.

A U-Net without downsampling: 128 channels at 32x32 throughout, 32 residual blocks down and 33
up, attention only in the middle, dropout 0.1, Fourier features of the input (2^6 and 2^7
cycles); eps-prediction; a learned monotone log-SNR schedule (1024 features) from gamma(0) =
-13.3 to gamma(1) = 5, trained on the continuous-time variational bound with discrete 8-bit
data, no flips; AdamW (lr 2e-4, b2 0.99, weight decay 0.01 on all but the biases, no gradient
clipping), batch 128, EMA 0.9999, 100 warm-up steps. Samples end at z_0 without a denoising
step and become 8-bit pixels by the decoder's argmax (the nearest level), as VDM's generate_x.
The network is this project's DDPM++ with one resolution, so its blocks are the reference's
(BigGAN-style residual blocks), not VDM's exact ones.
"""

from configs.vp import cifar10_ddpmpp_continuous


def get_config():
    config = cifar10_ddpmpp_continuous.get_config()
    training = config.training
    training.sde = "learned_vp"
    training.eps = 1e-5  # the bound's decoder time t0
    training.batch_size = 128
    training.n_iters = 10_000_000

    data = config.data
    data.uniform_dequantization = False
    data.random_flip = False

    model = config.model
    model.parameterization = "eps"
    model.gamma_min = -13.3
    model.gamma_max = 5.0
    model.schedule_features = 1024
    model.nf = 128
    model.ch_mult = (1,)
    model.num_res_blocks = 32
    model.attn_resolutions = ()
    model.dropout = 0.1
    model.input_fourier_exponents = (6, 7)
    model.ema_rate = 0.9999

    optim = config.optim
    optim.lr = 2e-4
    optim.beta2 = 0.99
    optim.weight_decay = 0.01
    optim.warmup = 100
    optim.grad_clip = -1.0  # VDM does not clip (a clipped norm would include the schedule's variance gradient)
    optim.decay_biases = False  # VDM's AdamW leaves every parameter named bias out, gamma_min included

    sampling = config.sampling
    sampling.method = "ddim"
    sampling.eta = 1.0  # ancestral, as VDM samples
    sampling.num_steps = 1000
    sampling.eps = 1e-5
    sampling.noise_removal = False  # VDM ends at z_0 and reads its decoder there
    sampling.to_uint8 = "round"  # the decoder's most likely level: on the pixel grid, the nearest one

    evaluation = config.eval
    evaluation.likelihood = "elbo"
    evaluation.bpd_num_repeats = 1
    return config
