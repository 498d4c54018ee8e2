"""Start-up checks of a whole config against the schema (`score_sde.config.base_config`).

Every field must be one the schema declares, of its type, with an allowed value, whether or not
the chosen method reads it; the first problem is reported in one line that names the field and
what is allowed. Checks that need several fields or the built objects (an eps against the
process's T, attention resolutions against the image size) happen when `runner.setup.build`
builds them.
"""

import difflib
import math
from pathlib import Path

from score_sde.config import base_config
from score_sde.datasets import DATASET_NAMES, dataset_key
from score_sde.distillation.progressive import PROGRESSIVE_WEIGHTINGS
from score_sde.likelihood import TRACES
from score_sde.losses import TIME_SAMPLINGS, WEIGHTINGS
from score_sde.models import MODELS
from score_sde.models.ncsnpp import COMBINE, EMBEDDINGS, PROGRESSIVE, PROGRESSIVE_INPUT, REFERENCE_FIXED, RESBLOCKS
from score_sde.models.ncsnpp_layers import ATTENTION_IMPLEMENTATIONS
from score_sde.objectives import OBJECTIVES, OWN_SAMPLER
from score_sde.ode_solvers import ODE_SOLVERS
from score_sde.parameterization import NOISE_CONDITIONS, PARAMETERIZATIONS
from score_sde.sampling import CORRECTORS, PREDICTORS, SAMPLERS, SDE_SOLVERS
from score_sde.sampling.masks import MASKS
from score_sde.sde import SCHEDULES, SDES


def _choice(*allowed):
    allowed = tuple(allowed)
    return lambda v: None if v in allowed else f"choose from {allowed}"


def _number(lo=-math.inf, hi=math.inf, lo_open=False, hi_open=False):
    def check(v):
        below = v < lo or (lo_open and v == lo)
        above = v > hi or (hi_open and v == hi)
        if below or above:
            return f"must lie in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        return None

    return check


POSITIVE = _number(0.0, lo_open=True)
NON_NEGATIVE = _number(0.0)
UNIT = _number(0.0, 1.0)


def AT_LEAST_ONE(v):
    return None if v >= 1 else "must be a positive integer"


def _positive_ints(v):
    return None if all(isinstance(n, int) and n >= 1 for n in v) else "must hold positive integers"


def _dataset(v):
    return None if dataset_key(v) is not None else f"choose from {DATASET_NAMES}"


def _mask(v):
    return None if v in MASKS or Path(v).is_file() else f"choose from {MASKS} or give an existing PNG file"


def _optimizer(v):
    return None if str(v).lower() == "adam" else "choose from ('Adam',)"


