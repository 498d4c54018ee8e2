"""Continuous-time consistency distillation (sCD; Lu & Song, ICLR 2025) on CIFAR-10: configs/sct/
cifar10.py with the teacher's probability flow as the tangent's velocity, no dropout (the paper's
sCD; 1-step FID 3.66, 2-step 2.52). The teacher: a TrigFlow diffusion model of the same network
(its weights start the student), or any trained CIFAR-10 run of the same network (its velocity at
TrigFlow's noise levels; the student starts afresh).

  python -m experiments.main --config configs/scd/cifar10.py --mode distill --workdir runs/scd_cifar10 \
      --config.distill.teacher=<teacher workdir>
"""

from configs.sct import cifar10 as sct_cifar10


def get_config():
    config = sct_cifar10.get_config()
    config.distill.method = "scm"
    config.model.dropout = 0.0
    return config
