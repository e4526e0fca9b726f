"""``python -m sonicsep.benchmark``: the classical genre baselines of a store in one command.

For each feature set and method (:mod:`sonicsep.classical`): tune on the validation split, refit
on train, score once on test at segment and track level. Writes to ``--out``::

    results.json                    every figure, chosen hyperparameters, grid scores, notes
    results.md                      the accuracy table (also printed) and the chosen points
    confusion_<method>_<set>.png    track-level test confusion matrix
    tsne_<set>.png                  t-SNE of the feature set coloured by genre
    models/<method>.joblib          the method's best model, for ``predict``

Exit codes: 0 done, 2 usage error (bad arguments, missing or unusable store), 3 nothing could
be benchmarked (every requested feature set was skipped; the notes say why), 130 interrupted
(Ctrl-C; the figures drawn so far stay in ``--out``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import joblib

from sonicsep import (
    classical,
    classical_dask,
    classical_features,
    classical_leakage,
    classical_scale,
    metrics,
)
from sonicsep.errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    ParameterError,
    SonicSepError,
    deaf_to_ctrl_c,
    exits_on_interrupt,
)
from sonicsep.plots import confusion_matrix_png, tsne_png
from sonicsep.store import DEFAULT_STORE, SPLITS, FeatureStore

# Every requested feature set was skipped (notes say why); nothing was benchmarked.
EXIT_NOTHING = EXIT_PARTIAL
DEFAULT_OUT = "classical-results"
TSNE_MAX_POINTS = 2000
METHOD_TITLES = {
    "knn": "kNN",
    "svm": "SVM",
    "random_forest": "Random forest",
    "xgboost": "XGBoost",
    "mlp": "MLP",
}


def parse_choices(values: Sequence[str] | None, known: Sequence[str], option: str) -> list[str]:
    """Flatten repeated and comma-separated option values; unknown names are a usage error."""
    chosen = []
    for value in values or ():
        for name in filter(None, (v.strip() for v in value.split(","))):
            if name not in known:
                raise ParameterError(f"{option} {name!r} is unknown; choose from {list(known)}")
            if name not in chosen:
                chosen.append(name)
    return chosen


def run_benchmark(
    store: FeatureStore,
    feature_sets: Sequence[str],
    methods: Sequence[str],
    out_dir: Path,
    *,
    grids: Mapping[str, Mapping] = classical.STUDY_GRIDS,
    seed: int = classical.SEED,
    jobs: int = 1,
    tsne_points: int = TSNE_MAX_POINTS,
    exact_grid: bool = False,
    tune_samples: int | None = None,
    runner=None,
    fma_metadata=None,
    log=print,
) -> dict:
    """Benchmark every method on every feature set, write the figures and models, return the
    results (what results.json holds).

    Feature sets are loaded one at a time and released before the next, so peak memory is one
    feature set plus the best model of each method.
    """
    results, notes, sample_checks = [], [], []
    best: dict[str, tuple[classical.MethodResult, classical.ClassicalModel]] = {}
    for name in feature_sets:
        log(f"loading feature set {name!r} ...")
        fs = classical_features.load_feature_set(store, name)
        sample_check = classical_leakage.disjoint_tracks(store, [fs])
        if sample_check.status != "ok":
            sample_checks.append(sample_check)
        runnable, fs_notes = classical_features.check_feature_set(fs)
        notes += fs_notes
        if not runnable:
            continue
        tsne_png(
            fs.X,
            fs.y,
            store.genres,
            out_dir / f"tsne_{name}.png",
            max_points=tsne_points,
            seed=seed,
            title=f"t-SNE of '{name}' features ({fs.level}s)",
        )
        n_train = int((fs.split == "train").sum())
        runnable_methods = []
        for method in methods:
            full = len(classical.grid_points(method, grids[method], n_train=sys.maxsize))
            feasible = len(classical.grid_points(method, grids[method], n_train))
            if feasible == 0:
                notes.append(
                    f"{method} on {name}: no grid point fits {n_train} training samples; skipped."
                )
                continue
            if feasible < full:
                notes.append(
                    f"{method} on {name}: {full - feasible} of {full} grid points need "
                    f"more than {n_train} training samples and were left out."
                )
            log(f"  {method} on {name}: {feasible} grid points ...")
            runnable_methods.append(method)

        def run_method(method, fs=fs):
            return classical.benchmark_method(
                method, fs, store, grid=grids[method], seed=seed, jobs=jobs,
                exact_grid=exact_grid, tune_samples=tune_samples, runner=runner,
            )

        if runner is None:
            start_workers_deaf_to_ctrl_c(jobs)
            outcomes = map(run_method, runnable_methods)
        else:  # every method's grid groups are on the cluster at once, not one method's
            pool = concurrent.futures.ThreadPoolExecutor(max(1, len(runnable_methods)))
            with pool:
                outcomes = list(pool.map(run_method, runnable_methods))
        for method, (result, model) in zip(runnable_methods, outcomes, strict=True):
            notes += scale_notes(result)
            results.append(result)
            confusion_matrix_png(
                result.confusion,
                store.genres,
                out_dir / f"confusion_{method}_{name}.png",
                title=f"{METHOD_TITLES[method]} on '{name}': test tracks",
            )
            if method not in best or _prefer(result, best[method][0]):
                best[method] = (result, model)
        del fs  # free this set before the next one loads: peak memory is one set
    model_paths = {
        method: str(model.save(out_dir / "models" / f"{method}.joblib"))
        for method, (_, model) in best.items()
    }
    notes += getattr(runner, "notes", [])
    tracks = store.tracks()
    checks = classical_leakage.run_checks(
        store, [], [r.to_dict() for r in results], tracks_csv=fma_metadata
    )
    return {
        "store": store.url,
        "dataset": store.dataset,
        "genres": list(store.genres),
        "tracks_per_split": {s: int((tracks["split"] == s).sum()) for s in SPLITS},
        "protocol": {
            "tuning": "each grid point fitted on train, scored on validation "
            "(accuracy at the feature set's level); first best point wins ties",
            "refit": "train",
            "test": "scored once; track level = argmax of mean segment probability",
            "seed": seed,
            "grids": {m: {k: list(v) for k, v in grids[m].items()} for m in methods},
            "exact_grid": exact_grid,
            "tune_samples": {m: classical_scale.tune_samples(m, tune_samples) for m in methods},
            "scaled_variants": classical_scale.variant_table(),
            "nested": {m: k for m, k in classical_scale.NESTED.items() if m in methods},
        },
        "feature_sets": list(feature_sets),
        "methods": list(methods),
        "results": [r.to_dict() for r in results],
        "models": model_paths,
        "notes": notes,
        "leakage_checks": [dataclasses.asdict(c) for c in sample_checks[:1] + checks],
        "feature_config": store.config.to_dict(),
    }


def start_workers_deaf_to_ctrl_c(jobs: int) -> None:
    """Start joblib's ``jobs`` worker processes (or keep the running ones) ignoring SIGINT
    (:func:`~sonicsep.errors.deaf_to_ctrl_c`); their start-up is awaited after the block.

    joblib keeps one pool per ``n_jobs``: the grid search that follows reuses these workers,
    and workers that timed out while idle are started again here, not there.
    """
    if jobs < 2:
        return
    with deaf_to_ctrl_c():
        started = joblib.Parallel(n_jobs=jobs, return_as="generator")(
            joblib.delayed(os.getpid)() for _ in range(jobs)
        )
    list(started)


def scale_notes(result: classical.MethodResult) -> list[str]:
    """What a result did differently from the study's exact protocol, one note each."""
    notes = []
    where = f"{result.method} on {result.feature_set}"
    n_train = result.n_samples["train"]
    if result.variant != classical_scale.EXACT:
        notes.append(
            f"{where}: {n_train} training samples, so the {result.variant} variant was used: "
            f"{classical_scale.VARIANTS[result.method, result.variant]} (--exact-grid forces "
            "the study's)."
        )
    if result.tuned_on.get("subsample"):
        notes.append(
            f"{where}: tuned on a stratified subsample of {result.tuned_on['tracks']} training "
            f"tracks ({result.tuned_on['samples']} of {n_train} samples); the chosen point "
            "was refitted on all of train."
        )
    return notes