_BASE = base_config()
TASKS = ("generate", "inpaint", "colorize", "interpolate")  # config.sampling.task (`score_sde.runner.controllable`)
RULES = {
    "training.sde": lambda v: _choice(*SDES.names())(v),
    "training.objective": lambda v: _choice("auto", *OBJECTIVES.names())(v),
    "training.loss_weighting": lambda v: _choice("auto", *WEIGHTINGS.names())(v),
    "training.time_sampling": _choice("auto", *TIME_SAMPLINGS),
    "training.eps": POSITIVE,
    "training.P_std": POSITIVE,
    "training.min_snr_gamma": POSITIVE,
    "training.batch_size": AT_LEAST_ONE,
    "training.fsdp": AT_LEAST_ONE,
    "training.fsdp_min_size": AT_LEAST_ONE,
    "training.n_iters": AT_LEAST_ONE,
    "training.n_jitted_steps": AT_LEAST_ONE,
    "training.log_freq": AT_LEAST_ONE,
    "training.eval_freq": AT_LEAST_ONE,
    "training.snapshot_freq": AT_LEAST_ONE,
    "training.snapshot_freq_for_preemption": AT_LEAST_ONE,
    "training.snapshot_num_samples": AT_LEAST_ONE,
    "training.label_dropout": UNIT,
    "model.name": lambda v: _choice(*MODELS.names())(v),
    "model.parameterization": lambda v: _choice("auto", *PARAMETERIZATIONS.names())(v),
    "model.noise_condition": _choice("auto", *NOISE_CONDITIONS),
    "model.sigma_data": POSITIVE,
    "model.beta_min": NON_NEGATIVE,
    "model.beta_max": POSITIVE,
    "model.sigma_min": POSITIVE,
    "model.sigma_max": POSITIVE,
    "model.cosine_s": POSITIVE,
    "model.edm_sigma_min": POSITIVE,
    "model.edm_sigma_max": POSITIVE,
    "model.schedule_features": AT_LEAST_ONE,
    "model.schedule_init_std": POSITIVE,
    "model.input_fourier_exponents": lambda v: None if all(isinstance(n, int) for n in v) else "must hold integers",
    "model.num_scales": AT_LEAST_ONE,
    "model.ema_rate": _number(0.0, 1.0, hi_open=True),
    "model.ema_halflife_kimg": NON_NEGATIVE,
    "model.ema_rampup_ratio": NON_NEGATIVE,
    "model.dropout": _number(0.0, 1.0, hi_open=True),
    "model.embedding_type": _choice(*EMBEDDINGS),
    "model.fourier_scale": POSITIVE,
    "model.num_classes": NON_NEGATIVE,
    "model.dtype": _choice("float32", "bfloat16"),
    "model.attention_implementation": _choice(*ATTENTION_IMPLEMENTATIONS),
    "model.nf": AT_LEAST_ONE,
    "model.ch_mult": _positive_ints,
    "model.num_res_blocks": AT_LEAST_ONE,
    "model.attn_resolutions": _positive_ints,
    "model.fir_kernel": lambda v: None if len(v) > 0 else "must not be empty",
    "model.resblock_type": _choice(*RESBLOCKS),
    "model.progressive": _choice(*PROGRESSIVE),
    "model.progressive_input": _choice(*PROGRESSIVE_INPUT),
    "model.progressive_combine": _choice(*COMBINE),
    **{f"model.{field}": _choice(type(_BASE.model[field])(value)) for field, value in REFERENCE_FIXED.items()},
    "model.hidden_dims": _positive_ints,
    "model.embedding_dim": AT_LEAST_ONE,
    "model.ae_channels": AT_LEAST_ONE,
    "model.ae_channel_mult": _positive_ints,
    "model.ae_num_res_blocks": AT_LEAST_ONE,
    "model.ae_latent_channels": AT_LEAST_ONE,
    "model.ae_num_groups": AT_LEAST_ONE,
    "model.ae_kl_weight": NON_NEGATIVE,
    "data.dataset": _dataset,
    "data.image_size": AT_LEAST_ONE,
    "data.num_channels": _choice(1, 3),
    "data.dim": AT_LEAST_ONE,
    "data.latents_ckpt": _number(-1),
    "data.latent_scale": NON_NEGATIVE,
    "sampling.method": lambda v: _choice(*OWN_SAMPLER, *SAMPLERS.names())(v),
    "sampling.predictor": lambda v: _choice(*PREDICTORS.names())(v),
    "sampling.corrector": lambda v: _choice(*CORRECTORS.names())(v),
    "sampling.ode_solver": lambda v: _choice(*ODE_SOLVERS.names())(v),
    "sampling.sde_solver": lambda v: _choice(*SDE_SOLVERS.names())(v),
    "sampling.schedule": _choice("auto", *SCHEDULES),
    "sampling.snr": POSITIVE,
    "sampling.n_steps_each": AT_LEAST_ONE,
    "sampling.num_steps": NON_NEGATIVE,
    "sampling.eps": POSITIVE,
    "sampling.rtol": POSITIVE,
    "sampling.atol": POSITIVE,
    "sampling.ode_num_steps": NON_NEGATIVE,
    "sampling.rho": POSITIVE,
    "sampling.eta": UNIT,
    "sampling.order": _choice(1, 2),
    "sampling.S_churn": NON_NEGATIVE,
    "sampling.S_min": NON_NEGATIVE,
    "sampling.S_max": NON_NEGATIVE,
    "sampling.S_noise": NON_NEGATIVE,
    "sampling.ode_denoise_step": _choice("reverse_diffusion", "tweedie"),
    "sampling.ode_score": _choice("continuous", "discrete"),
    "sampling.to_uint8": _choice("truncate", "round"),
    "sampling.class_label": _number(-1),
    "sampling.task": _choice(*TASKS),
    "sampling.mask": _mask,
    "sampling.interpolation_points": _number(2),
    "eval.end_ckpt": _number(-1),
    "eval.ckpt": _number(-1),
    "eval.begin_ckpt": NON_NEGATIVE,
    "eval.batch_size": AT_LEAST_ONE,
    "eval.num_samples": AT_LEAST_ONE,
    "eval.likelihood": _choice("ode", "elbo"),
    "eval.dequantization": _choice("uniform", "forward"),
    "eval.bpd_dataset": _choice("train", "test"),
    "eval.bpd_num_repeats": NON_NEGATIVE,
    "eval.num_bpd_examples": NON_NEGATIVE,
    "eval.num_loss_examples": NON_NEGATIVE,
    "eval.likelihood_trace": _choice(*TRACES),
    "eval.likelihood_rtol": POSITIVE,
    "eval.likelihood_atol": POSITIVE,
    "eval.fid_split": _choice("train", "test"),
    "eval.num_fid_examples": NON_NEGATIVE,
    "eval.num_kid_features": NON_NEGATIVE,
    "eval.inception_score_splits": AT_LEAST_ONE,
    "reflow.num_pairs": AT_LEAST_ONE,
    "distill.method": _choice("", "progressive", "consistency"),
    "distill.teacher_ckpt": _number(-1),
    "distill.teacher_steps": AT_LEAST_ONE,
    "distill.final_steps": AT_LEAST_ONE,
    "distill.weighting": _choice(*PROGRESSIVE_WEIGHTINGS),
    "distill.num_points": _number(2),
    "distill.points_schedule": _choice("fixed", "adaptive"),
    "distill.s0": _number(2),
    "distill.s1": AT_LEAST_ONE,
    "distill.target_decay": _number(0.0, 1.0, hi_open=True),
    "distill.rho": POSITIVE,
    "distill.metric": _choice("l2", "l1"),
    "distill.student_output": lambda v: _choice("raw", "auto", *PARAMETERIZATIONS.names())(v),
    "optim.optimizer": _optimizer,
    "optim.lr": NON_NEGATIVE,
    "optim.beta1": _number(0.0, 1.0, hi_open=True),
    "optim.beta2": _number(0.0, 1.0, hi_open=True),
    "optim.eps": POSITIVE,
    "optim.weight_decay": NON_NEGATIVE,
    "optim.warmup": NON_NEGATIVE,
    "optim.grad_clip": lambda v: (
        "must be a positive norm, or negative for no clipping (0 would clip every gradient to zero, as the "
        "reference does)"
        if v == 0
        else None
    ),
}
# fields that must be ordered: (smaller, larger)
ORDERED = [
    ("model.beta_min", "model.beta_max"),
    ("model.sigma_min", "model.sigma_max"),
    ("model.edm_sigma_min", "model.edm_sigma_max"),
    ("model.gamma_min", "model.gamma_max"),
    ("sampling.S_min", "sampling.S_max"),
]


