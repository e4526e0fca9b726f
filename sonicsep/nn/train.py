"""Training and evaluation of the deep models straight from the feature store.

Laid out like the Flax ImageNet example: :func:`train_and_evaluate` (config, workdir) is the
entry point, :func:`train_step` and :func:`eval_step` are pure and jitted, and the
:class:`TrainState` (step, params, optimizer state, batch statistics) travels explicitly.
Checkpoints and the work directory's resume rules live in :mod:`sonicsep.nn.checkpoints`, the
command line in :mod:`sonicsep.nn.cli`.

Data parallelism: a 1-D ``data`` mesh over every device; the state is replicated, each batch is
split along its first axis, and XLA inserts the gradient and batch-norm all-reduces. The same
code runs on one CPU, one GPU or many (batch size must divide by the device count).

Inputs come from :class:`sonicsep.nn.cache.Batches`: cached on the devices, cached in host
memory, or streamed from the store (``TrainConfig.cache``), the same batches in each mode.
``TrainConfig.dtype`` ``bfloat16`` computes activations in bfloat16 (mixed precision, see
:mod:`sonicsep.nn.models`).

Many hosts (:mod:`sonicsep.nn.distributed`): the mesh spans every process's devices, each
process reads only its rows of every global batch, every process takes part in the steps,
evaluation and Orbax checkpoints, and only process 0 writes ``config.json``,
``norm_stats.json``, the model, ``metrics.json`` and the plots.

Resumability: after every epoch the state, the best-so-far variables and the early-stopping
progress are checkpointed with Orbax. Data order depends only on (seed, epoch) and dropout keys
on (seed, step), so a killed run rerun with the same command ends with the same parameters as
an uninterrupted one. A rerun of a finished run trains nothing; one with a larger ``epochs``
trains the extra epochs from the last checkpoint. The learning-rate schedule is then that of
the larger budget from the current step on (so the rate rises again from the decayed end of the
old schedule), and the result is not the one a run begun with the larger budget would reach.

A work directory holds::

    config.json           the TrainConfig (a resumed run must match it, epochs may grow)
    norm_stats.json       training-split normalisation statistics
    checkpoints/<epoch>/  Orbax checkpoints (the last two epochs)
    model/                the best-validation-loss model (see :mod:`sonicsep.nn.trained`)
    metrics.json          history, segment- and track-level accuracy and confusion matrices
    training_curve.png, confusion_matrix.png
"""

from __future__ import annotations

import collections
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from sonicsep import metrics
from sonicsep.errors import ParameterError, StoreError
from sonicsep.nn import distributed
from sonicsep.nn.cache import Batches, cache_bytes, choose_cache
from sonicsep.nn.checkpoints import (
    METRICS_FILE,
    Progress,
    checkpoint_manager,
    finished_metrics,
    prepare_workdir,
    restore_checkpoint,
    save_checkpoint,
    write_atomic,
)
from sonicsep.nn.config import TrainConfig
from sonicsep.nn.input_map import InputMap
from sonicsep.nn.input_pipeline import InputPipeline, NormStats, compute_norm_stats
from sonicsep.nn.models import create_model, model_inputs
from sonicsep.nn.trained import export_model, load_backbone, with_backbone
from sonicsep.plots import confusion_matrix_png, training_curve_png
from sonicsep.store import FeatureStore


class TrainState(train_state.TrainState):
    """Step, params and optimizer state (from Flax), plus batch-norm statistics."""

    batch_stats: Any = None


# ---------------------------------------------------------------------- optimisation
def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int) -> optax.Schedule:
    """Linear warm-up then cosine decay to ``end_lr_fraction`` of the peak over all epochs."""
    total = config.epochs * steps_per_epoch
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.learning_rate,
        warmup_steps=warmup,
        decay_steps=max(total, warmup + 1),
        end_value=config.learning_rate * config.end_lr_fraction,
    )


