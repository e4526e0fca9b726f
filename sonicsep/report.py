"""``python -m sonicsep.report``: one self-contained HTML page about a store and its runs.

``OUT/index.html`` holds, in order:

1. the store: dataset, genres, tracks per split and status, feature config;
2. an example track per genre: the waveform of its first segment (decoded from the track's
   audio file when it is readable, else skipped with a note), and that segment's mel
   spectrogram and MFCC as the store holds them;
3. a t-SNE map of the store's segment summary features;
4. the results table of every ``--runs`` folder: a classical results folder
   (``results.json`` of ``python -m sonicsep.benchmark``) gives a row per method and feature
   set, a deep-model workdir (``metrics.json`` of ``python -m sonicsep.train`` or
   ``sonicsep.transfer``) a row; validation and test accuracy at segment and track level;
5. per run, the track-level confusion matrices and (deep models) the training curve, drawn from
   the numbers in those JSON files, so a run's own PNGs need not exist.

Every figure is a PNG embedded as a base64 ``data:`` URI: the page is one file, which can be
moved, mailed or attached without losing an image. The results table is also printed to stdout
in Markdown.

Exit codes: 0 written, 2 usage error (no store, bad option), 3 written but some runs could not
be read (each is named on the page and on stderr), 130 interrupted (Ctrl-C; an older
index.html is kept).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sonicsep import __version__, audio, metrics
from sonicsep.benchmark import METHOD_TITLES
from sonicsep.errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    ParameterError,
    SonicSepError,
    exits_on_interrupt,
)
from sonicsep.metrics import html_table, percent
from sonicsep.plots import confusion_matrix_png, training_curve_png, tsne_png
from sonicsep.store import SPLITS, STATUSES, FeatureStore

EXAMPLE_DPI = 90
TSNE_POINTS = 2000
RESULT_COLUMNS = ("val segment", "val track", "test segment", "test track")


class RunError(SonicSepError):
    """A --runs folder holds no readable results."""


@dataclass
class Run:
    """One run's rows of the results table and its figures (caption, PNG bytes)."""

    name: str
    rows: list[dict]
    figures: list[tuple[str, bytes]] = field(default_factory=list)


# ---------------------------------------------------------------------- figures
def figure_png(fig: Figure) -> bytes:
    """PNG bytes of a figure, at a resolution that keeps a many-genre page a few MB."""
    FigureCanvasAgg(fig)
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=EXAMPLE_DPI, bbox_inches="tight")
    return buffer.getvalue()


def drawn(draw: Callable[[Path], Path]) -> bytes:
    """PNG bytes of a :mod:`sonicsep.plots`-style function that draws to a path."""
    with tempfile.TemporaryDirectory() as scratch:
        return draw(Path(scratch) / "figure.png").read_bytes()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def example_png(
    genre: str, track_id: str, mel_db: np.ndarray, mfcc: np.ndarray, waveform, config
) -> bytes:
    """Waveform (when given), mel spectrogram and MFCC of one segment, on one time axis."""
    seconds = config.segment_seconds
    panels = 3 if waveform is not None else 2
    fig = Figure(figsize=(8, 2.3 * panels))
    axes = fig.subplots(panels, 1, sharex=True)
    if waveform is not None:
        axes[0].plot(np.arange(len(waveform)) / config.sr, waveform, linewidth=0.4)
        axes[0].set(ylabel="amplitude", xlim=(0, seconds))
    for ax, values, label, unit in (
        (axes[-2], mel_db, "mel band", "dB"),
        (axes[-1], mfcc, "MFCC coefficient", "value"),
    ):
        image = ax.imshow(
            values, origin="lower", aspect="auto", cmap="magma",
            extent=(0, seconds, 0, values.shape[0]),
        )
        fig.colorbar(image, ax=ax, label=unit, pad=0.01)
        ax.set(ylabel=label)
    axes[-1].set(xlabel="seconds")
    fig.suptitle(f"{genre}: {track_id}, first segment")
    return figure_png(fig)


def example_rows(tracks) -> dict[str, int]:
    """Genre -> store row of its first finished track (genres without one are left out)."""
    done = tracks[tracks["status"] == "ok"]
    return {genre: int(group.index[0]) for genre, group in done.groupby("genre", sort=False)}


def first_segment_audio(path: str, config) -> np.ndarray:
    """The samples of a track's first segment, as featurize cut them (store sample rate)."""
    y, _ = audio.load(path, sr=config.sr, duration=config.segment_seconds)
    return y


