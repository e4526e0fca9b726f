"""End-to-end featurization: values, failures, resume, SIGKILL, determinism, CLI exit codes.

The cluster seams (an external scheduler, workers that die) are in test_featurize_cluster.py.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sonicsep import audio
from sonicsep.audio import load, segment
from sonicsep.config import FeatureConfig
from sonicsep.datasets import load_dataset
from sonicsep.features import FeatureExtractor, melspectrogram, power_to_db
from sonicsep.featurize import main
from sonicsep.lease import StoreLease
from sonicsep.store import FeatureStore

# Short segments keep the suite fast; the pipeline is the same as with the 5 s default.
SMALL = FeatureConfig(segment_seconds=2.0, max_segments=3)

ARRAYS = (
    "track",
    "label",
    "split",
    "status",
    "error",
    "warning",
    "duration",
    "n_segments",
    "mask",
    "mel_db",
    "mfcc",
    "summary",
    "echonest",
)


def _write_config(tmp_path, config=SMALL) -> str:
    path = tmp_path / "features.json"
    path.write_text(config.to_json())
    return str(path)


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory, shared_data) -> Path:
    """A GTZAN layout with two real WAVs, the real MP3, and the known-bad files."""
    root = tmp_path_factory.mktemp("mixed")
    blues = root / "genres" / "blues"
    jazz = root / "genres" / "jazz"
    blues.mkdir(parents=True)
    jazz.mkdir(parents=True)
    shutil.copy(shared_data / "gtzan/genres/blues/blues.00000.wav", blues / "blues.00000.wav")
    shutil.copy(shared_data / "gtzan/genres/jazz/jazz.00001.wav", jazz / "jazz.00001.wav")
    shutil.copy(shared_data / "fma/fma_small/000/000002.mp3", jazz / "jazz.00002.mp3")
    shutil.copy(shared_data / "bad/jazz.00054.wav", jazz / "jazz.00054.wav")
    (blues / "blues.00099.wav").write_bytes(b"")  # zero bytes
    (blues / "notes.txt").write_text("not audio, not a track")
    return root


def _gtzan_args(root, out, config_file, split=None) -> list[str]:
    """Arguments featurizing a GTZAN-layout folder; the default (filtered) split, as the
    mixed folder's five tracks are all named in it, or ``split`` for other corpora."""
    args = ["--dataset", "gtzan", "--root", str(root), "--out", str(out), "--config", config_file]
    return args + (["--split", split] if split else [])


def _run(args) -> int:
    return main([*args, "--no-progress", "--workers", "1"])


def test_featurize_mixed_folder_records_failures_and_exact_values(tmp_path, mixed_root, capsys):
    out = tmp_path / "mixed.zarr"
    code = _run(_gtzan_args(mixed_root, out, _write_config(tmp_path)))
    assert code == 3
    printed = capsys.readouterr().out
    assert "2 failed" in printed and "jazz.00054" in printed
    store = FeatureStore.open(str(out))
    tracks = store.tracks().set_index("track_id")
    assert len(tracks) == 5  # notes.txt is no track; the bad files are
    assert tracks.loc["jazz.00054", "status"] == "failed"
    assert "jazz.00054.wav" in tracks.loc["jazz.00054", "error"]
    assert tracks.loc["blues.00099", "status"] == "failed"
    assert (tracks.loc[["blues.00000", "jazz.00001", "jazz.00002"], "status"] == "ok").all()
    assert (tracks.loc[["blues.00000", "jazz.00001", "jazz.00002"], "n_segments"] == 3).all()

    # Stored values equal the public feature functions on each segment's samples.
    row = list(tracks.index).index("jazz.00002")
    y, _ = load(mixed_root / "genres/jazz/jazz.00002.mp3", sr=SMALL.sr)
    segments = segment(y, SMALL)
    expected = FeatureExtractor(SMALL).segment_features(segments)
    for name in ("mel_db", "mfcc", "summary"):
        np.testing.assert_array_equal(store.array(name)[row], expected[name])
    mel = power_to_db(melspectrogram(y=segments[1], sr=SMALL.sr), top_db=SMALL.top_db)
    np.testing.assert_allclose(store.array("mel_db")[row, 1], mel, rtol=0, atol=1e-3)
    assert store.array("mask")[row].all()
    failed_row = list(tracks.index).index("jazz.00054")
    assert np.isnan(store.array("summary")[failed_row]).all()
    assert not store.array("mask")[failed_row].any()


