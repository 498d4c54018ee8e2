"""Data parallelism over every device of every process: one mesh axis, "data".

Parameters and optimizer state are replicated; batches are split along their batch axis.
One code path serves one CPU, several GPUs, and multi-host TPU pods or GPU clusters.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def initialize_distributed(
    coordinator_address: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Joins a multi-process run (`jax.distributed.initialize`); with no arguments JAX detects
    the cluster (TPU pods, SLURM, Open MPI, Kubernetes)."""
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )


def data_mesh() -> Mesh:
    """A 1-D mesh over all devices of all processes."""
    return Mesh(np.asarray(jax.devices()), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
    """Splits axis `batch_axis` across the mesh, replicates the others."""
    return NamedSharding(mesh, PartitionSpec(*([None] * batch_axis), DATA_AXIS))


def to_global(local_tree, sharding: NamedSharding):
    """Assembles each process's local slices (numpy) into global jax Arrays laid out by `sharding`."""
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_tree)


def to_host(tree):
    """Fully replicated or fully addressable arrays -> numpy, on every process."""

    def fetch(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(fetch, tree)
