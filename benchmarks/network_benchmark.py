"""Times one forward pass (and one training gradient) of the CIFAR-10 NCSN++ / DDPM++; prints JSON.

  python -m benchmarks.network_benchmark --model ncsnpp --batch 128 --dtype bfloat16

Random weights (timings do not depend on them); median of --repeats runs after a compile run,
on whatever device JAX sees. `--deep` uses 8 residual blocks per resolution.
"""

import argparse
import importlib
import json

import jax
import jax.numpy as jnp
import ml_collections

from benchmarks.timing import median_time
from score_sde.models import get_model


def cifar10_config(model: str, deep: bool, dtype: str) -> ml_collections.ConfigDict:
    """The CIFAR-10 config of NCSN++ (VE) or DDPM++ (VP) from configs/, with the compute dtype set."""
    name = {"ncsnpp": "ve.cifar10_ncsnpp", "ddpmpp": "vp.cifar10_ddpmpp"}[model] + ("_deep" if deep else "")
    config = importlib.import_module(f"configs.{name}_continuous").get_config()
    config.model.dtype = dtype
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ncsnpp", choices=("ncsnpp", "ddpmpp"))
    parser.add_argument("--deep", action="store_true")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    model = get_model(cifar10_config(args.model, args.deep, args.dtype))
    rng = jax.random.PRNGKey(0)
    x = jax.random.uniform(rng, (args.batch, 32, 32, 3))
    cond = jnp.full((args.batch,), 1.0) if args.model == "ncsnpp" else jnp.full((args.batch,), 500.0)
    params = jax.jit(model.init)(rng, x, cond)["params"]
    forward = jax.jit(lambda p, x, c: model.apply({"params": p}, x, c))
    loss = lambda p, x, c, k: jnp.mean(model.apply({"params": p}, x, c, train=True, rngs={"dropout": k}) ** 2)
    gradient = jax.jit(jax.grad(loss))
    forward_s, forward_first, _ = median_time(lambda: forward(params, x, cond), args.repeats)
    grad_s, grad_first, _ = median_time(lambda: gradient(params, x, cond, rng), args.repeats)
    print(
        json.dumps(
            {
                "device": str(jax.devices()[0]),
                "model": args.model,
                "deep": args.deep,
                "dtype": args.dtype,
                "batch": args.batch,
                "parameters": sum(p.size for p in jax.tree.leaves(params)),
                "forward_ms": 1e3 * forward_s,
                "forward_images_per_s": args.batch / forward_s,
                "forward_compile_s": forward_first,
                "gradient_ms": 1e3 * grad_s,
                "gradient_compile_s": grad_first,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
