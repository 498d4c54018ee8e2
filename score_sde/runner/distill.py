"""The distill mode: a few-step student of a trained teacher (config.distill.teacher).

  python -m experiments.main --config configs/distill/digits_progressive.py --mode distill \
      --workdir runs/pd --config.distill.teacher=runs/quickstart

config.distill.method:
  "progressive" (Salimans & Ho 2022): rounds of config.training.n_iters steps each. Round r's
    student, initialised from its teacher, learns to match two deterministic DDIM steps of the
    teacher with one of its own; its teacher is the trained run in round 0 and the previous
    round's student (EMA) after that, so the steps halve config.distill.teacher_steps -> ... ->
    config.distill.final_steps. Round r trains in <workdir>/students/<N>_steps/ (a run of its own:
    checkpoints, metrics, snapshot samples with its N steps, the final evaluation), ends with a
    distill.json record there, and is skipped when that record exists: an interrupted job resumes
    inside the round it was in.
  "consistency" (Song et al. 2023): one training in <workdir>, the student initialised from the
    teacher, with the EMA target network and the teacher's Heun steps (`ConsistencyStudent`).
  "scm" (sCD, Lu & Song 2025): one training in <workdir> of a continuous-time consistency model on
    TrigFlow's path whose tangent follows the teacher's probability flow (`ContinuousConsistency`).
    The teacher may be on any process (its denoiser is read at TrigFlow's noise levels); the
    student starts from the teacher's weights when the teacher is a TrigFlow model, else afresh.

Students sample with their own sampler (config.sampling.method "auto"; every round directory's
config.json has its own number of steps) and are evaluated like any run (--mode sample / eval).
"""

import json
import logging
from pathlib import Path

import jax

from score_sde.distillation import halving_rounds, student_params
from score_sde.files import write_json_atomic
from score_sde.objectives import teachers
from score_sde.runner.restore import load_params, run_config
from score_sde.runner.setup import Setup, build
from score_sde.runner.train_loop import train

logger = logging.getLogger(__name__)
ROUND_RECORD = "distill.json"


def student_config(config, num_steps: int):
    """The run config of a student: sampled by its own sampler in `num_steps` steps, no held-out
    loss (the distillation objective needs the teacher, which evaluation does not load)."""
    config = config.copy_and_resolve_references()
    config.sampling.method = "auto"
    config.sampling.num_steps = num_steps
    config.eval.enable_loss = False
    return config


def load_teacher(config, setup: Setup, same_process: bool = True) -> tuple[Setup, object, int]:
    """(teacher setup, its EMA network parameters, step) of config.distill.teacher, checked against
    the student's `setup`: the same network architecture and (`same_process`) the same process."""
    teacher = str(config.distill.teacher)
    teacher_config = run_config(teacher, "config.distill.teacher")
    teacher_setup = build(teacher_config, with_data=False)
    if "distill" not in teacher_setup.objective.teaches:
        raise ValueError(
            f"config.distill.teacher={teacher!r} must be a score model on a fixed process (objective "
            f"{' or '.join(teachers('distill'))}), not {teacher_setup.objective.name!r}"
        )
    if same_process and teacher_setup.sde != setup.sde:
        raise ValueError(
            f"the student's process {setup.sde} differs from the teacher's {teacher_setup.sde} "
            f"({teacher}/config.json): distil with the teacher's config.training.sde and its settings"
        )
    if str(teacher_config.data.latents_of) != str(config.data.latents_of):
        raise ValueError(
            f"config.data.latents_of={config.data.latents_of!r} differs from the teacher's "
            f"{teacher_config.data.latents_of!r}: a student models the teacher's data"
        )
    student_shapes = jax.tree.map(lambda x: (x.shape, x.dtype), setup.network_params(setup.abstract_params()))
    teacher_shapes = jax.tree.map(lambda x: (x.shape, x.dtype), teacher_setup.abstract_params())
    if student_shapes != teacher_shapes:
        raise ValueError(
            f"the student's network (config.model) differs from the teacher's in {teacher}/config.json: a student "
            "starts from its teacher, so it needs the same architecture"
        )
    params, step, _ = load_params(
        teacher_setup, Path(teacher), int(config.distill.teacher_ckpt), "config.distill.teacher_ckpt"
    )
    return teacher_setup, teacher_setup.network_params(params), step


