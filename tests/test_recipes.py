"""The EDM, flow-matching (with reflow) and VDM recipes through the runner: wiring on tiny settings
by default, the documented toy runs in -m slow; the digits runs behind the documented figures are a
benchmark (benchmarks/documented_runs.py)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.edm import digits as edm_digits
from configs.flow import digits as flow_digits
from configs.vdm import digits as vdm_digits
from score_sde.evaluation.mmd import mmd_squared
from score_sde.runner.controllable import check_task
from score_sde.runner.reflow import reflow
from score_sde.runner.restore import REFLOW_PAIRS_FOLDER, check_reflowed_run, load_params
from score_sde.runner.setup import build
from score_sde.runner.state_evaluation import likelihood
from score_sde.runner.train_loop import train
from score_sde.sampling import ProbabilityFlowODE, sample_ode
from score_sde.sde import LinearFlow
from score_sde.straightness import straightness
from tests.runner_helpers import tiny_image_config, tiny_toy_config


def _metrics(workdir) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_vdm_trains_its_schedule_and_samples_its_process(tmp_path):
    """A tiny toy VDM run: the schedule is part of the checkpoint, starts at the config's endpoints
    and moves with training; sampling and the likelihood use the learned process."""
    config = tiny_toy_config(n_iters=20)
    config.training.sde = "learned_vp"
    config.model.schedule_features = 16
    config.optim.lr, config.optim.warmup = 0.05, 0  # large, so a few steps visibly move the schedule
    config.training.final_eval = True
    config.eval.num_samples = config.eval.batch_size = 100
    workdir = tmp_path / "vdm"
    final = train(config, workdir, progress=False)
    assert all(np.isfinite(r["loss"]) for r in _metrics(workdir) if "loss" in r)
    assert np.isfinite(final["nll_nats"]) and np.isfinite(final["mmd2_samples_vs_data"])
    setup = build(config, with_data=False)
    np.testing.assert_allclose(
        setup.process(setup.init_state().params).gamma(jnp.array([0.0, 1.0])), [-13.3, 5.0], rtol=1e-6
    )
    params, _, _ = load_params(setup, workdir, -1)
    assert set(params) == {"network", "schedule"}
    assert not np.allclose(setup.process(params).gamma(jnp.array([0.0, 1.0])), [-13.3, 5.0], atol=1e-3)


def test_image_likelihood_by_the_bound_reports_its_parts():
    """config.eval.likelihood='elbo' on images: bits/dim of the test digits with its three parts."""
    config = tiny_image_config()
    config.model.num_classes, config.sampling.guidance_scale = 0, 0.0
    config.training.sde, config.data.uniform_dequantization = "learned_vp", False
    config.model.parameterization, config.model.schedule_features = "eps", 16
    config.eval.likelihood = "elbo"
    setup = build(config, with_data=False)
    record = likelihood(setup, setup.init_state().ema_params, jax.random.PRNGKey(0), setup.run.evaluation)
    assert record["bpd_method"] == "elbo" and record["bpd_examples"] == 4
    np.testing.assert_allclose(
        record["bpd"], record["bpd_prior"] + record["bpd_diffusion"] + record["bpd_reconstruction"], rtol=1e-5
    )
    assert 1.0 < record["bpd"] < 30.0  # an untrained network: well above 0, far from a broken value


def test_vdm_refuses_dequantized_images():
    config = vdm_digits.get_config()
    config.data.uniform_dequantization = True
    with pytest.raises(ValueError, match="uniform_dequantization=False"):
        build(config, with_data=False)


def test_recipe_configs_build_with_their_samplers():
    """The digits recipes: EDM's Heun sampler at 35 NFE on EDM's path, EMA by half-life; flow
    matching's velocity on the linear path; VDM's learned schedule with Fourier features."""
    edm = build(edm_digits.get_config(), with_data=False)
    assert type(edm.sde).__name__ == "EDMPath" and edm.parameterization.name == "edm"
    assert edm.objective.settings.time_sampling == "log_normal" and edm.objective.settings.weighting == "edm"
    flow = build(flow_digits.get_config(), with_data=False)
    assert isinstance(flow.sde, LinearFlow) and flow.parameterization.name == "velocity"
    vdm = build(vdm_digits.get_config(), with_data=False)
    assert vdm.objective.name == "learned_schedule" and vdm.config.model.input_fourier_exponents == (6, 7)
    kernels = [leaf.shape for leaf in jax.tree.leaves(vdm.abstract_params()["network"]) if leaf.ndim == 4]
    assert sum(shape[2] == 5 for shape in kernels) == 1  # the input conv sees x with sin, cos at 2 frequencies
    assert vdm.abstract_params()["schedule"]["l2_kernel"].shape == (1024,)


def test_a_reflowed_flow_is_sampled_by_its_probability_flow_alone(tmp_path):
    """A reflowed flow (config.reflow.teacher) learns the velocity of its rectified coupling, not the
    marginal score of the Gaussian path: samplers that need that score are refused with one line,
    "auto" resolves to the ODE, and a workdir that --mode reflow trained is recognised by its pairs."""
    config = tiny_toy_config()
    config.training.sde = "linear_flow"
    config.reflow.teacher = str(tmp_path / "flow")
    refused = {
        "sde": {},
        "pc": {},
        "ddim": {"eta": 1.0},
        "heun": {"S_churn": 10.0},
    }
    for method, settings in refused.items():
        bad = config.copy_and_resolve_references()
        bad.sampling.method = method
        bad.sampling.update(settings)
        with pytest.raises(ValueError, match=f"method='{method}': .* reflowed flow .* sample it with 'ode'"):
            build(bad, with_data=False)
    pc_on_the_flow = config.copy_and_resolve_references()
    pc_on_the_flow.sampling.update(method="pc", probability_flow=True, corrector="langevin")
    with pytest.raises(ValueError, match="the langevin corrector needs the score"):
        build(pc_on_the_flow, with_data=False)
    pc_on_the_flow.sampling.corrector = "none"
    for method in ("auto", "ode", "dpm_solver", "ddim", "heun"):
        allowed = config.copy_and_resolve_references()
        allowed.sampling.method = method
        build(allowed, with_data=False)
    objective = build(pc_on_the_flow, with_data=False).objective  # the reference's predictors on the flow
    for task in ("inpaint", "colorize"):  # the steering tasks run PC on the marginal score
        with pytest.raises(ValueError, match=f"task='{task}' runs the predictor-corrector .* reflowed flow"):
            check_task(task, objective, image=True, num_channels=3)
    assert check_task("interpolate", objective, image=True, num_channels=3) == "interpolate"
    config.sampling.method = "auto"
    assert build(config, with_data=False).sampler == ProbabilityFlowODE.from_config(config.sampling)
    config.reflow.teacher = ""
    assert build(config, with_data=False).sampler.name == "pc"  # the reference's default for every other model
    (tmp_path / "reflowed" / REFLOW_PAIRS_FOLDER).mkdir(parents=True)
    with pytest.raises(ValueError, match="trained by --mode reflow .* --config.reflow.teacher"):
        check_reflowed_run(config, tmp_path / "reflowed")
    check_reflowed_run(config, tmp_path)  # an ordinary workdir


@pytest.mark.slow
def test_reflow_mode_draws_resumable_pairs_and_trains_on_them(tmp_path):
    """Toy wiring: a flow, then --mode reflow: pair shards in the workdir (reused on a restart),
    training on them from the teacher's parameters."""
    teacher = tmp_path / "flow"
    config = tiny_toy_config(n_iters=20)
    config.training.sde = "linear_flow"
    config.sampling.method, config.sampling.ode_solver = "ode", "euler"
    config.sampling.ode_num_steps = 8
    train(config, teacher, progress=False)
    config.reflow.teacher, config.reflow.num_pairs = str(teacher), 300
    config.eval.batch_size = 100
    config.optim.lr = 0.0  # so the student's parameters show where training started
    workdir = tmp_path / "reflow"
    record = reflow(config, workdir, progress=False)
    assert record["pairs"] == 300 and record["pair_shards_reused"] == 0 and record["step"] == 20
    shards = sorted((workdir / REFLOW_PAIRS_FOLDER).glob("pairs_*.npz"))
    assert len(shards) == 3
    with np.load(shards[0]) as pairs:
        assert pairs["noise"].shape == pairs["samples"].shape == (100, 2)
    assert all(np.isfinite(r["loss"]) for r in _metrics(workdir) if "loss" in r)
    setup = build(config, with_data=False)
    teacher_params, student_params = (load_params(setup, w, -1)[0] for w in (teacher, workdir))
    same = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)  # the EMA of equal values rounds
    jax.tree.map(same, student_params, teacher_params)  # started from the teacher
    again = reflow(config, workdir, progress=False)  # a restart: nothing redrawn, training already done
    assert again["pair_shards_reused"] == 3 and again["step"] == 20
    with pytest.raises(ValueError, match="a --workdir of its own"):
        reflow(config, teacher, progress=False)
    with pytest.raises(ValueError, match="config.reflow.teacher"):
        config.reflow.teacher = ""
        reflow(config, tmp_path / "other", progress=False)


