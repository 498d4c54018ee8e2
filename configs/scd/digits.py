"""Continuous-time consistency distillation (sCD; Lu & Song, ICLR 2025) at quickstart scale: the
sCT recipe (configs/sct/digits.py) with the tangent following a teacher's probability flow instead
of the path's own velocity. The teacher may be on any process: a TrigFlow model's weights also start
the student (the paper); another process's teacher only gives its velocity, read at TrigFlow's noise
levels, and the student starts afresh.

Run (after the teacher, configs/trigflow/digits.py, or any digits run such as the quickstart):
  python -m experiments.main --config configs/scd/digits.py --mode distill --workdir runs/scd_digits \
      --config.distill.teacher=runs/trigflow_digits
"""

from configs.sct import digits as sct_digits


def get_config():
    config = sct_digits.get_config()
    config.distill.method = "scm"
    config.distill.teacher = "runs/trigflow_digits"
    config.training.n_iters = 1000  # a student: half the teacher's steps
    config.training.snapshot_freq = 1000
    config.training.eval_freq = 1000
    config.scm.warmup_steps = 250
    config.model.dropout = 0.0  # the paper's sCD
    return config
