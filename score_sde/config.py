"""The one config schema: every field of a run, declared once, by the component that reads it.

Each field is a `score_sde.settings.Setting` (default, meaning, check) in the `SETTINGS` table of
the module that reads it: a process's constants next to the process (score_sde/sde/), a sampler's
options next to the sampler (score_sde/sampling/), the network's knobs next to the network, the
losses' settings next to the objectives, the optimizer's next to the train step. The run's own
fields (the training loop, the evaluation modes, reflow, the steering tasks) are declared here.
`base_config()` gathers them into one ConfigDict; `score_sde.runner.config_check.check_config`
refuses unknown fields and invalid values at start-up with one line naming the field and what is
allowed. The defaults are the reference's CIFAR-10 ones (configs/default_cifar10_configs.py of the
official code) where it has the field.

Shipped configs (configs/*.py) start from `base_config()` and override what differs; any field
can be set from the command line (--config.<section>.<field>=value).
"""

import dataclasses
import functools
import importlib

import ml_collections

from score_sde.settings import AT_LEAST_ONE, NON_NEGATIVE, Setting, choice, number

SECTIONS = ("training", "model", "data", "sampling", "eval", "reflow", "distill", "ict", "mean_flow", "scm", "optim")
# the modules whose SETTINGS make up the schema; a section's fields are listed in this order
COMPONENTS = (
    "score_sde.sde.base",
    "score_sde.objectives",
    "score_sde.objectives.denoising",
    "score_sde.config",
    "score_sde.parallel",
    "score_sde.guidance",
    "score_sde.models",
    "score_sde.parameterization",
    "score_sde.sde.reference",
    "score_sde.sde.paths",
    "score_sde.sde.learned",
    "score_sde.train_step",
    "score_sde.models.ncsnpp",
    "score_sde.models.autoencoder",
    "score_sde.objectives.autoencoding",
    "score_sde.datasets",
    "score_sde.objectives.latent",
    "score_sde.sampling.samplers",
    "score_sde.sampling.pc",
    "score_sde.sampling.probability_flow",
    "score_sde.sampling.reverse_sde",
    "score_sde.sampling.heun",
    "score_sde.sampling.ddim",
    "score_sde.sampling.dpm_solver",
    "score_sde.datasets.images",
    "score_sde.sampling.masks",
    "score_sde.bits_per_dim",
    "score_sde.evaluation.image_quality",
    "score_sde.objectives.students",
    "score_sde.distillation.consistency",
    "score_sde.objectives.consistency_training",
    "score_sde.objectives.mean_flow",
    "score_sde.objectives.continuous_consistency",
    "score_sde.distillation.samplers",
)
TASKS = ("generate", "inpaint", "colorize", "interpolate")  # config.sampling.task (`score_sde.runner.controllable`)