def test_rerun_skips_done_and_retry_failed_retries(tmp_path, mixed_root, capsys):
    out = tmp_path / "resume.zarr"
    args = _gtzan_args(mixed_root, out, _write_config(tmp_path))
    assert _run(args) == 3
    capsys.readouterr()
    assert _run(args) == 3
    assert "this run: 0 ok, 0 failed; 3 were already done" in capsys.readouterr().out
    assert _run([*args, "--retry-failed"]) == 3
    assert "this run: 0 ok, 2 failed" in capsys.readouterr().out


def test_truncated_wav_is_featurized_with_a_warning_and_a_retry_refreshes_duration(
    tmp_path, shared_data, capsys
):
    """A WAV cut 10 s into its samples is featurized from what is there and recorded with a
    warning; a file that failed (zero bytes, so no duration) gets its duration once fixed."""
    root = tmp_path / "gtzan"
    (root / "genres/blues").mkdir(parents=True)
    (root / "genres/jazz").mkdir(parents=True)
    whole = (shared_data / "gtzan/genres/blues/blues.00000.wav").read_bytes()
    cut = whole[: whole.index(b"data") + 8 + 2 * 22050 * 10]
    (root / "genres/blues/blues.00000.wav").write_bytes(cut)
    broken = root / "genres/jazz/jazz.00001.wav"
    broken.write_bytes(b"")
    out = tmp_path / "cut.zarr"
    args = _gtzan_args(root, out, _write_config(tmp_path))
    assert _run(args) == 3
    warning = ("truncated: the WAV header declares 30.01 s of audio, the file holds 10.00 s; "
               "only those were read")
    assert (f"1 tracks featurized with a warning (the warning array):\n"
            f"  blues.00000: {warning}\n") in capsys.readouterr().out
    tracks = FeatureStore.open(str(out)).tracks().set_index("track_id")
    assert tracks.loc["blues.00000", ["status", "warning", "duration"]].tolist() == [
        "ok", warning, 10.0]
    assert tracks.loc["jazz.00001", ["status", "warning"]].tolist() == ["failed", ""]
    assert np.isnan(tracks.loc["jazz.00001", "duration"])

    shutil.copy(shared_data / "gtzan/genres/jazz/jazz.00001.wav", broken)
    assert _run([*args, "--retry-failed"]) == 0
    tracks = FeatureStore.open(str(out)).tracks().set_index("track_id")
    assert tracks.loc["jazz.00001", "status"] == "ok"
    assert tracks.loc["jazz.00001", "duration"] == np.float32(audio.info(broken).duration)
    assert tracks.loc["blues.00000", "warning"] == warning  # kept: not featurized again


def test_local_cluster_processes_end_with_the_run(tmp_path, mixed_root):
    """The LocalCluster a run starts is shut down with it: no worker process outlives it."""
    import psutil

    def workers():
        alive = set()
        for child in psutil.Process().children(recursive=True):
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(
                    child.cmdline()
                ):
                    alive.add(child.pid)
            except psutil.Error:  # it ended while we looked
                pass
        return alive

    before = workers()
    assert _run(_gtzan_args(mixed_root, tmp_path / "s.zarr", _write_config(tmp_path))) == 3
    assert workers() - before == set()


def test_a_shard_that_cannot_be_written_stays_pending_and_the_rest_is_saved(
    tmp_path, mixed_root, capsys
):
    out = tmp_path / "blocked.zarr"
    args = _gtzan_args(mixed_root, out, _write_config(tmp_path))
    assert _run(args) == 3  # lays out the store (one track a shard) and fills it
    store = FeatureStore.open(str(out), mode="r+")
    assert store.tracks_per_shard == 1
    # An ok track back to pending, and its shard's mel_db file blocked by a folder.
    k = int(np.flatnonzero(store.tracks()["status"] == "ok")[0])
    store.group["status"][k] = 0
    shard_file = out / "mel_db" / "c" / str(k) / "0" / "0" / "0"
    shard_file.unlink()
    shard_file.mkdir()
    capsys.readouterr()
    assert _run(args) == 3
    printed = capsys.readouterr()
    assert f"shard {k} not saved, its tracks stay pending" in printed.err
    assert f"shard {k} was not saved" in printed.out and "1 pending" in printed.out
    tracks = FeatureStore.open(str(out)).tracks()
    assert tracks.loc[k, "status"] == "pending"
    assert (tracks["status"] != "pending").sum() == 4  # every other track kept its outcome
    shard_file.rmdir()
    assert _run(args) == 3  # a rerun featurizes it
    assert FeatureStore.open(str(out)).counts() == {"pending": 0, "ok": 3, "failed": 2}


