"""The check, sample, likelihood, eval, posthoc_ema and fid_stats modes: check a config, or load
checkpoints from a workdir and evaluate or export them (checkpoint numbers: `score_sde.runner.restore`)."""

import dataclasses
import logging
from pathlib import Path

import jax
import jax.numpy as jnp

from score_sde.checkpoints import Checkpointer
from score_sde.evaluation.image_quality import compute_reference_statistics, reference_statistics_path
from score_sde.evaluation.inception import WEIGHTS_HELP, load_inception_params
from score_sde.evaluation.metrics import save_statistics
from score_sde.files import write_json_atomic
from score_sde.runner.controllable import check_task, run_task
from score_sde.runner.drawing import write_samples
from score_sde.runner.restore import check_reflowed_run, load_params, params_at
from score_sde.runner.setup import build, parameter_count
from score_sde.runner.state_evaluation import evaluate_state, likelihood
from score_sde.summaries import Summaries

logger = logging.getLogger(__name__)


def sample(config, workdir, progress: bool = True) -> dict:
    """Runs config.sampling.task with checkpoint config.eval.ckpt, into <workdir>/samples/<step_k>/.

    "generate": config.eval.num_samples samples (samples.png, samples.npz, summary.json) and
    their quality; the processes share the batches, each finished batch kept in pieces/ so that a
    restarted job draws only the missing ones, and sample i depends only on (config.seed, i).
    "inpaint", "colorize", "interpolate": see `score_sde.runner.controllable`.
    """
    setup = build(config, with_data=False)
    run = setup.run
    task = check_task(run.task, setup.objective, setup.image, setup.event_shape[-1])
    workdir = Path(workdir)
    check_reflowed_run(config, workdir)
    params, step, label = load_params(setup, Path(workdir), run.ckpt)
    folder = workdir / "samples" / label
    rng = jax.random.PRNGKey(run.seed + 3)
    if task != "generate":
        record = {"step": step, **run_task(setup, params, rng, task, folder)}
        if jax.process_index() == 0:
            write_json_atomic(folder / f"{task}.json", record)
        return record
    settings = {**run.evaluation, "enable_loss": False, "enable_bpd": False, "enable_sampling": True}
    record, samples = evaluate_state(setup, params, rng, settings, progress, workdir, folder / "pieces")
    record = {"step": step, "sampler": setup.sampler_name, **record}
    if jax.process_index() == 0:
        if samples is not None:
            nfe = record.get("sample_nfe", 0)  # an autoencoder's pictures are reconstructions
            write_samples(setup, folder, samples, title=f"{label}, {record['sampler']} sampler, nfe {nfe}")
        write_json_atomic(folder / "summary.json", record)
    return record


def compute_likelihood(config, workdir, progress: bool = True) -> dict:
    """Bits/dim of config.eval.bpd_dataset under checkpoint config.eval.ckpt, saved to
    <workdir>/likelihood/<step_k>.json. The processes share the batches; each finished batch is
    kept in <workdir>/likelihood/<step_k>/, so a restarted job computes only the missing ones."""
    setup = build(config, with_data=False)
    workdir = Path(workdir)
    params, step, label = load_params(setup, Path(workdir), setup.run.ckpt)
    record = {
        "step": step,
        **likelihood(
            setup,
            params,
            jax.random.PRNGKey(setup.run.seed + 4),
            setup.run.evaluation,
            progress,
            workdir / "likelihood" / label,
        ),
    }
    if jax.process_index() == 0:
        write_json_atomic(workdir / "likelihood" / f"{label}.json", record)
    return record


