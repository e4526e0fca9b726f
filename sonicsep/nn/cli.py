"""The command lines of the deep-model jobs: ``python -m sonicsep.train`` and ``sonicsep.transfer``.

Like the Flax examples' ``main.py``: parse the options, build the config, call the job
(:func:`sonicsep.nn.train.train_and_evaluate`, :func:`sonicsep.nn.transfer.transfer_and_evaluate`).
Both jobs share the store/workdir/optimisation options, the per-epoch printout and the way a
job ends: exit 0 trained (or already finished), 2 usage error (message, no traceback),
130 interrupted (rerunning the same command resumes from the last epoch).

Rerunning a finished run prints that it is finished and where its results are, and trains
nothing; rerunning it with a larger ``--epochs`` trains the extra epochs from its last
checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sonicsep.errors import EXIT_OK, EXIT_USAGE, SonicSepError, exits_on_interrupt
from sonicsep.nn import compile_cache, distributed
from sonicsep.nn.checkpoints import METRICS_FILE
from sonicsep.nn.config import (
    CACHE_MODES,
    DTYPES,
    FEATURES,
    MODEL_KINDS,
    TRANSFER_MODES,
    default_config,
    read_overrides,
    with_overrides,
)
from sonicsep.nn.train import train_and_evaluate
from sonicsep.nn.trained import MODEL_DIR
from sonicsep.nn.transfer import transfer_and_evaluate


# ---------------------------------------------------------------------- printing
def print_epoch(row: dict) -> None:
    """One line per epoch: training and validation loss/accuracy, learning rate, seconds."""
    print(
        f"epoch {row['epoch']:3d}  loss {row['train_loss']:.4f}  acc {row['train_accuracy']:.3f}  "
        f"val_loss {row['val_loss']:.4f}  val_acc {row['val_accuracy']:.3f}  "
        f"val_track_acc {row['val_track_accuracy']:.3f}  lr {row['learning_rate']:.2e}  "
        f"{row['seconds']:.1f}s",
        flush=True,
    )


def print_finished(metrics: dict) -> None:
    """Say that a rerun found its run finished and trains nothing."""
    why = "stopped early" if metrics["stopped_early"] else "used its epoch budget"
    print(
        f"already finished: the run {why} after {metrics['epochs_run']} epochs; nothing to "
        "train (pass a larger --epochs to train it longer)",
        flush=True,
    )


def print_summary(workdir: Path) -> None:
    """Validation and test accuracy of a finished run, and where its results are."""
    metrics = json.loads((workdir / METRICS_FILE).read_text())
    for split in ("val", "test"):
        if metrics.get(split):
            m = metrics[split]
            print(
                f"{split}: segment accuracy {m['segment_accuracy']:.3f}, track accuracy "
                f"{m['track_accuracy']:.3f} ({m['n_tracks']} tracks)"
            )
    print(
        f"best epoch {metrics['best_epoch']}; results in {workdir / METRICS_FILE} and "
        f"{workdir / MODEL_DIR}/"
    )


# ---------------------------------------------------------------------- shared options
def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``sonicsep.train`` and ``sonicsep.transfer``."""
    parser.add_argument("--store", required=True, help="feature store path or URL")
    parser.add_argument("--workdir", required=True, help="run directory (resumed if it exists)")
    parser.add_argument("--epochs", type=int,
                        help="maximum epochs (default 30); raise it to extend a finished run")
    parser.add_argument("--batch-size", type=int, help="global batch size (default 32)")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    parser.add_argument("--seed", type=int, help="seed of initialisation, data order, dropout")
    parser.add_argument("--config", help="JSON file of TrainConfig fields (overrides presets)")
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        help="computation dtype (default float32); bfloat16: mixed precision, float32 "
        "parameters, optimizer state, batch-norm statistics and loss",
    )
    parser.add_argument(
        "--cache",
        choices=CACHE_MODES,
        help="where inputs live between epochs (default auto: device if the splits fit the "
        "budget, else host, else none = stream from the store every epoch)",
    )
    parser.add_argument(
        "--cache-gib",
        type=float,
        help="cache budget in GiB, per device for --cache device (default: a fraction of the "
        "memory measured free)",
    )
    group = parser.add_argument_group(
        "many hosts",
        "run one process per host (or per GPU), all with the same command and --distributed; "
        "unset values come from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID "
        "(or a Kubernetes Indexed Job's JOB_COMPLETION_INDEX), then from JAX's cluster "
        "detection (SLURM's srun, Open MPI, Cloud TPU)",
    )
    group.add_argument(
        "--distributed",
        action="store_true",
        help="connect to the other processes (jax.distributed.initialize) before training",
    )
    group.add_argument(
        "--coordinator-address", help="host:port of process 0 (implies --distributed)"
    )
    group.add_argument(
        "--num-processes", type=int, help="number of processes (implies --distributed)"
    )
    group.add_argument(
        "--process-id", type=int, help="this process's id, 0 to N-1 (implies --distributed)"
    )


