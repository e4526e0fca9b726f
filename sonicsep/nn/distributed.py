"""Many hosts: one training run over the devices of several processes (``jax.distributed``).

A multi-host run starts one process per host (or per GPU), all with the same command and
``--distributed``. :func:`initialize` connects them before JAX touches a device: the coordinator
address, the number of processes and this process's id come from, in order,

1. the flags ``--coordinator-address``, ``--num-processes``, ``--process-id``;
2. the environment: ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0),
   ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``; on a Kubernetes Indexed Job the process id may
   come from ``JOB_COMPLETION_INDEX``, which Kubernetes sets in each pod;
3. JAX's own cluster detection for what is still unset: SLURM (``srun`` sets ``SLURM_*``;
   the coordinator is the step's first node), Open MPI, Cloud TPU, and JobSets on Kubernetes.

Then the ``data`` mesh spans every process's devices, and each process holds and reads only the
rows of a global batch that its own devices hold (:func:`batch_share`); :func:`global_batch`
assembles those process-local rows into one global array (``jax.make_array_from_process_local
_data``). Only process 0 writes files other than checkpoints (:func:`is_writer`); Orbax saves
and restores checkpoints with every process taking part. With one process every function here
is the identity or a plain ``device_put``, so a one-process run is unchanged.

On CPU devices the processes exchange gradients through Gloo (JAX's CPU collectives), so a
multi-process run can be tested on one machine over loopback.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import jax
import numpy as np

from sonicsep.errors import ParameterError

COORDINATOR_ENV = "JAX_COORDINATOR_ADDRESS"
NUM_PROCESSES_ENV = "JAX_NUM_PROCESSES"
PROCESS_ID_ENV = "JAX_PROCESS_ID"
K8S_INDEX_ENV = "JOB_COMPLETION_INDEX"  # Kubernetes Indexed Job: the pod's index


@dataclasses.dataclass(frozen=True)
class DistributedOptions:
    """Where a process finds its peers; ``None`` fields are left to JAX's cluster detection."""

    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    @classmethod
    def from_env(
        cls,
        coordinator_address: str | None = None,
        num_processes: int | None = None,
        process_id: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> DistributedOptions:
        """The given values, each missing one from the environment (see the module docstring)."""
        environ = os.environ if environ is None else environ
        if process_id is None:
            process_id = _env_int(environ, PROCESS_ID_ENV)
        if process_id is None:
            process_id = _env_int(environ, K8S_INDEX_ENV)
        if num_processes is None:
            num_processes = _env_int(environ, NUM_PROCESSES_ENV)
        options = cls(
            coordinator_address or environ.get(COORDINATOR_ENV) or None,
            num_processes,
            process_id,
        )
        options.check()
        return options

    def check(self) -> None:
        if self.num_processes is not None and self.num_processes < 1:
            raise ParameterError(f"invalid num_processes={self.num_processes}: must be >= 1")
        if self.process_id is not None and self.process_id < 0:
            raise ParameterError(f"invalid process_id={self.process_id}: must be >= 0")
        if None not in (self.num_processes, self.process_id) and (
            self.process_id >= self.num_processes
        ):
            raise ParameterError(
                f"invalid process_id={self.process_id}: must be < num_processes="
                f"{self.num_processes}"
            )


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ParameterError(f"invalid {name}={value!r}: must be an integer") from None


def initialize(options: DistributedOptions) -> None:
    """Connect this process to the others (``jax.distributed.initialize``); call it before
    anything touches a JAX device. CPU devices get Gloo collectives where JAX has none set."""
    implementation = getattr(jax.config, "jax_cpu_collectives_implementation", "gloo")
    if implementation in (None, "none"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=options.coordinator_address,
            num_processes=options.num_processes,
            process_id=options.process_id,
        )
    except ValueError as exc:  # a value neither given nor found in a known cluster
        raise ParameterError(
            f"cannot start a multi-host run: {exc} Pass --coordinator-address, "
            "--num-processes and --process-id, set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES "
            "and JAX_PROCESS_ID, or start the processes with srun"
        ) from exc


def is_writer() -> bool:
    """True on the one process that writes reports, models and printouts (process 0)."""
    return jax.process_index() == 0


def multiprocess() -> bool:
    return jax.process_count() > 1


def batch_share(sharding, batch_size: int) -> tuple[int, int]:
    """(start, stop): the rows of every global batch that this process's devices hold.

    ``sharding`` splits the batch axis over the mesh; a process's devices must hold one
    contiguous block of rows (true of a 1-D mesh in process order, as :func:`jax.make_mesh`
    builds it).
    """
    slices = {
        (s[0].start or 0, batch_size if s[0].stop is None else s[0].stop)
        for s in sharding.addressable_devices_indices_map((batch_size,)).values()
    }
    start, stop = min(s for s, _ in slices), max(e for _, e in slices)
    if sum(e - s for s, e in slices) != stop - start:
        raise ParameterError(
            f"this process's devices hold rows {sorted(slices)} of a batch of {batch_size}: "
            "not one contiguous block"
        )
    return start, stop


def global_array(local: np.ndarray, sharding, global_rows: int) -> jax.Array:
    """The global array of ``global_rows`` rows whose rows on this process are ``local``
    (with one process: ``local`` itself, put on the devices)."""
    if not multiprocess():
        return jax.device_put(local, sharding)
    shape = (global_rows, *local.shape[1:])
    return jax.make_array_from_process_local_data(sharding, local, shape)


def global_batch(local: dict, sharding, batch_size: int, keys) -> dict:
    """``keys`` of a process-local batch (its :func:`batch_share` rows) as global arrays."""
    return {k: global_array(local[k], sharding, batch_size) for k in keys}


def replicated(value, sharding) -> jax.Array:
    """``value`` (the same on every process) replicated over ``sharding``'s mesh."""
    if not multiprocess():
        return jax.device_put(value, sharding)
    if isinstance(value, jax.Array):  # e.g. a PRNG key: XLA copies it onto the mesh
        return jax.jit(lambda v: v, out_shardings=sharding)(value)
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def sync(name: str) -> None:
    """Wait until every process gets here (no-op with one process)."""
    if multiprocess():
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def agree_max(value: int) -> int:
    """The largest of every process's ``value`` (so all processes take the same decision)."""
    if not multiprocess():
        return value
    from jax.experimental import multihost_utils

    return int(np.max(multihost_utils.process_allgather(np.int32(value))))
