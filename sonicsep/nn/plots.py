"""The training curve of a deep-model run as a PNG (loss and accuracy per epoch).

Built on a bare matplotlib Figure with an Agg canvas, like :mod:`sonicsep.plots`, so it touches
no pyplot state and works headless.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def training_curve_png(
    history: Sequence[dict], path: str | Path, *, best_epoch: int | None = None, title: str = ""
) -> Path:
    """Train/validation loss and accuracy against epoch; the best (early-stopping) epoch marked.

    ``history`` rows have epoch, train_loss, val_loss, train_accuracy and val_accuracy.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    for i, metric in enumerate(("loss", "accuracy")):
        ax = fig.add_subplot(1, 2, i + 1)
        for split in ("train", "val"):
            ax.plot(epochs, [row[f"{split}_{metric}"] for row in history], marker="o", label=split)
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle="--", label="best (val loss)")
        ax.set(xlabel="epoch", ylabel=metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
