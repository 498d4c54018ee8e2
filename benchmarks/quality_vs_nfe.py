"""Sample quality against the number of score evaluations for every sampler; prints a table and
JSON and saves a PNG plot.

  python -m benchmarks.quality_vs_nfe --sde vpsde --samples 4000 --out quality_vs_nfe.png
  python -m benchmarks.quality_vs_nfe --config configs/quickstart.py --workdir runs/quickstart \
      --samples 200 --budgets 5 10 20 35 50 100 --out quickstart_quality_vs_nfe.png

Without --workdir the score is the exact one of the 2-D Gaussian-mixture oracle, so what is
measured is the sampler's own error: MMD^2 between its samples and exact samples of the mixture
(the same statistic between two exact sample sets is printed as the noise floor). With --workdir
and --config, the newest checkpoint's EMA network is sampled and scored with the run's own
sample-quality figure: FID when config.eval.inception_weights is set, else FD-digits on the
digits, else MMD^2 to the 2-D data. A budget a sampler cannot meet (e.g. PC with fewer than
beta_max steps on VP) is left empty.
"""

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

from score_sde.evaluation.mmd import mmd_squared
from score_sde.oracle import example_mixture
from score_sde.plotting import figure_png
from score_sde.sampling import sample_ddim, sample_dpm_solver, sample_heun, sample_pc, sample_sde
from score_sde.sde import SDES

BUDGETS = (5, 10, 20, 35, 50, 100, 1000)

# name -> (budget -> run(rng, sde, score, shape)); each run spends at most `budget` evaluations
SAMPLERS = {
    "ddim": lambda n: lambda r, s, f, shape: sample_ddim(r, s, f, shape, num_steps=n, denoise=False),
    "heun (edm)": lambda n: lambda r, s, f, shape: sample_heun(r, s, f, shape, num_steps=(n + 1) // 2),
    "dpm-solver++(2m)": lambda n: lambda r, s, f, shape: sample_dpm_solver(r, s, f, shape, num_steps=n, denoise=False),
    "pc (reverse diffusion)": lambda n: lambda r, s, f, shape: sample_pc(r, s, f, shape, corrector="none", num_steps=n),
    "reverse sde (euler-maruyama)": lambda n: lambda r, s, f, shape: sample_sde(r, s, f, shape, num_steps=n - 1),
}
# the rows that follow the marginal score, which a reflowed flow does not learn: left out for one
MARGINAL_SCORE_SAMPLERS = ("pc (reverse diffusion)", "reverse sde (euler-maruyama)")


def oracle_problem(sde_name: str, samples: int):
    """(sde, score_fn, quality(samples) -> float, metric name, floor) for the analytic mixture."""
    sde = SDES.get(sde_name, "--sde")()
    oracle = example_mixture(sde)
    exact, _ = oracle.sample(jax.random.PRNGKey(100), samples)
    floor = float(mmd_squared(oracle.sample(jax.random.PRNGKey(101), samples)[0], exact))
    return sde, oracle.score, lambda x: float(mmd_squared(x, exact)), "MMD² to exact samples", floor, (samples, 2)


def checkpoint_problem(config, workdir: str, samples: int):
    """The same for the newest checkpoint of a run: its EMA score and the run's quality figure."""
    from score_sde.runner.restore import check_reflowed_run, load_params
    from score_sde.runner.setup import build
    from score_sde.runner.state_evaluation import sample_quality

    check_reflowed_run(config, Path(workdir))
    setup = build(config, with_data=False)
    params, step, _ = load_params(setup, Path(workdir), -1)
    print(f"checkpoint of step {step} from {workdir}")
    figures = ("fid", "fd_digits", "mmd2_samples_vs_data")

    def quality(x):
        record = sample_quality(setup, np.asarray(x), workdir)
        return float(next(record[name] for name in figures if name in record))

    probe = sample_quality(setup, np.zeros((4, *setup.event_shape), np.float32), workdir)
    metric = next(name for name in figures if name in probe)
    return setup.process(params), setup.score_fn(params), quality, metric, None, (samples, *setup.event_shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sde", default="vpsde", choices=SDES.names(), help="the oracle's SDE")
    parser.add_argument("--config", help="a run's config file (with --workdir)")
    parser.add_argument("--workdir", help="a run's workdir: sample its newest checkpoint")
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    parser.add_argument("--out", default="quality_vs_nfe.png")
    args = parser.parse_args()
    if bool(args.config) != bool(args.workdir):
        parser.error("--config and --workdir go together")

    samplers = dict(SAMPLERS)
    if args.workdir:
        from benchmarks.train_benchmark import load_config

        config = load_config(args.config)
        sde, score, quality, metric, floor, shape = checkpoint_problem(config, args.workdir, args.samples)
        source = f"checkpoint {args.workdir}"
        if config.reflow.teacher:
            print(f"a reflowed flow: the {' and '.join(MARGINAL_SCORE_SAMPLERS)} rows are left out")
            samplers = {name: make for name, make in SAMPLERS.items() if name not in MARGINAL_SCORE_SAMPLERS}
    else:
        sde, score, quality, metric, floor, shape = oracle_problem(args.sde, args.samples)
        source = f"oracle score, {args.sde}"
    results = {}
    for name, make in samplers.items():
        results[name] = {}
        for budget in args.budgets:
            try:
                start = time.time()
                samples, nfe = make(budget)(jax.random.PRNGKey(0), sde, score, shape)
                samples = jax.block_until_ready(samples)
                seconds = time.time() - start
            except ValueError:
                continue  # this budget is too small for the sampler
            results[name][budget] = {"nfe": int(nfe), "quality": quality(samples), "seconds_incl_compile": seconds}

    floor_text = f"; floor {floor:.1e}" if floor is not None else ""
    print(f"{metric} by NFE budget ({source}, {args.samples} samples{floor_text})")
    print(f"{'sampler':30s}" + "".join(f"{b:>10d}" for b in args.budgets))
    for name, row in results.items():
        print(
            f"{name:30s}" + "".join(f"{row[b]['quality']:>10.3g}" if b in row else f"{'':>10s}" for b in args.budgets)
        )
    print(json.dumps({"source": source, "metric": metric, "samples": args.samples, "floor": floor, "results": results}))

    figure = Figure(figsize=(6, 4))
    ax = figure.subplots()
    # an MMD^2 estimate scatters around 0 at the floor (it can be negative): such points are drawn
    # at half the floor, i.e. "indistinguishable from exact samples"
    level = max(abs(floor), 1e-7) if floor is not None else None
    for name, row in results.items():
        values = [v["quality"] if level is None else max(v["quality"], level / 2) for v in row.values()]
        ax.loglog([v["nfe"] for v in row.values()], values, "o-", label=name)
    if level is not None:
        ax.axhline(level, color="gray", ls="--", label="two exact sample sets (points below: at the floor)")
    ax.set_xlabel("score evaluations (NFE)")
    ax.set_ylabel(metric)
    ax.set_title(f"sampler quality vs NFE, {source}", fontsize=9)
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure_png(figure, args.out)


if __name__ == "__main__":
    main()
