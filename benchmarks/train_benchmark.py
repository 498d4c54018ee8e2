"""Training throughput of the runner's jitted step for a config; prints JSON.

  python -m benchmarks.train_benchmark --config configs/quickstart.py --n_jitted_steps 1 5
  python -m benchmarks.train_benchmark --config configs/vp/cifar10_ddpmpp_continuous.py --batch 128

Random data of the config's shape (throughput does not depend on it), on whatever devices JAX
sees, through the same `make_run_steps` as `--mode train` (batch split over all devices).
For each n_jitted_steps: compile time, then the median seconds per step over --repeats dispatches.
`--unroll` forces the scan unrolled (1) or rolled (0) instead of the runner's choice.
"""

import argparse
import importlib.util
import json
import statistics
import time

import jax
import numpy as np

from score_sde.datasets import ArraySource, image_data
from score_sde.parallel import to_global
from score_sde.runner import train_loop
from score_sde.runner.setup import Setup, build
from score_sde.train_step import make_train_step


def load_config(path: str):
    spec = importlib.util.spec_from_file_location("benchmark_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def random_images(config, count: int = 256):
    """A stand-in training split of random uint8 images of the config's shape."""
    size, channels = int(config.data.image_size), int(config.data.num_channels)
    images = np.random.default_rng(0).integers(0, 256, (count, size, size, channels)).astype(np.uint8)
    return image_data(config, ArraySource(images, np.zeros(count, np.int32), 0))


def measure(setup: Setup, n_jitted: int, repeats: int) -> dict:
    state = setup.init_state()
    run, sharding = train_loop.make_run_steps(setup)
    raw = setup.data.train_batches(0, n_jitted)
    start = time.perf_counter()
    state, metrics = run(state, to_global(raw, sharding))
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        state, metrics = run(state, to_global(raw, sharding))
        jax.block_until_ready(metrics)
        times.append((time.perf_counter() - start) / n_jitted)
    step_s = statistics.median(times)
    batch = int(setup.config.training.batch_size)
    return {
        "n_jitted_steps": n_jitted,
        "compile_s": compile_s,
        "step_s": step_s,
        "steps_per_s": 1 / step_s,
        "examples_per_s": batch / step_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/quickstart.py")
    parser.add_argument("--batch", type=int, default=0, help="overrides training.batch_size")
    parser.add_argument("--n_jitted_steps", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--unroll", type=int, choices=(0, 1), default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    config = load_config(args.config)
    if args.batch:
        config.training.batch_size = args.batch
    if args.unroll is not None:
        original = make_train_step
        train_loop.make_train_step = lambda *a, **k: original(*a, **{**k, "unroll": bool(args.unroll)})
    results = []
    for n in args.n_jitted_steps:
        config.training.n_jitted_steps = n
        config.training.snapshot_freq = config.training.snapshot_freq_for_preemption = n
        data = random_images(config) if config.model.name != "mlp" else None
        results.append(measure(build(config, data=data), n, args.repeats))
    print(
        json.dumps(
            {
                "device": str(jax.devices()[0]),
                "device_count": jax.device_count(),
                "config": args.config,
                "batch_size": int(config.training.batch_size),
                "unroll": args.unroll,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