def distill(config, workdir, progress: bool = True) -> dict:
    """Distils config.distill.teacher into `workdir` by config.distill.method; returns the record of
    the (last) student."""
    method = str(config.distill.method)
    if not method:
        raise ValueError("--mode distill needs config.distill.method: 'progressive', 'consistency' or 'scm'")
    if not str(config.distill.teacher):
        raise ValueError("--mode distill needs config.distill.teacher: the workdir of the trained teacher")
    workdir = Path(workdir)
    if workdir.resolve() == Path(config.distill.teacher).resolve():
        raise ValueError(f"--mode distill needs a --workdir of its own, not the teacher's {config.distill.teacher}")
    setup = build(config, with_data=False)
    teacher_setup, teacher_network, step = load_teacher(config, setup, same_process=method != "scm")
    logger.info("distilling %s (step %d) by %s", config.distill.teacher, step, method)
    return DISTILLATIONS[method](config, workdir, teacher_setup, teacher_network, progress)


def _progressive(config, workdir: Path, teacher_setup: Setup, teacher_network, progress: bool) -> dict:
    rounds = halving_rounds(int(config.distill.teacher_steps), int(config.distill.final_steps))
    teacher, teacher_parameterization, record = teacher_network, teacher_setup.parameterization, {}
    for number, steps in enumerate(rounds):
        folder = workdir / "students" / f"{steps}_steps"
        round_config = student_config(config, steps)
        if not (folder / ROUND_RECORD).is_file():

            def objective(setup, parameterization=teacher_parameterization, steps=steps):
                return setup.objective.with_teacher(parameterization, steps)

            initial = student_params(teacher, teacher, with_target=False)
            record = {"round": number, "student_steps": steps, "teacher_steps": 2 * steps}
            record |= train(round_config, folder, progress, initial_params=initial, objective=objective)
            if jax.process_index() == 0:
                write_json_atomic(folder / ROUND_RECORD, record)
        else:
            logger.info("round %d (%d steps) is done in %s", number, steps, folder)
        round_setup = build(round_config, with_data=False)
        teacher = load_params(round_setup, folder, -1)[0]["student"]
        teacher_parameterization = round_setup.parameterization
    return record or _read_record(workdir / "students" / f"{rounds[-1]}_steps" / ROUND_RECORD)


def _consistency(config, workdir: Path, teacher_setup: Setup, teacher_network, progress: bool) -> dict:
    initial = student_params(teacher_network, teacher_network, with_target=True)
    objective = lambda setup: setup.objective.with_teacher(teacher_setup.parameterization)
    return train(student_config(config, 1), workdir, progress, initial_params=initial, objective=objective)


def _continuous_consistency(config, workdir: Path, teacher_setup: Setup, teacher_network, progress: bool) -> dict:
    run_config = student_config(config, int(config.sampling.num_steps) or 1)
    seed = jax.random.PRNGKey(int(config.seed))
    initial = build(run_config, with_data=False).objective.init_params({"params": seed, "dropout": seed})
    if teacher_setup.parameterization.name == "trigflow":  # the paper's start: the teacher itself
        initial["student"] = teacher_network
    initial["teacher"] = teacher_network
    objective = lambda setup: setup.objective.with_teacher(teacher_setup.sde, teacher_setup.parameterization)
    return train(run_config, workdir, progress, initial_params=initial, objective=objective)


DISTILLATIONS = {"progressive": _progressive, "consistency": _consistency, "scm": _continuous_consistency}


def _read_record(path: Path) -> dict:
    with open(path) as file:
        return json.load(file)
