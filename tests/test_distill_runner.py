"""Few-step students through the runner (--mode distill): progressive distillation's rounds and
consistency distillation, their frozen teacher and EMA target, resuming, and sampling with
config.sampling.method="student"."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from score_sde.checkpoints import Checkpointer
from score_sde.distillation import ConsistencySchedule, student_optimizer, student_params
from score_sde.runner.distill import ROUND_RECORD, distill, load_teacher
from score_sde.runner.modes import compute_likelihood, sample
from score_sde.runner.restore import load_params
from score_sde.runner.setup import build
from score_sde.runner.train_loop import train
from tests.runner_helpers import tiny_image_config


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    config = tiny_image_config()
    config.model.num_classes, config.sampling.guidance_scale = 0, 0.0
    config.training.snapshot_sampling = False
    workdir = tmp_path_factory.mktemp("distill") / "teacher"
    train(config, workdir, progress=False)
    return config, workdir


def student_config(teacher_config, teacher_workdir, method: str):
    config = teacher_config.copy_and_resolve_references()
    config.distill.method, config.distill.teacher = method, str(teacher_workdir)
    config.model.parameterization = "v" if method == "progressive" else "consistency"
    config.model.noise_condition = "time"
    config.training.n_iters, config.training.final_eval, config.training.snapshot_sampling = 2, False, False
    config.eval.enable_loss = False
    config.training.snapshot_freq = config.training.snapshot_freq_for_preemption = 2
    return config


def test_the_student_optimizer_moves_the_student_only_and_the_target_by_its_ema():
    optimizer = student_optimizer(optax.sgd(0.5), ConsistencySchedule(target_decay=0.9).decay)
    params = student_params({"w": jnp.ones(3)}, {"w": jnp.full(3, 7.0)}, with_target=True)
    params["target"] = {"w": jnp.zeros(3)}
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    moved = optax.apply_updates(params, updates)
    np.testing.assert_allclose(moved["student"]["w"], 1.0 - 0.5)
    np.testing.assert_allclose(moved["teacher"]["w"], 7.0)
    np.testing.assert_allclose(moved["target"]["w"], 0.9 * 0.0 + 0.1 * 0.5, rtol=1e-6)


@pytest.mark.slow  # an end-to-end run of 25-40 s: in the slow tier, so the default one stays under 10 minutes
def test_progressive_distillation_halves_the_steps_round_by_round_and_resumes(teacher_run, tmp_path):
    teacher_config, teacher_workdir = teacher_run
    config = student_config(teacher_config, teacher_workdir, "progressive")
    config.distill.teacher_steps, config.distill.final_steps = 4, 1
    workdir = tmp_path / "pd"
    record = distill(config, workdir, progress=False)
    assert record["student_steps"] == 1 and record["step"] == 2
    for steps in (2, 1):
        assert (workdir / "students" / f"{steps}_steps" / ROUND_RECORD).is_file()

    checkpointer = Checkpointer(workdir / "students" / "2_steps")
    state = checkpointer.restore(2, build(config, with_data=False).abstract_state())
    checkpointer.close()
    teacher = load_params(build(teacher_config, with_data=False), teacher_workdir, -1)[0]
    jax.tree.map(np.testing.assert_array_equal, state.params["teacher"], teacher)  # round 1's teacher: frozen
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, state.params["student"], teacher)))

    (workdir / "students" / "1_steps" / ROUND_RECORD).unlink()  # the last round was cut short
    again = distill(config, workdir, progress=False)
    assert again["student_steps"] == 1 and again["step"] == 2  # only that round ran again, from its checkpoint


@pytest.mark.slow  # an end-to-end run of 25-40 s: in the slow tier, so the default one stays under 10 minutes
def test_consistency_distillation_trains_a_student_sampled_in_one_or_more_steps(teacher_run, tmp_path):
    teacher_config, teacher_workdir = teacher_run
    config = student_config(teacher_config, teacher_workdir, "consistency")
    config.distill.points_schedule = "adaptive"
    config.training.final_eval, config.eval.enable_bpd = True, True
    workdir = tmp_path / "cd"
    record = distill(config, workdir, progress=False)
    assert record["sample_nfe"] == 1 and np.isfinite(record["fd_digits"])
    assert not {"bpd", "nll_nats", "likelihood_time_s"} & set(record)  # a few-step sampler defines no density
    with pytest.raises(ValueError, match="consistency student .* defines no density"):
        compute_likelihood(config, workdir, progress=False)
    losses = [json.loads(line).get("loss") for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(loss) for loss in losses if loss is not None)
    params = load_params(build(config, with_data=False), workdir, -1)[0]
    assert set(params) == {"student", "teacher", "target"}

    config.sampling.method, config.sampling.num_steps, config.eval.num_samples = "student", 3, 2
    assert sample(config, workdir, progress=False)["sample_nfe"] == 3


def test_distillation_refuses_a_teacher_it_cannot_distil(teacher_run, tmp_path):
    teacher_config, teacher_workdir = teacher_run
    config = student_config(teacher_config, teacher_workdir, "progressive")
    config.model.nf = 16
    with pytest.raises(ValueError, match="differs from the teacher's .* same architecture"):
        distill(config, tmp_path / "pd", progress=False)
    config = student_config(teacher_config, teacher_workdir, "progressive")
    config.model.parameterization = "eps"
    with pytest.raises(ValueError, match="a progressive student needs \\('v', 'x0'\\)"):
        distill(config, tmp_path / "pd", progress=False)
    config = student_config(teacher_config, teacher_workdir, "consistency")
    config.model.beta_max = 10.0
    with pytest.raises(ValueError, match="process .* differs from the teacher's"):
        distill(config, tmp_path / "cd", progress=False)
    # the teacher's objective decides (Objective.teaches): a VDM teacher is refused before any weights are read
    config = student_config(teacher_config, teacher_workdir, "progressive")
    setup = build(config, with_data=False)
    vdm = tmp_path / "vdm"
    vdm.mkdir()
    vdm_config = teacher_config.copy_and_resolve_references()
    vdm_config.training.sde, vdm_config.model.parameterization = "learned_vp", "eps"
    vdm_config.data.uniform_dequantization = False
    (vdm / "config.json").write_text(json.dumps(vdm_config.to_dict()))
    config.distill.teacher = str(vdm)
    with pytest.raises(ValueError, match=r"objective denoising or latent\), not 'learned_schedule'"):
        load_teacher(config, setup)
