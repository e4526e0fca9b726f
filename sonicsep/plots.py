"""Every figure SonicSep draws: confusion matrix, t-SNE map and training curve, as PNGs.

Each function takes arrays and an output path and returns the path. Figures are built on a bare
:class:`matplotlib.figure.Figure` (Agg canvas), never through pyplot, so they touch no global
backend or figure registry and are safe from worker threads and headless machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sonicsep.errors import ParameterError

DPI = 120


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def confusion_matrix_png(
    matrix: np.ndarray, class_names: Sequence[str], path: str | Path, *, title: str = ""
) -> Path:
    """Draw a confusion matrix (rows: true class, columns: predicted) to ``path``.

    Cells are coloured by the row-normalised rate, so classes with few samples are as readable
    as large ones, and annotated with the raw counts.

    Parameters
    ----------
    matrix : np.ndarray [shape=(n_classes, n_classes)], counts
    class_names : sequence of n_classes str
    """
    matrix = np.asarray(matrix)
    n = len(class_names)
    if matrix.shape != (n, n):
        raise ParameterError(
            f"matrix has shape {matrix.shape}, expected ({n}, {n}) for {n} class names"
        )
    totals = matrix.sum(axis=1, keepdims=True)
    rates = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    size = 2.0 + 0.45 * n
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    ax.set(
        xticks=range(n),
        yticks=range(n),
        xlabel="predicted genre",
        ylabel="true genre",
        title=title,
    )
    ax.set_xticklabels(class_names, rotation=45, ha="right")
    ax.set_yticklabels(class_names)
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                colour = "white" if rates[i, j] > 0.5 else "black"
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=colour)
    return _save(fig, path)


EXACT_TSNE_POINTS = 500


def tsne_embedding(
    features: np.ndarray, *, max_points: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Embed the rows of ``features`` in 2-D with t-SNE, as :func:`tsne_png` draws them.

    t-SNE is quadratic-ish in the number of points, so at most ``max_points`` rows (a seeded
    random sample) are embedded; features are standardised first so that no column dominates
    the distances by its unit.

    Parameters
    ----------
    features : np.ndarray [shape=(n, f)], n >= 3

    Returns
    -------
    embedding : np.ndarray [shape=(m, 2)], m = min(n, max_points)
    rows : np.ndarray [shape=(m,)], the rows of ``features`` embedded, ascending
    """
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features)
    if features.ndim != 2:
        raise ParameterError(f"features of shape {features.shape} must be (n, f)")
    if len(features) < 3:
        raise ParameterError(f"t-SNE needs at least 3 points, got {len(features)}")
    rows = np.arange(len(features))
    if len(features) > max_points:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(features), max_points, replace=False))
    scaled = StandardScaler().fit_transform(features[rows])
    # Perplexity must stay below the number of points for tiny inputs.
    perplexity = min(30.0, (len(scaled) - 1) / 3)
    # Barnes-Hut approximates the exact gradient to scale; below a few hundred points its
    # tree costs more than it saves (exact was 2.9x faster at 150 points, 1.8x at 400, and
    # 2.3x slower at 1,000; sklearn 1.9 on the 2-core VM, loaded).
    method = "exact" if len(scaled) <= EXACT_TSNE_POINTS else "barnes_hut"
    embedding = TSNE(
        n_components=2, perplexity=perplexity, init="pca", random_state=seed, method=method
    ).fit_transform(scaled)
    return embedding, rows


def tsne_png(
    features: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    *,
    max_points: int = 2000,
    seed: int = 0,
    title: str = "",
) -> Path:
    """Embed ``features`` in 2-D with t-SNE (:func:`tsne_embedding`) and draw the points
    coloured by class to ``path``.

    Parameters
    ----------
    features : np.ndarray [shape=(n, f)]
    labels : np.ndarray [shape=(n,)], int indices into ``class_names``
    """
    features, labels = np.asarray(features), np.asarray(labels)
    if features.ndim != 2 or len(features) != len(labels):
        raise ParameterError(
            f"features of shape {features.shape} and labels of shape {labels.shape} "
            "must be (n, f) and (n,)"
        )
    embedding, rows = tsne_embedding(features, max_points=max_points, seed=seed)
    labels = labels[rows]
    fig = Figure(figsize=(7.5, 6))
    ax = fig.add_subplot()
    cmap = class_colours(len(class_names))
    for k, name in enumerate(class_names):
        pick = labels == k
        if pick.any():
            ax.scatter(*embedding[pick].T, s=8, color=cmap[k], label=name, alpha=0.8)
    ax.set(title=title, xticks=[], yticks=[])
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2, frameon=False)
    return _save(fig, path)


def class_colours(n: int) -> list:
    """Distinct RGBA colours: tab10 up to 10 classes (GTZAN), tab20 up to 20, then a hue sweep.

    Every figure of classes (and the web demo's charts) colours class ``k`` with entry ``k``.
    """
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["hsv"](i / n) for i in range(n)]


def training_curve_png(
    history: Sequence[dict], path: str | Path, *, best_epoch: int | None = None, title: str = ""
) -> Path:
    """Train/validation loss and accuracy against epoch; the best (early-stopping) epoch marked.

    ``history`` rows have epoch, train_loss, val_loss, train_accuracy and val_accuracy.
    """
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 4))
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
    return _save(fig, path)
