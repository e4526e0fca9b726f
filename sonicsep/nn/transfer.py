"""Transfer learning: reuse a trained model's backbone on another store and genre list.

The target store's segments are mapped onto the pretrained model's input
(:func:`sonicsep.nn.input_map.plan_input_map`: same config, or resampled/cropped, or a clear
error) and normalised with the pretrained model's statistics, which its backbone was trained
on; Echonest statistics come from the target store's training split. The classifier head is
replaced by a fresh one for the target genres. ``head`` mode trains the head only: the backbone
runs in inference mode (frozen batch statistics) and ``optax.multi_transform`` gives its
parameters exact zero updates, so they stay bit-identical. ``full`` mode fine-tunes everything
at a tenth of the pretrained run's learning rate (unless ``--lr`` says otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sonicsep.errors import ModelError
from sonicsep.nn import distributed
from sonicsep.nn.checkpoints import prepare_workdir
from sonicsep.nn.config import TRANSFER_MODES, TrainConfig, with_overrides
from sonicsep.nn.input_map import plan_input_map
from sonicsep.nn.input_pipeline import NormStats, compute_norm_stats
from sonicsep.nn.train import TrainState, fit
from sonicsep.nn.trained import TrainedModel, load_trained
from sonicsep.store import FeatureStore

FULL_LR_FACTOR = 0.1  # fine-tuning everything: small steps, so the backbone is adapted, not lost


def transfer_config(source: TrainConfig, mode: str, overrides: dict | None = None) -> TrainConfig:
    """The pretrained run's config in transfer ``mode``, with ``overrides`` applied last."""
    if mode not in TRANSFER_MODES:
        raise ModelError(f"invalid mode={mode!r}: must be one of {TRANSFER_MODES}")
    learning_rate = source.learning_rate * (FULL_LR_FACTOR if mode == "full" else 1.0)
    config = source.replace(transfer_mode=mode, learning_rate=learning_rate)
    return with_overrides(config, overrides or {})


def transfer_stats(trained: TrainedModel, store: FeatureStore) -> NormStats:
    """The pretrained input statistics with Echonest statistics of the target training split."""
    target = compute_norm_stats(store, trained.feature, standardize=False)
    return NormStats(
        feature_mean=trained.stats.feature_mean,
        feature_std=trained.stats.feature_std,
        echonest_mean=target.echonest_mean,
        echonest_std=target.echonest_std,
    )


def transfer_and_evaluate(
    pretrained_dir: str | Path,
    store_url: str,
    mode: str,
    workdir: str | Path,
    *,
    overrides: dict | None = None,
    on_epoch_end: Callable[[dict], None] | None = None,
    on_finished: Callable[[dict], None] | None = None,
) -> TrainState:
    """Train a model initialised from ``pretrained_dir`` on ``store_url``.

    Resumes, extends and recognises a finished run like :func:`sonicsep.nn.train.fit`, whose
    ``on_epoch_end`` and ``on_finished`` these are.
    """
    trained = load_trained(pretrained_dir)
    store = FeatureStore.open(store_url)
    config = transfer_config(TrainConfig.from_dict(trained.meta["train_config"]), mode, overrides)
    if config.model != trained.model_config or config.feature != trained.feature:
        raise ModelError("transfer keeps the pretrained architecture and input feature")
    input_map = plan_input_map(
        trained.feature_config,
        store.config,
        trained.feature,
        source_summary=tuple(trained.meta["summary_names"]),
        target_summary=store.summary_names,
    )
    if input_map is not None and trained.input_map is not None:
        raise ModelError(
            f"{pretrained_dir} was itself transferred with an input map; featurize the store "
            "with its feature config (model/model.json: feature_config) to transfer it again"
        )
    workdir = prepare_workdir(workdir, config, write=distributed.is_writer())
    backbone = {c: v["backbone"] for c, v in trained.variables.items()}
    provenance = {
        "initialised_from": str(pretrained_dir),
        "transfer": {"mode": mode, "pretrained_genres": list(trained.genres)},
    }
    return fit(
        config,
        workdir,
        store,
        transfer_stats(trained, store),
        input_map=input_map or trained.input_map,
        backbone=backbone,
        provenance=provenance,
        on_epoch_end=on_epoch_end,
        on_finished=on_finished,
    )
