"""Command-line entry: python -m experiments.main --config configs/<name>.py --workdir <dir> --mode <mode>.

Modes: train (resumes from the newest checkpoint in the workdir), eval, sample, likelihood.
Config fields can be overridden on the command line, e.g. --config.training.n_iters=1000.
Multi-host: pass --multihost (cluster auto-detected) or the three --coordinator_address,
--num_processes and --process_id flags on every process.
"""

import json
import logging

import jax
from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Path to an ml_collections config file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and metrics.")
flags.DEFINE_enum("mode", "train", ["train", "eval", "sample", "likelihood", "fid_stats"],
                  "train: train (and resume); eval: evaluate snapshots; sample: draw samples (or inpaint, "
                  "colorize, interpolate); likelihood: bits/dim; fid_stats: the dataset's Inception statistics.")
flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() with the cluster auto-detected.")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0, for a manual multi-process launch.")
flags.DEFINE_integer("num_processes", None, "Number of processes, for a manual multi-process launch.")
flags.DEFINE_integer("process_id", None, "This process's index, for a manual multi-process launch.")
flags.DEFINE_bool("progress", True, "Show progress bars.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    from score_sde.parallel import initialize_distributed
    from score_sde.runner import MODES

    manual = (FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    if any(v is not None for v in manual):
        if any(v is None for v in manual):
            raise app.UsageError("--coordinator_address, --num_processes and --process_id go together")
        initialize_distributed(*manual)
    elif FLAGS.multihost:
        initialize_distributed()
    absl_logging.set_verbosity(absl_logging.WARNING)  # quiets orbax's per-save INFO lines
    logging.getLogger("score_sde").setLevel(logging.INFO)
    logging.getLogger("score_sde").info("JAX sees %d device(s) over %d process(es): %s", jax.device_count(), jax.process_count(),
                 jax.devices()[0].platform)
    result = MODES[FLAGS.mode](FLAGS.config, FLAGS.workdir, progress=FLAGS.progress)
    if jax.process_index() == 0:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    app.run(main)
