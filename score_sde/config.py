"""The one config schema: every field of a run, declared once with its default and meaning.

Shipped configs (configs/*.py) start from `base_config()` and override what differs; any field
can be set from the command line (--config.<section>.<field>=value). The defaults are the
reference's CIFAR-10 ones (configs/default_cifar10_configs.py of the official code) where it
has the field. `score_sde.runner.config_check.check_config` refuses unknown fields and invalid
values at start-up with one line naming the field and what is allowed.
"""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 42  # the run's seed: initialisation, data order, sampling

    config.training = training = ml_collections.ConfigDict()
    training.sde = "vpsde"  # the process: vpsde, subvpsde, vesde, cosine_vp, linear_flow, edm
    # the kind of model (score_sde.objectives.OBJECTIVES): denoising, learned_schedule, autoencoder, latent,
    # progressive, consistency, or auto: as the config implies (model.name, distill.method, data.latents_of, sde)
    training.objective = "auto"
    training.continuous = True  # continuous-time training (False: the reference's discrete DDPM / SMLD losses)
    training.reduce_mean = False  # per-example loss: mean over dimensions (False: half the sum, as the reference)
    training.likelihood_weighting = (
        False  # the reference's likelihood weighting lambda = g^2 (same as loss_weighting="likelihood")
    )
    training.loss_weighting = (
        "auto"  # eps, score, likelihood, x0, v, velocity, edm, min_snr; auto: the parameterisation's own
    )
    training.time_sampling = (
        "auto"  # uniform, log_normal (EDM), log_snr (importance on lambda); auto: log_normal for edm, else uniform
    )
    training.eps = 1e-5  # smallest training time (uniform time sampling), as the reference's losses
    training.P_mean = -1.2  # log_normal time sampling: mean of ln sigma~ (EDM)
    training.P_std = 1.2  # log_normal time sampling: std of ln sigma~ (EDM)
    training.min_snr_gamma = 5.0  # min_snr weighting: the SNR clip gamma
    training.batch_size = 128  # global batch, split over processes and devices
    training.fsdp = 1  # devices per parameter shard group: params, optimizer state and EMA split over them
    training.fsdp_min_size = 16384  # with fsdp > 1: arrays with fewer elements are replicated
    training.n_iters = 1300001  # training steps
    training.n_jitted_steps = 5  # steps per device dispatch (one lax.scan)
    training.log_freq = 50  # steps between loss records in metrics.jsonl
    training.eval_freq = 100  # steps between held-out losses
    training.snapshot_freq = 50000  # steps between kept checkpoints (and snapshot samples)
    training.snapshot_freq_for_preemption = 10000  # steps between preemption checkpoints (last two kept)
    training.snapshot_sampling = True  # a PNG grid of EMA samples at each snapshot
    training.snapshot_num_samples = 64  # samples drawn at each snapshot
    training.final_eval = False  # after the last step: samples, their quality, and likelihood if eval.enable_bpd
    training.label_dropout = 0.1  # class-conditional models: probability of the null label (classifier-free guidance)

    config.model = model = ml_collections.ConfigDict()
    model.name = "ncsnpp"  # the network: ncsnpp (NCSN++ / DDPM++), mlp (low-dimensional data), autoencoder
    model.parameterization = "auto"  # reference_noise, reference_score, eps, x0, v, velocity, edm; auto: the process's
    model.noise_condition = (
        "auto"  # what non-reference parameterisations feed: log_sigma, sigma, time; auto: by embedding
    )
    model.sigma_data = 0.5  # edm parameterisation and loss weighting: the data's standard deviation
    model.beta_min = 0.1  # vpsde, subvpsde: beta(0)
    model.beta_max = 20.0  # vpsde, subvpsde: beta(1)
    model.sigma_min = 0.01  # vesde: sigma(0)
    model.sigma_max = 50.0  # vesde: sigma(1)
    model.cosine_s = 0.008  # cosine_vp: the offset s of Nichol & Dhariwal
    model.edm_sigma_min = 0.002  # edm: the smallest noise level
    model.edm_sigma_max = 80.0  # edm: the largest noise level (T)
    model.gamma_min = -13.3  # learned_vp: the schedule's initial gamma(0) = -log SNR(0) (VDM)
    model.gamma_max = 5.0  # learned_vp: the schedule's initial gamma(1)
    model.schedule_features = 1024  # learned_vp: width of the monotone schedule network
    model.schedule_init_std = 0.01  # learned_vp: std of its initial l2, l3 kernels (VDM's code: 0.01)
    model.num_scales = 1000  # N, steps of the process's discretisation
    model.ema_rate = 0.9999  # exponential moving average of the parameters: its decay per step
    model.ema_halflife_kimg = 0.0  # > 0: EDM's EMA by half-life in thousands of images instead of ema_rate
    model.ema_rampup_ratio = 0.0  # with ema_halflife_kimg: half-life at most this times the images seen (EDM 0.05)
    model.dropout = 0.1  # dropout probability
    model.embedding_type = "fourier"  # noise-level embedding: fourier (of log time_cond) or positional
    model.fourier_scale = 16.0  # scale of the Gaussian Fourier features
    model.input_fourier_exponents = ()  # ncsnpp: sin / cos(2^n 2 pi x) of the input for these n (VDM: (6, 7))
    model.scale_by_sigma = False  # divide the output by the noise level (the reference's VE networks)
    model.num_classes = 0  # > 0: class-conditional on the data's labels (for classifier-free guidance)
    model.dtype = "float32"  # compute dtype (bfloat16: mixed precision with float32 parameters)
    model.remat = False  # ncsnpp: recompute residual blocks in the backward pass (less memory, ~1/3 more compute)
    model.attention_implementation = "auto"  # ncsnpp: auto (cuDNN on GPU for bf16 when it fits), xla or cudnn
    model.nf = 128  # ncsnpp: base channels
    model.ch_mult = (1, 2, 2, 2)  # ncsnpp: channel multiplier per resolution
    model.num_res_blocks = 4  # ncsnpp: residual blocks per resolution
    model.attn_resolutions = (16,)  # ncsnpp: resolutions with self-attention
    model.resamp_with_conv = True  # ncsnpp: convolutional up/down-sampling
    model.conditional = True  # ncsnpp: noise-conditional
    model.fir = False  # ncsnpp: FIR resampling
    model.fir_kernel = (1, 3, 3, 1)  # ncsnpp: the FIR kernel
    model.skip_rescale = True  # ncsnpp: scale skip connections by 1/sqrt(2)
    model.resblock_type = "biggan"  # ncsnpp: biggan or ddpm residual blocks
    model.progressive = "none"  # ncsnpp output pyramid: none, output_skip, residual
    model.progressive_input = "none"  # ncsnpp input pyramid: none, input_skip, residual
    model.progressive_combine = "sum"  # ncsnpp: how pyramids join: sum or cat
    model.attention_type = "ddpm"  # ncsnpp: the attention block (ddpm)
    model.init_scale = 0.0  # ncsnpp: scale of the output layers' initialisation
    model.normalization = "GroupNorm"  # ncsnpp: normalisation (GroupNorm)
    model.nonlinearity = "swish"  # ncsnpp: activation (swish)
    model.conv_size = 3  # ncsnpp: convolution size (3)
    model.hidden_dims = (256, 256, 256)  # mlp: widths of the residual blocks
    model.embedding_dim = 64  # mlp: size of the noise-level embedding
    model.ae_channels = 128  # autoencoder: base channels
    model.ae_channel_mult = (1, 2, 4)  # autoencoder: channel multiplier per level; downsampling 2^(levels - 1)
    model.ae_num_res_blocks = 2  # autoencoder: residual blocks per level
    model.ae_latent_channels = 4  # autoencoder: channels of the latent
    model.ae_attention = True  # autoencoder: self-attention at the lowest resolution
    model.ae_num_groups = 32  # autoencoder: GroupNorm groups
    model.ae_kl_weight = 1e-6  # autoencoder: weight of KL(q(z | x) || N(0, I)) against the reconstruction NLL

    config.data = data = ml_collections.ConfigDict()
    data.dataset = (
        "CIFAR10"  # digits, fashion_mnist (IDX files), folder, eight_gaussians, checkerboard, two_moons, CIFAR10,
        # SVHN, CELEBA, LSUN, MNIST (tfds), or tfds:<name>
    )
    data.image_size = 32  # images are resized to image_size x image_size
    data.num_channels = 3  # 1 (gray) or 3 (RGB)
    data.centered = False  # model inputs in [-1, 1] (False: [0, 1])
    data.random_flip = True  # horizontal flips in training
    data.uniform_dequantization = False  # add U[0, 1) / 256 to the 8-bit pixels in training
    data.dim = 2  # 2-D toy datasets: the dimension (2)
    data.path = ""  # folder: the image folder; fashion_mnist: the IDX files' folder ("": Debian's)
    data.data_dir = ""  # tensorflow-datasets folder ("": ~/tensorflow_datasets)
    data.download = True  # prepare a missing tfds dataset when the network answers
    data.category = "bedroom"  # LSUN category
    data.train_split = ""  # tfds split for training ("": the dataset's usual one)
    data.eval_split = ""  # tfds split for evaluation ("": the dataset's usual one)
    data.latents_of = ""  # a latent score model: the workdir of its autoencoder ("": model the data itself)
    data.latents_ckpt = -1  # that autoencoder's snapshot number (-1: its newest checkpoint)
    data.latent_scale = 0.0  # latents are multiplied by this (0: 1 / std of the encoded training data, stored)

    config.sampling = sampling = ml_collections.ConfigDict()
    # a sampler of score_sde.sampling.SAMPLERS: pc, ode, sde, ddim, heun (EDM), dpm_solver (DPM-Solver++), few_step
    # (a progressive student's), consistency (a consistency student's); or auto (also "student"): the objective's
    # own (a student's, ode for a reflowed flow, else pc)
    sampling.method = "auto"
    sampling.predictor = "reverse_diffusion"  # pc: euler_maruyama, reverse_diffusion, ancestral_sampling, none
    sampling.corrector = "langevin"  # pc: langevin, ald, none
    sampling.snr = 0.16  # pc: the corrector's signal-to-noise ratio
    sampling.n_steps_each = 1  # pc: corrector steps per predictor step
    sampling.probability_flow = False  # pc: predictors on the probability-flow ODE (not ancestral_sampling)
    sampling.num_steps = (
        0  # pc, sde, ddim, heun, dpm_solver: steps (0: N for pc / sde, the sampler's default otherwise)
    )
    sampling.eps = 1e-3  # smallest time of a solve (the reference: 1e-3 for VP / sub-VP, 1e-5 for VE)
    sampling.noise_removal = True  # end with the denoising step at eps
    # ode: that step: reverse_diffusion (the reference's: one reverse-diffusion step at eps, its mean) or
    # tweedie (the denoiser E[x_0 | x_eps])
    sampling.ode_denoise_step = "reverse_diffusion"
    # the probability-flow ODE (ode sampling, encode/decode, likelihood) of a discrete-trained network
    # (training.continuous=False): continuous (the reference: continuous labels) or discrete (its training labels)
    sampling.ode_score = "continuous"
    # generated samples to 8-bit pixels (PNGs, FID / IS): truncate floor(255 x) (the reference) or round;
    # steering outputs (inpaint, colorize, interpolate) are always rounded, so known pixels come back exactly
    sampling.to_uint8 = "truncate"
    sampling.ode_solver = "tsit5"  # ode: euler, heun, midpoint, bosh3, tsit5, dopri5, dopri8
    sampling.rtol = 1e-5  # ode: relative tolerance of adaptive solves
    sampling.atol = 1e-5  # ode: absolute tolerance of adaptive solves
    sampling.ode_num_steps = 0  # ode: fixed steps (0: adaptive)
    sampling.sde_solver = "euler_maruyama"  # sde: euler_maruyama, heun, reversible_heun
    sampling.schedule = "auto"  # fixed-step grids: time_uniform, log_snr_uniform, karras; auto: the sampler's default
    sampling.rho = 7.0  # heun: the exponent of the karras grid
    sampling.eta = 0.0  # ddim: 0 deterministic, 1 ancestral
    sampling.order = 2  # dpm_solver: 1 or 2 (2M)
    sampling.S_churn = 0.0  # heun: EDM's stochastic churn
    sampling.S_min = 0.0  # heun: churn only for sigma~ >= S_min
    sampling.S_max = float("inf")  # heun: churn only for sigma~ <= S_max
    sampling.S_noise = 1.0  # heun: scale of the churn's noise
    sampling.guidance_scale = 0.0  # class-conditional models: classifier-free guidance weight w
    sampling.class_label = -1  # class-conditional models: the class to draw (-1: 0, 1, ... in turn along the batch)
    sampling.task = "generate"  # --mode sample: generate, inpaint, colorize, interpolate
    sampling.inputs = ""  # steering tasks: "" (the eval split) or a folder of images
    # inpaint: the region to generate (right_half, left_half, bottom_half, top_half, center, checkerboard),
    # or a PNG whose white pixels are known
    sampling.mask = "right_half"
    sampling.interpolation_points = 8  # interpolate: points per pair, endpoints included

    config.eval = evaluate = ml_collections.ConfigDict()
    evaluate.begin_ckpt = 9  # eval mode: the first snapshot number
    evaluate.end_ckpt = 26  # eval mode: the last snapshot number (-1: the newest)
    evaluate.ckpt = -1  # sample and likelihood modes: snapshot number (-1: the newest checkpoint)
    evaluate.batch_size = 1024  # evaluation and sampling batch
    evaluate.enable_loss = True  # eval mode: the held-out loss
    evaluate.enable_bpd = False  # eval mode and final_eval: bits/dim
    evaluate.enable_sampling = False  # eval mode: samples and their quality
    evaluate.num_samples = 50000  # samples for sample quality (and steering tasks: images)
    # bits/dim from: ode (the probability-flow ODE, exact for the model) or elbo (the variational bound, as VDM)
    evaluate.likelihood = "ode"
    # ode bits/dim: dequantise 8-bit pixels by uniform noise (the reference) or by the forward process at
    # training.eps with VDM's decoder (forward: a bound for models of discrete, undequantised data)
    evaluate.dequantization = "uniform"
    evaluate.bpd_dataset = "test"  # bits/dim of the train or test split
    evaluate.bpd_num_repeats = 0  # dequantisation repeats per image for bits/dim (0: the reference's 5 test, 1 train)
    evaluate.bpd_batch_repeats = False  # ode bits/dim: solve the repeats as one larger batch (fewer sequential steps)
    evaluate.num_bpd_examples = 0  # images for bits/dim (0: the whole split)
    evaluate.num_loss_examples = 0  # images for the held-out loss (0: the whole split)
    evaluate.likelihood_trace = "hutchinson"  # divergence of the likelihood ODE: hutchinson or exact
    evaluate.likelihood_rtol = 1e-5  # likelihood ODE: relative tolerance
    evaluate.likelihood_atol = 1e-5  # likelihood ODE: absolute tolerance
    evaluate.inception_weights = ""  # FID / IS / KID: the FID Inception weights file ("": leave these figures out)
    evaluate.fid_stats = ""  # an .npz of reference mu / sigma ("": computed once into <workdir>/fid_stats)
    evaluate.fid_split = "train"  # the split the reference statistics describe: train or test
    evaluate.num_fid_examples = 0  # images of that split (0: all)
    evaluate.num_kid_features = 2000  # features kept per set for KID
    evaluate.inception_score_splits = 1  # Inception Score over 1 set (the reference) or the common 10 splits

    config.reflow = reflow = ml_collections.ConfigDict()
    reflow.teacher = ""  # --mode reflow: workdir of the trained flow whose ODE draws the (noise, sample) pairs
    reflow.num_pairs = 10000  # --mode reflow: pairs to draw and train on
    reflow.init_from_teacher = True  # --mode reflow: start from the teacher's EMA parameters (Liu et al.)

    config.distill = distill = ml_collections.ConfigDict()
    distill.method = ""  # --mode distill: progressive (Salimans & Ho 2022) or consistency (Song et al. 2023)
    distill.teacher = ""  # --mode distill: workdir of the trained teacher
    distill.teacher_ckpt = -1  # the teacher's snapshot number (-1: its newest checkpoint)
    distill.teacher_steps = 64  # progressive: DDIM steps of the teacher in the first round
    distill.final_steps = 1  # progressive: steps of the last round's student (rounds halve teacher_steps down to it)
    distill.weighting = "truncated_snr"  # progressive: truncated_snr (max(SNR, 1)) or snr_plus_one
    distill.num_points = 18  # consistency: points N of the teacher's ODE grid (fixed schedule)
    distill.points_schedule = "fixed"  # consistency: fixed (N, target_decay) or adaptive (N(k), mu(k) of the paper)
    distill.s0 = 2  # consistency, adaptive: initial N
    distill.s1 = 150  # consistency, adaptive: final N - 1
    # consistency: the target network's EMA decay mu: 0 (the online network, as the CIFAR-10 code's CD), 0.95 (its
    # ImageNet-64 / LSUN CD); adaptive schedule: mu0 of mu(k)
    distill.target_decay = 0.0
    distill.rho = 7.0  # consistency: the Karras grid's exponent
    distill.metric = "l2"  # consistency: distance between student and target outputs: l2 or l1
    # consistency: the student's output f = c_skip x~ + c_out F ("raw", the paper's) or c_skip x~ + (1 - c_skip) D with
    # D the denoiser of F under the parameterisation named here (v, x0, eps, ...; auto: the process's own)
    distill.student_output = "raw"

    config.optim = optim = ml_collections.ConfigDict()
    optim.optimizer = "Adam"  # Adam (with decoupled weight decay when weight_decay > 0)
    optim.lr = 2e-4  # peak learning rate
    optim.beta1 = 0.9  # Adam's beta1
    optim.beta2 = 0.999  # Adam's beta2
    optim.eps = 1e-8  # Adam's epsilon
    optim.weight_decay = 0.0  # decoupled weight decay
    optim.decay_biases = True  # weight decay on biases too (False: every leaf named bias is left out, as VDM)
    optim.warmup = 5000  # steps of linear learning-rate warm-up (0: none)
    optim.grad_clip = 1.0  # global-norm gradient clipping at this norm (> 0), or -1: none (0 is refused)
    return config


def on_schema(values) -> ml_collections.ConfigDict:
    """A config on the current schema from `values` (a ConfigDict or a nested dict, e.g. a reference
    config or a run's stored config.json): every field it sets, lists as the schema's tuples, and the
    schema's default for every field it lacks; fields the schema does not know are kept as given."""
    config = base_config()
    _update(config, values.to_dict() if isinstance(values, ml_collections.ConfigDict) else values)
    return config


def _update(config: ml_collections.ConfigDict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and key in config:
            _update(config[key], value)
        else:
            config[key] = tuple(value) if isinstance(value, list) else value
