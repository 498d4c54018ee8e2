"""Toy 2-D run: an MLP score network on eight Gaussians, VP SDE, reverse-SDE sampling.

Run:  python -m experiments.main --config configs/toy2d.py --workdir runs/toy2d
Takes about a minute on a laptop CPU and writes runs/toy2d/samples/samples.png (samples beside
data), metrics.jsonl (loss every 250 steps, then MMD^2 of samples vs data and the test
negative log-likelihood in nats from the probability-flow ODE) and config.json.
Override any field, e.g. --config.training.sde=vesde --config.data.dataset=checkerboard.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 42

    config.training = training = ml_collections.ConfigDict()
    training.sde = "vpsde"
    training.continuous = True
    training.reduce_mean = True
    training.likelihood_weighting = False
    training.n_iters = 5000
    training.batch_size = 512
    training.n_jitted_steps = 50
    training.log_freq = 250
    training.eval_freq = 1000
    training.snapshot_freq = 5000
    training.snapshot_freq_for_preemption = 1000
    training.snapshot_sampling = True
    training.snapshot_num_samples = 2000
    training.final_eval = True  # at the end: samples, MMD^2 and NLL of the EMA model

    config.data = data = ml_collections.ConfigDict()
    data.dataset = "eight_gaussians"
    data.dim = 2

    config.model = model = ml_collections.ConfigDict()
    model.name = "mlp"
    model.hidden_dims = (256, 256, 256)
    model.embedding_type = "positional"
    model.embedding_dim = 64
    model.fourier_scale = 16.0
    model.scale_by_sigma = False
    model.dropout = 0.0
    model.ema_rate = 0.999
    model.beta_min = 0.1
    model.beta_max = 20.0
    model.sigma_min = 0.01
    model.sigma_max = 10.0
    model.num_scales = 1000

    config.optim = optim = ml_collections.ConfigDict()
    optim.optimizer = "Adam"
    optim.lr = 1e-3
    optim.beta1 = 0.9
    optim.eps = 1e-8
    optim.weight_decay = 0.0
    optim.warmup = 100
    optim.grad_clip = 1.0

    config.sampling = sampling = ml_collections.ConfigDict()
    sampling.method = "sde"  # "pc", "ode" or "sde"
    sampling.sde_solver = "euler_maruyama"
    sampling.ode_solver = "tsit5"
    sampling.num_steps = 500  # pc and sde; 0: the SDE's N
    sampling.ode_num_steps = 0  # 0: adaptive
    sampling.noise_removal = True
    sampling.eps = 1e-3
    sampling.predictor = "reverse_diffusion"
    sampling.corrector = "langevin"
    sampling.snr = 0.16
    sampling.n_steps_each = 1
    sampling.rtol = 1e-5
    sampling.atol = 1e-5

    config.eval = evaluation = ml_collections.ConfigDict()
    evaluation.num_samples = 2000
    evaluation.batch_size = 2000
    evaluation.enable_loss = True
    evaluation.enable_bpd = True  # for 2-D data: NLL in nats with the exact trace
    evaluation.enable_sampling = True
    evaluation.begin_ckpt = 1
    evaluation.end_ckpt = -1
    evaluation.ckpt = -1
    evaluation.num_bpd_examples = 0  # 0: the whole split
    evaluation.num_loss_examples = 0  # 0: the whole split
    evaluation.likelihood_trace = "hutchinson"
    evaluation.likelihood_rtol = 1e-5
    evaluation.likelihood_atol = 1e-5
    return config
