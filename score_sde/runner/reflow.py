"""The reflow mode (Liu et al. 2023): draw (noise, sample) pairs from a trained flow's ODE, store
them in the workdir, and train a new flow on those couplings.

  python -m experiments.main --config configs/flow/digits.py --mode reflow \
      --workdir runs/flow_reflow --config.reflow.teacher=runs/flow

Pairs come from the teacher's newest checkpoint (EMA parameters): z ~ N(0, I) at T, x its
probability-flow solve to eps with config.sampling's ODE settings (then the denoiser at eps with
config.sampling.noise_removal). They are written in shards of
config.eval.batch_size pairs to <workdir>/reflow_pairs/pairs_<k>.npz (atomically; shard k depends
only on (config.seed, k)), so a restarted job keeps the finished shards. Training then runs as
`--mode train` does (resumable, checkpoints in the workdir), on the stored couplings: x_t =
a(t) x + s(t) z with each sample's own noise, starting from the teacher's EMA parameters when
config.reflow.init_from_teacher. The held-out loss is off (it has no couplings to score).
"""

import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from tqdm.auto import tqdm

from score_sde.checkpoints import Checkpointer
from score_sde.datasets import ArraySource, Data
from score_sde.datasets.pipeline import BatchStream
from score_sde.files import write_npz_atomic
from score_sde.objectives import teachers
from score_sde.parallel import to_host
from score_sde.runner.restore import REFLOW_PAIRS_FOLDER, load_params, run_config
from score_sde.runner.setup import Setup, build
from score_sde.runner.train_loop import train
from score_sde.sampling import ProbabilityFlowODE

logger = logging.getLogger(__name__)


def draw_pairs(setup: Setup, params, folder: Path, num_pairs: int, batch_size: int, seed: int, progress=False) -> dict:
    """Writes ceil(num_pairs / batch_size) shards {noise, samples} (model range) into `folder`,
    skipping shards already there; returns {"shards", "reused"}. A sample is the ODE's solution
    at config.sampling.eps, followed by the denoiser D(x, eps) when config.sampling.noise_removal."""
    folder.mkdir(parents=True, exist_ok=True)
    shape = (batch_size, *setup.event_shape)
    sampling = setup.config.sampling
    ode = ProbabilityFlowODE.from_config(sampling)
    process = setup.process(params)

    def solve(params, rng):
        z = process.prior_sampling(rng, shape)
        x, _ = ode.decode(process, setup.score_fn(params, flow=True), z)
        if sampling.noise_removal:
            x = setup.score_fn(params).denoise(x, jnp.full((batch_size,), float(sampling.eps)))
        return z, x

    solve = jax.jit(solve)
    count = -(-num_pairs // batch_size)
    reused = 0
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x2EF)
    for shard in tqdm(range(count), desc="reflow pairs", unit="shard", disable=not progress):
        path = folder / f"pairs_{shard:05d}.npz"
        if path.exists():
            with np.load(path) as stored:
                if stored["samples"].shape != shape:
                    raise ValueError(
                        f"{path} holds pairs of shape {stored['samples'].shape}, not {shape}: it was drawn with "
                        "another config.eval.batch_size or data shape; use a fresh --workdir"
                    )
            reused += 1
            continue
        z, x = solve(params, jax.random.fold_in(key, shard))
        if jax.process_index() == 0:
            write_npz_atomic(path, noise=to_host(z), samples=to_host(x))
    if jax.process_count() > 1:  # every process reads the shards process 0 wrote
        multihost_utils.sync_global_devices("reflow pairs")
    return {"shards": count, "reused": reused}


def load_pairs(folder: Path, num_pairs: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(noise, samples), num_pairs of each, from shards 0, 1, ... of `batch_size` pairs in `folder`."""
    noise, samples = [], []
    for shard in range(-(-num_pairs // batch_size)):
        path = folder / f"pairs_{shard:05d}.npz"
        if not path.exists():
            raise FileNotFoundError(f"reflow pairs shard {path} is missing")
        with np.load(path) as pairs:
            noise.append(pairs["noise"])
            samples.append(pairs["samples"])
    return np.concatenate(noise)[:num_pairs], np.concatenate(samples)[:num_pairs]


def coupling_data(setup: Setup, noise: np.ndarray, samples: np.ndarray) -> Data:
    """Training batches of stored couplings: raw {"image": x, "noise": z, "label": 0} (model range)."""
    config = setup.config
    source = ArraySource(samples, np.zeros(len(samples), np.int32), 0)  # the stream reads only its length
    stream = BatchStream(
        source, int(config.training.batch_size), int(config.seed), jax.process_index(), jax.process_count()
    )

    def train_batches(step, count):  # labels are never read: reflow refuses class-conditional models
        indices = np.stack([stream.indices(step + i) for i in range(count)])
        return {"image": samples[indices], "noise": noise[indices], "label": np.zeros(indices.shape, np.int32)}

    def model_input(rng, raw, train):
        return jnp.asarray(raw["image"], jnp.float32)

    return Data("reflow pairs", setup.event_shape, train_batches, model_input, 0, image=True, centered=setup.centered)


def reflow(config, workdir, progress: bool = True) -> dict:
    """One round of reflow from config.reflow.teacher into `workdir`; returns the training record."""
    teacher = str(config.reflow.teacher)
    if not teacher:
        raise ValueError("--mode reflow needs config.reflow.teacher: the workdir of the trained flow to straighten")
    setup = build(config, with_data=False)
    if "reflow" not in setup.objective.teaches:
        raise ValueError(
            f"--mode reflow straightens a flow trained by the {' or '.join(teachers('reflow'))} objective on the "
            "data: not "
            f"{setup.objective.name!r} (config.training.objective / config.training.sde / config.data.latents_of)"
        )
    if not bool(config.training.continuous):
        raise ValueError("--mode reflow trains with the continuous loss: set config.training.continuous=True")
    if setup.num_classes:
        raise ValueError(
            f"--mode reflow draws unconditional pairs: config.model.num_classes={setup.num_classes} must be 0"
        )
    workdir = Path(workdir)
    if workdir.resolve() == Path(teacher).resolve():
        raise ValueError(f"--mode reflow needs a --workdir of its own, not the teacher's {teacher}")
    params, step, _ = load_params(
        build(run_config(teacher, "config.reflow.teacher"), with_data=False), Path(teacher), -1
    )
    shapes = lambda tree: jax.tree.map(lambda x: (x.shape, x.dtype), tree)
    if shapes(params) != shapes(setup.abstract_params()):
        raise ValueError(
            f"the reflowed network (config.model) differs from the teacher's in {teacher}/config.json: reflow starts "
            "from and samples with the teacher's architecture"
        )
    num_pairs = int(config.reflow.num_pairs)
    folder = workdir / REFLOW_PAIRS_FOLDER
    drawn = draw_pairs(setup, params, folder, num_pairs, int(config.eval.batch_size), int(config.seed), progress)
    logger.info("reflow pairs from %s (step %d): %s", teacher, step, drawn)
    noise, samples = load_pairs(folder, num_pairs, int(config.eval.batch_size))
    data = coupling_data(setup, noise, samples)
    checkpointer = Checkpointer(workdir)
    fresh = not checkpointer.all_steps()
    checkpointer.close()
    initial = params if (fresh and bool(config.reflow.init_from_teacher)) else None
    config = config.copy_and_resolve_references()
    config.eval.enable_loss = False
    record = train(config, workdir, progress, data=data, initial_params=initial)
    return {
        "teacher": teacher,
        "teacher_step": step,
        "pairs": len(samples),
        "pair_shards_reused": drawn["reused"],
        **record,
    }