def _prefer(new: classical.MethodResult, old: classical.MethodResult) -> bool:
    """Whether ``new`` should replace ``old`` as the method's saved model.

    Audio feature sets beat Echonest (``predict`` can only compute features from audio); then
    the higher validation track accuracy wins. Test scores are never used to choose.
    """

    def rank(r):
        return (r.feature_set in classical_features.AUDIO_FEATURE_SETS, r.val_track_accuracy)

    return rank(new) > rank(old)


def results_table(report: Mapping) -> str:
    """The accuracy table in Markdown: one row per method, segment and track columns per set."""
    by_key = {(r["method"], r["feature_set"]): r for r in report["results"]}
    ran = [f for f in report["feature_sets"] if any(k[1] == f for k in by_key)]
    header, columns = ["method"], []
    for f in ran:
        if by_key[next(k for k in by_key if k[1] == f)]["level"] == "segment":
            header.append(f"{f} segment")
            columns.append((f, "test_segment_accuracy"))
        header.append(f"{f} track")
        columns.append((f, "test_track_accuracy"))

    def title(method):
        of_method = [r for k, r in by_key.items() if k[0] == method]
        marks = [mark for mark, hit in (
            ("scaled variant", any(r["variant"] != classical_scale.EXACT for r in of_method)),
            ("tuned on a subsample", any(r["tuned_on"].get("subsample") for r in of_method)),
        ) if hit]
        return METHOD_TITLES[method] + (f" ({', '.join(marks)}: see notes)" if marks else "")

    rows = [
        [title(method)]
        + [metrics.percent(by_key[(method, f)][key] if (method, f) in by_key else None)
           for f, key in columns]
        for method in report["methods"]
    ]
    return metrics.markdown_table(header, rows)


