"""Consistency distillation (Song et al. 2023) of the quickstart model (runs/quickstart) on the
built-in digits: a student f(x_t, t) that maps every point of the teacher's probability-flow ODE
to its end, trained on adjacent points of an 18-point Karras grid (the teacher's Heun steps) with
an EMA target network (mu = 0.95, the official code's setting for ImageNet-64 and LSUN; its CIFAR-10
CD uses the online network as the target, mu = 0: --config.distill.target_decay=0, the schema's
default), with an L2 distance (no LPIPS).

Run (after the quickstart):
  python -m experiments.main --config configs/distill/digits_consistency.py --mode distill \
      --workdir runs/digits_cd --config.distill.teacher=runs/quickstart
The student's output is f = c_skip x + (1 - c_skip) D(x) with D a v-prediction of the network
(distill.student_output="v"; the teacher's eps-prediction would multiply the network's error by
s / a, up to 150 at T). One-step samples and FD-digits at the end; --mode sample
--config.sampling.num_steps=K for K-step consistency sampling.
"""

from configs import quickstart


def get_config():
    config = quickstart.get_config()
    distill = config.distill
    distill.method = "consistency"
    distill.teacher = "runs/quickstart"
    distill.num_points = 18
    distill.points_schedule = "fixed"
    distill.target_decay = 0.95  # the students table (docs/recipes/students.md) was measured with it
    distill.metric = "l2"
    distill.student_output = "v"  # f = c_skip x + (1 - c_skip) D with D a v-prediction: bounded at every noise level

    model = config.model
    model.parameterization = "consistency"
    model.noise_condition = "time"  # the teacher's input: 999 t, so the student starts from the teacher as it is
    model.sigma_data = 0.5  # c_skip's data scale

    training = config.training
    training.n_iters = 1000
    training.snapshot_freq = 1000
    training.eval_freq = 1000
    config.optim.lr = 5e-4
    config.optim.warmup = 0
    config.eval.enable_bpd = False  # a student is a sampler: it defines no density
    return config
