"""Continuous-time consistency training (sCT; Lu & Song, ICLR 2025) at quickstart scale: a
consistency model on TrigFlow's path trained from scratch by the tangent of its own consistency
function along the path (one jax.jvp per step), with tangent normalisation (c = 0.1), the learned
adaptive weighting and the tangent warm-up over the first quarter of training (the paper: 10k
steps); times at the paper's log-normal noise levels (P_mean -1.0, P_std 1.4). The quickstart's
network, data and budget, at a lower learning rate (1e-3). One-step samples and FD-digits at the
end.

Run:  python -m experiments.main --config configs/sct/digits.py --workdir runs/sct_digits
Two steps at the paper's t_mid: --mode sample --config.sampling.consistency_times="(1.1,)".
"""

from configs import quickstart


def get_config():
    config = quickstart.get_config()
    config.training.objective = "scm"
    config.training.sde = "trigflow"
    config.model.sigma_data = 0.5
    config.model.parameterization = "trigflow"  # what "auto" means for this objective
    config.scm.warmup_steps = 500
    config.optim.lr = 1e-3

    sampling = config.sampling
    sampling.method = "auto"  # the consistency sampler on TrigFlow's path
    sampling.num_steps = 1
    config.eval.enable_bpd = False  # a consistency model defines no density
    return config
