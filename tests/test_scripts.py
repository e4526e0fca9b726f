"""The reproduction scripts: the commands they run (with a stub interpreter, in a second), and
end to end on tiny corpora so that they cannot rot.

End to end, both run with a tiny feature config, a tiny CNN, one epoch, a subset of the
classical methods and each deep model once between the two scripts (the scripts' environment
overrides), and each includes a file that cannot be decoded, as the real datasets do, so the
scripts must carry on past featurize's exit status 3.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import lameenc
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from helpers import CLIP_SECONDS, TINY_CNN, TINY_FEATURES, train_tiny_cnn
from synthetic_store import make_synthetic_store

from sonicsep.datasets import ECHONEST_FEATURES
from sonicsep.datasets.demo import synthesize_clip
from sonicsep.datasets.gtzan import packaged_split_dir, read_split_files

REPO = Path(__file__).resolve().parents[1]
slow = pytest.mark.slow

# Our demo genres standing in for FMA's top genres.
FMA_GENRES = {"Classical": "classical", "Electronic": "techno", "Rock": "rock"}
# Five training tracks a genre: the calibrated SVM cross-validates 5-fold on the training tracks
# of the (track-level) Echonest set.
FMA_SPLITS = ["training"] * 5 + ["validation", "test"]


def tiny_environment(tmp_path: Path, out: Path, models: str) -> dict:
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
        "MODELS": models,
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


# GTZAN genres of the fixture and the demo genre whose sound stands in for each.
GTZAN_AS_DEMO = {"classical": "classical", "country": "ambient", "disco": "techno",
                 "jazz": "jazz", "rock": "rock"}


def make_gtzan_fixture(root: Path, per_split=(("train", 2), ("val", 1), ("test", 1))) -> Path:
    """A GTZAN layout whose clips carry real GTZAN names from the fault-filtered split, so the
    script's default split finds them; ``jazz.00054`` (in that split) does not decode, as in
    the real GTZAN."""
    assignment = read_split_files(packaged_split_dir(), "filtered")
    for genre, demo_genre in GTZAN_AS_DEMO.items():
        index = 0
        for split, count in per_split:
            names = sorted(t for t, s in assignment.items()
                           if s == split and t.startswith(f"{genre}.") and t != "jazz.00054")
            for track_id in names[:count]:
                path = root / "genres" / genre / f"{track_id}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, synthesize_clip(demo_genre, seed=0, index=index,
                                               clip_seconds=CLIP_SECONDS), 22050)
                index += 1
    (root / "genres/jazz/jazz.00054.wav").write_bytes(b"RIFF broken")
    return root


@slow
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


@slow
def test_reproduce_fma_on_a_tiny_fixture(tmp_path):
    out = tmp_path / "out"
    done = run_script("reproduce_fma.sh", [make_fma_fixture(tmp_path / "fma"), "small"],
                      tiny_environment(tmp_path, out, models="cnn:mel fusion:mel"))
    assert "featurize" in done.stderr and "going on" in done.stderr  # the missing MP3
    rows = results_rows(done.stdout)
    runs = {(r[0], r[1], r[2]) for r in rows}
    assert {("classical", "kNN", "summary"), ("classical", "SVM", "echonest")} <= runs
    assert {("cnn_mel", "cnn", "mel"), ("fusion_mel", "fusion", "mel")} <= runs
    assert f"scripts/reproduce_gtzan.sh GTZAN_DIR {out}/cnn_mel" in done.stdout
    assert done.stdout.rstrip().endswith(f"report written to {out}/report/index.html")
    assert (out / "fma_small.zarr").is_dir() and (out / "cnn_mel/model/model.json").is_file()


@slow
def test_reproduce_gtzan_on_a_tiny_fixture_with_transfer(tmp_path):
    corpus = make_gtzan_fixture(tmp_path / "gtzan")
    # The "FMA" model: a tiny CNN trained on another store with the same feature config.
    source = make_synthetic_store(tmp_path / "fma.zarr", config=TINY_FEATURES)
    pretrained = train_tiny_cnn(source, tmp_path / "fma_cnn")
    out = tmp_path / "out"
    done = run_script("reproduce_gtzan.sh", [corpus, pretrained],
                      tiny_environment(tmp_path, out, models="mlp:summary cnn:mfcc"))
    assert "featurize" in done.stderr and "going on" in done.stderr  # jazz.00054
    assert "warning: the random GTZAN split" not in done.stderr  # the filtered split
    rows = results_rows(done.stdout)
    models = {(r[0], r[1], r[2]) for r in rows}
    assert {("classical", "kNN", "mel"), ("mlp_summary", "mlp", "summary"),
            ("cnn_mfcc", "cnn", "mfcc"),
            ("transfer_fma_head", "cnn (transfer head from fma_cnn)", "mel")} <= models
    assert all(cell not in ("", "nan") for row in rows for cell in row)
    assert (out / "report/index.html").stat().st_size > 10_000


# ------------------------------------------------------------ the commands, with a stub python
STUB_PYTHON = """#!/usr/bin/env bash
# Logs its arguments; exits with $STUB_STATUS when they contain $STUB_FAIL.
printf '%s\\n' "$*" >> "$STUB_LOG"
if [ -n "${STUB_FAIL:-}" ] && [[ "$*" == *"$STUB_FAIL"* ]]; then exit "$STUB_STATUS"; fi
"""


@pytest.fixture
def stub_repo(tmp_path) -> Path:
    """A copy of scripts/ in a repository whose .venv/bin/python is the stub above."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", repo / "scripts")
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(STUB_PYTHON)
    python.chmod(0o755)
    return repo


