"""Quickstart: a small DDPM++ on the built-in handwritten digits (16x16), VP SDE, on a laptop CPU.

Run:  python -m experiments.main --config configs/quickstart.py --workdir runs/quickstart
No download (scikit-learn ships the 1,797 digits). About 10 minutes on 2 CPU cores: 2,000
training steps, then 100 samples (PC, Euler-Maruyama, 500 steps) in
runs/quickstart/samples/final/samples.png, their FD-digits and the test-set bits/dim (about
1.95) in metrics.jsonl; snapshots and checkpoints as in any run.
"""

from score_sde.config import base_config


def get_config():
    config = base_config()
    config.seed = 0

    training = config.training
    training.sde = "vpsde"
    training.reduce_mean = True
    training.batch_size = 64
    training.n_iters = 2000
    training.eval_freq = 500
    training.snapshot_freq = 1000
    training.snapshot_freq_for_preemption = 250
    training.final_eval = True

    data = config.data
    data.dataset = "digits"
    data.image_size = 16
    data.num_channels = 1
    data.centered = True
    data.random_flip = False  # digits are not mirror-symmetric
    data.uniform_dequantization = True  # a smooth density over pixel bins: a meaningful, well-conditioned bits/dim

    model = config.model
    model.nf = 16
    model.ch_mult = (1, 2, 2)
    model.num_res_blocks = 1
    model.attn_resolutions = ()
    model.dropout = 0.0
    model.embedding_type = "positional"
    model.ema_rate = 0.995

    optim = config.optim
    optim.lr = 2e-3
    optim.warmup = 100

    sampling = config.sampling
    sampling.method = "pc"
    sampling.predictor = "euler_maruyama"
    sampling.corrector = "none"
    sampling.num_steps = 500

    evaluation = config.eval
    evaluation.begin_ckpt = 1
    evaluation.end_ckpt = -1
    evaluation.batch_size = 100
    evaluation.num_samples = 100
    evaluation.enable_bpd = True
    evaluation.enable_sampling = True
    evaluation.bpd_num_repeats = 1
    evaluation.num_bpd_examples = 100  # of the 300 test digits (0: all; about 100 s per 100 on a 2-core CPU)
    return config