def _type_error(value, expected) -> str | None:
    if isinstance(expected, bool):
        return None if isinstance(value, bool) else "must be True or False"
    if isinstance(expected, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if isinstance(expected, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if isinstance(expected, str):
        return None if isinstance(value, str) else "must be a string"
    if isinstance(expected, (tuple, list)):
        return None if isinstance(value, (tuple, list)) else "must be a tuple"
    return None


def _fail(path: str, value, problem: str):
    if problem.startswith("choose"):
        raise ValueError(f"config.{path}={value!r}: {problem}")
    raise ValueError(f"config.{path} {problem}; got {value!r}")


def _walk(config, schema, prefix: str = ""):
    """Yields (path, value, schema value) for every field, refusing unknown and missing ones."""
    for key in config.keys():
        path = f"{prefix}{key}"
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema.keys()), n=1)
            hint = f"did you mean {prefix}{close[0]}? " if close else ""
            where = f"config.{prefix[:-1]}" if prefix else "config"
            raise ValueError(f"config.{path} is not a setting: {hint}{where} has {tuple(sorted(schema.keys()))}")
    for key in schema.keys():
        path = f"{prefix}{key}"
        if key not in config:
            raise ValueError(
                f"config.{path} is missing: start configs from score_sde.config.base_config(), "
                "which declares every field"
            )
        value, expected = config[key], schema[key]
        if hasattr(expected, "keys"):
            if not hasattr(value, "keys"):
                _fail(path, value, "must be a section of settings")
            yield from _walk(value, expected, path + ".")
        else:
            yield path, value, expected


def check_config(config) -> None:
    """Raises ValueError with one line on the first unknown, missing, mistyped or invalid field."""
    values = {}
    for path, value, expected in _walk(config, _BASE):
        problem = _type_error(value, expected)
        if problem is None and path in RULES:
            problem = RULES[path](value)
        if problem:
            _fail(path, value, problem)
        values[path] = value
    for smaller, larger in ORDERED:
        if not values[smaller] < values[larger]:
            raise ValueError(
                f"config.{smaller}={values[smaller]!r} must be smaller than config.{larger}={values[larger]!r}"
            )