def overrides_from_args(args: argparse.Namespace) -> dict:
    """TrainConfig overrides: the --config file, then the explicit flags."""
    overrides = {}
    if args.config:
        overrides.update(read_overrides(args.config))
    flags = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "patience": args.patience,
        "seed": args.seed,
        "dtype": args.dtype,
        "cache": args.cache,
        "cache_gib": args.cache_gib,
    }
    overrides.update({k: v for k, v in flags.items() if v is not None})
    return overrides


def connect(args: argparse.Namespace) -> None:
    """``jax.distributed.initialize`` when the command asks for a multi-host run."""
    given = (args.coordinator_address, args.num_processes, args.process_id)
    if args.distributed or any(v is not None for v in given):
        distributed.initialize(distributed.DistributedOptions.from_env(*given))


def writer_only(callback: Callable) -> Callable:
    """``callback`` on process 0; nothing on the others (one printout per run)."""

    def call(*args):
        if distributed.is_writer():
            callback(*args)

    return call


# What an interrupted train or transfer leaves: checkpoints are saved by epoch.
RESUMABLE = exits_on_interrupt("the last checkpoint is kept; rerun the same command to resume")


def run_job(job: Callable[[], object], args: argparse.Namespace) -> int:
    """Run a training job for a CLI (connecting the processes of a multi-host run first):
    usage errors become an exit code, not a traceback."""
    try:
        compile_cache.enable()
        connect(args)
        job()
    except SonicSepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if distributed.is_writer():
        print_summary(Path(args.workdir))
    return EXIT_OK


# ---------------------------------------------------------------------- the two jobs
def build_train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sonicsep.train",
        description="Train a deep genre model (MLP, CNN, fusion, ResNet-50) on a feature store.",
    )
    add_training_options(p)
    p.add_argument("--model", choices=MODEL_KINDS, default="cnn")
    p.add_argument(
        "--feature", choices=FEATURES, help="input (default: summary for mlp, mel otherwise)"
    )
    p.add_argument(
        "--pretrained-weights",
        help="local Flax msgpack file to initialise the backbone from (nothing is downloaded)",
    )
    return p


@RESUMABLE
def train_main(argv: Sequence[str] | None = None) -> int:
    """``python -m sonicsep.train``; returns the exit code."""
    args = build_train_parser().parse_args(argv)

    def job():
        overrides = overrides_from_args(args)
        config = with_overrides(default_config(args.model, args.feature), overrides)
        train_and_evaluate(
            config,
            args.workdir,
            args.store,
            pretrained_weights=args.pretrained_weights,
            on_epoch_end=writer_only(print_epoch),
            on_finished=writer_only(print_finished),
        )

    return run_job(job, args)


def build_transfer_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sonicsep.transfer",
        description="Fine-tune a trained SonicSep model on another store and genre list.",
    )
    p.add_argument("--pretrained", required=True, help="work directory of a finished training run")
    p.add_argument(
        "--mode",
        choices=TRANSFER_MODES,
        default="head",
        help="head: train a new classifier head on the frozen backbone; full: fine-tune all",
    )
    add_training_options(p)
    return p


@RESUMABLE
def transfer_main(argv: Sequence[str] | None = None) -> int:
    """``python -m sonicsep.transfer``; returns the exit code."""
    args = build_transfer_parser().parse_args(argv)
    return run_job(
        lambda: transfer_and_evaluate(
            args.pretrained,
            args.store,
            args.mode,
            args.workdir,
            overrides=overrides_from_args(args),
            on_epoch_end=writer_only(print_epoch),
            on_finished=writer_only(print_finished),
        ),
        args,
    )
