"""The training run: train a score model, then sample and evaluate it, writing everything to a workdir.

Workdir layout: config.json (the resolved config), metrics.jsonl (one JSON record per
logged step, then a final "eval" record), samples/samples.png and samples/samples.npz.
"""

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from score_sde.datasets import get_toy_sampler
from score_sde.files import MetricsLog, write_json_atomic, write_npz_atomic
from score_sde.likelihood import log_likelihood
from score_sde.losses import get_loss_fn, get_score_fn
from score_sde.mmd import mmd_squared
from score_sde.models import get_model, make_net_apply
from score_sde.plotting import scatter_png
from score_sde.sampling import get_sampler
from score_sde.sde import get_sde
from score_sde.train import create_train_state, make_optimizer, make_train_step


def _check_training_config(config) -> None:
    for field in ("n_iters", "batch_size", "n_jitted_steps", "log_freq"):
        value = config.training[field]
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"config.training.{field} must be a positive integer; got {value!r}")


def train_and_evaluate(config, workdir: str | Path, progress: bool = True) -> dict:
    """Trains on `config.data.dataset`, samples with `config.sampling`, writes the workdir.

    Returns the final evaluation record (also the last line of metrics.jsonl).
    """
    _check_training_config(config)
    workdir = Path(workdir)
    sde = get_sde(config)
    model = get_model(config)
    data_fn = get_toy_sampler(config)
    sampler = get_sampler(config, sde)
    workdir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(workdir / "config.json", config.to_dict())
    log = MetricsLog(workdir / "metrics.jsonl")

    net_apply = make_net_apply(model)
    rng = jax.random.PRNGKey(config.seed)
    init_rng, state_rng, data_rng, sample_rng, eval_rng = jax.random.split(rng, 5)
    dim = config.data.dim
    params = jax.jit(model.init)(init_rng, jnp.zeros((1, dim)), jnp.ones((1,)))["params"]
    optimizer = make_optimizer(config.optim)
    state = create_train_state(params, optimizer, state_rng)
    training = config.training
    loss_fn = get_loss_fn(
        sde, net_apply, continuous=training.continuous, reduce_mean=training.reduce_mean,
        likelihood_weighting=training.likelihood_weighting,
    )
    run_steps = make_train_step(loss_fn, optimizer, float(config.model.ema_rate))
    batch_size = training.batch_size
    make_batches = jax.jit(
        lambda key, n: jnp.reshape(data_fn(key, n * batch_size), (n, batch_size, dim)), static_argnums=1
    )

    start = time.time()
    bar = tqdm(total=training.n_iters, desc="train", unit="step", disable=not progress)
    step = 0
    while step < training.n_iters:
        chunk = min(training.n_jitted_steps, training.n_iters - step)
        state, metrics = run_steps(state, make_batches(jax.random.fold_in(data_rng, step), chunk))
        step += chunk
        bar.update(chunk)
        if step % training.log_freq < chunk or step == training.n_iters:
            loss = float(jnp.mean(metrics["loss"]))
            if not np.isfinite(loss):
                raise FloatingPointError(f"training loss became non-finite at step {step}")
            log.write({"step": step, "loss": loss, "time": time.time() - start})
            bar.set_postfix(loss=f"{loss:.4f}")
    bar.close()
    train_time = time.time() - start

    score_fn_of = lambda params: get_score_fn(sde, lambda x, c: net_apply(params, x, c), training.continuous)
    n = int(config.eval.num_samples)
    sample = jax.jit(lambda params, key: sampler(key, score_fn_of(params), (n, dim)))
    start = time.time()
    samples, nfe = jax.block_until_ready(sample(state.ema_params, sample_rng))
    sample_time = time.time() - start

    data_key, ll_key = jax.random.split(eval_rng)
    data = data_fn(data_key, n)
    nll = jax.jit(
        lambda params, key, x: -log_likelihood(key, sde, score_fn_of(params), x, trace="exact")[0].mean()
    )
    record = {
        "step": step,
        "eval": True,
        "train_time_s": train_time,
        "sample_time_s": sample_time,
        "sample_nfe": int(nfe),
        "mmd2_samples_vs_data": float(mmd_squared(samples, data)),
        "mmd2_data_vs_data": float(mmd_squared(data_fn(jax.random.fold_in(data_key, 1), n), data)),
        "test_nll_nats": float(nll(state.ema_params, ll_key, data[: min(n, 1000)])),
    }
    log.write(record)
    samples_dir = workdir / "samples"
    write_npz_atomic(samples_dir / "samples.npz", samples=samples, data=data)
    scatter_png(samples_dir / "samples.png", data, samples,
                title=f"{config.data.dataset}, {config.training.sde}, {config.sampling.method} sampler, nfe {int(nfe)}")
    return record
