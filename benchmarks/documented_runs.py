"""The documented digits runs end to end, as a user runs them: each trains through the command line
into its own workdir (resuming if it is there) and its final evaluation is read back; prints JSON
with FD-digits, classes covered, bits/dim and wall-clock minutes, and whether each run reaches its
documented quality (FD-digits below 40 with 8+ classes; quickstart bits/dim below 3; the latent
autoencoder's held-out reconstruction error below 3 of 255 levels).

  python -m benchmarks.documented_runs --root runs/documented                 # every run, about 80 min
  python -m benchmarks.documented_runs --root runs/documented --runs edm vdm  # some of them

These runs take 10-20 minutes each on a 2-core CPU, longer than the test suite's slow tier allows:
they are measured here, and their figures are quoted in the docs (docs/recipes/), rather than asserted by tests.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (config, extra overrides (a callable of the root folder), its documented quality)
RUNS = {
    "quickstart": ("configs/quickstart.py", lambda root: [], "fd_digits < 40, 8+ classes, bpd < 3"),
    "edm": ("configs/edm/digits.py", lambda root: [], "fd_digits < 40, 8+ classes"),
    "flow": ("configs/flow/digits.py", lambda root: [], "fd_digits < 40, 8+ classes"),
    "vdm": ("configs/vdm/digits.py", lambda root: [], "fd_digits < 40, 8+ classes"),
    "latent_autoencoder": (
        "configs/latent/digits_autoencoder.py",
        lambda root: [],
        "held-out reconstruction error < 3 levels",
    ),
    "latent": (
        "configs/latent/digits.py",
        lambda root: [f"--config.data.latents_of={root / 'latent_autoencoder'}"],
        "fd_digits < 40, 8+ classes",
    ),
}


def meets(name: str, final: dict) -> bool:
    """Whether a run's final evaluation reaches its documented quality."""
    if name == "latent_autoencoder":
        return final["reconstruction_rmse_levels"] < 3.0
    quality = final["fd_digits"] < 40 and final["digit_classes_covered"] >= 8
    return quality and (final["bpd"] < 3.0 if name == "quickstart" else True)


def run(name: str, root: Path) -> dict:
    """Trains run `name` into root/name through the CLI and returns its figures."""
    config, extra, documented = RUNS[name]
    workdir = root / name
    command = [sys.executable, "-m", "experiments.main", "--config", config, "--workdir", str(workdir)]
    start = time.time()
    result = subprocess.run([*command, "--progress=false", *extra(root)], cwd=ROOT, capture_output=True, text=True)
    minutes = (time.time() - start) / 60
    if result.returncode != 0:
        return {"command": " ".join(command), "error": result.stderr[-2000:]}
    final = json.loads((workdir / "metrics.jsonl").read_text().splitlines()[-1])
    keys = ("fd_digits", "digit_classes_covered", "bpd", "reconstruction_rmse_levels", "reconstruction_psnr")
    figures = {key: final[key] for key in keys if key in final}
    return {
        "command": " ".join(command),
        "minutes": round(minutes, 1),
        **figures,
        "documented": documented,
        "meets_documented": meets(name, final),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("runs/documented"), help="the runs' parent folder")
    parser.add_argument("--runs", nargs="+", choices=tuple(RUNS), default=list(RUNS), help="which runs")
    args = parser.parse_args()
    if "latent" in args.runs and "latent_autoencoder" not in args.runs:
        if not (args.root / "latent_autoencoder" / "config.json").is_file():
            parser.error("--runs latent needs its autoencoder: add latent_autoencoder (it runs first)")
    results = {}
    for name in RUNS:  # in the order of RUNS: the autoencoder before the latent model
        if name in args.runs:
            results[name] = run(name, args.root)
            print(json.dumps({name: results[name]}), flush=True)
    print(json.dumps(results, indent=2))
    if not all(result.get("meets_documented") for result in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
