"""Command-line entry: python -m experiments.main --config configs/<name>.py --workdir <dir> --mode <mode>.

Modes: train (resumes from the newest checkpoint in the workdir), eval, sample, likelihood,
posthoc_ema, fid_stats, reflow, distill, and check (validates the config and builds everything but
data; no workdir needed).
Config fields can be overridden on the command line, e.g. --config.training.n_iters=1000.
Multi-host: pass --multihost (cluster auto-detected) or the three --coordinator_address,
--num_processes and --process_id flags on every process.
"""

import difflib
import json
import logging
import sys

import jax
from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Path to an ml_collections config file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and metrics (not needed by --mode check).")
flags.DEFINE_enum(
    "mode",
    "train",
    ["train", "eval", "sample", "likelihood", "posthoc_ema", "fid_stats", "reflow", "distill", "check"],
    "train: train (and resume); eval: evaluate snapshots; sample: draw samples (or inpaint, "
    "colorize, interpolate); likelihood: bits/dim; posthoc_ema: write the post-hoc EMA of "
    "config.eval.posthoc_sigma_rel as a run of its own; fid_stats: the dataset's Inception statistics; "
    "reflow: draw (noise, sample) pairs from config.reflow.teacher's flow and train on them; "
    "distill: a few-step student of config.distill.teacher (progressive or consistency distillation); "
    "check: validate the config and build the model, process and sampler, touching no data or files.",
)
flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() with the cluster auto-detected.")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0, for a manual multi-process launch.")
flags.DEFINE_integer("num_processes", None, "Number of processes, for a manual multi-process launch.")
flags.DEFINE_integer("process_id", None, "This process's index, for a manual multi-process launch.")
flags.DEFINE_bool("progress", True, "Show progress bars.")
flags.DEFINE_bool("traceback", False, "Show the Python traceback of a refused setting or missing file, not one line.")
flags.mark_flags_as_required(["config"])


def unknown_override(argv) -> str:
    """One line naming the first --config.<field> override that the schema does not declare."""
    from score_sde.config import base_config

    for arg in argv:
        if arg.startswith("--config."):
            section, *rest = arg[len("--config.") :].split("=")[0].split(".")
            node, path = base_config(), []
            for key in [section, *rest]:
                if not hasattr(node, "keys") or key not in node:
                    known = sorted(node.keys()) if hasattr(node, "keys") else []
                    close = difflib.get_close_matches(key, known, n=1)
                    hint = f"did you mean {close[0]}? " if close else ""
                    where = "config." + ".".join(path) if path else "config"
                    return f"--config.{'.'.join(path + [key])} is not a setting: {hint}{where} has {tuple(known)}"
                node, path = node[key], path + [key]
    return "an override names a field the config does not have"


def parse_flags(argv):
    """absl's parsing, with an override of a field the config does not have reported in one line."""
    try:
        return FLAGS(argv)
    except (AttributeError, KeyError):
        sys.exit(f"FATAL Flags parsing error: {unknown_override(argv)}")


def main(argv):
    del argv
    from score_sde.parallel import initialize_distributed
    from score_sde.runner import MODES, build

    if FLAGS.mode != "check" and FLAGS.workdir is None:
        raise app.UsageError(f"--mode {FLAGS.mode} needs --workdir")
    manual = (FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    if any(v is not None for v in manual):
        if any(v is None for v in manual):
            raise app.UsageError("--coordinator_address, --num_processes and --process_id go together")
        initialize_distributed(*manual)
    elif FLAGS.multihost:
        initialize_distributed()
    absl_logging.set_verbosity(absl_logging.WARNING)  # quiets orbax's per-save INFO lines
    logging.getLogger("score_sde").setLevel(logging.INFO)
    logging.getLogger("score_sde").info(
        "JAX sees %d device(s) over %d process(es): %s",
        jax.device_count(),
        jax.process_count(),
        jax.devices()[0].platform,
    )
    try:
        build(FLAGS.config, with_data=False, with_weights=False)  # every setting checked before any work
        result = MODES[FLAGS.mode](FLAGS.config, FLAGS.workdir, progress=FLAGS.progress)
    except (ValueError, FileNotFoundError, FloatingPointError) as error:  # a refusal, a missing file, a diverged run
        if FLAGS.traceback:
            raise
        sys.exit(f"error: {error}")
    if jax.process_index() == 0:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