def test_ctrl_c_stops_cleanly_and_keeps_what_was_saved(tmp_path, fma_mp3):
    """Ctrl-C in a terminal (SIGINT to the whole process group, workers included) mid-run:
    one line with the count the store holds, no worker's traceback, exit 130, resumable."""
    root = tmp_path / "many"
    for i in range(400):  # enough work that the run is still going when it is interrupted
        folder = root / "genres" / ("a", "b")[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"t.{i:05d}.mp3").symlink_to(fma_mp3)
    out = tmp_path / "interrupted.zarr"
    cmd = [sys.executable, "-m", "sonicsep.featurize", *_gtzan_args(root, out,
           _write_config(tmp_path), split="random"), "--no-progress", "--workers", "2"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    before_cluster = ""
    for line in proc.stderr:  # the cluster is up once the dashboard address is printed
        if line.startswith("Dask dashboard"):
            break
        before_cluster += line
    time.sleep(2.0)
    os.killpg(proc.pid, signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, err
    # The dataset's warnings are one line each on the command line, before the cluster starts.
    assert before_cluster.startswith("warning: the random GTZAN split puts clips of one artist")
    match = re.fullmatch(rf"interrupted: (\d+) tracks were saved by this run, (\d+) are pending "
                         rf"in {re.escape(str(out))}; run the same command again to resume\n", err)
    assert match, err
    time.sleep(1.0)  # nothing of the run writes any more
    counts = FeatureStore.open(str(out)).counts()
    assert counts == {"pending": int(match[2]), "ok": int(match[1]), "failed": 0}
    assert counts["pending"] > 0


def test_existing_cluster_through_scheduler_is_used_and_left_running(
    tmp_path, mixed_root, capsys
):
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        out = tmp_path / "remote.zarr"
        args = _gtzan_args(mixed_root, out, _write_config(tmp_path))
        assert main([*args, "--scheduler", cluster.scheduler_address]) == 3
        progress = capsys.readouterr().err  # the dashboard address, then the progress bar
        assert "Dask dashboard: http" in progress
        assert "5/5" in progress and "done=3" in progress and "failed=2" in progress
        assert "tracks_s=" in progress
        assert FeatureStore.open(str(out)).counts() == {"pending": 0, "ok": 3, "failed": 2}
        assert "featurize_shard" in cluster.scheduler.task_prefixes  # the work ran here
        with Client(cluster.scheduler_address) as client:  # the user's cluster still serves
            assert client.submit(sum, [1, 2]).result() == 3


def test_rerun_with_another_config_is_a_usage_error_until_overwrite(
    tmp_path, mixed_root, capsys
):
    out = tmp_path / "cfg.zarr"
    assert _run([*_gtzan_args(mixed_root, out, _write_config(tmp_path)), "--limit", "1"]) == 0
    other = tmp_path / "other"
    other.mkdir()
    other_config = _write_config(other, SMALL.replace(n_mels=64))
    code = _run([*_gtzan_args(mixed_root, out, other_config), "--limit", "1"])
    assert code == 2
    assert "different feature config" in capsys.readouterr().err
    assert FeatureStore.open(str(out)).config == SMALL  # the refused run changed nothing
    overwrite = [*_gtzan_args(mixed_root, out, other_config), "--limit", "1", "--overwrite"]
    with StoreLease(str(out)):  # another live run is writing the store
        assert _run(overwrite) == 2
        err = capsys.readouterr().err
        assert "is being written by another run" in err and f"pid {os.getpid()}" in err
        assert FeatureStore.open(str(out)).config == SMALL  # --overwrite deleted nothing
    assert _run(overwrite) == 0
    rebuilt = FeatureStore.open(str(out))
    assert rebuilt.config.n_mels == 64 and rebuilt.array("mel_db").shape[2] == 64


def test_usage_errors_exit_2(tmp_path, capsys):
    assert _run(["--dataset", "gtzan", "--root", str(tmp_path / "absent")]) == 2
    assert "absent" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"n_mels": -3}')
    assert _run(["--config", str(bad)]) == 2
    assert "n_mels" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--dataset", "nope"])
    assert exc.value.code == 2


def _demo_root(tmp_path_factory) -> Path:
    from sonicsep.datasets.demo import make_demo

    return make_demo(tmp_path_factory.mktemp("demo"), seed=3, n_per_genre=4, clip_seconds=7.0)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    return _demo_root(tmp_path_factory)


def _store_arrays(url) -> dict:
    store = FeatureStore.open(str(url))
    return {name: store.group[name][:] for name in ARRAYS}


def _assert_same_store(a, b):
    for name in ARRAYS:
        left, right = a[name], b[name]
        if left.dtype.kind in "fc":
            np.testing.assert_array_equal(left, right, err_msg=name)
        else:
            assert left.tolist() == right.tolist(), name


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, demo_root):
    config = _write_config(tmp_path)
    common = [
        "--dataset",
        "gtzan",
        "--root",
        str(demo_root),
        "--split",
        "random",
        "--config",
        config,
        "--workers",
        "1",
        "--no-progress",
    ]
    reference = tmp_path / "reference.zarr"
    assert main([*common, "--out", str(reference)]) == 0

    killed = tmp_path / "killed.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sonicsep.featurize", *common, "--out", str(killed)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    n_tracks = len(FeatureStore.open(str(reference)).tracks())
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = FeatureStore.open(str(killed)).counts()["ok"]
        except Exception:  # noqa: BLE001 - store not laid out yet
            done = 0
        if done > 0:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < done < n_tracks, f"kill landed outside the run ({done}/{n_tracks} done)"
    assert FeatureStore.open(str(killed)).counts()["pending"] > 0

    assert main([*common, "--out", str(killed)]) == 0
    _assert_same_store(_store_arrays(reference), _store_arrays(killed))


