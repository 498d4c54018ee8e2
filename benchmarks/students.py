"""Few-step students side by side with their teacher on the built-in digits, and few-step models
trained from scratch (iCT, MeanFlow): FD-digits and digit classes covered against NFE, with what
each model cost to train; prints a table and JSON and saves a PNG plot.

  python -m benchmarks.students --teacher configs/quickstart.py:runs/quickstart \
      --progressive configs/distill/digits_progressive.py:runs/digits_pd \
      --consistency configs/distill/digits_consistency.py:runs/digits_cd \
      --few_step configs/ict/digits.py:runs/ict_digits \
      --few_step configs/mean_flow/digits.py:runs/mean_flow_digits \
      --few_step configs/sct/digits.py:runs/sct_digits \
      --few_step configs/scd/digits.py:runs/scd_digits \
      --samples 300 --cache runs/students_benchmark --out docs/students_digits.png

The teacher (its newest checkpoint's EMA parameters) is sampled with DDIM, DPM-Solver++(2M) and
EDM's Heun at each budget in --budgets and the best FD-digits per budget is kept. Each progressive-distillation
round's student samples with its own number of steps; the consistency student with 1, 2, 4 and 8
steps; a few-step model (iCT, MeanFlow, sCT, sCD) with its own sampler at 1, 2 and 4 steps. Each
model's flag is optional. Every row draws
--samples samples from the same key. A student's cost: its training steps
(all rounds up to it for progressive distillation), the teacher evaluations they took (2 per
example and step for both methods: two DDIM steps, one Heun step) and the wall-clock training
time (compilation included) from metrics.jsonl.
"""

import argparse
import functools
import json
from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

from benchmarks.recipes import final_record
from benchmarks.train_benchmark import load_config
from score_sde.files import write_json_atomic
from score_sde.plotting import figure_png
from score_sde.runner.restore import load_params
from score_sde.runner.setup import build
from score_sde.runner.state_evaluation import sample_quality
from score_sde.sampling import sample_ddim, sample_dpm_solver, sample_heun

TEACHER_BUDGETS = (1, 2, 4, 8, 64)
CONSISTENCY_STEPS = (1, 2, 4, 8)
FROM_SCRATCH_STEPS = (1, 2, 4)
FROM_SCRATCH_NAMES = {
    "consistency_training": "iCT (from scratch)",
    "mean_flow": "MeanFlow (from scratch)",
    "scm": "sCT (from scratch)",
}
TEACHER_EVALUATIONS_PER_EXAMPLE = 2  # per training step: two DDIM steps (progressive), one Heun step (consistency)