def make_optimizer(config: TrainConfig, schedule: optax.Schedule) -> optax.GradientTransformation:
    """Adam; with a frozen backbone, Adam on the head and exact zero updates elsewhere."""
    adam = optax.adam(schedule)
    if not config.freeze_backbone:
        return adam
    return optax.multi_transform({"head": adam, "frozen": optax.set_to_zero()}, head_labels)


def head_labels(params: dict) -> dict:
    """``head`` for the classifier head, ``frozen`` for every other top-level module."""
    return {name: "head" if name == "head" else "frozen" for name in params}


def weighted_cross_entropy(logits, labels, weight):
    """Sparse categorical cross-entropy averaged over real (weight 1) rows only."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return jnp.sum(losses * weight) / jnp.maximum(jnp.sum(weight), 1.0)


def l2_penalty(params) -> jax.Array:
    """Sum of squared kernel weights (Keras-style L2; biases and norms are not penalised)."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    return sum(
        (jnp.sum(jnp.square(v)) for p, v in leaves if getattr(p[-1], "key", None) == "kernel"),
        jnp.zeros(()),
    )


def train_step(state: TrainState, batch: dict, dropout_key, *, model_config, l2: float):
    """One optimizer step; returns the new state and weighted sums for the epoch's metrics.

    Padding rows (weight 0) contribute neither to the loss nor to batch-norm statistics.
    """
    key = jax.random.fold_in(dropout_key, state.step)
    inputs = model_inputs(model_config, batch)

    def loss_fn(params):
        variables = {"params": params, "batch_stats": state.batch_stats}
        logits, updates = state.apply_fn(
            variables,
            *inputs,
            train=True,
            mask=batch["weight"],
            rngs={"dropout": key},
            mutable=["batch_stats"],
        )
        loss = weighted_cross_entropy(logits, batch["label"], batch["weight"])
        return loss + l2 * l2_penalty(params), (loss, logits, updates)

    grads, (loss, logits, updates) = jax.grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads=grads, batch_stats=updates.get("batch_stats", {}))
    correct = (jnp.argmax(logits, -1) == batch["label"]) * batch["weight"]
    count = jnp.sum(batch["weight"])
    return state, {"loss_sum": loss * count, "correct": jnp.sum(correct), "count": count}


def eval_step(state: TrainState, batch: dict, *, model_config):
    """Per-segment class probabilities and cross-entropy (inference-mode batch norm)."""
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    logits = state.apply_fn(variables, *model_inputs(model_config, batch), train=False)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    return jax.nn.softmax(logits), losses


# ---------------------------------------------------------------------- state and devices
def data_mesh() -> jax.sharding.Mesh:
    """A 1-D ``data`` mesh over every device of every process (automatic sharding
    propagation); with one process, its local devices."""
    devices = jax.devices()
    return jax.make_mesh(
        (len(devices),), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices
    )


def create_train_state(
    model,
    config: TrainConfig,
    tx: optax.GradientTransformation,
    input_shape: tuple[int, ...],
    n_echonest: int,
    key,
    sharding: NamedSharding,
    backbone: dict | None = None,
    backbone_source: str = "pretrained weights",
) -> TrainState:
    """A fresh state replicated over ``sharding``; ``backbone`` variables replace the initial."""

    def init(key):
        dummy = {
            "x": jnp.zeros((1, *input_shape)),
            "echonest": jnp.zeros((1, n_echonest)),
            "echonest_mask": jnp.zeros((1, n_echonest)),
        }
        return model.init(key, *model_inputs(config.model, dummy), train=False)

    variables = jax.jit(init)(key)
    if backbone is not None:
        variables = with_backbone(variables, backbone, source=backbone_source)

    def create(params, batch_stats):
        return TrainState.create(
            apply_fn=model.apply, params=params, tx=tx, batch_stats=batch_stats
        )

    return jax.jit(create, out_shardings=sharding)(
        variables["params"], variables.get("batch_stats", {})
    )