def test_deterministic_and_fsspec_url(tmp_path, demo_root):
    config = _write_config(tmp_path)
    common = ["--dataset", "gtzan", "--root", str(demo_root), "--split", "random", "--config",
              config, "--limit", "4"]
    assert _run([*common, "--out", str(tmp_path / "a.zarr")]) == 0
    assert _run([*common, "--out", f"file://{tmp_path / 'b.zarr'}"]) == 0
    _assert_same_store(
        _store_arrays(tmp_path / "a.zarr"), _store_arrays(f"file://{tmp_path / 'b.zarr'}")
    )


MEMORY_SCRIPT = """
import resource, sys
from sonicsep.featurize import featurize_shard
outcomes = featurize_shard(sys.argv[1], 0)
print(outcomes[0][1], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


@pytest.mark.slow
def test_sixty_minute_track_streams_under_1_5_gb(tmp_path):
    """A worker featurizing a whole 60-minute track (720 segments) stays under 1.5 GB peak RSS."""
    import pandas as pd
    import soundfile as sf

    from sonicsep.datasets.base import ECHONEST_FEATURES, Dataset
    from sonicsep.featurize import prepare_store

    path = tmp_path / "hour.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=22050, channels=1, subtype="PCM_16") as f:
        for _ in range(60):  # one minute at a time: the test itself stays small too
            t = np.arange(22050 * 60) / 22050
            f.write(0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size))
    hour = FeatureConfig(max_segments=720)
    tracks = pd.DataFrame(
        {
            "track_id": ["hour"],
            "path": [str(path)],
            "label": [0],
            "genre": ["long"],
            "split": ["train"],
            "duration": [3600.0],
            **{name: [np.nan] for name in ECHONEST_FEATURES},
        }
    )
    dataset = Dataset(name="long", root=tmp_path, genres=("long",), tracks=tracks)
    url = str(tmp_path / "hour.zarr")
    prepare_store(url, dataset, hour, workers=1, overwrite=True)
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, url], capture_output=True, text=True, check=True
    )
    status, peak = map(int, done.stdout.split())
    assert status == 1, done.stderr
    assert FeatureStore.open(url).tracks()["n_segments"][0] == 720
    assert peak < 1.5 * 2**30, f"peak RSS {peak / 2**20:.0f} MiB"


def test_real_fma_metadata_records_missing_audio_and_featurizes_the_rest(
    tmp_path, fma_root, capsys
):
    """The real tracks_head682.csv: 58 small-subset tracks, only 000002's audio is on disk."""
    out = tmp_path / "fma.zarr"
    code = _run(["--dataset", "fma", "--root", str(fma_root), "--out", str(out), "--tracks-csv",
                 str(fma_root / "fma_metadata/tracks_head682.csv"),
                 "--config", _write_config(tmp_path)])
    assert code == 3
    tracks = FeatureStore.open(str(out)).tracks().set_index("track_id")
    assert len(tracks) == 58
    assert tracks.loc["000002", "status"] == "ok" and tracks.loc["000002", "genre"] == "Hip-Hop"
    failed = tracks[tracks["status"] == "failed"]
    assert len(failed) == 57 and failed["error"].str.contains("does not exist").all()
    printed = capsys.readouterr()
    assert "57 failed" in printed.out
    assert "\nwarning: 57 of 58 FMA small audio files are missing" in "\n" + printed.err