def test_straightness_is_zero_for_straight_paths():
    """Data at one point: every linear-flow ODE path is the straight line from z to it (S = 0); a
    mixture's paths bend (S > 0)."""
    from score_sde.oracle import GaussianMixture, example_mixture

    process = LinearFlow()
    point = GaussianMixture(process, jnp.ones(1), jnp.array([[1.0, -2.0]]), 1e-8 * jnp.eye(2)[None])
    z = jax.random.normal(jax.random.PRNGKey(0), (256, 2))
    straight, ends = straightness(process, point.score, z)
    assert float(jnp.max(straight)) < 1e-6
    eps = process.eps  # the path ends at x_eps = (1 - eps) x_0 + eps z
    np.testing.assert_allclose(ends, (1 - eps) * jnp.array([1.0, -2.0]) + eps * z, atol=1e-4)
    assert float(jnp.mean(straightness(process, example_mixture(process).score, z)[0])) > 0.05


def _few_step_quality(setup, params, z, exact):
    process, score = setup.process(params), setup.score_fn(params)
    quality = {}
    for steps in (2, 4):
        x, _ = sample_ode(
            jax.random.PRNGKey(0), process, score, z.shape, solver="euler", num_steps=steps, denoise=False
        )
        quality[steps] = float(mmd_squared(x, exact))
    return quality