def _counted(fn: Callable, counts: collections.Counter, name: str) -> Callable:
    """``fn`` counting its traces: jit traces once per compilation, so this counts compiles."""

    def traced(*args):
        counts[name] += 1
        return fn(*args)

    return traced


def _variables(state: TrainState) -> dict:
    return {"params": state.params, "batch_stats": state.batch_stats}


def _copy(tree):
    """A copy that survives the next step donating the state's buffers."""
    return jax.tree.map(jnp.copy, tree)


def jit_steps(config: TrainConfig, mesh, compiles: collections.Counter | None = None):
    """(train_fn, eval_fn): the jitted steps, state replicated and batches split over ``mesh``.

    ``train_fn(state, batch, dropout_key)`` donates the old state's buffers. ``compiles``
    counts the compilations of each (one each, whatever the number of batches).
    """
    compiles = collections.Counter() if compiles is None else compiles
    replicated, data = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    train = functools.partial(train_step, model_config=config.model, l2=config.l2)
    evaluate = functools.partial(eval_step, model_config=config.model)
    train_fn = jax.jit(
        _counted(train, compiles, "train_step"),
        in_shardings=(replicated, data, replicated),
        out_shardings=(replicated, replicated),
        donate_argnums=0,
    )
    # Evaluation outputs are gathered onto every device: each process can read them whole.
    eval_fn = jax.jit(
        _counted(evaluate, compiles, "eval_step"),
        in_shardings=(replicated, data),
        out_shardings=(replicated, replicated),
    )
    return train_fn, eval_fn


# ---------------------------------------------------------------------- evaluation
def split_metrics(
    probs: np.ndarray, losses: np.ndarray, labels: np.ndarray, tracks: np.ndarray
) -> dict:
    """The mean loss and :func:`sonicsep.metrics.split_scores` of one split.

    ``probs`` [shape=(n, n_classes)], ``losses``/``labels``/``tracks`` [shape=(n,)].
    """
    return {"loss": float(losses.mean()), **metrics.split_scores(probs, labels, tracks)}


def evaluate(eval_fn, state, batches: Batches, split: str) -> dict | None:
    """Scores of ``state`` on a whole split (None when the split is empty)."""
    pipeline = batches.pipeline
    if pipeline.n_segments(split) == 0:
        return None
    device_out = [eval_fn(state, batch) for batch in batches.epoch(split)]
    probs, losses = (np.concatenate(p) for p in zip(*jax.device_get(device_out), strict=True))
    # Evaluation is in index order, padding last: the real rows are the first n.
    rows, _ = pipeline.index(split)
    n = len(rows)
    return split_metrics(probs[:n], losses[:n], pipeline.labels[rows], rows)


def train_epoch(train_fn, state, batches: Batches, epoch: int, dropout_key):
    """One shuffled pass over the training split: (state, mean loss, accuracy)."""
    sums = []
    for batch in batches.epoch("train", epoch, shuffle=True):
        state, step_sums = train_fn(state, batch, dropout_key)
        sums.append(step_sums)
    totals = {k: float(np.sum([s[k] for s in jax.device_get(sums)])) for k in sums[0]}
    return state, totals["loss_sum"] / totals["count"], totals["correct"] / totals["count"]


# ---------------------------------------------------------------------- the loop
def training_pipeline(
    store, config: TrainConfig, stats, input_map=None, share=None
) -> InputPipeline:
    """The input pipeline a run of ``config`` trains from (also timed by bench_input.py);
    ``share``: this process's rows of every batch (multi-host runs)."""
    return InputPipeline(
        store,
        config.feature,
        stats,
        config.batch_size,
        seed=config.seed,
        shuffle_buffer=config.shuffle_buffer,
        prefetch=config.prefetch,
        input_map=input_map,
        share=share,
    )


