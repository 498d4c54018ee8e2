"""Quickstart: a small DDPM++ on the built-in handwritten digits (16x16), VP SDE, on a laptop CPU.

Run:  python -m experiments.main --config configs/quickstart.py --workdir runs/quickstart
No download (scikit-learn ships the 1,797 digits). Trains for a few minutes on 2 CPU cores,
then writes runs/quickstart/samples/final/samples.png (a grid of generated digits) and the
test-set bits/dim to metrics.jsonl; snapshots and checkpoints as in any run.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.training = training = ml_collections.ConfigDict()
    training.sde = "vpsde"
    training.continuous = True
    training.reduce_mean = True
    training.likelihood_weighting = False
    training.batch_size = 64
    training.n_iters = 2000
    training.n_jitted_steps = 5
    training.log_freq = 50
    training.eval_freq = 500
    training.snapshot_freq = 1000
    training.snapshot_freq_for_preemption = 250
    training.snapshot_sampling = True
    training.snapshot_num_samples = 64
    training.final_eval = True
    training.label_dropout = 0.1  # class-conditional models: P(label -> null label)

    config.data = data = ml_collections.ConfigDict()
    data.dataset = "digits"
    data.image_size = 16
    data.num_channels = 1
    data.centered = True
    data.random_flip = False  # digits are not mirror-symmetric
    data.uniform_dequantization = True  # a smooth density over pixel bins: a meaningful, well-conditioned bits/dim

    config.model = model = ml_collections.ConfigDict()
    model.name = "ncsnpp"
    model.nf = 16
    model.ch_mult = (1, 2, 2)
    model.num_res_blocks = 1
    model.attn_resolutions = ()
    model.dropout = 0.0
    model.resamp_with_conv = True
    model.conditional = True
    model.fir = False
    model.fir_kernel = (1, 3, 3, 1)
    model.skip_rescale = True
    model.resblock_type = "biggan"
    model.progressive = "none"
    model.progressive_input = "none"
    model.progressive_combine = "sum"
    model.embedding_type = "positional"
    model.fourier_scale = 16.0
    model.init_scale = 0.0
    model.scale_by_sigma = False
    model.ema_rate = 0.995
    model.beta_min = 0.1
    model.beta_max = 20.0
    model.sigma_min = 0.01
    model.sigma_max = 50.0
    model.num_scales = 1000
    model.num_classes = 0  # > 0: class-conditional (the data's labels), for classifier-free guidance

    config.optim = optim = ml_collections.ConfigDict()
    optim.optimizer = "Adam"
    optim.lr = 2e-3
    optim.beta1 = 0.9
    optim.eps = 1e-8
    optim.weight_decay = 0.0
    optim.warmup = 100
    optim.grad_clip = 1.0

    config.sampling = sampling = ml_collections.ConfigDict()
    sampling.method = "pc"
    sampling.predictor = "euler_maruyama"
    sampling.corrector = "none"
    sampling.num_steps = 500
    sampling.snr = 0.16
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

    config.eval = evaluation = ml_collections.ConfigDict()
    evaluation.begin_ckpt = 1
    evaluation.end_ckpt = -1
    evaluation.ckpt = -1
    evaluation.batch_size = 100
    evaluation.num_samples = 100
    # sample quality (FID, Inception Score, KID): the FID Inception weights as a local file (see
    # score_sde/evaluation/inception.py for where they come from); "" leaves these figures out
    evaluation.inception_weights = ""
    evaluation.fid_stats = ""  # an .npz of reference mu/sigma; "" computes them into <workdir>/fid_stats once
    evaluation.fid_split = "train"  # the split the reference statistics describe
    evaluation.num_fid_examples = 0  # images of that split (0: all)
    evaluation.num_kid_features = 2000  # features kept per set for KID
    evaluation.enable_loss = True
    evaluation.enable_bpd = True
    evaluation.enable_sampling = True
    evaluation.bpd_dataset = "test"
    evaluation.bpd_num_repeats = 1
    evaluation.num_bpd_examples = 100  # of the 300 test digits (0: all; about 100 s per 100 on a 2-core CPU)
    evaluation.num_loss_examples = 0  # 0: the whole split
    evaluation.likelihood_trace = "hutchinson"
    evaluation.likelihood_rtol = 1e-5
    evaluation.likelihood_atol = 1e-5
    return config
