#!/usr/bin/env bash
# Reproduce the FMA study end to end: featurize a subset, the classical baselines on summaries,
# MFCC, mel statistics and Echonest features, the deep MLP, the CNN on mel and on MFCC, the
# fusion model (CNN on mel + Echonest), and the HTML report. The CNN on mel is the FMA model
# that scripts/reproduce_gtzan.sh transfers to GTZAN. Prints the results table at the end.
#
# usage: scripts/reproduce_fma.sh FMA_DIR [small|medium|large]
#
#   FMA_DIR   the folder holding fma_metadata/ (tracks.csv, echonest.csv) and fma_<subset>/
#   subset    default small
#
# Environment (all optional):
#   OUT             output folder (default fma-<subset>-results)
#   PYTHON          interpreter (default: the repository's .venv/bin/python if present, else python)
#   WORKERS         featurize workers and benchmark jobs (default 4)
#   FEATURE_CONFIG  FeatureConfig JSON file for featurize (default: the built-in config; use the
#                   same one for GTZAN to transfer the FMA model there)
#   EPOCHS          maximum epochs of every deep model (default: the presets)
#   MODELS          deep models to train, as MODEL:FEATURE pairs
#                   (default "mlp:summary cnn:mel cnn:mfcc fusion:mel")
#   TRAIN_CONFIG    TrainConfig JSON overrides for the deep models (e.g. a tiny model)
#   BENCHMARK_ARGS  extra sonicsep.benchmark arguments (e.g. "--methods knn,svm")
#
# A rerun resumes: featurize skips finished tracks and training continues from its last epoch.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 1 ] && [ $# -le 2 ] || usage
FMA_DIR=$1
SUBSET=${2:-small}
case $SUBSET in small | medium | large) ;; *) echo "error: unknown subset '$SUBSET'" >&2; usage ;; esac
OUT=${OUT:-fma-$SUBSET-results}
STORE=$OUT/fma_$SUBSET.zarr

mkdir -p "$OUT"
step "featurize $FMA_DIR ($SUBSET)" "$PY" -m sonicsep.featurize --dataset fma --root "$FMA_DIR" \
    --subset "$SUBSET" --out "$STORE" --workers "$WORKERS" \
    ${FEATURIZE_OPTS[@]+"${FEATURIZE_OPTS[@]}"}
step "classical baselines" "$PY" -m sonicsep.benchmark --store "$STORE" --out "$OUT/classical" \
    --jobs "$WORKERS" ${BENCHMARK_OPTS[@]+"${BENCHMARK_OPTS[@]}"}
RUNS=("$OUT/classical")
MODELS=${MODELS:-mlp:summary cnn:mel cnn:mfcc fusion:mel}
train_models "$STORE"
if [[ " $MODELS " == *" cnn:mel "* ]]; then
    echo "FMA model for transfer: scripts/reproduce_gtzan.sh GTZAN_DIR $OUT/cnn_mel"
fi
step "report" "$PY" -m sonicsep.report --store "$STORE" --runs "${RUNS[@]}" --out "$OUT/report"
