#!/usr/bin/env bash
# Reproduce the GTZAN study end to end: featurize, the classical baselines (kNN, SVM, random
# forest, XGBoost, MLP), the deep MLP on summaries and the CNN on mel and on MFCC, optionally
# transfer from a CNN trained on FMA, and the HTML report. Prints the results table at the end.
#
# usage: scripts/reproduce_gtzan.sh GTZAN_DIR [FMA_WORKDIR]
#
#   GTZAN_DIR     the folder holding genres/ (or genres_original/, Data/genres_original/)
#   FMA_WORKDIR   optional (or $FMA_PRETRAINED): a CNN workdir trained on FMA, e.g. the one
#                 scripts/reproduce_fma.sh prints; its backbone is fine-tuned on GTZAN. Both
#                 stores must be featurized with the same FEATURE_CONFIG.
#
# Environment (all optional):
#   OUT             output folder (default gtzan-results)
#   PYTHON          interpreter (default: the repository's .venv/bin/python if present, else python)
#   WORKERS         featurize workers and benchmark jobs (default 4)
#   SPLIT           GTZAN split: filtered (default; the fault-filtered split of Kereliuk, Sturm &
#                   Larsen 2015, which leaves out 70 faulty clips), stratified, or random (leaks
#                   artists and repeated clips across splits, inflating accuracy)
#   FEATURE_CONFIG  FeatureConfig JSON file for featurize (default: the built-in config)
#   EPOCHS          maximum epochs of every deep model (default: the presets)
#   MODELS          deep models to train, as MODEL:FEATURE pairs
#                   (default "mlp:summary cnn:mel cnn:mfcc")
#   TRAIN_CONFIG    TrainConfig JSON overrides for the MLP and the CNNs (e.g. a tiny model)
#   TRANSFER_CONFIG TrainConfig JSON overrides for transfer
#   TRANSFER_MODES  transfer modes to run (default "head full")
#   BENCHMARK_ARGS  extra sonicsep.benchmark arguments (e.g. "--methods knn,svm")
#
# A rerun resumes: featurize skips finished tracks and training continues from its last epoch.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 1 ] && [ $# -le 2 ] || usage
GTZAN_DIR=$1
FMA_PRETRAINED=${2:-${FMA_PRETRAINED:-}}
OUT=${OUT:-gtzan-results}
SPLIT=${SPLIT:-filtered}
TRANSFER_MODES=${TRANSFER_MODES:-head full}
STORE=$OUT/gtzan.zarr

TRANSFER_OPTS=(${EPOCH_OPTS[@]+"${EPOCH_OPTS[@]}"})
if [ -n "${TRANSFER_CONFIG:-}" ]; then TRANSFER_OPTS+=(--config "$TRANSFER_CONFIG"); fi

mkdir -p "$OUT"
step "featurize $GTZAN_DIR" "$PY" -m sonicsep.featurize --dataset gtzan --root "$GTZAN_DIR" \
    --split "$SPLIT" --out "$STORE" --workers "$WORKERS" \
    ${FEATURIZE_OPTS[@]+"${FEATURIZE_OPTS[@]}"}
step "classical baselines" "$PY" -m sonicsep.benchmark --store "$STORE" --out "$OUT/classical" \
    --jobs "$WORKERS" ${BENCHMARK_OPTS[@]+"${BENCHMARK_OPTS[@]}"}
RUNS=("$OUT/classical")
MODELS=${MODELS:-mlp:summary cnn:mel cnn:mfcc}
train_models "$STORE"
if [ -n "$FMA_PRETRAINED" ]; then
    for mode in $TRANSFER_MODES; do
        step "transfer FMA -> GTZAN ($mode)" "$PY" -m sonicsep.transfer \
            --pretrained "$FMA_PRETRAINED" --mode "$mode" --store "$STORE" \
            --workdir "$OUT/transfer_fma_$mode" ${TRANSFER_OPTS[@]+"${TRANSFER_OPTS[@]}"}
        RUNS+=("$OUT/transfer_fma_$mode")
    done
else
    echo "== no FMA model given: transfer FMA -> GTZAN skipped (see usage)" >&2
fi
step "report" "$PY" -m sonicsep.report --store "$STORE" --runs "${RUNS[@]}" --out "$OUT/report"
