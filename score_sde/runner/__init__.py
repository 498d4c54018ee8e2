"""The experiment runner behind `python -m experiments.main`: one function per --mode."""

from score_sde.runner.distill import distill
from score_sde.runner.modes import check, compute_likelihood, evaluate, fid_stats, posthoc_ema, sample
from score_sde.runner.reflow import reflow
from score_sde.runner.setup import Setup, build
from score_sde.runner.train_loop import train

MODES = {
    "train": train,
    "eval": evaluate,
    "sample": sample,
    "likelihood": compute_likelihood,
    "fid_stats": fid_stats,
    "posthoc_ema": posthoc_ema,
    "reflow": reflow,
    "distill": distill,
    "check": check,
}

__all__ = [
    "MODES",
    "Setup",
    "build",
    "train",
    "evaluate",
    "sample",
    "compute_likelihood",
    "fid_stats",
    "posthoc_ema",
    "reflow",
    "distill",
    "check",
]
