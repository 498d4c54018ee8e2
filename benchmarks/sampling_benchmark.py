"""Times score evaluations, probability-flow sampling and likelihoods; prints one JSON object.

  python -m benchmarks.sampling_benchmark --score oracle --sde vpsde --batch 1000
  python -m benchmarks.sampling_benchmark --score mlp --config configs/toy2d.py --batch 4096

`--score oracle` uses the exact Gaussian-mixture score (2-D); `--score mlp` an untrained network
built from the config's model section (timings do not depend on training). Each figure is the
median of `--repeats` runs after one compile run, on whatever device JAX sees.
"""

import argparse
import importlib.util
import json

import jax
import jax.numpy as jnp

from benchmarks.timing import median_time
from score_sde.likelihood import log_likelihood
from score_sde.models import NetApply, get_model
from score_sde.oracle import example_mixture
from score_sde.parameterization import NetworkScore, get_parameterization
from score_sde.sampling import sample_ode, sample_pc, sample_sde
from score_sde.sde import SDES


def _score_fn(args, sde):
    if args.score == "oracle":
        return example_mixture(sde).score, (2,)
    spec = importlib.util.spec_from_file_location("bench_config", args.config)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    model = get_model(config)
    event = (config.data.dim,)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1,) + event), jnp.ones((1,)))["params"]
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))  # a small nonzero output layer: a tame flow
    params = jax.tree.unflatten(tree, [p + 1e-3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
    return NetworkScore(NetApply(model), params, sde, get_parameterization(config, sde)), event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sde", default="vpsde", choices=SDES.names())
    parser.add_argument("--score", default="oracle", choices=("oracle", "mlp"))
    parser.add_argument("--config", default="configs/toy2d.py")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pc-steps", type=int, default=1000)
    args = parser.parse_args()

    sde = SDES.get(args.sde, "--sde")()
    score_fn, event = _score_fn(args, sde)
    shape = (args.batch,) + event
    rng = jax.random.PRNGKey(0)
    x = sde.prior_sampling(rng, shape)
    t = jnp.full((args.batch,), 0.5)
    score_jit = jax.jit(lambda x, t: score_fn(x, t))
    eval_s, _, _ = median_time(lambda: score_jit(x, t), max(args.repeats, 20))

    results = {
        "device": str(jax.devices()[0]),
        "sde": args.sde,
        "score": args.score,
        "batch": args.batch,
        "score_eval_ms": 1e3 * eval_s,
    }
    runs = {
        "sample_ode_tsit5": lambda: sample_ode(rng, sde, score_fn, shape),
        "sample_pc": lambda: sample_pc(rng, sde, score_fn, shape, num_steps=args.pc_steps),
        "sample_sde_em": lambda: sample_sde(rng, sde, score_fn, shape, num_steps=args.pc_steps),
        "log_likelihood_hutchinson": lambda: log_likelihood(rng, sde, score_fn, sde.prior_sampling(rng, shape) * 0.1),
    }
    for name, run in runs.items():
        seconds, first, result = median_time(run, args.repeats)
        nfe = int(result[-1])
        results[name] = {
            "seconds": seconds,
            "first_call_seconds": first,
            "nfe": nfe,
            "ms_per_nfe": 1e3 * seconds / nfe,
            "overhead_vs_score_eval": seconds / nfe / eval_s,
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