SETTINGS = {  # the run's own fields: the training loop, the evaluation modes, reflow, steering tasks
    "seed": Setting(42, "the run's seed: initialisation, data order, sampling"),
    "training.batch_size": Setting(128, "global batch, split over processes and devices", AT_LEAST_ONE),
    "training.n_iters": Setting(1300001, "training steps", AT_LEAST_ONE),
    "training.n_jitted_steps": Setting(5, "steps per device dispatch (one lax.scan)", AT_LEAST_ONE),
    "training.log_freq": Setting(50, "steps between loss records in metrics.jsonl", AT_LEAST_ONE),
    "training.eval_freq": Setting(100, "steps between held-out losses", AT_LEAST_ONE),
    "training.snapshot_freq": Setting(50000, "steps between kept checkpoints (and snapshot samples)", AT_LEAST_ONE),
    "training.snapshot_freq_for_preemption": Setting(
        10000, "steps between preemption checkpoints (last two kept)", AT_LEAST_ONE
    ),
    "training.snapshot_sampling": Setting(True, "a PNG grid of EMA samples at each snapshot"),
    "training.snapshot_num_samples": Setting(64, "samples drawn at each snapshot", AT_LEAST_ONE),
    "training.final_eval": Setting(
        False, ("after the last step: samples, their quality, and likelihood if eval.enable_bpd")
    ),
    "sampling.task": Setting("generate", "--mode sample: generate, inpaint, colorize, interpolate", choice(*TASKS)),
    "sampling.inputs": Setting("", 'steering tasks: "" (the eval split) or a folder of images'),
    "sampling.interpolation_points": Setting(8, "interpolate: points per pair, endpoints included", number(2)),
    "eval.begin_ckpt": Setting(9, "eval mode: the first snapshot number", NON_NEGATIVE),
    "eval.end_ckpt": Setting(26, "eval mode: the last snapshot number (-1: the newest)", number(-1)),
    "eval.ckpt": Setting(-1, ("sample and likelihood modes: snapshot number (-1: the newest checkpoint)"), number(-1)),
    "eval.batch_size": Setting(1024, "evaluation and sampling batch", AT_LEAST_ONE),
    "eval.enable_loss": Setting(True, "eval mode: the held-out loss"),
    "eval.enable_bpd": Setting(False, "eval mode and final_eval: bits/dim"),
    "eval.enable_sampling": Setting(False, "eval mode: samples and their quality"),
    "eval.num_samples": Setting(50000, "samples for sample quality (and steering tasks: images)", AT_LEAST_ONE),
    "eval.bpd_dataset": Setting("test", "bits/dim of the train or test split", choice("train", "test")),
    "eval.num_bpd_examples": Setting(0, "images for bits/dim (0: the whole split)", NON_NEGATIVE),
    "eval.num_loss_examples": Setting(0, "images for the held-out loss (0: the whole split)", NON_NEGATIVE),
    "eval.posthoc_sigma_rel": Setting(
        0.0,
        "> 0: evaluate and sample the post-hoc EMA of this sigma_rel at the checkpoint, reconstructed from the kept "
        "snapshots of config.model.power_ema_sigma_rels (0: the run's EMA)",
        number(0.0, 12**-0.5, hi_open=True),
    ),
    "reflow.teacher": Setting(
        "", ("--mode reflow: workdir of the trained flow whose ODE draws the (noise, sample) pairs")
    ),
    "reflow.num_pairs": Setting(10000, "--mode reflow: pairs to draw and train on", AT_LEAST_ONE),
    "reflow.init_from_teacher": Setting(True, "--mode reflow: start from the teacher's EMA parameters (Liu et al.)"),
}


@functools.cache
def schema() -> dict[str, Setting]:
    """{"section.field" (or "seed"): Setting} of every field: the COMPONENTS' tables, section by
    section. Raises ValueError if two components declare one field or a field's section is unknown."""
    declared: dict[str, tuple[str, Setting]] = {}
    for module in COMPONENTS:
        for name, setting in importlib.import_module(module).SETTINGS.items():
            if name in declared:
                raise ValueError(f"config.{name} is declared by both {declared[name][0]} and {module}")
            if "." in name and name.split(".")[0] not in SECTIONS:
                raise ValueError(f"config.{name} ({module}): its section must be one of {SECTIONS}")
            declared[name] = (module, setting)
    order = {section: i for i, section in enumerate(("",) + SECTIONS)}
    names = sorted(declared, key=lambda name: order[name.split(".")[0] if "." in name else ""])
    return {name: declared[name][1] for name in names}


def base_config() -> ml_collections.ConfigDict:
    """A config with every field of the schema at its default."""
    config = ml_collections.ConfigDict()
    for section in SECTIONS:
        config[section] = ml_collections.ConfigDict()
    for name, setting in schema().items():
        section, _, field = name.rpartition(".")
        (config[section] if section else config)[field] = setting.default
    return config


# config.eval's fields the evaluation of a state reads (`score_sde.runner.state_evaluation`)
EVAL_FIELDS = (
    "likelihood",
    "dequantization",
    "batch_size",
    "num_samples",
    "enable_loss",
    "enable_bpd",
    "enable_sampling",
    "bpd_dataset",
    "bpd_num_repeats",
    "bpd_batch_repeats",
    "num_bpd_examples",
    "num_loss_examples",
    "likelihood_trace",
    "likelihood_rtol",
    "likelihood_atol",
)
# the reference's dequantisation repeats for bits/dim (its run_lib): 5 on the test split, 1 on train
REFERENCE_BPD_REPEATS = {"test": 5, "train": 1}