@pytest.mark.slow
def test_reflow_straightens_a_toy_flow_and_improves_few_step_quality(tmp_path, full_optimizations):
    """The documented toy run with flow matching, then one reflow (about 5 minutes): the
    straightness of the ODE paths falls and 2- and 4-step Euler samples get closer to the data."""
    from configs import toy2d
    from score_sde.datasets import get_toy_sampler

    config = toy2d.get_config()
    config.training.sde = "linear_flow"
    config.sampling.method = "ode"
    teacher = tmp_path / "flow"
    train(config, teacher, progress=False)
    config.reflow.teacher, config.reflow.num_pairs = str(teacher), 20000
    config.eval.batch_size = 2000
    student = tmp_path / "reflow"
    reflow(config, student, progress=False)

    setup = build(config, with_data=False)
    z = jax.random.normal(jax.random.PRNGKey(7), (2000, 2))
    exact = get_toy_sampler(config)(jax.random.PRNGKey(8), 2000)
    figures = {}
    for name, workdir in (("teacher", teacher), ("reflow", student)):
        params, _, _ = load_params(setup, workdir, -1)
        figures[name] = {
            "straightness": float(jnp.mean(straightness(setup.process(params), setup.score_fn(params), z)[0])),
            **_few_step_quality(setup, params, z, exact),
        }
    teacher_figures, reflow_figures = figures["teacher"], figures["reflow"]
    assert reflow_figures["straightness"] < 0.5 * teacher_figures["straightness"], figures
    assert reflow_figures[2] < teacher_figures[2] and reflow_figures[4] < teacher_figures[4], figures
