"""Progressive distillation (Salimans & Ho 2022) of the quickstart model (runs/quickstart) on the
built-in digits: four rounds halve its 16-step DDIM sampler into students of 8, 4, 2 and 1 steps.

Run (after the quickstart):
  python -m experiments.main --config configs/distill/digits_progressive.py --mode distill \
      --workdir runs/digits_pd --config.distill.teacher=runs/quickstart
Each round trains config.training.n_iters steps into runs/digits_pd/students/<N>_steps/, with
its samples and FD-digits at the end; an interrupted job resumes in the round it was in.
"""

from configs import quickstart


def get_config():
    config = quickstart.get_config()
    distill = config.distill
    distill.method = "progressive"
    distill.teacher = "runs/quickstart"
    distill.teacher_steps = 16
    distill.final_steps = 1
    distill.weighting = "truncated_snr"

    model = config.model
    model.parameterization = "v"  # clean data stays predictable at the last steps, where eps-prediction is not
    model.noise_condition = "time"  # the teacher's input: 999 t, so the student starts from the teacher as it is

    training = config.training
    training.n_iters = 300  # per round
    training.snapshot_freq = 300
    training.snapshot_freq_for_preemption = 100
    training.eval_freq = 300
    config.optim.lr = 2e-4
    config.optim.warmup = 0
    config.sampling.eps = 1e-3
    config.eval.enable_bpd = False  # a student is a sampler: it defines no density
    return config