def test_fma_options_are_refused_for_other_datasets(capsys):
    assert _run(["--dataset", "demo", "--tracks-csv", "x.csv"]) == 2
    assert "--tracks-csv only apply to --dataset fma, not 'demo'" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "gtzan"], "error: --dataset gtzan needs --root, the folder of the dataset\n"),
    (["--dataset", "fma"], "error: --dataset fma needs --root, the folder of the dataset\n"),
    (["--dataset", "demo", "--split", "filtered"],
     "error: --split filtered does not apply to --dataset demo (its split modes: random)\n"),
    (["--dataset", "gtzan", "--root", ".", "--subset", "small"],
     "error: --subset small does not apply to --dataset gtzan (its subsets: none)\n"),
    (["--dataset", "fma", "--root", ".", "--split-dir", "s"],
     "error: --split-dir only apply to --dataset gtzan, not 'fma'\n"),
])
def test_dataset_usage_errors_name_the_flags(args, message, capsys):
    assert _run(args) == 2
    assert capsys.readouterr().err == message


def test_cli_choices_come_from_the_dataset_registry(monkeypatch):
    from sonicsep.datasets import DATASETS, DatasetSpec, ReaderOption
    from sonicsep.featurize import _dataset_kwargs, build_parser

    def read_toy(root, split, subset, seed, toy_file=None):
        return {"root": root, "split": split, "subset": subset, "toy_file": toy_file}

    monkeypatch.setitem(DATASETS, "toy", DatasetSpec(
        reader=read_toy, split_modes=("halves", "random"), default_split="halves",
        subsets=("tiny", "huge"), options=(ReaderOption("toy_file", "Toy: a file"),)))
    parser = build_parser()
    text = " ".join(parser.format_help().split())
    assert "--dataset {demo,gtzan,fma,toy}" in text
    assert "--subset {small,medium,large,tiny,huge}" in text
    assert "--split {random,filtered,stratified,official,halves}" in text
    assert ("split mode, demo: random (default); gtzan: filtered (default), stratified, random; "
            "fma: official (default); toy: halves (default), random.") in text
    assert "--toy-file TOY_FILE Toy: a file" in text
    args = parser.parse_args(["--dataset", "toy", "--root", "r", "--subset", "huge",
                              "--toy-file", "f"])
    kwargs = _dataset_kwargs(args)
    assert kwargs == {"root": "r", "subset": "huge", "split": None, "toy_file": "f"}
    assert load_dataset("toy", **kwargs) == {"root": "r", "split": "halves", "subset": "huge",
                                             "toy_file": "f"}


def test_warm_kernels_says_it_is_compiling_only_when_slow(monkeypatch):
    import io

    from sonicsep import featurize

    quick = io.StringIO()
    featurize.warm_kernels(SMALL, notice_after=60.0, file=quick)
    assert quick.getvalue() == ""  # the kernels are compiled now: nothing to say
    calls = []
    real = featurize.featurize_track
    # A first run, as if compiling: the warm-up outlasts notice_after.
    monkeypatch.setattr(featurize, "featurize_track",
                        lambda *a: calls.append(real(*a)) or time.sleep(0.5))
    slow = io.StringIO()
    seconds = featurize.warm_kernels(SMALL, notice_after=0.1, file=slow)
    assert calls[0]["summary"].shape[0] == 1  # it featurized one segment
    assert slow.getvalue() == ("compiling kernels (first run only, ~20-40 s)...\n"
                               f"kernels ready in {seconds:.0f} s\n")


def test_worker_watch_notices_then_gives_up_and_forgets_when_workers_return():
    from sonicsep.dask_cluster import WorkerWatch

    watch = WorkerWatch(timeout=300.0)
    assert watch.observe(2, now=0.0) == ""
    assert watch.observe(0, now=10.0) == ""  # the first second without workers: nothing yet
    assert watch.observe(0, now=39.0) == ""
    assert watch.observe(0, now=40.0) == ("no workers for 30 s; waiting for workers to join, "
                                          "giving up after --worker-timeout 300 s")
    assert watch.observe(0, now=41.0) == ""  # said once
    assert watch.observe(3, now=50.0) == "3 workers connected; carrying on"
    assert watch.observe(0, now=60.0) == "" and not watch.expired(359.0)
    assert watch.observe(0, now=360.0) == "no workers for 300 s (--worker-timeout 300)"
    assert watch.expired(360.0)
    short = WorkerWatch(timeout=5.0)  # the notice comes halfway to a short timeout
    assert short.observe(0, now=0.0) == "" and short.observe(0, now=2.0) == ""
    assert short.observe(0, now=2.5).startswith("no workers for 2 s; waiting")
