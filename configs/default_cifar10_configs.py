"""Defaults shared by the CIFAR-10 configs, with the reference's field names and values.

A config module built on these returns `get_config()`; override any field on the command
line, e.g. --config.training.batch_size=64.
"""

import ml_collections


def get_default_configs() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 42

    config.training = training = ml_collections.ConfigDict()
    training.batch_size = 128
    training.n_iters = 1300001
    training.snapshot_freq = 50000
    training.log_freq = 50
    training.eval_freq = 100
    training.snapshot_freq_for_preemption = 10000  # frequent checkpoints to resume after a preemption
    training.snapshot_sampling = True  # a PNG grid of EMA samples at each snapshot
    training.snapshot_num_samples = 64
    training.likelihood_weighting = False
    training.continuous = True
    training.n_jitted_steps = 5
    training.reduce_mean = False
    training.final_eval = False
    training.label_dropout = 0.1  # class-conditional models: P(label -> null label)

    config.sampling = sampling = ml_collections.ConfigDict()
    sampling.n_steps_each = 1
    sampling.noise_removal = True
    sampling.probability_flow = False
    sampling.guidance_scale = 0.0  # classifier-free guidance weight w (class-conditional models)
    sampling.class_label = -1  # -1: classes 0, 1, ... in turn along the batch
    # --mode sample: "generate", or "inpaint", "colorize", "interpolate" real images
    sampling.task = "generate"
    sampling.inputs = ""  # the images to steer from: "" (the eval split) or a folder of images
    sampling.mask = "right_half"  # inpainting: the region to generate, or a PNG (white = known)
    sampling.interpolation_points = 8  # per interpolation, endpoints included
    sampling.snr = 0.16

    config.eval = evaluate = ml_collections.ConfigDict()
    evaluate.begin_ckpt = 9
    evaluate.end_ckpt = 26
    evaluate.ckpt = -1  # sample and likelihood modes: snapshot number, -1 the newest checkpoint
    evaluate.batch_size = 1024
    evaluate.enable_sampling = False
    evaluate.num_samples = 50000
    # sample quality (FID, Inception Score, KID): the FID Inception weights as a local file (see
    # score_sde/evaluation/inception.py for where they come from); "" leaves these figures out
    evaluate.inception_weights = ""
    evaluate.fid_stats = ""  # an .npz of reference mu/sigma; "" computes them into <workdir>/fid_stats once
    evaluate.fid_split = "train"  # the split the reference statistics describe
    evaluate.num_fid_examples = 0  # images of that split (0: all)
    evaluate.num_kid_features = 2000  # features kept per set for KID
    evaluate.enable_loss = True
    evaluate.enable_bpd = False
    evaluate.bpd_dataset = "test"
    evaluate.bpd_num_repeats = 5
    evaluate.num_bpd_examples = 0  # 0: the whole split
    evaluate.num_loss_examples = 0  # 0: the whole split
    evaluate.likelihood_trace = "hutchinson"
    evaluate.likelihood_rtol = 1e-5
    evaluate.likelihood_atol = 1e-5

    config.data = data = ml_collections.ConfigDict()
    data.dataset = "CIFAR10"
    data.image_size = 32
    data.random_flip = True
    data.centered = False
    data.uniform_dequantization = False
    data.num_channels = 3
    data.data_dir = ""  # tensorflow-datasets folder; empty: ~/tensorflow_datasets
    data.download = True

    config.model = model = ml_collections.ConfigDict()
    model.sigma_min = 0.01
    model.sigma_max = 50.0
    model.num_scales = 1000
    model.beta_min = 0.1
    model.beta_max = 20.0
    model.dropout = 0.1
    model.embedding_type = "fourier"
    model.num_classes = 0  # > 0: class-conditional (the data's labels), for classifier-free guidance

    config.optim = optim = ml_collections.ConfigDict()
    optim.weight_decay = 0.0
    optim.optimizer = "Adam"
    optim.lr = 2e-4
    optim.beta1 = 0.9
    optim.eps = 1e-8
    optim.warmup = 5000
    optim.grad_clip = 1.0
    return config


def set_ncsnpp(model, *, fir: bool, progressive_input: str, num_res_blocks: int, scale_by_sigma: bool,
               ema_rate: float) -> None:
    """The NCSN++ / DDPM++ architecture fields the CIFAR-10 configs share (nf 128, four levels)."""
    model.name = "ncsnpp"
    model.scale_by_sigma = scale_by_sigma
    model.ema_rate = ema_rate
    model.normalization = "GroupNorm"
    model.nonlinearity = "swish"
    model.nf = 128
    model.ch_mult = (1, 2, 2, 2)
    model.num_res_blocks = num_res_blocks
    model.attn_resolutions = (16,)
    model.resamp_with_conv = True
    model.conditional = True
    model.fir = fir
    model.fir_kernel = (1, 3, 3, 1)
    model.skip_rescale = True
    model.resblock_type = "biggan"
    model.progressive = "none"
    model.progressive_input = progressive_input
    model.progressive_combine = "sum"
    model.attention_type = "ddpm"
    model.init_scale = 0.0
    model.fourier_scale = 16.0
    model.conv_size = 3
