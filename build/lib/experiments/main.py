"""Command-line entry: python -m experiments.main --config configs/<name>.py --workdir <dir>.

Config fields can be overridden on the command line, e.g. --config.training.n_iters=1000.
"""

import json

from absl import app, flags
from ml_collections import config_flags

from score_sde.experiment import train_and_evaluate

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Path to an ml_collections config file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and metrics.")
flags.DEFINE_enum("mode", "train", ["train"], "train: train, then sample and evaluate.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    record = train_and_evaluate(FLAGS.config, FLAGS.workdir)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    app.run(main)
