"""Sample quality against the number of score evaluations for every sampler; prints a table and
JSON and saves a PNG plot.

  python -m benchmarks.quality_vs_nfe --sde vpsde --samples 4000 --out quality_vs_nfe.png

The score is the exact one of the 2-D Gaussian-mixture oracle, so what is measured is the
sampler's own error: MMD^2 between its samples and exact samples of the mixture (the same
statistic between two exact sample sets is printed as the noise floor). A budget a sampler
cannot meet (e.g. PC with fewer than beta_max steps on VP) is left empty.
"""

import argparse
import io
import json

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from score_sde.files import write_bytes_atomic  # noqa: E402
from score_sde.mmd import mmd_squared  # noqa: E402
from score_sde.oracle import example_mixture  # noqa: E402
from score_sde.sampling import sample_ddim, sample_dpm_solver, sample_heun, sample_pc, sample_sde  # noqa: E402
from score_sde.sde import SDES  # noqa: E402

BUDGETS = (5, 10, 20, 35, 50, 100, 1000)

# name -> (budget -> run(rng, sde, score, shape)); each run spends at most `budget` evaluations
SAMPLERS = {
    "ddim": lambda n: lambda r, s, f, shape: sample_ddim(r, s, f, shape, num_steps=n),
    "heun (edm)": lambda n: lambda r, s, f, shape: sample_heun(r, s, f, shape, num_steps=(n - 1) // 2),
    "dpm-solver++(2m)": lambda n: lambda r, s, f, shape: sample_dpm_solver(r, s, f, shape, num_steps=n),
    "pc (reverse diffusion)": lambda n: lambda r, s, f, shape: sample_pc(r, s, f, shape, corrector="none", num_steps=n),
    "reverse sde (euler-maruyama)": lambda n: lambda r, s, f, shape: sample_sde(r, s, f, shape, num_steps=n - 1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sde", default="vpsde", choices=SDES.names())
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--out", default="quality_vs_nfe.png")
    args = parser.parse_args()

    sde = SDES.get(args.sde)()
    oracle = example_mixture(sde)
    shape = (args.samples, 2)
    exact, _ = oracle.sample(jax.random.PRNGKey(100), args.samples)
    floor = float(mmd_squared(oracle.sample(jax.random.PRNGKey(101), args.samples)[0], exact))
    results = {}
    for name, make in SAMPLERS.items():
        results[name] = {}
        for budget in BUDGETS:
            try:
                samples, nfe = make(budget)(jax.random.PRNGKey(0), sde, oracle.score, shape)
            except ValueError:
                continue  # this budget is too small for the sampler
            results[name][budget] = {"nfe": int(nfe), "mmd2": float(mmd_squared(samples, exact))}

    header = f"{'sampler':30s}" + "".join(f"{b:>10d}" for b in BUDGETS)
    print(f"MMD^2 to exact samples by NFE budget ({args.sde}, {args.samples} samples; floor {floor:.1e})")
    print(header)
    for name, row in results.items():
        print(f"{name:30s}" + "".join(f"{row[b]['mmd2']:>10.1e}" if b in row else f"{'':>10s}" for b in BUDGETS))
    print(json.dumps({"sde": args.sde, "samples": args.samples, "floor_mmd2": floor, "results": results}))

    # MMD^2 estimates scatter around 0 at the floor (they can be negative): such points are
    # drawn at half the floor, i.e. "indistinguishable from exact samples".
    level = max(abs(floor), 1e-7)
    figure, ax = plt.subplots(figsize=(6, 4))
    for name, row in results.items():
        ax.loglog([v["nfe"] for v in row.values()], [max(v["mmd2"], level / 2) for v in row.values()], "o-", label=name)
    ax.axhline(level, color="gray", ls="--", label="two exact sample sets (points below: at the floor)")
    ax.set_xlabel("score evaluations (NFE)")
    ax.set_ylabel("MMD² to exact samples")
    ax.set_title(f"sampler quality vs NFE, oracle score, {args.sde}")
    ax.legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_bytes_atomic(args.out, buffer.getvalue())


if __name__ == "__main__":
    main()