def genre_examples(store: FeatureStore, notes: list[str]) -> list[tuple[str, bytes]]:
    """(caption, PNG) per genre, in the store's genre order; a note per skipped waveform."""
    try:
        mel, mfcc = store.array("mel_db"), store.array("mfcc")
    except KeyError:  # a summaries-only store, or one whose spectrograms were deleted
        notes.append("no examples per genre: the store holds no spectrograms")
        return []
    tracks = store.tracks()
    rows = example_rows(tracks)
    figures = []
    for genre in store.genres:
        if genre not in rows:
            notes.append(f"no finished track of genre {genre!r} to show")
            continue
        row = rows[genre]
        track_id, path = tracks.at[row, "track_id"], tracks.at[row, "path"]
        try:
            waveform = first_segment_audio(path, store.config)
        except SonicSepError as exc:
            waveform = None
            notes.append(f"waveform of {track_id} ({genre}) skipped: {exc}")
        png = example_png(genre, track_id, mel[row, 0], mfcc[row, 0], waveform, store.config)
        figures.append((f"{genre}: {track_id}", png))
    return figures


def confusion_figure(matrix, genres: Sequence[str], caption: str) -> bytes:
    return drawn(lambda path: confusion_matrix_png(np.asarray(matrix), genres, path, title=caption))


def curve_figure(history: Sequence[dict], best_epoch: int | None, title: str) -> bytes:
    return drawn(lambda path: training_curve_png(history, path, best_epoch=best_epoch, title=title))


def tsne_figure(store: FeatureStore, notes: list[str]) -> bytes | None:
    """t-SNE of the store's segment summaries (a seeded sample of TSNE_POINTS at most)."""
    X, y, _ = store.load_summary()
    finite = np.isfinite(X).all(axis=1)
    X, y = X[finite], y[finite]
    if len(X) < 3:
        notes.append(f"t-SNE skipped: {len(X)} finished segments (it needs 3)")
        return None
    title = f"t-SNE of summary features ({min(len(X), TSNE_POINTS)} segments)"
    return drawn(
        lambda path: tsne_png(X, y, store.genres, path, max_points=TSNE_POINTS, title=title)
    )


# ---------------------------------------------------------------------- runs
def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"cannot read {path}: {exc}") from exc


def classical_run(folder: Path) -> Run:
    """Rows and confusion matrices of a ``sonicsep.benchmark`` results folder."""
    results = read_json(folder / "results.json")
    run = Run(folder.name, [])
    for r in results["results"]:
        title = METHOD_TITLES.get(r["method"], r["method"])
        run.rows.append(
            {
                "run": folder.name,
                "model": title,
                "input": r["feature_set"],
                "val segment": r["val_accuracy"] if r["level"] == "segment" else None,
                "val track": r["val_track_accuracy"],
                "test segment": r["test_segment_accuracy"],
                "test track": r["test_track_accuracy"],
            }
        )
        caption = f"{folder.name}: {title} on '{r['feature_set']}', test tracks"
        run.figures.append((caption, confusion_figure(r["confusion"], results["genres"], caption)))
    return run


def deep_model_label(folder: Path, metrics: dict) -> str:
    """``cnn``, or ``cnn (transfer head from DIR)`` when the workdir says it was transferred."""
    label = metrics["model"]
    meta_path = folder / "model" / "model.json"
    meta = read_json(meta_path) if meta_path.is_file() else {}
    if meta.get("transfer"):
        source = Path(str(meta.get("initialised_from"))).name
        label += f" (transfer {meta['transfer']['mode']} from {source})"
    return label


def deep_run(folder: Path) -> Run:
    """The row, training curve and track-level confusion matrix of a deep-model workdir."""
    metrics = read_json(folder / "metrics.json")
    val, test = metrics.get("val") or {}, metrics.get("test") or {}
    label = deep_model_label(folder, metrics)
    run = Run(
        folder.name,
        [
            {
                "run": folder.name,
                "model": label,
                "input": metrics["feature"],
                "val segment": val.get("segment_accuracy"),
                "val track": val.get("track_accuracy"),
                "test segment": test.get("segment_accuracy"),
                "test track": test.get("track_accuracy"),
            }
        ],
    )
    title = f"{folder.name}: {label} on {metrics['feature']}"
    if metrics.get("history"):
        curve = curve_figure(metrics["history"], metrics.get("best_epoch"), title)
        run.figures.append((f"{title}: training curve", curve))
    scored = "test" if test else "val"
    if "track_confusion" in (test or val):
        caption = f"{title}: {scored} tracks"
        matrix = (test or val)["track_confusion"]
        run.figures.append((caption, confusion_figure(matrix, metrics["genres"], caption)))
    return run


def read_run(folder: str | Path) -> Run:
    """A classical results folder or a deep-model workdir; :class:`RunError` otherwise."""
    folder = Path(folder)
    reader = (
        classical_run if (folder / "results.json").is_file()
        else deep_run if (folder / "metrics.json").is_file()
        else None
    )
    if reader is not None:
        try:
            return reader(folder)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"{folder}: unexpected results format ({type(exc).__name__}: "
                           f"{exc}); was it written by another SonicSep version?") from exc
    raise RunError(
        f"{folder} holds neither results.json (python -m sonicsep.benchmark) nor metrics.json "
        "(python -m sonicsep.train); an unfinished training run writes metrics.json at its end"
    )


