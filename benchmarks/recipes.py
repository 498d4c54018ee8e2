"""The training recipes side by side on one dataset: the dataset's offline sample-quality figure
(FD-digits on the built-in digits, FD-fashion on Fashion-MNIST) against NFE and with each run's own
sampler, bits/dim and training time of trained runs; prints a table and JSON and saves a PNG plot.

  python -m benchmarks.recipes --runs vp=configs/quickstart.py:runs/recipes/vp \
      edm=configs/edm/digits.py:runs/recipes/edm flow=configs/flow/digits.py:runs/recipes/flow \
      "flow + reflow=configs/flow/digits.py:runs/recipes/flow_reflow" vdm=configs/vdm/digits.py:runs/recipes/vdm \
      --samples 300 --out docs/recipes_digits.png

  python -m benchmarks.recipes --runs vp=configs/fashion_mnist/vp.py:runs/fashion/vp \
      edm=configs/fashion_mnist/edm.py:runs/fashion/edm flow=configs/fashion_mnist/flow.py:runs/fashion/flow \
      vdm=configs/fashion_mnist/vdm.py:runs/fashion/vdm --budgets 10 20 50 --samples 300 \
      --cache runs/fashion/benchmark --grids docs/fashion --out docs/recipes_fashion.png

Each run's newest checkpoint (EMA parameters) is sampled with EDM's Heun sampler and
DPM-Solver++(2M) at every budget (and Euler steps of the probability-flow ODE for flows), and
the best figure per budget is kept; "own sampler" is the run's final evaluation with its
configured sampler, over its eval.num_samples samples. The scale's two ends, at each of these
sample counts (FD is comparable only between sets of one size): as many real images held out
from the reference statistics, and uniform noise. Bits/dim of the first --bpd_examples test images by the
probability-flow ODE with uniform dequantisation (the reference's), with dequantisation by the
forward process, and by the variational bound: the run's final evaluation supplies the one it
computed, the others are computed here. Training time: the run's wall-clock time to its last
step (compilation included) from metrics.jsonl. For flows, the straightness of 100-step Euler
paths from the same noise (`score_sde.straightness`). --grids copies each run's final sample
grid to <grids>_<name>.png. --cache keeps each recipe's figures, so a table and plot can be
redrawn, or recipes added, without recomputing the others.
"""

import argparse
import json
import shutil
import time
from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

from benchmarks.train_benchmark import load_config
from score_sde.evaluation import FEATURE_METRICS, FeatureMetric, feature_metric
from score_sde.files import write_json_atomic
from score_sde.plotting import figure_png
from score_sde.runner.restore import load_params
from score_sde.runner.setup import build
from score_sde.runner.state_evaluation import likelihood, sample_quality
from score_sde.sampling import sample_dpm_solver, sample_heun, sample_ode
from score_sde.straightness import straightness

BUDGETS = (5, 10, 20, 50, 100, 200)
FEW_EULER_STEPS = (1, 2, 4, 8)