def results_markdown(report: Mapping) -> str:
    """results.md: what was measured, how, the table, the chosen points and the notes."""
    split_counts = ", ".join(f"{s} {n}" for s, n in report["tracks_per_split"].items())
    lines = [
        f"# Classical genre baselines: {report['dataset']}",
        "",
        f"Store `{report['store']}`; {len(report['genres'])} genres "
        f"({', '.join(report['genres'])}); tracks per split: {split_counts}.",
        "",
        "Test accuracy (%). Each grid point was fitted on train and scored on validation; the "
        "best point's model, fitted on **train only**, was scored once on test (refitted, or, "
        "where its grid fit was already on all of train, that fit: fit s 'kept'). Track level = "
        "argmax of the mean segment probability of each track. "
        f"Seed {report['protocol']['seed']}.",
        "",
        results_table(report),
        "",
        "## Chosen hyperparameters",
        "",
        metrics.markdown_table(
            ["method", "feature set", "hyperparameters", "variant", "tuned on tracks",
             "val accuracy", "val track accuracy", "train tracks", "test tracks", "tune s",
             "fit s", "predict s"],
            [
                [METHOD_TITLES[r["method"]], r["feature_set"],
                 ", ".join(f"{k}={v}" for k, v in r["params"].items()), r["variant"],
                 r["tuned_on"]["tracks"],
                 metrics.percent(r["val_accuracy"]), metrics.percent(r["val_track_accuracy"]),
                 r["n_tracks"]["train"], r["n_tracks"]["test"], f"{r['tune_seconds']:.2f}",
                 f"{r['fit_seconds']:.2f}" if r.get("refitted", True) else "kept",
                 f"{r['predict_seconds']:.2f}"]
                for r in report["results"]
            ],
        ),
    ]
    if report["models"]:
        lines += ["", "## Saved models", ""]
        lines += [f"- {m}: `{p}`" for m, p in report["models"].items()]
    if report["leakage_checks"]:
        lines += ["", "## Leakage checks", ""] + [f"- {line}" for line in leakage_lines(report)]
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


