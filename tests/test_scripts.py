"""The reproduction scripts, run end to end on tiny corpora so that they cannot rot.

Both run with a tiny feature config, a tiny CNN, one epoch and a subset of the classical
methods (the scripts' environment overrides), and each includes a file that cannot be decoded,
as the real datasets do, so the scripts must carry on past featurize's exit status 3.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lameenc
import numpy as np
import pandas as pd
import pytest
from synthetic_store import make_synthetic_store
from test_predict import CLIP_SECONDS, TINY_CNN, TINY_FEATURES, train_tiny_cnn

from sonicsep.datasets import ECHONEST_FEATURES
from sonicsep.datasets.demo import make_demo, synthesize_clip

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# Our demo genres standing in for FMA's top genres.
FMA_GENRES = {"Classical": "classical", "Electronic": "techno", "Rock": "rock"}
# Five training tracks a genre: the calibrated SVM cross-validates 5-fold on the training tracks
# of the (track-level) Echonest set.
FMA_SPLITS = ["training"] * 5 + ["validation", "test"]


def tiny_environment(tmp_path: Path, out: Path) -> dict:
    """The scripts' overrides that make a whole reproduction take a minute."""
    features = tmp_path / "features.json"
    features.write_text(TINY_FEATURES.to_json())
    training = tmp_path / "train.json"
    training.write_text(json.dumps({k: v for k, v in TINY_CNN.items() if k != "epochs"}))
    return {
        **os.environ,
        "PYTHON": sys.executable,
        "OUT": str(out),
        "WORKERS": "1",
        "FEATURE_CONFIG": str(features),
        "EPOCHS": "1",
        "TRAIN_CONFIG": str(training),
        "TRANSFER_MODES": "head",
        "BENCHMARK_ARGS": "--methods knn,svm",
    }


def run_script(name: str, args, env) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / name), *map(str, args)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done


def results_rows(stdout: str) -> list[list[str]]:
    """The results table the script printed last, as cells (header and rule left out)."""
    header = "| run | model | input |"
    assert header in stdout, stdout
    last = stdout[stdout.rindex(header):].splitlines()
    rows = [line for line in last[2:] if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in rows]


def mp3_bytes(y: np.ndarray, sr: int) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_in_sample_rate(sr)
    encoder.set_channels(1)
    encoder.set_bit_rate(64)
    encoder.set_quality(7)
    pcm = np.round(np.clip(y, -1, 1) * 32767).astype("<i2").tobytes()
    return bytes(encoder.encode(pcm) + encoder.flush())


def make_fma_fixture(root: Path) -> Path:
    """An FMA layout: tracks.csv (2 header rows) and echonest.csv (3), short MP3s in fma_small.

    Each genre has 5 training, 1 validation and 1 test track; one listed track has no MP3
    (featurize records it as failed) and one has no Echonest row.
    """
    rows, echonest = {}, {}
    rng = np.random.default_rng(0)
    track_id = 2
    for genre, demo_genre in FMA_GENRES.items():
        for index, split in enumerate(FMA_SPLITS):
            rows[track_id] = ["small", split, genre, CLIP_SECONDS]
            path = root / "fma_small" / f"{track_id:06d}"[:3] / f"{track_id:06d}.mp3"
            path.parent.mkdir(parents=True, exist_ok=True)
            if track_id != 3:  # listed in tracks.csv, missing on disk
                y = synthesize_clip(demo_genre, seed=0, index=index, clip_seconds=CLIP_SECONDS)
                path.write_bytes(mp3_bytes(y, 22050))
            if (genre, split) != ("Classical", "validation"):
                echonest[track_id] = list(rng.uniform(0, 1, len(ECHONEST_FEATURES)))
            track_id += 1
    metadata = root / "fma_metadata"
    metadata.mkdir(parents=True)
    columns = [("set", "subset"), ("set", "split"), ("track", "genre_top"), ("track", "duration")]
    tracks = pd.DataFrame.from_dict(rows, orient="index",
                                    columns=pd.MultiIndex.from_tuples(columns))
    tracks.index.name = "track_id"
    tracks.to_csv(metadata / "tracks.csv")
    columns = [("echonest", "audio_features", name) for name in ECHONEST_FEATURES]
    features = pd.DataFrame.from_dict(echonest, orient="index",
                                      columns=pd.MultiIndex.from_tuples(columns))
    features.index.name = "track_id"
    features.to_csv(metadata / "echonest.csv")
    return root