# name -> budget -> run(rng, process, score, shape); each spends at most `budget` evaluations
SAMPLERS = {
    "heun": lambda n: lambda r, p, f, shape: sample_heun(r, p, f, shape, num_steps=(n + 1) // 2),
    "dpm_solver++(2m)": lambda n: lambda r, p, f, shape: sample_dpm_solver(r, p, f, shape, num_steps=n, denoise=False),
}
EULER = lambda n: lambda r, p, f, shape: sample_ode(r, p, f, shape, solver="euler", num_steps=n, denoise=False)


def final_record(workdir: Path) -> dict:
    """The last final-evaluation record and the training time of a run."""
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    final = next((r for r in reversed(records) if r.get("eval")), {})
    timed = [r for r in records if "time" in r]
    if not timed:
        raise ValueError(f"{workdir}/metrics.jsonl has no training records: train the run first")
    # "time" counts from the start of the last (re)start: a resumed run's earlier segments are added
    segments = [
        r["time"]
        for r, following in zip(timed, timed[1:] + [None])
        if following is None or following["time"] < r["time"]
    ]
    return {**final, "train_time_s": sum(segments), "steps": timed[-1]["step"]}


def run_metric(config) -> FeatureMetric:
    metric = feature_metric(config.data.dataset)
    if metric is None:
        raise ValueError(
            f"config.data.dataset={config.data.dataset!r} has no offline sample-quality figure; this benchmark "
            f"compares recipes on {tuple(FEATURE_METRICS)}"
        )
    return metric


def figure_of(metric: FeatureMetric, record: dict) -> dict:
    """{"fd", "classes"} of a sample-quality record."""
    return {"fd": float(record[f"fd_{metric.name}"]), "classes": int(record[f"{metric.class_word}_classes_covered"])}


def scale_ends(metric: FeatureMetric, params: dict, count: int) -> dict:
    """The figure of `count` real images held out from the reference statistics, and of uniform noise."""
    held_out = "test" if metric.reference_split == "train" else "train"
    real = metric.load_split(held_out)[0][:count]
    noise = np.random.default_rng(0).uniform(size=real.shape).astype(np.float32)
    return {
        f"real ({held_out})": figure_of(metric, metric.metrics(real, params)),
        "noise": figure_of(metric, metric.metrics(noise, params)),
    }


def quality_vs_nfe(setup, params, samples: int, budgets, flow: bool, metric: FeatureMetric) -> dict:
    """{sampler: {budget: {"nfe", "fd", "classes"}}} for the run's EMA parameters."""
    process, score = setup.process(params), setup.score_fn(params)
    shape = (samples, *setup.event_shape)
    samplers = {name: (make, budgets) for name, make in SAMPLERS.items()}
    if flow:
        samplers["euler"] = (EULER, tuple(sorted(set(FEW_EULER_STEPS) | set(budgets))))
    results = {}
    for name, (make, sampler_budgets) in samplers.items():
        results[name] = {}
        for budget in sampler_budgets:
            x, nfe = make(budget)(jax.random.PRNGKey(0), process, score, shape)
            results[name][budget] = {"nfe": int(nfe), **figure_of(metric, sample_quality(setup, np.asarray(x)))}
    return results


LIKELIHOODS = {"ode_uniform": ("ode", "uniform"), "ode_forward": ("ode", "forward"), "elbo": ("elbo", "uniform")}


def bits_per_dim(config, setup, params, record: dict, examples: int) -> dict:
    """Bits/dim by the ODE (uniform dequantisation, and for runs on undequantised data by the
    forward process) and by the bound: the run's final evaluation where it has the figure, the
    others computed here."""
    figures = {}
    if "bpd" in record:
        method = record.get("bpd_method", "ode")
        key = f"ode_{record.get('bpd_dequantization', 'uniform')}" if method == "ode" else method
        figures[key] = record["bpd"]
    for key, (method, dequantization) in LIKELIHOODS.items():
        if key in figures or (dequantization == "forward" and config.data.uniform_dequantization):
            continue
        settings = {**setup.run.evaluation, "likelihood": method, "dequantization": dequantization}
        settings.update(num_bpd_examples=examples, bpd_num_repeats=1, batch_size=min(examples, 100))
        figures[key] = likelihood(setup, params, jax.random.PRNGKey(4), settings)["bpd"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, help="name=config.py:workdir for each trained run")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    parser.add_argument("--bpd_examples", type=int, default=100)
    parser.add_argument("--out", default="recipes_digits.png")
    parser.add_argument("--grids", default="", help="copy each run's final sample grid to <grids>_<name>.png")
    parser.add_argument(
        "--cache", default="", help="a folder keeping each recipe's figures (<name>.json), reused if there"
    )
    args = parser.parse_args()

    runs = []
    for entry in args.runs:
        name, _, paths = entry.partition("=")
        config_path, _, workdir = paths.partition(":")
        if not (name and config_path and workdir):
            parser.error(f"--runs entries look like name=config.py:workdir; got {entry!r}")
        runs.append((name, load_config(config_path), Path(workdir)))
    metrics = {metric.name: metric for metric in (run_metric(config) for _, config, _ in runs)}
    if len(metrics) != 1:
        parser.error(f"the runs are on datasets with different figures {tuple(metrics)}: compare one dataset at a time")
    (metric,) = metrics.values()
    label = f"FD-{metric.name}"

    table = {}
    for name, config, workdir in runs:
        cached = Path(args.cache) / f"{name}.json" if args.cache else None
        if cached is not None and cached.exists():
            table[name] = json.loads(cached.read_text())
            table[name]["quality"] = {
                sampler: {int(budget): result for budget, result in rows.items()}
                for sampler, rows in table[name]["quality"].items()
            }
        else:
            table[name] = evaluate_run(config, workdir, metric, args)
            if cached is not None:
                write_json_atomic(cached, table[name])
        if args.grids:
            shutil.copyfile(workdir / "samples" / "final" / "samples.png", f"{args.grids}_{name}.png")
        table[name]["own_sampler"]["samples"] = int(config.eval.num_samples)
    counts = sorted({args.samples, *(row["own_sampler"]["samples"] for row in table.values())})
    classifier = metric.load()
    ends_by_count = {count: scale_ends(metric, classifier, count) for count in counts}
    ends = ends_by_count[args.samples]
    accuracy = metric.accuracy(classifier, "test")

    print(f"\nbest {label} by NFE budget ({args.samples} samples each; classes covered in brackets)")
    print(
        f"{'recipe':16s}"
        + "".join(f"{b:>12d}" for b in args.budgets)
        + f"{'own sampler':>23s}"
        + "".join(f"{'bpd ' + k:>17s}" for k in LIKELIHOODS)
        + f"{'train s':>9s}"
    )
    for name, row in table.items():
        cells = []
        for budget in args.budgets:
            best = min((r[budget] for r in row["quality"].values() if budget in r), key=lambda r: r["fd"])
            cells.append(f"{best['fd']:>8.1f} ({best['classes']})")
        own = row["own_sampler"]
        cells.append(f"{own['fd']:>7.1f} ({own['classes']}) {own['nfe']:>3d} NFE/{own['samples']}")
        bpd = "".join(f"{row['bpd'][k]:>17.3f}" if k in row["bpd"] else f"{'':>17s}" for k in LIKELIHOODS)
        print(f"{name:16s}" + "".join(cells) + bpd + f"{row['train_time_s']:>9.0f}")
    for count, count_ends in ends_by_count.items():
        for end in ("real", "noise"):
            key = next(k for k in count_ends if k.startswith(end))
            print(f"{key + f', {count}':22s}{count_ends[key]['fd']:>8.1f} ({count_ends[key]['classes']})")
    print(f"classifier test accuracy {accuracy:.4f}")
    summary = {"samples": args.samples, "metric": label, "classifier_test_accuracy": accuracy}
    print(json.dumps({**summary, "scale_ends": ends_by_count, "recipes": table}))
    plot(table, ends, args.budgets, label, args.out)


def evaluate_run(config, workdir: Path, metric: FeatureMetric, args) -> dict:
    """One recipe's row: quality against NFE, with its own sampler, bits/dim, times."""
    setup = build(config, with_data=False)
    params, step, _ = load_params(setup, workdir, -1)
    start = time.time()
    record = final_record(workdir)
    if f"fd_{metric.name}" not in record:
        raise ValueError(
            f"{workdir}/metrics.jsonl has no final evaluation with fd_{metric.name}: train with "
            "training.final_eval=True (the shipped recipes do)"
        )
    flow = str(config.training.sde) == "linear_flow"
    row = {
        "workdir": str(workdir),
        "checkpoint_step": step,
        "train_time_s": record["train_time_s"],
        "own_sampler": {"nfe": int(record["sample_nfe"]), **figure_of(metric, record)},
        "bpd": bits_per_dim(config, setup, params, record, args.bpd_examples),
        "quality": quality_vs_nfe(setup, params, args.samples, args.budgets, flow, metric),
    }
    if flow:
        z = setup.process(params).prior_sampling(jax.random.PRNGKey(1), (args.samples, *setup.event_shape))
        paths = straightness(setup.process(params), setup.score_fn(params), z)[0]
        row["straightness"] = float(np.mean(np.asarray(paths)))
    row["evaluation_time_s"] = time.time() - start
    print(workdir, json.dumps(row["bpd"]), flush=True)
    return row


def plot(table: dict, ends: dict, budgets, label: str, out: str) -> None:
    """Best figure against NFE per recipe (dotted: Euler steps of a flow), the noise end as a line."""
    figure = Figure(figsize=(7, 4.5))
    ax = figure.subplots()
    for index, (name, row) in enumerate(table.items()):
        color = f"C{index}"
        best = {}
        for sampler, results in row["quality"].items():
            if sampler == "euler":
                points = sorted(results.values(), key=lambda r: r["nfe"])
                ax.loglog([r["nfe"] for r in points], [r["fd"] for r in points], ":", color=color, alpha=0.7)
            for budget, result in results.items():
                if budget in budgets and (budget not in best or result["fd"] < best[budget]["fd"]):
                    best[budget] = result
        points = [best[b] for b in sorted(best)]
        ax.loglog([r["nfe"] for r in points], [r["fd"] for r in points], "o-", color=color, label=name)
        own = row["own_sampler"]
        ax.loglog([own["nfe"]], [own["fd"]], "*", color=color, markersize=10)
    real = next(k for k in ends if k.startswith("real"))
    ax.axhline(ends[real]["fd"], color="gray", ls="--", lw=0.8, label=f"{real} images")
    ax.set_xlabel("network evaluations (NFE)")
    ax.set_ylabel(f"{label} (lower is better)")
    ax.set_title(
        f"{label}: best of Heun / DPM-Solver++ per budget (dotted: Euler; stars: each run's own sampler)", fontsize=8
    )
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure_png(figure, out)


if __name__ == "__main__":
    main()