def fit(
    config: TrainConfig,
    workdir: str | Path,
    store: FeatureStore,
    stats: NormStats,
    *,
    input_map: InputMap | None = None,
    backbone: dict | None = None,
    provenance: dict | None = None,
    on_epoch_end: Callable[[dict], None] | None = None,
    on_finished: Callable[[dict], None] | None = None,
) -> TrainState:
    """Train (or resume), then evaluate the best epoch and export it; returns the final state.

    ``backbone`` initialises the backbone (pretrained weights or a transfer source);
    ``provenance`` is recorded in the exported model; ``on_epoch_end`` receives each epoch's
    history row after its checkpoint is written. A run that is already finished (see
    :mod:`sonicsep.nn.checkpoints`) is neither trained nor evaluated again: ``on_finished``
    receives its ``metrics.json`` and its final state is returned.
    """
    workdir = Path(workdir)
    mesh = data_mesh()
    replicated = NamedSharding(mesh, P())
    if config.batch_size % mesh.size:
        raise ParameterError(
            f"invalid batch_size={config.batch_size}: must be a multiple of the {mesh.size} "
            "devices the batch is split over"
        )
    share = distributed.batch_share(NamedSharding(mesh, P("data")), config.batch_size)
    pipeline = training_pipeline(store, config, stats, input_map, share)
    for split in ("train", "val"):
        if pipeline.n_segments(split) == 0:
            raise StoreError(f"{store.url} has no valid {split} segments to train on")
    n_classes = len(store.genres)
    model = create_model(
        config.model, n_classes, freeze_backbone=config.freeze_backbone, dtype=config.dtype
    )
    schedule = learning_rate_schedule(config, pipeline.steps("train"))
    init_key, dropout_key = jax.random.split(jax.random.key(config.seed))
    state = create_train_state(
        model,
        config,
        make_optimizer(config, schedule),
        pipeline.input_shape,
        len(store.echonest_names),
        init_key,
        replicated,
        backbone,
        (provenance or {}).get("initialised_from") or "pretrained weights",
    )
    best = _copy(_variables(state))
    progress = Progress()
    manager = checkpoint_manager(workdir)
    if manager.latest_step() is not None:
        state, best, progress = restore_checkpoint(manager, state, best)
    finished = finished_metrics(workdir, progress) if progress.done(config.epochs) else None
    if finished is not None:
        manager.close()
        if on_finished is not None:
            on_finished(finished)
        return state

    compiles = collections.Counter()
    train_fn, eval_fn = jit_steps(config, mesh, compiles)
    batches = run_batches(config, pipeline, mesh, compiles)
    dropout_key = distributed.replicated(dropout_key, replicated)
    while not progress.done(config.epochs):
        epoch = progress.epoch + 1
        start = time.perf_counter()
        state, train_loss, train_accuracy = train_epoch(
            train_fn, state, batches, epoch, dropout_key
        )
        train_seconds = time.perf_counter() - start
        val = evaluate(eval_fn, state, batches, "val")
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "val_loss": val["loss"],
            "val_accuracy": val["segment_accuracy"],
            "val_track_accuracy": val["track_accuracy"],
            "learning_rate": float(schedule(int(state.step))),
            "train_seconds": train_seconds,
            "seconds": time.perf_counter() - start,
        }
        if progress.record(row, config.patience):
            best = _copy(_variables(state))
        save_checkpoint(manager, state, best, progress)
        if on_epoch_end is not None:
            on_epoch_end(row)
    manager.close()

    best_state = state.replace(**best)
    results = {split: evaluate(eval_fn, best_state, batches, split) for split in ("val", "test")}
    if distributed.is_writer():
        meta = model_meta(store, stats, input_map, progress, provenance)
        export_model(workdir, config=config, variables=best, meta=meta)
        write_report(
            workdir, config, store.genres, progress, results, compiles, mesh.size, batches.mode
        )
    distributed.sync("sonicsep-fit-reported")  # the run's files exist when any process returns
    return state


