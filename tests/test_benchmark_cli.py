"""``python -m sonicsep.benchmark``: files written, table printed, exit codes, skips."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from synthetic_store import make_synthetic_store
from test_classical import TINY_GRIDS

from sonicsep import benchmark, classical, classical_features
from sonicsep.errors import ParameterError
from sonicsep.store import FeatureStore


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    url = tmp_path_factory.mktemp("cli") / "synthetic.zarr"
    make_synthetic_store(url)
    return str(url)


@pytest.fixture(scope="module")
def full_run(store_url, tmp_path_factory):
    """One CLI run over every supported feature set and method (tiny grids)."""
    out = tmp_path_factory.mktemp("out")
    code = benchmark.main(
        ["--store", store_url, "--out", str(out), "--jobs", "1"], grids=TINY_GRIDS
    )
    return code, out


def test_cli_writes_results_figures_and_models(full_run, store_url):
    code, out = full_run
    assert code == benchmark.EXIT_OK
    report = json.loads((out / "results.json").read_text())
    store = FeatureStore.open(store_url)
    sets = ["summary", "mel", "echonest"]
    assert report["feature_sets"] == sets and report["protocol"]["refit"] == "train"
    assert {(r["method"], r["feature_set"]) for r in report["results"]} == {
        (m, f) for m in classical.METHODS for f in sets
    }
    for r in report["results"]:
        assert (out / f"confusion_{r['method']}_{r['feature_set']}.png").stat().st_size > 1000
        assert (r["test_segment_accuracy"] is None) == (r["feature_set"] == "echonest")
    for f in sets:
        assert (out / f"tsne_{f}.png").stat().st_size > 1000
    assert any("echonest: only" in n and "noisy" in n for n in report["notes"])
    markdown = (out / "results.md").read_text()
    assert [c["status"] for c in report["leakage_checks"]][:2] == ["ok", "skipped"]
    assert "## Leakage checks" in markdown
    assert all(r["variant"] == "exact" and not r["tuned_on"]["subsample"]
               for r in report["results"])
    assert report["protocol"]["nested"]["random_forest"] == "n_estimators"
    # Tuned on all of train, SVM and the MLP keep their grid fit; the others refit.
    assert {r["method"] for r in report["results"] if not r["refitted"]} == {"svm", "mlp"}
    assert all(r["fit_seconds"] == 0 for r in report["results"] if not r["refitted"])
    assert "| kept |" in markdown
    assert "| method | summary segment | summary track | mel segment" in markdown
    assert "echonest track |" in markdown and "train only" in markdown
    for method in classical.METHODS:
        model = classical.load_classical_model(out / "models" / f"{method}.joblib")
        assert model.method == method and model.genres == store.genres
        # never the metadata-only set
        assert model.feature_set in classical_features.AUDIO_FEATURE_SETS
        assert model.feature_config == store.config.to_dict()
        assert report["models"][method].endswith(f"models/{method}.joblib")


def test_cli_prints_the_table(store_url, tmp_path, capsys):
    code = benchmark.main(
        [
            "--store",
            store_url,
            "--out",
            str(tmp_path),
            "--features",
            "summary",
            "--methods",
            "knn,svm",
        ],
        grids=TINY_GRIDS,
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "| method | summary segment | summary track |" in printed
    assert "| kNN |" in printed and "| SVM |" in printed and "XGBoost" not in printed
    assert "leakage check OK: the splits' 36 tracks are disjoint" in printed
    assert "leakage check SKIPPED: artist-level split" in printed
    report = json.loads((tmp_path / "results.json").read_text())
    assert all(r["test_track_accuracy"] > 0.8 for r in report["results"])
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["knn.joblib", "svm.joblib"]


def test_parse_choices_accepts_repeats_and_commas():
    known = classical_features.FEATURE_SETS
    assert benchmark.parse_choices(["mel,summary", "echonest", "mel"], known, "--features") == [
        "mel",
        "summary",
        "echonest",
    ]
    assert benchmark.parse_choices(None, known, "--features") == []
    with pytest.raises(ParameterError, match="--features 'chroma' is unknown"):
        benchmark.parse_choices(["summary,chroma"], known, "--features")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--features", "chroma"], "--features 'chroma' is unknown"),
        (["--methods", "lda"], "--methods 'lda' is unknown"),
        (["--features", "mfcc"], "cannot provide feature set(s) ['mfcc']"),
        (["--jobs", "0"], "--jobs must be >= 1"),
    ],
)
def test_cli_usage_errors_exit_2(store_url, tmp_path, capsys, args, message):
    code = benchmark.main(["--store", store_url, "--out", str(tmp_path), *args])
    assert code == benchmark.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_cli_missing_store_exits_2_without_traceback(tmp_path):
    """Run as a user would: a real process, so an escaped traceback would show."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sonicsep.benchmark",
            "--store",
            str(tmp_path / "nope.zarr"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no feature store at" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_bad_argument_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        benchmark.main(["--jobs", "many"])
    assert exc.value.code == 2


def test_cli_summary_benchmark_survives_deleted_mel_db(tmp_path):
    url = tmp_path / "store.zarr"
    make_synthetic_store(url)
    shutil.rmtree(url / "mel_db")
    out = tmp_path / "out"
    code = benchmark.main(
        ["--store", str(url), "--out", str(out), "--methods", "knn"], grids=TINY_GRIDS
    )
    assert code == 0
    report = json.loads((out / "results.json").read_text())
    assert report["feature_sets"] == ["summary", "echonest"]  # 'mel' no longer supported


def test_cli_skips_echonest_when_a_split_has_none(tmp_path, capsys):
    url = tmp_path / "store.zarr"
    store = make_synthetic_store(url)
    echonest = store.group["echonest"][:]
    echonest[store.tracks()["split"].to_numpy() == "val"] = np.nan
    store.group["echonest"][:] = echonest
    out = tmp_path / "out"
    code = benchmark.main(
        ["--store", str(url), "--out", str(out), "--features", "echonest"], grids=TINY_GRIDS
    )
    assert code == benchmark.EXIT_NOTHING
    assert "nothing could be benchmarked" in capsys.readouterr().out
    report = json.loads((out / "results.json").read_text())
    assert report["results"] == [] and report["models"] == {}
    assert any("no samples in split(s) val; skipped" in n for n in report["notes"])
    assert "skipped" in (out / "results.md").read_text()


def test_saved_model_prefers_audio_features_then_validation():
    def result(feature_set, val_track):
        return classical.MethodResult(
            method="knn",
            feature_set=feature_set,
            level="segment",
            params={},
            grid=[],
            val_accuracy=val_track,
            val_track_accuracy=val_track,
            test_segment_accuracy=None,
            test_track_accuracy=0.0,
            confusion=np.zeros((2, 2)),
            n_samples={},
            n_tracks={},
            tune_seconds=0.0,
            fit_seconds=0.0,
        )

    assert benchmark._prefer(result("summary", 0.5), result("echonest", 0.9))
    assert not benchmark._prefer(result("echonest", 0.9), result("summary", 0.5))
    assert benchmark._prefer(result("mel", 0.8), result("summary", 0.7))
    assert not benchmark._prefer(result("mel", 0.7), result("summary", 0.7))


def test_table_and_notes_say_when_a_method_was_scaled_or_subsampled():
    def row(method, variant, subsample):
        return {"method": method, "feature_set": "summary", "level": "track",
                "test_track_accuracy": 0.5, "variant": variant,
                "tuned_on": {"samples": 10, "tracks": 5, "subsample": subsample}}

    report = {"feature_sets": ["summary"], "methods": ["knn", "svm"],
              "results": [row("knn", "exact", True), row("svm", "scaled", False)]}
    table = benchmark.results_table(report)
    assert "| kNN (tuned on a subsample: see notes) | 50.0 |" in table
    assert "| SVM (scaled variant: see notes) | 50.0 |" in table
    result = classical.MethodResult(
        method="svm", feature_set="summary", level="segment", params={}, grid=[],
        val_accuracy=0, val_track_accuracy=0, test_segment_accuracy=0, test_track_accuracy=0,
        confusion=np.zeros((2, 2)), n_samples={"train": 640_000}, n_tracks={},
        tune_seconds=0, fit_seconds=0, variant="scaled",
        tuned_on={"samples": 100_000, "tracks": 16_000, "subsample": True},
    )
    scaled, subsampled = benchmark.scale_notes(result)
    assert "640000 training samples, so the scaled variant was used" in scaled
    assert "subsample of 16000 training tracks (100000 of 640000 samples)" in subsampled
