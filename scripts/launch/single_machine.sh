#!/usr/bin/env bash
# One machine, several GPUs: one process that sees every GPU it is given (docs/launch.md).
#
# usage: [CONFIG=...] [WORKDIR=...] [CUDA_VISIBLE_DEVICES=0,1] scripts/launch/single_machine.sh \
#            [train|check|eval|sample|likelihood] [--config.<section>.<field>=value ...]
#
#   scripts/launch/single_machine.sh check                 # prints the devices JAX sees, builds the model
#   scripts/launch/single_machine.sh train                 # trains; run it again after a stop to resume
#   scripts/launch/single_machine.sh likelihood --config.eval.bpd_dataset=test
#   scripts/launch/single_machine.sh sample --config.eval.num_samples=50000 --config.eval.batch_size=1000
#   CUDA_VISIBLE_DEVICES=2,3 scripts/launch/single_machine.sh eval --config.eval.begin_ckpt=1
#
# Devices. JAX uses every GPU in CUDA_VISIBLE_DEVICES (all of the machine's when it is unset) in one
# process: no --multihost, no coordinator. Training, sampling and the likelihood are data parallel over
# them, so config.training.batch_size (and config.eval.batch_size for sample / likelihood / eval) must
# divide by their number; `check` says how many there are.
#
# Stopping and resuming. The python process replaces this script (exec), so `kill -TERM <pid of this
# script>` or Ctrl-C reach it directly. SIGTERM makes training checkpoint (checkpoints-meta/) and
# stop at the next dispatch; running the same command again resumes from the newest checkpoint in
# WORKDIR, with the losses an uninterrupted run would have had. The dataset-wide jobs (likelihood,
# sample, eval) resume the same way: finished pieces are kept in WORKDIR, and only the unfinished
# ones are recomputed after a restart (docs/launch.md, "Preemption and resume").
set -euo pipefail

CONFIG=${CONFIG:-configs/quickstart.py}
WORKDIR=${WORKDIR:-runs/quickstart}
PYTHON=${PYTHON:-.venv/bin/python}

usage="usage: [CONFIG=...] [WORKDIR=...] [CUDA_VISIBLE_DEVICES=...] $0 [train|check|eval|sample|likelihood] [--config.field=value ...]"
MODE=train
if [[ $# -gt 0 && ($1 == -h || $1 == --help) ]]; then
  echo "$usage"
  exit 0
fi
if [[ $# -gt 0 && $1 != --* ]]; then
  MODE=$1
  shift
fi
case $MODE in
  train | check | eval | sample | likelihood) ;;
  help)
    echo "$usage"
    exit 0
    ;;
  *)
    echo "unknown mode '$MODE'" >&2
    echo "$usage" >&2
    exit 2
    ;;
esac

cd "$(dirname "$0")/../.."  # the repository root: configs/ and .venv are relative to it
if [[ ! -x $PYTHON ]]; then
  echo "$PYTHON not found: run 'make .venv/.installed' in the repository root first, then" >&2
  echo "'.venv/bin/pip install -U \"jax[cuda12]\"' for GPUs (see docs/launch.md)" >&2
  exit 1
fi
echo "GPUs: ${CUDA_VISIBLE_DEVICES:-all}; mode $MODE; config $CONFIG; workdir $WORKDIR" >&2
exec "$PYTHON" -m experiments.main --config "$CONFIG" --workdir "$WORKDIR" --mode "$MODE" "$@"