# ---------------------------------------------------------------------- tables
def results_markdown(rows: Sequence[dict]) -> str:
    """The results table in Markdown (accuracy in %), as the reproduction scripts print it."""
    return metrics.markdown_table(
        ["run", "model", "input", *RESULT_COLUMNS],
        [[row["run"], row["model"], row["input"], *(percent(row[c]) for c in RESULT_COLUMNS)]
         for row in rows],
    )


def store_tables(store: FeatureStore) -> str:
    """Tracks per split and status, and the feature config, as HTML tables."""
    tracks = store.tracks()
    counts = [
        [split, *(int(((tracks["split"] == split) & (tracks["status"] == s)).sum())
                  for s in STATUSES)]
        for split in SPLITS
    ]
    config = [[k, json.dumps(v)] for k, v in store.config.to_dict().items()]
    return (
        html_table(["split", *STATUSES], counts, "store-counts")
        + "<h3>Feature config</h3>"
        + html_table(["parameter", "value"], config, "feature-config")
    )


def figure_html(caption: str, png: bytes) -> str:
    return (
        f'<figure><img src="{data_uri(png)}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
th { background: #eee; }
td { font-variant-numeric: tabular-nums; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.figures figure img { max-width: 560px; }
figcaption { font-size: 0.9em; color: #555; }
"""


def render_page(store: FeatureStore, examples, tsne, runs: Sequence[Run], notes) -> str:
    """The whole page as one HTML string."""
    rows = [row for run in runs for row in run.rows]
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>SonicSep report: {html.escape(store.dataset)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>SonicSep report: {html.escape(store.dataset)}</h1>",
        f"<p>Store <code>{html.escape(store.url)}</code>; {len(store.genres)} genres "
        f"({html.escape(', '.join(store.genres))}); made {created} by SonicSep {__version__}.</p>",
        '<section id="store"><h2>Store</h2>',
        store_tables(store),
        "</section>",
        '<section id="examples"><h2>An example per genre</h2><div class="figures">',
        *(figure_html(c, p) for c, p in examples),
        "</div></section>",
        '<section id="tsne"><h2>t-SNE map</h2>',
        figure_html("t-SNE of the store's segment summary features", tsne) if tsne else "",
        "</section>",
        '<section id="results"><h2>Results</h2>',
        "<p>Accuracy in %. Track level: argmax of the mean segment probability.</p>",
        html_table(
            ["run", "model", "input", *RESULT_COLUMNS],
            [[r["run"], r["model"], r["input"], *(percent(r[c]) for c in RESULT_COLUMNS)]
             for r in rows],
            "results-table",
        )
        if rows
        else "<p>No runs given (see <code>--runs</code>).</p>",
        "</section>",
        '<section id="runs"><h2>Confusion matrices and training curves</h2>',
    ]
    for run in runs:
        parts.append(f"<h3>{html.escape(run.name)}</h3><div class=\"figures\">")
        parts += [figure_html(c, p) for c, p in run.figures]
        parts.append("</div>")
    parts.append("</section>")
    if notes:
        parts.append('<section id="notes"><h2>Notes</h2><ul>')
        parts += [f"<li>{html.escape(n)}</li>" for n in notes]
        parts.append("</ul></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sonicsep.report",
        description="Write one self-contained HTML report of a feature store and its runs.",
    )
    p.add_argument("--store", required=True, help="feature store path or fsspec URL")
    p.add_argument(
        "--runs",
        nargs="*",
        default=[],
        metavar="DIR",
        help="classical results folders (sonicsep.benchmark) and deep-model workdirs",
    )
    p.add_argument("--out", required=True, help="folder to write index.html to")
    return p


@exits_on_interrupt(
    "index.html is replaced only by a finished report (an older one is kept): rerun the same "
    "command"
)
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        store = FeatureStore.open(args.store)
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ParameterError(f"--out {args.out!r} is a file; pass a folder")
    except SonicSepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    notes, runs, failed = [], [], 0
    for folder in args.runs:
        try:
            runs.append(read_run(folder))
        except RunError as exc:
            failed += 1
            message = f"run {folder} skipped: {exc}"
            notes.append(message)
            print(f"error: {message}", file=sys.stderr)
    examples = genre_examples(store, notes)
    tsne = tsne_figure(store, notes)
    out.mkdir(parents=True, exist_ok=True)
    page = out / "index.html"
    # Written aside and renamed, so Ctrl-C never leaves a half page where a whole one was.
    partial = page.with_name(page.name + ".partial")
    partial.write_text(render_page(store, examples, tsne, runs, notes), encoding="utf-8")
    partial.replace(page)
    rows = [row for run in runs for row in run.rows]
    if rows:
        print(results_markdown(rows))
    print(f"report written to {page}")
    return EXIT_PARTIAL if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