# name -> budget -> run(rng, process, score, shape), spending at most `budget` evaluations (None: cannot)
SAMPLERS = {
    "ddim": lambda n: lambda r, p, f, shape: sample_ddim(r, p, f, shape, num_steps=n, denoise=False),
    "dpm_solver++(2m)": lambda n: lambda r, p, f, shape: sample_dpm_solver(r, p, f, shape, num_steps=n, denoise=False),
    "heun": lambda n: (lambda r, p, f, shape: sample_heun(r, p, f, shape, num_steps=(n + 1) // 2)) if n > 2 else None,
}


def _score(setup, x) -> dict:
    figures = sample_quality(setup, np.asarray(x))
    return {"fd_digits": float(figures["fd_digits"]), "classes": int(figures["digit_classes_covered"])}


def teacher_rows(config_path: str, workdir: Path, samples: int, budgets) -> list[dict]:
    """The teacher's best sampler at each budget."""
    setup = build(load_config(config_path), with_data=False)
    params, step, _ = load_params(setup, workdir, -1)
    process, score, shape = setup.process(params), setup.score_fn(params), (samples, *setup.event_shape)
    rows = []
    for budget in budgets:
        results = []
        for name, make in SAMPLERS.items():
            run = make(budget)
            if run is not None:
                x, nfe = run(jax.random.PRNGKey(0), process, score, shape)
                results.append({"sampler": name, "nfe": int(nfe), **_score(setup, x)})
        rows.append(min(results, key=lambda r: r["fd_digits"]))
    train = final_record(workdir)
    for row in rows:
        row.update(model="teacher", train_steps=train["steps"], train_time_s=train["train_time_s"], step=step)
    return rows


def _student_rows(config, workdir: Path, samples: int, steps_list, label: str) -> list[dict]:
    rows = []
    for steps in steps_list:
        config.sampling.method, config.sampling.num_steps = "student", steps
        setup = build(config, with_data=False)
        params = load_params(setup, workdir, -1)[0]
        shape = (samples, *setup.event_shape)
        x, nfe = setup.sample(jax.random.PRNGKey(0), params, setup.sampling_score_fn(params, samples), shape)
        rows.append(
            {"model": label, "sampler": f"{steps}-step {setup.sampler_name}", "nfe": int(nfe), **_score(setup, x)}
        )
    return rows


def few_step_rows(config_path: str, workdir: Path, samples: int) -> list[dict]:
    """A few-step model (iCT, MeanFlow, sCT; sCD, whose teacher takes one evaluation per example and
    step) with its objective's own sampler at 1, 2 and 4 steps."""
    config = load_config(config_path)
    train = final_record(workdir)
    distilled = str(config.distill.method) == "scm"
    objective = str(config.training.objective)
    label = "sCD (distilled)" if distilled else FROM_SCRATCH_NAMES.get(objective, objective)
    rows = _student_rows(config, workdir, samples, FROM_SCRATCH_STEPS, label)
    evaluations = train["steps"] * int(config.training.batch_size) if distilled else 0
    for row in rows:
        row.update(train_steps=train["steps"], train_time_s=train["train_time_s"], teacher_evaluations=evaluations)
    return rows


def progressive_rows(config_path: str, workdir: Path, samples: int) -> list[dict]:
    """Each round's student at its own number of steps, with the cost of all rounds up to it."""
    config = load_config(config_path)
    rounds = sorted((int(p.name.split("_")[0]), p) for p in (workdir / "students").glob("*_steps"))
    rows, steps_so_far, time_so_far = [], 0, 0.0
    for steps, folder in sorted(rounds, reverse=True):
        train = final_record(folder)
        steps_so_far, time_so_far = steps_so_far + train["steps"], time_so_far + train["train_time_s"]
        row = _student_rows(config, folder, samples, (steps,), "progressive distillation")[0]
        row.update(train_steps=steps_so_far, train_time_s=time_so_far)
        rows.append(row)
    batch = int(config.training.batch_size)
    for row in rows:
        row["teacher_evaluations"] = row["train_steps"] * batch * TEACHER_EVALUATIONS_PER_EXAMPLE
    return sorted(rows, key=lambda r: r["nfe"])


def consistency_rows(config_path: str, workdir: Path, samples: int) -> list[dict]:
    config = load_config(config_path)
    train = final_record(workdir)
    rows = _student_rows(config, workdir, samples, CONSISTENCY_STEPS, "consistency distillation")
    batch = int(config.training.batch_size)
    for row in rows:
        row.update(
            train_steps=train["steps"],
            train_time_s=train["train_time_s"],
            teacher_evaluations=train["steps"] * batch * TEACHER_EVALUATIONS_PER_EXAMPLE,
        )
    return rows


def _paths(parser, value: str) -> tuple[str, Path]:
    config_path, _, workdir = value.partition(":")
    if not (config_path and workdir):
        parser.error(f"expected config.py:workdir; got {value!r}")
    return config_path, Path(workdir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", help="config.py:workdir of the teacher")
    parser.add_argument("--progressive", help="config.py:workdir of a --mode distill progressive run")
    parser.add_argument("--consistency", help="config.py:workdir of a --mode distill consistency run")
    parser.add_argument(
        "--few_step",
        action="append",
        default=[],
        help="config.py:workdir of an iCT, MeanFlow, sCT or sCD run (repeatable)",
    )
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--budgets", type=int, nargs="+", default=list(TEACHER_BUDGETS))
    parser.add_argument("--out", default="students_digits.png")
    parser.add_argument("--cache", default="", help="a folder keeping each model's rows (<name>.json), reused if there")
    args = parser.parse_args()

    def cached(name: str, compute) -> list[dict]:
        path = Path(args.cache) / f"{name}.json" if args.cache else None
        if path is not None and path.exists():
            return json.loads(path.read_text())
        rows = compute()
        if path is not None:
            write_json_atomic(path, rows)
        return rows

    rows = []
    if args.teacher:
        rows += cached("teacher", lambda: teacher_rows(*_paths(parser, args.teacher), args.samples, args.budgets))
    if args.progressive:
        paths = _paths(parser, args.progressive)
        rows += cached("progressive", lambda: progressive_rows(*paths, args.samples))
    if args.consistency:
        paths = _paths(parser, args.consistency)
        rows += cached("consistency", lambda: consistency_rows(*paths, args.samples))
    for value in args.few_step:
        config_path, workdir = _paths(parser, value)
        rows += cached(workdir.name, functools.partial(few_step_rows, config_path, workdir, args.samples))

    print(f"\nFD-digits against NFE ({args.samples} samples each)")
    print(
        f"{'model':28s}{'sampler':28s}{'NFE':>5s}{'FD-digits':>11s}{'classes':>9s}{'train steps':>13s}{'train s':>9s}"
    )
    for row in rows:
        print(
            f"{row['model']:28s}{row['sampler']:28s}{row['nfe']:>5d}{row['fd_digits']:>11.1f}{row['classes']:>9d}"
            f"{row['train_steps']:>13d}{row['train_time_s']:>9.0f}"
        )
    print(json.dumps({"samples": args.samples, "rows": rows}))

    figure = Figure(figsize=(7, 4.5))
    ax = figure.subplots()
    for index, model in enumerate(dict.fromkeys(row["model"] for row in rows)):
        points = sorted((r for r in rows if r["model"] == model), key=lambda r: r["nfe"])
        ax.loglog([r["nfe"] for r in points], [r["fd_digits"] for r in points], "o-", color=f"C{index}", label=model)
    ax.axhline(40, color="gray", ls="--", lw=0.8, label="FD-digits 40")
    ax.set_xlabel("network evaluations (NFE)")
    ax.set_ylabel("FD-digits (lower is better)")
    ax.set_title("digits: FD-digits of few-step models and samplers against NFE", fontsize=8)
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure_png(figure, args.out)


if __name__ == "__main__":
    main()
