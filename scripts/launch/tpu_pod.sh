#!/usr/bin/env bash
# A Cloud TPU VM pod slice: every worker runs the same command with --multihost (docs/launch.md).
#
# usage: [TPU_NAME=...] [ZONE=...] [CONFIG=...] [WORKDIR=...] scripts/launch/tpu_pod.sh \
#            setup | check | train | eval | sample | likelihood | stop | logs  [--config.<section>.<field>=value ...]
#
#   scripts/launch/tpu_pod.sh setup        # once per slice: clone, venv, jax[tpu], shared storage mounted
#   scripts/launch/tpu_pod.sh check        # every worker prints the devices and processes JAX sees
#   scripts/launch/tpu_pod.sh train        # starts training on every worker, detached; again to resume
#   scripts/launch/tpu_pod.sh logs         # the last lines of each worker's log
#   scripts/launch/tpu_pod.sh stop         # SIGTERM on every worker: training checkpoints and stops
#   scripts/launch/tpu_pod.sh likelihood --config.eval.bpd_dataset=test
#
# It runs on your workstation (gcloud installed and logged in) and reaches the workers with
# `gcloud compute tpus tpu-vm ssh --worker=all`. On a TPU VM, jax.distributed.initialize() (what
# --multihost calls) reads the slice's topology from the VM metadata: the coordinator is worker 0,
# one process per worker, and no address or port needs to be given.
#
# Shared storage. All workers write checkpoints together (orbax) and process 0 writes the logs, so
# WORKDIR must be one directory that every worker mounts. The runner writes through the local file
# system (atomic renames), so WORKDIR is a path, not a gs:// URL: `setup` mounts SHARED at MOUNT on
# every worker, either a Filestore / NFS export ("10.0.0.2:/runs", preferred) or a Cloud Storage
# bucket ("gs://my-bucket", through gcsfuse, which must be installed on the VM image).
#
# Preemption and resume. `stop` (or a maintenance event that sends SIGTERM) makes training checkpoint
# to WORKDIR/checkpoints-meta and stop at the next dispatch. Running `train` again, on this slice or
# on a new one after `setup`, resumes from the newest checkpoint in WORKDIR (checkpoints-meta/ or
# checkpoints/) with the losses an uninterrupted run would have had; a hard kill loses at most
# training.snapshot_freq_for_preemption steps (docs/launch.md, "Preemption and resume"). The
# dataset-wide modes (likelihood, sample, eval) resume the same way: finished pieces are kept in
# WORKDIR, and only unfinished ones are recomputed.
#
# The batch: config.training.batch_size is global and must divide by the number of TPU devices of
# the slice (`check` prints it, e.g. 16 on a v4-32: 4 workers of 4 chips); each worker reads only its
# slice of every batch, so the dataset (config.data.data_dir) must be readable on every worker too.
set -euo pipefail

TPU_NAME=${TPU_NAME:-score-sde-v4-32}
ZONE=${ZONE:-us-central2-b}
CONFIG=${CONFIG:-configs/vp/cifar10_ddpmpp_continuous.py}
SHARED=${SHARED:-10.0.0.2:/runs}     # NFS export ("host:/path") or bucket ("gs://bucket") mounted at MOUNT
MOUNT=${MOUNT:-/mnt/shared}
WORKDIR=${WORKDIR:-$MOUNT/runs/cifar10_ddpmpp_continuous}
REPO_URL=${REPO_URL:-https://example.com/your-fork/score_sde.git}  # your clone's remote
REPO_DIR=${REPO_DIR:-score_sde}      # on each worker, relative to the home directory
LOG=${LOG:-score_sde.log}            # on each worker, in the home directory; PID beside it

usage="usage: [TPU_NAME=...] [ZONE=...] [CONFIG=...] [WORKDIR=...] $0 setup|check|train|eval|sample|likelihood|stop|logs [--config.field=value ...]"
if [[ $# -lt 1 ]]; then
  echo "$usage" >&2
  exit 2
fi
action=$1
shift
if [[ $WORKDIR == gs://* ]]; then
  echo "WORKDIR=$WORKDIR: give a path on the mounted storage (SHARED=gs://... mounts the bucket at MOUNT)" >&2
  exit 2
fi

on_every_worker() { # the same command line on every worker of the slice, at the same time
  gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all --command="$1"
}

overrides=""
if [[ $# -gt 0 ]]; then
  overrides=$(printf ' %q' "$@")
fi
run=".venv/bin/python -m experiments.main --config $(printf %q "$CONFIG")"
run+=" --workdir $(printf %q "$WORKDIR") --multihost --progress=false"

case $action in
  setup)
    if [[ $SHARED == gs://* ]]; then
      mount_shared="command -v gcsfuse >/dev/null || { echo 'install gcsfuse on the VM image first'; exit 1; };"
      mount_shared+=" mountpoint -q $MOUNT || gcsfuse --implicit-dirs --rename-dir-limit=1000000 ${SHARED#gs://} $MOUNT"
    else
      mount_shared="(dpkg -s nfs-common >/dev/null 2>&1 || sudo apt-get install -y -q nfs-common);"
      mount_shared+=" mountpoint -q $MOUNT || sudo mount -t nfs -o rw,hard $SHARED $MOUNT"
    fi
    # the venv's jax becomes jax[tpu] of the same version (libtpu); make installs everything else
    on_every_worker "set -e; sudo mkdir -p $MOUNT && sudo chmod a+rwx $MOUNT; $mount_shared
      [ -d ~/$REPO_DIR ] || git clone $REPO_URL ~/$REPO_DIR
      cd ~/$REPO_DIR && git pull --ff-only && make .venv/.installed
      .venv/bin/pip install --quiet \"jax[tpu]==\$(.venv/bin/python -c 'import jax; print(jax.__version__)')\""
    ;;
  check) # in the foreground: every worker prints "JAX sees N device(s) over M process(es): tpu"
    on_every_worker "cd ~/$REPO_DIR && $run --mode check$overrides"
    ;;
  train | eval | sample | likelihood)
    # detached (nohup), so that the run outlives this ssh session; all workers start together,
    # since process 0 waits for the others when it joins the cluster; $! is python's own pid
    on_every_worker "cd ~/$REPO_DIR && { nohup $run --mode $action$overrides > ~/$LOG 2>&1 < /dev/null &
      echo \$! > ~/$LOG.pid; echo \"\$(hostname): started pid \$!, log ~/$LOG\"; }"
    ;;
  stop) # SIGTERM: training checkpoints and stops at its next dispatch
    on_every_worker "[ -f ~/$LOG.pid ] && kill -TERM \$(cat ~/$LOG.pid) && echo \"\$(hostname): SIGTERM sent\" || true"
    ;;
  logs)
    on_every_worker "echo \"== \$(hostname)\"; tail -n 20 ~/$LOG"
    ;;
  *)
    echo "unknown action '$action'" >&2
    echo "$usage" >&2
    exit 2
    ;;
esac
