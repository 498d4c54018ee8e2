"""Data parallelism and parameter sharding over every device of every process.

The mesh has two axes: "data" and "fsdp" (fully sharded data parallelism). Batches are split over
all devices (both axes); each parameter, its optimizer state and its EMA are split along
"fsdp" on their largest divisible axis, small arrays replicated (`fsdp_shardings`). An fsdp axis
of size 1 is plain data parallelism with replicated parameters. One code path serves one CPU,
several GPUs, and multi-host TPU pods or GPU clusters.
"""

import dataclasses

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from score_sde.settings import AT_LEAST_ONE, Setting

DATA_AXIS, FSDP_AXIS = "data", "fsdp"
BATCH_AXES = (DATA_AXIS, FSDP_AXIS)


def initialize_distributed(
    coordinator_address: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Joins a multi-process run (`jax.distributed.initialize`); with no arguments JAX detects
    the cluster (TPU pods, SLURM, Open MPI, Kubernetes)."""
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )


def data_mesh(fsdp: int = 1) -> Mesh:
    """A (devices / fsdp, fsdp) mesh over all devices of all processes; consecutive devices
    (those of one host first) share a parameter shard group."""
    devices = np.asarray(jax.devices())
    if fsdp < 1 or len(devices) % fsdp:
        raise ValueError(
            f"config.training.fsdp={fsdp} must divide the number of devices ({len(devices)}, over "
            f"{jax.process_count()} process(es))"
        )
    return Mesh(devices.reshape(-1, fsdp), BATCH_AXES)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
    """Splits axis `batch_axis` across all devices of the mesh, replicates the others."""
    return NamedSharding(mesh, PartitionSpec(*([None] * batch_axis), BATCH_AXES))


def fsdp_spec(shape: tuple[int, ...], fsdp: int, min_size: int) -> PartitionSpec:
    """The layout of one array: split along "fsdp" on its largest axis that `fsdp` divides
    (the first of equals), or replicated when no axis divides or it has fewer than `min_size` elements."""
    if fsdp == 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
        return PartitionSpec()
    for axis in sorted(range(len(shape)), key=lambda a: -shape[a]):
        if shape[axis] % fsdp == 0:
            return PartitionSpec(*([None] * axis), FSDP_AXIS)
    return PartitionSpec()


def fsdp_shardings(mesh: Mesh, tree, min_size: int):
    """NamedShardings for every leaf of `tree` (arrays or ShapeDtypeStructs) by `fsdp_spec`."""
    fsdp = mesh.shape[FSDP_AXIS]
    return jax.tree.map(lambda x: NamedSharding(mesh, fsdp_spec(tuple(x.shape), fsdp, min_size)), tree)


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


@dataclasses.dataclass(frozen=True)
class DeviceLayout:
    """Where a run's arrays live: the (data, fsdp) mesh, batches split over all its devices,
    parameters (with their optimizer state and EMA) split along "fsdp" (`fsdp_shardings`; arrays of
    fewer than `fsdp_min_size` elements replicated)."""

    mesh: Mesh
    fsdp_min_size: int = 1

    @classmethod
    def over_all_devices(cls, fsdp: int = 1, fsdp_min_size: int = 1) -> "DeviceLayout":
        """Every device of every process (`data_mesh`)."""
        return cls(data_mesh(fsdp), fsdp_min_size)

    @property
    def replicated(self) -> NamedSharding:
        return replicated(self.mesh)

    def batch_sharding(self, batch_axis: int = 0) -> NamedSharding:
        return batch_sharded(self.mesh, batch_axis)

    def state_sharding(self, abstract_state):
        """The shardings of a training state's shapes (a pytree of ShapeDtypeStructs)."""
        return fsdp_shardings(self.mesh, abstract_state, self.fsdp_min_size)

    def local(self) -> "DeviceLayout":
        """This process's devices alone, parameters replicated on them (for jobs whose processes work
        independently, `score_sde.pieces`); this layout itself when it already is."""
        if jax.process_count() == 1 and self.mesh.shape[FSDP_AXIS] == 1:
            return self
        return DeviceLayout(Mesh(np.asarray(jax.local_devices()).reshape(-1, 1), BATCH_AXES), self.fsdp_min_size)

    def put_replicated(self, tree):
        """`tree` (laid out on any mesh) replicated over this layout's mesh."""
        if jax.process_count() == 1:
            return jax.device_put(tree, self.replicated)
        return jax.device_put(to_host(tree), self.replicated)  # global arrays: gathered first


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "training.fsdp": Setting(
        1, ("devices per parameter shard group: params, optimizer state and EMA split over them"), AT_LEAST_ONE
    ),
    "training.fsdp_min_size": Setting(16384, "with fsdp > 1: arrays with fewer elements are replicated", AT_LEAST_ONE),
}
