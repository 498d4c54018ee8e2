"""The train mode: resumable, data-parallel training with EMA, checkpoints, logs and snapshot samples."""

import logging
import signal
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from tqdm.auto import tqdm

from score_sde.checkpoints import Checkpointer
from score_sde.datasets.pipeline import prefetch
from score_sde.files import write_json_atomic
from score_sde.objectives import Objective
from score_sde.parallel import to_global
from score_sde.runner.drawing import draw_samples, write_samples
from score_sde.runner.setup import Setup, build
from score_sde.runner.state_evaluation import eval_loss, evaluate_state, reconstructions
from score_sde.summaries import Summaries
from score_sde.train_step import ema_decay, make_train_step

logger = logging.getLogger(__name__)


def make_run_steps(setup: Setup, objective: Objective | None = None):
    """run(state, raw_batches) -> (state, {"loss": (n,)}): the objective's gradient step on model
    input made on device; `objective` replaces the run's own (a student's, with its teacher)."""
    data, objective = setup.training_data, objective or setup.objective
    x_sharding = setup.layout.batch_sharding()

    num_classes, loop = setup.num_classes, setup.run.loop

    def value_and_grad(params, rng, raw, step):
        inputs_rng, loss_rng = jax.random.split(rng)
        input_rng, label_rng = jax.random.split(inputs_rng)
        x = jax.lax.with_sharding_constraint(data.model_input(input_rng, raw, True), x_sharding)
        labels = drop_labels(label_rng, raw["label"], loop.label_dropout, num_classes) if num_classes else None
        noise = raw.get("noise") if isinstance(raw, dict) else None  # reflow's coupled noise
        return objective.value_and_grad(params, loss_rng, x, labels, noise, step)

    raw_sharding = setup.layout.batch_sharding(1) if data.image else setup.layout.replicated
    # XLA:CPU computes convolution weight gradients ~28x slower inside a loop (measured on NCSN++),
    # so image models unroll the steps of a dispatch there; unrolling an MLP only costs compile time.
    unroll = jax.default_backend() == "cpu" and data.image
    run = make_train_step(
        None,
        setup.optimizer,
        ema_decay(loop.ema_rate, loop.ema_halflife_kimg, loop.ema_rampup_ratio, loop.batch_size),
        value_and_grad=value_and_grad,
        unroll=unroll,
        state_sharding=setup.state_sharding(),
        batch_sharding=raw_sharding,
        metrics_sharding=setup.layout.replicated,
    )
    return run, raw_sharding


def drop_labels(rng, labels, probability: float, null_label: int):
    """Each label replaced by `null_label` with `probability` (classifier-free guidance training)."""
    return jnp.where(jax.random.bernoulli(rng, probability, labels.shape), null_label, labels)


def _first_bad_step(step_losses: list[tuple[int, jax.Array]]) -> tuple[int, float] | None:
    """(step, loss) of the first non-finite loss among chunks [(first step, losses (n,))]."""
    for first, losses in step_losses:
        values = np.asarray(losses)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            return first + int(bad[0]) + 1, float(values[bad[0]])
    return None