def test_fma_fixture_has_the_real_header_layout(tmp_path):
    root = make_fma_fixture(tmp_path)
    real = (Path(__file__).resolve().parents[2] / "shared/data/fma/fma_metadata/"
            "tracks_head682.csv")
    ours = (root / "fma_metadata/tracks.csv").read_text().splitlines()
    assert ours[0].startswith(",set,set,track,track") and ours[2].startswith("track_id,")
    if real.exists():  # the third line (index name) matches the real file's
        assert real.read_text().splitlines()[2].split(",")[0] == "track_id"
    lines = (root / "fma_metadata/echonest.csv").read_text().splitlines()
    assert lines[0].startswith(",echonest") and lines[2].startswith(",acousticness")
    assert lines[3].startswith("track_id,")


def test_reproduce_fma_on_a_tiny_fixture(tmp_path):
    out = tmp_path / "out"
    done = run_script("reproduce_fma.sh", [make_fma_fixture(tmp_path / "fma"), "small"],
                      tiny_environment(tmp_path, out))
    assert "featurize" in done.stderr and "going on" in done.stderr  # the missing MP3
    rows = results_rows(done.stdout)
    runs = {(r[0], r[1], r[2]) for r in rows}
    assert {("classical", "kNN", "summary"), ("classical", "SVM", "echonest")} <= runs
    assert {("mlp_summary", "mlp", "summary"), ("cnn_mel", "cnn", "mel"),
            ("cnn_mfcc", "cnn", "mfcc"), ("fusion_mel", "fusion", "mel")} <= runs
    assert f"scripts/reproduce_gtzan.sh GTZAN_DIR {out}/cnn_mel" in done.stdout
    assert done.stdout.rstrip().endswith(f"report written to {out}/report/index.html")
    assert (out / "fma_small.zarr").is_dir() and (out / "cnn_mel/model/model.json").is_file()


def test_reproduce_gtzan_on_the_demo_corpus_with_transfer(tmp_path):
    corpus = make_demo(tmp_path / "gtzan", n_per_genre=4, clip_seconds=CLIP_SECONDS)
    (corpus / "genres/jazz/jazz.00054.wav").write_bytes(b"RIFF broken")  # as in real GTZAN
    # The "FMA" model: a tiny CNN trained on another store with the same feature config.
    source = make_synthetic_store(tmp_path / "fma.zarr", config=TINY_FEATURES)
    pretrained = train_tiny_cnn(source, tmp_path / "fma_cnn")
    out = tmp_path / "out"
    done = run_script("reproduce_gtzan.sh", [corpus, pretrained],
                      tiny_environment(tmp_path, out))
    assert "featurize" in done.stderr and "going on" in done.stderr  # jazz.00054
    rows = results_rows(done.stdout)
    models = {(r[0], r[1], r[2]) for r in rows}
    assert {("classical", "kNN", "mel"), ("mlp_summary", "mlp", "summary"),
            ("cnn_mel", "cnn", "mel"), ("cnn_mfcc", "cnn", "mfcc"),
            ("transfer_fma_head", "cnn (transfer head from fma_cnn)", "mel")} <= models
    assert all(cell not in ("", "nan") for row in rows for cell in row)
    assert (out / "report/index.html").stat().st_size > 10_000


def test_scripts_print_usage_and_exit_2():
    for name in ("reproduce_gtzan.sh", "reproduce_fma.sh"):
        text = (REPO / "scripts" / name).read_text()
        assert "set -euo pipefail" in text and ".venv/bin/python" in text
        done = subprocess.run(["bash", str(REPO / "scripts" / name)], capture_output=True,
                              text=True)
        assert done.returncode == 2 and "usage: scripts/" in done.stderr
    done = subprocess.run(["bash", str(REPO / "scripts/reproduce_fma.sh"), "x", "huge"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "unknown subset 'huge'" in done.stderr
