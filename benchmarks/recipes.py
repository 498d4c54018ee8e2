"""The training recipes side by side on the built-in digits: FD-digits against NFE, bits/dim and
training time of trained runs; prints a table and JSON and saves a PNG plot.

  python -m benchmarks.recipes --runs vp=configs/quickstart.py:runs/recipes/vp \
      edm=configs/edm/digits.py:runs/recipes/edm flow=configs/flow/digits.py:runs/recipes/flow \
      "flow + reflow=configs/flow/digits.py:runs/recipes/flow_reflow" vdm=configs/vdm/digits.py:runs/recipes/vdm \
      --samples 300 --out docs/recipes_digits.png

Each run's newest checkpoint (EMA parameters) is sampled with EDM's Heun sampler and
DPM-Solver++(2M) at every budget (and Euler steps of the probability-flow ODE for flows), and
the best FD-digits per budget is kept. Bits/dim of the same test digits (--bpd_examples)
by the probability-flow ODE with uniform dequantisation (the reference's), with dequantisation by
the forward process, and by the variational bound: the run's final evaluation supplies the one it
computed, the others are computed here. Training time: the run's wall-clock time to its last
step (compilation included) from metrics.jsonl. For flows, the straightness of 100-step Euler
paths from the same noise (`score_sde.straightness`). --cache keeps each recipe's figures, so a
table and plot can be redrawn, or recipes added, without recomputing the others.
"""

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

from benchmarks.train_benchmark import load_config
from score_sde.evaluation.straightness import straightness
from score_sde.files import write_json_atomic
from score_sde.plotting import figure_png
from score_sde.runner.restore import load_params
from score_sde.runner.setup import build
from score_sde.runner.state_evaluation import eval_settings, likelihood, sample_quality
from score_sde.sampling import sample_dpm_solver, sample_heun, sample_ode

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


def quality_vs_nfe(setup, params, samples: int, budgets, flow: bool) -> dict:
    """{sampler: {budget: {"nfe", "fd_digits", "classes"}}} for the run's EMA parameters."""
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
            figures = sample_quality(setup, np.asarray(x))
            results[name][budget] = {
                "nfe": int(nfe),
                "fd_digits": float(figures["fd_digits"]),
                "classes": int(figures["digit_classes_covered"]),
            }
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
        settings = {**eval_settings(config), "likelihood": method, "dequantization": dequantization}
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
    parser.add_argument(
        "--cache", default="", help="a folder keeping each recipe's figures (<name>.json), reused if there"
    )
    args = parser.parse_args()

    table = {}
    for entry in args.runs:
        name, _, paths = entry.partition("=")
        config_path, _, workdir = paths.partition(":")
        if not (name and config_path and workdir):
            parser.error(f"--runs entries look like name=config.py:workdir; got {entry!r}")
        cached = Path(args.cache) / f"{name}.json" if args.cache else None
        if cached is not None and cached.exists():
            table[name] = json.loads(cached.read_text())
            table[name]["quality"] = {
                sampler: {int(budget): result for budget, result in rows.items()}
                for sampler, rows in table[name]["quality"].items()
            }
            continue
        config, workdir = load_config(config_path), Path(workdir)
        setup = build(config, with_data=False)
        params, step, _ = load_params(setup, workdir, -1)
        start = time.time()
        record = final_record(workdir)
        flow = str(config.training.sde) == "linear_flow"
        table[name] = {
            "workdir": str(workdir),
            "checkpoint_step": step,
            "train_time_s": record["train_time_s"],
            "bpd": bits_per_dim(config, setup, params, record, args.bpd_examples),
            "quality": quality_vs_nfe(setup, params, args.samples, args.budgets, flow),
        }
        if flow:
            z = setup.process(params).prior_sampling(jax.random.PRNGKey(1), (args.samples, *setup.event_shape))
            paths = straightness(setup.process(params), setup.score_fn(params), z)[0]
            table[name]["straightness"] = float(np.mean(np.asarray(paths)))
        table[name]["evaluation_time_s"] = time.time() - start
        print(name, json.dumps(table[name]["bpd"]), flush=True)
        if cached is not None:
            write_json_atomic(cached, table[name])

    print(f"\nbest FD-digits by NFE budget ({args.samples} samples each; classes covered in brackets)")
    print(
        f"{'recipe':16s}"
        + "".join(f"{b:>12d}" for b in args.budgets)
        + f"{'bpd ode':>10s}{'bpd elbo':>10s}{'train s':>9s}"
    )
    for name, row in table.items():
        cells = []
        for budget in args.budgets:
            candidates = [r[budget] for r in row["quality"].values() if budget in r]
            best = min(candidates, key=lambda r: r["fd_digits"])
            cells.append(f"{best['fd_digits']:>8.1f} ({best['classes']})")
        bpd = "".join(f"{row['bpd'][k]:>13.3f}" if k in row["bpd"] else f"{'':>13s}" for k in LIKELIHOODS)
        print(f"{name:16s}" + "".join(cells) + bpd + f"{row['train_time_s']:>9.0f}")
    print(json.dumps({"samples": args.samples, "recipes": table}))

    figure = Figure(figsize=(7, 4.5))
    ax = figure.subplots()
    for index, (name, row) in enumerate(table.items()):
        color = f"C{index}"
        best = {}
        for sampler, results in row["quality"].items():
            if sampler == "euler":
                points = sorted(results.values(), key=lambda r: r["nfe"])
                ax.loglog([r["nfe"] for r in points], [r["fd_digits"] for r in points], ":", color=color, alpha=0.7)
            for budget, result in results.items():
                if budget in args.budgets and (budget not in best or result["fd_digits"] < best[budget]["fd_digits"]):
                    best[budget] = result
        points = [best[b] for b in sorted(best)]
        ax.loglog([r["nfe"] for r in points], [r["fd_digits"] for r in points], "o-", color=color, label=name)
    ax.axhline(40, color="gray", ls="--", lw=0.8, label="FD-digits 40")
    ax.set_xlabel("network evaluations (NFE)")
    ax.set_ylabel("FD-digits (lower is better)")
    ax.set_title("digits, same network and 2,000 steps: best of Heun / DPM-Solver++ (dotted: Euler)", fontsize=8)
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure_png(figure, args.out)


if __name__ == "__main__":
    main()