def eval_settings(config) -> dict:
    """The config.eval fields evaluation reads (`EVAL_FIELDS`), as a dict the modes adjust (e.g.
    enable_sampling); bpd_num_repeats 0 becomes the reference's count for bpd_dataset."""
    settings = {field: config.eval[field] for field in EVAL_FIELDS}
    if settings["bpd_num_repeats"] == 0:
        settings["bpd_num_repeats"] = REFERENCE_BPD_REPEATS.get(settings["bpd_dataset"], 1)
    return settings


@dataclasses.dataclass(frozen=True)
class TrainingLoop:
    """The training loop's settings: config.training's steps, batch and frequencies, the label
    dropout of classifier-free guidance, and the EMAs of the parameters (config.model.ema_* and
    the power-function EMAs of post-hoc EMA, config.model.power_ema_sigma_rels)."""

    batch_size: int
    n_iters: int
    n_jitted_steps: int
    log_freq: int
    eval_freq: int
    snapshot_freq: int
    snapshot_freq_for_preemption: int
    snapshot_sampling: bool
    snapshot_num_samples: int
    final_eval: bool
    label_dropout: float
    ema_rate: float
    ema_halflife_kimg: float
    ema_rampup_ratio: float
    power_ema_sigma_rels: tuple[float, ...]

    @classmethod
    def from_config(cls, config) -> "TrainingLoop":
        model = config.model
        ema = ("ema_rate", "ema_halflife_kimg", "ema_rampup_ratio", "power_ema_sigma_rels")
        loop = {field.name: config.training[field.name] for field in dataclasses.fields(cls) if field.name not in ema}
        return cls(
            **loop,
            ema_rate=float(model.ema_rate),
            ema_halflife_kimg=float(model.ema_halflife_kimg),
            ema_rampup_ratio=float(model.ema_rampup_ratio),
            power_ema_sigma_rels=tuple(float(s) for s in model.power_ema_sigma_rels),
        )


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The run's own settings, read once by the builder (`runner.setup.build`) for the modes: the
    seed, the training loop, the evaluation's fields (`eval_settings`), the snapshots the modes
    read (config.eval.ckpt, begin_ckpt, end_ckpt; posthoc_sigma_rel: their post-hoc EMA instead
    of the EMA) and --mode sample's task (config.sampling.task, inputs, mask, interpolation_points)."""

    seed: int
    loop: TrainingLoop
    evaluation: dict
    ckpt: int
    begin_ckpt: int
    end_ckpt: int
    posthoc_sigma_rel: float
    task: str
    inputs: str
    mask: str
    interpolation_points: int

    @classmethod
    def from_config(cls, config) -> "RunSettings":
        sampling, evaluation = config.sampling, config.eval
        return cls(
            seed=int(config.seed),
            loop=TrainingLoop.from_config(config),
            evaluation=eval_settings(config),
            ckpt=int(evaluation.ckpt),
            begin_ckpt=int(evaluation.begin_ckpt),
            end_ckpt=int(evaluation.end_ckpt),
            posthoc_sigma_rel=float(evaluation.posthoc_sigma_rel),
            task=str(sampling.task),
            inputs=str(sampling.inputs),
            mask=str(sampling.mask),
            interpolation_points=int(sampling.interpolation_points),
        )


def on_schema(values) -> ml_collections.ConfigDict:
    """A config on the current schema from `values` (a ConfigDict or a nested dict, e.g. a reference
    config or a run's stored config.json): every field it sets, lists as the schema's tuples, and the
    schema's default for every field it lacks; fields the schema does not know are kept as given."""
    config = base_config()
    _update(config, values.to_dict() if isinstance(values, ml_collections.ConfigDict) else values)
    return config


def _update(config: ml_collections.ConfigDict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and key in config:
            _update(config[key], value)
        else:
            config[key] = tuple(value) if isinstance(value, list) else value