def leakage_lines(report: Mapping) -> list[str]:
    """The leakage checks of ``report``, one line each (printed under the table)."""
    return [classical_leakage.Check(**c).line() for c in report["leakage_checks"]]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sonicsep.benchmark",
        description="Benchmark kNN, SVM, random forest, XGBoost and an MLP on a feature store.",
    )
    p.add_argument("--store", default=DEFAULT_STORE, help="feature store path or fsspec URL")
    p.add_argument(
        "--features",
        action="append",
        metavar="SET",
        help="feature set(s), repeatable or comma-separated: "
        f"{', '.join(classical_features.FEATURE_SETS)} (default: all the store supports)",
    )
    p.add_argument(
        "--methods",
        action="append",
        metavar="METHOD",
        help=f"method(s), repeatable or comma-separated: {', '.join(classical.METHODS)} "
        "(default: all)",
    )
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    p.add_argument(
        "--jobs",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="grid points fitted in parallel (default: the CPU count, at most 4)",
    )
    p.add_argument(
        "--exact-grid",
        action="store_true",
        help="the study's exact methods and full-train tuning at any size (no scaled variants, "
        "no tuning subsample; SVC and kNN can take days on fma_large)",
    )
    p.add_argument(
        "--tune-samples",
        type=int,
        metavar="N",
        help="tune every method on a stratified subsample of whole training tracks of about N "
        "samples when train has more; the chosen point is refitted on all of train; 0: never "
        "(default, per method: "
        + ", ".join(f"{m} {n}" for m, n in classical_scale.TUNE_SAMPLES.items())
        + ")",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running dask.distributed scheduler (e.g. tcp://10.0.0.5:8786): grid "
        "points, refits and methods run as tasks on its workers; --jobs is then unused",
    )
    p.add_argument(
        "--dask-xgboost-above",
        type=int,
        default=classical_dask.XGBOOST_DASK_MIN_SAMPLES,
        metavar="N",
        help="with --scheduler: XGBoost's refit on more than N training samples trains one "
        "model across the workers (xgboost.dask) instead of on one worker (default: "
        f"{classical_dask.XGBOOST_DASK_MIN_SAMPLES})",
    )
    p.add_argument(
        "--fma-metadata",
        metavar="TRACKS_CSV",
        help="FMA's tracks.csv, to verify the artist-level split (default: "
        "fma_metadata/tracks.csv beside the store's fma_<subset>/ audio folder)",
    )
    p.add_argument("--seed", type=int, default=classical.SEED,
                   help=f"seed of every model and split draw (default: {classical.SEED})")
    return p


@exits_on_interrupt(
    "the figures drawn so far are kept in --out; results.json, results.md and models/ are "
    "written by a finished run only: rerun the same command"
)
def main(argv: Sequence[str] | None = None, *, grids: Mapping[str, Mapping] | None = None) -> int:
    """Run the CLI. ``grids`` replaces the study grids (tests only; the CLI has no such flag)."""
    args = build_parser().parse_args(argv)
    if args.jobs < 1:
        print("error: --jobs must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        feature_sets = parse_choices(args.features, classical_features.FEATURE_SETS, "--features")
        methods = parse_choices(args.methods, classical.METHODS, "--methods") or list(
            classical.METHODS
        )
        store = FeatureStore.open(args.store)
        supported = classical_features.supported_feature_sets(store)
        missing = [f for f in feature_sets if f not in supported]
        if missing:
            raise ParameterError(
                f"store {args.store!r} cannot provide feature set(s) {missing}; "
                f"it supports {list(supported)}"
            )
    except SonicSepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _runner(args.scheduler, args.dask_xgboost_above) as runner:
        report = run_benchmark(
            store,
            feature_sets or list(supported),
            methods,
            out_dir,
            grids=classical.STUDY_GRIDS if grids is None else grids,
            seed=args.seed,
            jobs=args.jobs,
            exact_grid=args.exact_grid,
            tune_samples=args.tune_samples,
            runner=runner,
            fma_metadata=args.fma_metadata,
            log=lambda msg: print(msg, file=sys.stderr),
        )
    (out_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "results.md").write_text(results_markdown(report))
    print(results_table(report) if report["results"] else "nothing could be benchmarked")
    for line in leakage_lines(report):
        print(line)
    for note in report["notes"]:
        print(f"note: {note}")
    print(f"results written to {out_dir}/")
    return EXIT_OK if report["results"] else EXIT_NOTHING


@contextlib.contextmanager
def _runner(scheduler: str | None, xgboost_dask_above: int) -> Iterator:
    """None (joblib here) or a :class:`~sonicsep.classical_dask.DaskRunner` of ``scheduler``."""
    if not scheduler:
        yield None
        return
    from dask.distributed import Client

    with Client(scheduler) as client:
        yield classical_dask.DaskRunner(client, xgboost_dask_above=xgboost_dask_above)


if __name__ == "__main__":
    sys.exit(main())