def run_batches(config: TrainConfig, pipeline: InputPipeline, mesh, compiles) -> Batches:
    """The run's batches from the cache mode ``config.cache`` resolves to on ``mesh``.

    Each process measures its own devices' and host's memory; all take the most frugal mode
    any of them chose (device, then host, then none), so they agree.
    """
    need = cache_bytes(pipeline, config.dtype)
    local = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
    choices = ("device", "host", "none")
    try:
        mode, _ = choose_cache(config.cache, need, local, config.cache_gib, mesh.size)
        rank, error = choices.index(mode), None
    except ParameterError as exc:
        rank, error = len(choices), exc
    rank = distributed.agree_max(rank)
    if rank == len(choices):
        raise error or ParameterError(
            f"invalid cache={config.cache!r}: the splits do not fit on another process"
        )
    mode = choices[rank]

    def count(fn):
        return _counted(fn, compiles, "cache_gather")

    return Batches(pipeline, mode, mesh, config.dtype, count=count)


def model_meta(store, stats, input_map, progress, provenance) -> dict:
    """What a later job needs beside the weights: genres, input config, statistics, origin."""
    return {
        "genres": list(store.genres),
        "feature_config": store.config.to_dict(),
        "norm_stats": stats.to_dict(),
        "input_map": None if input_map is None else input_map.to_dict(),
        "echonest_names": list(store.echonest_names),
        "summary_names": list(store.summary_names),
        "store": store.url,
        "best_epoch": progress.best_epoch,
        **(provenance or {}),
    }


def write_report(
    workdir, config, genres, progress, results, compiles, n_devices, input_cache=None
) -> dict:
    """``metrics.json``, the training curve and the track-level confusion matrix PNGs."""
    report = {
        "model": config.model.kind,
        "feature": config.feature,
        "genres": list(genres),
        "epochs_run": progress.epoch,
        "best_epoch": progress.best_epoch,
        "stopped_early": progress.stopped_early,
        "devices": n_devices,
        "jit_compilations": dict(compiles),
        "input_cache": input_cache,
        "dtype": config.dtype,
        **results,
        "history": progress.history,
    }
    (workdir / METRICS_FILE).write_text(json.dumps(report, indent=2))
    title = f"{config.model.kind} on {config.feature}"
    training_curve_png(
        progress.history,
        workdir / "training_curve.png",
        best_epoch=progress.best_epoch,
        title=title,
    )
    final = results["test"] or results["val"]
    confusion_matrix_png(
        np.asarray(final["track_confusion"]),
        genres,
        workdir / "confusion_matrix.png",
        title=f"{title}: track level, {'test' if results['test'] else 'val'} split",
    )
    return report


def train_and_evaluate(
    config: TrainConfig,
    workdir: str | Path,
    store_url: str,
    *,
    pretrained_weights: str | Path | None = None,
    on_epoch_end: Callable[[dict], None] | None = None,
    on_finished: Callable[[dict], None] | None = None,
) -> TrainState:
    """Train ``config``'s model on the store at ``store_url`` in ``workdir`` (resuming if begun).

    ``pretrained_weights``: a local Flax msgpack file to initialise the backbone from (see
    :func:`sonicsep.nn.trained.load_backbone`). ``on_epoch_end`` and ``on_finished``: see
    :func:`fit`.
    """
    store = FeatureStore.open(store_url)
    workdir = prepare_workdir(workdir, config, write=distributed.is_writer())
    stats_path = workdir / "norm_stats.json"
    if stats_path.exists():
        stats = NormStats.from_dict(json.loads(stats_path.read_text()))
    else:
        # Every process of a multi-host run computes the same statistics; one writes them.
        standardize = config.model.standardizes_input
        stats = compute_norm_stats(store, config.feature, standardize=standardize)
        if distributed.is_writer():
            write_atomic(stats_path, json.dumps(stats.to_dict()))
    backbone = None if pretrained_weights is None else load_backbone(pretrained_weights)
    provenance = {
        "initialised_from": None if pretrained_weights is None else str(pretrained_weights)
    }
    return fit(
        config,
        workdir,
        store,
        stats,
        backbone=backbone,
        provenance=provenance,
        on_epoch_end=on_epoch_end,
        on_finished=on_finished,
    )