class _StopRequest:
    """Turns SIGTERM (a preemption notice) into a request to checkpoint and stop at the next
    dispatch boundary, agreed between processes."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        try:
            self.previous = signal.signal(signal.SIGTERM, self._request)
        except ValueError:  # not the main thread
            self.previous = None
        return self

    def _request(self, signum, frame):
        self.requested = True

    def agreed(self) -> bool:
        """Whether any process was asked to stop; every process gets the same answer, so all of
        them checkpoint the same step and stop together (one small all-gather per dispatch)."""
        if jax.process_count() == 1:
            return self.requested
        return bool(np.max(multihost_utils.process_allgather(np.int32(self.requested))))

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def train(config, workdir: str | Path, progress: bool = True, data=None, initial_params=None, objective=None) -> dict:
    """Trains (resuming from the newest usable checkpoint in `workdir`) to config.training.n_iters.

    `data` replaces config.data's training batches (reflow's couplings); `initial_params` start a
    fresh run instead of config.seed's initialisation; `objective(setup)` gives the objective to
    train instead of the run's own (a student's, which knows its teacher). Returns the last logged record; with
    config.training.final_eval, the final evaluation.
    """
    setup = build(config, data=data)
    workdir = Path(workdir)
    training = setup.run.loop
    is_main = jax.process_index() == 0
    if is_main:
        workdir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(workdir / "config.json", config.to_dict())
    summaries = Summaries(workdir, "metrics", enabled=is_main)
    checkpointer = Checkpointer(workdir)
    state, step = checkpointer.restore_latest(setup.abstract_state())
    if state is None:
        state = setup.init_state(initial_params)
    else:
        logger.info("resuming from the checkpoint of step %d in %s", step, workdir)
    summaries.truncate_after(step)

    run_steps, raw_sharding = make_run_steps(setup, None if objective is None else objective(setup))
    settings = setup.run.evaluation
    eval_rng, snapshot_rng = jax.random.split(jax.random.PRNGKey(setup.run.seed + 1))
    n_iters, n_jitted = int(training.n_iters), int(training.n_jitted_steps)
    chunks = [(s, min(n_jitted, n_iters - s)) for s in range(step, n_iters, n_jitted)]
    raw_batches = prefetch(lambda chunk: setup.training_data.train_batches(*chunk), iter(chunks))

    def crossed(freq: int, end: int, count: int) -> bool:
        return end % freq < count

    record, pending, start = {}, [], time.time()
    bar = tqdm(
        total=n_iters, initial=step, desc="train", unit="step", disable=not (progress and is_main), smoothing=0.1
    )
    with _StopRequest() as stop:
        for (first, count), raw in zip(chunks, raw_batches):
            state, metrics = run_steps(state, to_global(raw, raw_sharding))
            step = first + count
            pending.append((first, metrics["loss"]))
            bar.update(count)
            snapshot = crossed(training.snapshot_freq, step, count) or step == n_iters
            stopping = stop.agreed()  # read once: the checkpoint and the stop below follow the same answer
            preempt = crossed(training.snapshot_freq_for_preemption, step, count) or stopping
            if crossed(training.log_freq, step, count) or snapshot or preempt:
                bad = _first_bad_step(pending)
                if bad is not None:
                    checkpointer.wait()
                    raise FloatingPointError(
                        f"training loss became non-finite at step {bad[0]} (loss {bad[1]}); the last good checkpoint "
                        f"is kept in {workdir} (steps {checkpointer.all_steps()})"
                    )
                record = {"loss": float(np.asarray(metrics["loss"])[-1]), "time": time.time() - start}
                summaries.scalars(step, record)
                bar.set_postfix(loss=f"{record['loss']:.4f}")
                pending = []
            if crossed(training.eval_freq, step, count) and settings["enable_loss"]:
                summaries.scalars(
                    step,
                    {
                        "eval_loss": eval_loss(
                            setup,
                            state.ema_params,
                            jax.random.fold_in(eval_rng, step),
                            {**settings, "num_loss_examples": settings["batch_size"]},
                        )
                    },
                )
            if snapshot or preempt:
                checkpointer.save(step, state, snapshot=snapshot)
            if snapshot and training.snapshot_sampling:
                n, snapshot_key = int(training.snapshot_num_samples), jax.random.fold_in(snapshot_rng, step)
                if "reconstruction" in setup.objective.figures:
                    samples, title = reconstructions(setup, state.ema_params, snapshot_key, n // 2), None
                else:
                    samples, nfe = draw_samples(setup, state.ema_params, snapshot_key, n, n)
                    title = f"step {step}, {setup.sampler_name} sampler, nfe {nfe}"
                if is_main:
                    write_samples(setup, workdir / "samples" / f"step_{step}", samples, title=title)
            if stopping:
                logger.warning("SIGTERM received: checkpointed step %d, stopping", step)
                break
    bar.close()
    checkpointer.wait()
    checkpointer.close()
    if training.final_eval and step == n_iters:
        record, final_samples = evaluate_state(
            setup,
            state.ema_params,
            jax.random.PRNGKey(setup.run.seed + 2),
            {**settings, "enable_sampling": True},
            progress=progress and is_main,
            workdir=workdir,
            folder=workdir / "samples" / "final" / "pieces",
        )
        record = {"eval": True, **record}
        summaries.scalars(step, record)
        if is_main and final_samples is not None:
            write_samples(setup, workdir / "samples" / "final", final_samples, title=f"final, step {step}")
    summaries.close()
    return {"step": step, **record}
