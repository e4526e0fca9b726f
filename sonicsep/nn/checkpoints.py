"""What a work directory keeps so that a run resumes, grows or says it is done.

A run's work directory holds its :class:`~sonicsep.nn.config.TrainConfig` (``config.json``),
Orbax checkpoints of the train state, the best-so-far variables and the :class:`Progress` of
early stopping (``checkpoints/<epoch>/``), and at the end ``metrics.json``. From these:

* a rerun with the same config resumes from the last checkpoint;
* a rerun with a larger ``epochs`` extends the run (any other change is refused: it would be
  another experiment under the same name);
* a rerun of a run whose ``metrics.json`` records its last checkpoint's epoch, with nothing left
  to train, is already finished (:func:`finished_metrics`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import flax.serialization
import jax
import orbax.checkpoint as ocp

from sonicsep.errors import ParameterError
from sonicsep.nn.config import TrainConfig

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
CHECKPOINT_DIR = "checkpoints"
# Config fields a resumed run may differ in: pipeline sizes and where inputs are cached do not
# change results, and the parameters are float32 in either dtype, so a run begun in float32
# (on a CPU, say) may go on in bfloat16 (on a GPU) from its checkpoint.
RESUME_FREE_FIELDS = ("prefetch", "cache", "cache_gib", "dtype")
# The one field a rerun may raise: the epoch budget, to train a run longer.
GROWABLE_FIELD = "epochs"


@dataclasses.dataclass
class Progress:
    """Where a run stands: epochs done, early-stopping state and the per-epoch history."""

    epoch: int = 0
    best_epoch: int = 0
    best_val_loss: float | None = None
    bad_epochs: int = 0
    stopped_early: bool = False
    history: list = dataclasses.field(default_factory=list)

    def record(self, row: dict, patience: int) -> bool:
        """Add an epoch's row; True when its validation loss is the best so far."""
        self.history.append(row)
        self.epoch = row["epoch"]
        improved = self.best_val_loss is None or row["val_loss"] < self.best_val_loss
        if improved:
            self.best_val_loss, self.best_epoch, self.bad_epochs = row["val_loss"], self.epoch, 0
        else:
            self.bad_epochs += 1
            self.stopped_early = self.bad_epochs >= patience
        return improved

    def done(self, epochs: int) -> bool:
        """True when a budget of ``epochs`` leaves nothing to train."""
        return self.stopped_early or self.epoch >= epochs


def checkpoint_manager(workdir: Path) -> ocp.CheckpointManager:
    """Keeps the last two epochs. Saving is synchronous: the next step donates the buffers."""
    options = ocp.CheckpointManagerOptions(
        max_to_keep=2,
        create=True,
        enable_async_checkpointing=False,
        cleanup_tmp_directories=True,  # a save killed midway leaves a temporary folder
    )
    return ocp.CheckpointManager((Path(workdir) / CHECKPOINT_DIR).resolve(), options=options)


def save_checkpoint(manager, state, best: dict, progress: Progress) -> None:
    """Checkpoint ``state``, the best variables and ``progress`` as epoch ``progress.epoch``."""
    tree = {"state": flax.serialization.to_state_dict(state), "best": best}
    manager.save(
        progress.epoch,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(tree),
            progress=ocp.args.JsonSave(dataclasses.asdict(progress)),
        ),
    )


def restore_checkpoint(manager, state, best: dict):
    """(state, best, progress) of the latest checkpoint, placed like the given templates."""
    template = {"state": flax.serialization.to_state_dict(state), "best": best}
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    restored = manager.restore(
        manager.latest_step(),
        args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), progress=ocp.args.JsonRestore()
        ),
    )
    tree = restored["state"]
    state = flax.serialization.from_state_dict(state, tree["state"])
    return state, tree["best"], Progress(**restored["progress"])


def config_changes(saved: dict, requested: dict) -> list[str]:
    """``field: old -> new`` for each change a resumed run may not make.

    Free fields (:data:`RESUME_FREE_FIELDS`) and a larger ``epochs`` are allowed.
    """
    changes = []
    for name in sorted(set(saved) | set(requested)):
        old, new = saved.get(name), requested.get(name)
        if old == new or name in RESUME_FREE_FIELDS:
            continue
        if name == GROWABLE_FIELD and old is not None and new > old:
            continue
        changes.append(f"{name}: {old!r} -> {new!r}")
    return changes


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file: a reader (another process of a
    multi-host run) sees the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def prepare_workdir(workdir: str | Path, config: TrainConfig, *, write: bool = True) -> Path:
    """Create ``workdir`` with ``config.json``, or check that ``config`` may continue its run.

    A larger epoch budget is recorded in ``config.json``; any other change raises
    :class:`ParameterError` naming the changed fields. ``write=False`` checks without writing
    (the processes of a multi-host run other than process 0: all check the same file, so all
    take the same decision).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / CONFIG_FILE
    requested = config.to_dict()
    if path.exists():
        saved = json.loads(path.read_text())
        changes = config_changes(saved, requested)
        if changes:
            raise ParameterError(
                f"{workdir} holds a run with another config ({'; '.join(changes)}); rerun with "
                "the same options to resume it (only --epochs may grow, to train it longer), "
                "or choose a new --workdir"
            )
        if saved == requested:
            return workdir
    if write:
        write_atomic(path, json.dumps(requested, indent=2))
    return workdir


def finished_metrics(workdir: str | Path, progress: Progress) -> dict | None:
    """The ``metrics.json`` written at the end of ``progress``'s last epoch, if there is one.

    Its ``epochs_run`` must be the checkpointed epoch: a run killed after its last checkpoint
    but before its evaluation, or extended by more epochs, is not finished.
    """
    path = Path(workdir) / METRICS_FILE
    if not path.exists():
        return None
    metrics = json.loads(path.read_text())
    return metrics if metrics.get("epochs_run") == progress.epoch else None