def run_stubbed(repo: Path, name: str, args, **env) -> tuple[subprocess.CompletedProcess, list]:
    """Run a script with the stub interpreter; returns the run and the commands it ran."""
    log = repo / "commands.log"
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "SPLIT", "OUT")}
    done = subprocess.run(["bash", str(repo / "scripts" / name), *args], cwd=repo,
                          env={**environ, "STUB_LOG": str(log), **env},
                          capture_output=True, text=True, timeout=30)
    commands = log.read_text().splitlines() if log.exists() else []
    return done, commands


def test_gtzan_script_runs_each_step_with_the_filtered_split_by_default(stub_repo):
    done, commands = run_stubbed(stub_repo, "reproduce_gtzan.sh", ["/data/gtzan"], OUT="o")
    assert done.returncode == 0, done.stderr
    assert commands == [
        "-m sonicsep.featurize --dataset gtzan --root /data/gtzan --split filtered "
        "--out o/gtzan.zarr --workers 4",
        "-m sonicsep.benchmark --store o/gtzan.zarr --out o/classical --jobs 4",
        "-m sonicsep.train --store o/gtzan.zarr --model mlp --feature summary "
        "--workdir o/mlp_summary",
        "-m sonicsep.train --store o/gtzan.zarr --model cnn --feature mel --workdir o/cnn_mel",
        "-m sonicsep.train --store o/gtzan.zarr --model cnn --feature mfcc --workdir o/cnn_mfcc",
        "-m sonicsep.report --store o/gtzan.zarr --runs o/classical o/mlp_summary o/cnn_mel "
        "o/cnn_mfcc --out o/report",
    ]
    assert "transfer FMA -> GTZAN skipped" in done.stderr


def test_gtzan_script_passes_split_and_transfers_from_an_fma_model(stub_repo):
    done, commands = run_stubbed(stub_repo, "reproduce_gtzan.sh", ["/g", "/fma/cnn_mel"],
                                 OUT="o", SPLIT="random", TRANSFER_MODES="head", WORKERS="2",
                                 EPOCHS="1")
    assert done.returncode == 0, done.stderr
    assert "--split random --out o/gtzan.zarr --workers 2" in commands[0]
    assert commands[2].endswith("--workdir o/mlp_summary --epochs 1")
    assert ("-m sonicsep.transfer --pretrained /fma/cnn_mel --mode head --store o/gtzan.zarr "
            "--workdir o/transfer_fma_head --epochs 1") in commands
    assert commands[-1].endswith("o/cnn_mfcc o/transfer_fma_head --out o/report")


def test_partial_failure_goes_on_and_any_other_failure_stops(stub_repo):
    done, commands = run_stubbed(stub_repo, "reproduce_fma.sh", ["/fma", "medium"], OUT="o",
                                 STUB_FAIL="sonicsep.featurize", STUB_STATUS="3")
    assert done.returncode == 0 and "(featurize /fma (medium): some items failed" in done.stderr
    assert commands[0].startswith("-m sonicsep.featurize --dataset fma --root /fma --subset "
                                  "medium --out o/fma_medium.zarr")
    assert len(commands) == 7 and "--model fusion --feature mel" in commands[5]
    (stub_repo / "commands.log").unlink()
    done, commands = run_stubbed(stub_repo, "reproduce_fma.sh", ["/fma"], OUT="o",
                                 STUB_FAIL="--model cnn --feature mel", STUB_STATUS="1")
    assert done.returncode == 1
    assert "error: cnn on mel failed (exit status 1)" in done.stderr
    assert len(commands) == 4 and commands[-1].endswith("--workdir o/cnn_mel")  # nothing after


def test_models_chooses_the_deep_models(stub_repo):
    done, commands = run_stubbed(stub_repo, "reproduce_fma.sh", ["/fma"], OUT="o",
                                 MODELS="fusion:mel mlp:summary")
    assert done.returncode == 0, done.stderr
    trained = [c for c in commands if c.startswith("-m sonicsep.train")]
    assert trained == [
        "-m sonicsep.train --store o/fma_small.zarr --model fusion --feature mel "
        "--workdir o/fusion_mel",
        "-m sonicsep.train --store o/fma_small.zarr --model mlp --feature summary "
        "--workdir o/mlp_summary",
    ]
    assert commands[-1].endswith("--runs o/classical o/fusion_mel o/mlp_summary --out o/report")
    assert "FMA model for transfer" not in done.stdout  # no cnn:mel to transfer from


def test_python_environment_variable_chooses_the_interpreter(stub_repo, tmp_path):
    other = tmp_path / "other-python"
    other.write_text(STUB_PYTHON.replace("$STUB_LOG", "$STUB_LOG.other"))
    other.chmod(0o755)
    done, commands = run_stubbed(stub_repo, "reproduce_gtzan.sh", ["/g"], OUT="o",
                                 PYTHON=str(other))
    assert done.returncode == 0, done.stderr
    assert commands == []  # the repository's .venv python ran nothing
    assert len((stub_repo / "commands.log.other").read_text().splitlines()) == 6


@pytest.mark.parametrize(("name", "args", "message"), [
    ("reproduce_gtzan.sh", [], "usage: scripts/reproduce_gtzan.sh GTZAN_DIR [FMA_WORKDIR]"),
    ("reproduce_gtzan.sh", ["a", "b", "c"], "usage: scripts/reproduce_gtzan.sh"),
    ("reproduce_fma.sh", [], "usage: scripts/reproduce_fma.sh FMA_DIR [small|medium|large]"),
    ("reproduce_fma.sh", ["x", "huge"], "error: unknown subset 'huge'"),
])
def test_scripts_print_usage_and_exit_2_running_nothing(stub_repo, name, args, message):
    done, commands = run_stubbed(stub_repo, name, args)
    assert done.returncode == 2 and message in done.stderr
    assert commands == []
