"""Post-hoc EMA sweep (EDM2): the sample quality of a run's checkpoint under the EMA of each
sigma_rel, reconstructed from the kept snapshots of its power-function EMAs, next to the run's own
EMA; prints a table and JSON with the best sigma_rel and saves a PNG plot.

  python -m experiments.main --config configs/edm/digits.py --workdir runs/edm_phema \
      --config.model.power_ema_sigma_rels="(0.05, 0.1)"
  python -m benchmarks.posthoc_ema_sweep --workdir runs/edm_phema \
      --sigma_rels 0.02 0.04 0.07 0.1 0.15 0.2 --samples 500 --out posthoc_ema_sweep.png

The run's config is the one it saved (config.json), its newest checkpoint is swept. The figure
is the run's own sample-quality figure (FID when config.eval.inception_weights is set,
else FD-digits or FD-fashion, else MMD^2 to the 2-D data; lower is better), from the same noise
for every sigma_rel, with the run's own sampler.
"""

import argparse
import json
import time
from pathlib import Path

import jax
from matplotlib.figure import Figure

from score_sde.plotting import figure_png
from score_sde.runner.drawing import draw_samples
from score_sde.runner.restore import load_params, run_config
from score_sde.runner.setup import build
from score_sde.runner.state_evaluation import sample_quality

FIGURES = ("fid", "fd_digits", "fd_fashion", "mmd2_samples_vs_data")


def quality_of(config, workdir: Path, sigma_rel: float, samples: int) -> dict:
    """The quality figure of checkpoint config.eval.ckpt under post-hoc EMA `sigma_rel` (0: the run's EMA)."""
    config = config.copy_and_resolve_references()
    config.eval.posthoc_sigma_rel = sigma_rel
    setup = build(config, with_data=False)
    start = time.time()
    params, step, label = load_params(setup, workdir, setup.run.ckpt)
    drawn, nfe = draw_samples(
        setup, params, jax.random.PRNGKey(0), samples, min(samples, setup.run.evaluation["batch_size"])
    )
    record = sample_quality(setup, drawn, workdir)
    metric = next((name for name in FIGURES if name in record), None)
    if metric is None:
        raise ValueError(
            f"{workdir} has no sample-quality figure among {FIGURES} for its data: set config.eval.inception_weights "
            "(FID) in its config.json"
        )
    return {
        "step": step,
        "checkpoint": label,
        "metric": metric,
        "value": float(record[metric]),
        "nfe": int(nfe),
        "seconds": time.time() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, help="the run's workdir (trained with power-function EMAs)")
    parser.add_argument("--sigma_rels", type=float, nargs="+", default=[0.02, 0.04, 0.07, 0.1, 0.15, 0.2])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--out", default="posthoc_ema_sweep.png")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    config = run_config(workdir, "--workdir")
    config.eval.ckpt = -1
    own = quality_of(config, workdir, 0.0, args.samples)
    rows = {sigma: quality_of(config, workdir, sigma, args.samples) for sigma in args.sigma_rels}
    best = min(rows, key=lambda sigma: rows[sigma]["value"])
    metric = own["metric"]
    print(f"{metric} of {workdir} at step {own['step']} ({args.samples} samples, nfe {own['nfe']}), lower is better")
    print(f"{'EMA':>18s} {metric:>12s}")
    print(f"{'the run own EMA':>18s} {own['value']:>12.4g}")
    for sigma, row in rows.items():
        print(f"{f'sigma_rel {sigma:g}':>18s} {row['value']:>12.4g}{'  <- best' if sigma == best else ''}")
    print(
        json.dumps(
            {
                "workdir": str(workdir),
                "metric": metric,
                "samples": args.samples,
                "own_ema": own,
                "posthoc": {str(s): r for s, r in rows.items()},
                "best_sigma_rel": best,
            }
        )
    )

    figure = Figure(figsize=(5, 3.5))
    ax = figure.subplots()
    ax.plot(list(rows), [row["value"] for row in rows.values()], "o-", label="post-hoc EMA")
    ax.axhline(own["value"], color="gray", ls="--", label="the run's EMA")
    ax.set_xlabel("sigma_rel")
    ax.set_ylabel(metric)
    ax.set_title(f"post-hoc EMA sweep, {workdir.name}, step {own['step']}", fontsize=9)
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure_png(figure, args.out)


if __name__ == "__main__":
    main()