def evaluate(config, workdir, progress: bool = True) -> list[dict]:
    """The reference's evaluation loop: for each snapshot k in [eval.begin_ckpt, eval.end_ckpt]
    (end -1: up to the newest), the enabled figures, appended to <workdir>/eval_metrics.jsonl.
    Finished batches of bits/dim and samples are kept in <workdir>/eval/<step_k>/pieces/: a
    restarted evaluation computes only the missing ones."""
    setup = build(config, with_data=bool(config.eval.enable_loss))
    run, workdir = setup.run, Path(workdir)
    settings = run.evaluation
    if settings["enable_sampling"]:
        check_reflowed_run(config, workdir)
    checkpointer = Checkpointer(workdir)
    freq = run.loop.snapshot_freq
    begin, end = run.begin_ckpt, run.end_ckpt
    steps = [s for s in checkpointer.snapshot_steps() if s >= begin * freq and (end < 0 or s <= end * freq)]
    if not steps:
        raise FileNotFoundError(
            f"no snapshots in {workdir} between config.eval.begin_ckpt={begin} and end_ckpt={end} (snapshot numbers "
            f"available: {[s // freq for s in checkpointer.snapshot_steps()]})"
        )
    summaries = Summaries(workdir, "eval_metrics", enabled=jax.process_index() == 0)
    records = []
    for step in steps:
        params, folder = params_at(setup, checkpointer, step)
        record, samples = evaluate_state(
            setup,
            params,
            jax.random.fold_in(jax.random.PRNGKey(run.seed + 5), step),
            settings,
            progress,
            workdir,
            workdir / "eval" / folder / "pieces",
        )
        posthoc = {"posthoc_sigma_rel": run.posthoc_sigma_rel} if run.posthoc_sigma_rel > 0 else {}
        record = {"ckpt": step // freq, **posthoc, **record}
        summaries.scalars(step, record)
        if samples is not None and jax.process_index() == 0:
            write_samples(setup, workdir / "eval" / folder, samples, title=f"step {step}")
        logger.info("step %d: %s", step, record)
        records.append({"step": step, **record})
    checkpointer.close()
    summaries.close()
    return records


def posthoc_ema(config, workdir, progress: bool = True) -> dict:
    """Writes the post-hoc EMA of width config.eval.posthoc_sigma_rel at checkpoint config.eval.ckpt
    as a run of its own, <workdir>/posthoc_ema/sigma_rel_<s>/: its config.json (post-hoc EMA off)
    and one snapshot whose parameters and EMA are the reconstruction, which every mode, and every
    run that builds on another (a teacher, autoguidance's weaker model), reads like any run."""
    setup = build(config, with_data=False)
    sigma_rel = setup.run.posthoc_sigma_rel
    if sigma_rel <= 0:
        raise ValueError("--mode posthoc_ema needs config.eval.posthoc_sigma_rel > 0: the EMA width to reconstruct")
    params, step, _ = load_params(setup, Path(workdir), setup.run.ckpt)
    folder = Path(workdir) / "posthoc_ema" / f"sigma_rel_{sigma_rel:g}"
    exported = config.copy_and_resolve_references()
    exported.model.power_ema_sigma_rels, exported.eval.posthoc_sigma_rel, exported.eval.ckpt = (), 0.0, -1
    state = build(exported, with_data=False).init_state(params)
    state = dataclasses.replace(state, step=jnp.full_like(state.step, step))
    if jax.process_index() == 0:
        write_json_atomic(folder / "config.json", exported.to_dict())
    checkpointer = Checkpointer(folder)
    checkpointer.save(step, state, snapshot=True)
    checkpointer.wait()
    checkpointer.close()
    return {"path": str(folder), "step": step, "sigma_rel": sigma_rel}


def fid_stats(config, workdir, progress: bool = True) -> dict:
    """Computes the Inception reference statistics of config.eval.fid_split of the run's dataset
    (mu, sigma and KID features) into <workdir>/fid_stats/<dataset>_<split>_<size>px.npz; needs
    config.eval.inception_weights. No checkpoint is needed."""
    weights = str(config.eval.inception_weights)
    if not weights:
        raise ValueError(f"--mode fid_stats needs config.eval.inception_weights: {WEIGHTS_HELP}")
    build(config, with_data=False)
    reference = compute_reference_statistics(config, load_inception_params(weights), progress)
    path = reference_statistics_path(config, workdir)
    if jax.process_index() == 0:
        save_statistics(
            path, reference["mu"], reference["sigma"], kid_features=reference["kid_features"], count=reference["count"]
        )
    return {"path": str(path), "examples": reference["count"], "split": str(config.eval.fid_split)}


def check(config, workdir=None, progress: bool = False) -> dict:
    """Validates the config and builds the objective, process, parameterisation, network (shapes
    only) and sampler, reading no data, no checkpoint and writing nothing (a latent model's
    autoencoder from its config.json alone); returns a summary of what a run would use."""
    setup = build(config, with_data=False, with_weights=False)
    sde, sampler = setup.sde, setup.sampler
    params = setup.abstract_params()
    latent, latents = setup.latent, {}
    if latent is not None:
        decoded = list(latent.image_shape)
        scale = f"{latent.scale:.4g}" if latent.scale else "estimated from the training data on first use"
        latents["latents"] = f"{latent.workdir} (its config; weights not read), scale {scale}, decoded to {decoded}"
    return {
        "config": "ok",
        "objective": setup.objective.describe(),
        "process": f"{type(sde).__name__}(T={sde.T:g}, N={sde.N}, prior_std={sde.prior_std:g})",
        "parameterization": repr(setup.parameterization),
        "model": f"{config.model.name}: {parameter_count(params):,} parameters, {len(jax.tree.leaves(params))} tensors",
        "event_shape": list(setup.event_shape),
        "sampler": "none" if sampler is None else f"{sampler.name} (eps={config.sampling.eps:g})",
        "sampler_settings": repr(sampler),
        "likelihood": setup.objective.likelihood,
        "devices": f"{jax.device_count()} {jax.devices()[0].platform} device(s), {jax.process_count()} process(es)",
        **latents,
    }
