# Shared by the reproduction scripts (sourced, not run): usage text, the interpreter, the step
# runner, and the options every script derives from the environment.

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PYTHON=$REPO/.venv/bin/python; else PYTHON=python; fi
fi
PY=$PYTHON
WORKERS=${WORKERS:-4}

# Run one step; exit status 3 means "some items failed, the rest was saved" (real datasets hold
# clips that do not decode), so the reproduction goes on. Anything else non-zero stops it.
step() {
    local title=$1 status=0 start=$SECONDS
    shift
    echo "== $title" >&2
    "$@" || status=$?
    echo "   ($title: $((SECONDS - start)) s)" >&2
    if [ "$status" -eq 3 ]; then
        echo "   ($title: some items failed, see above; going on)" >&2
    elif [ "$status" -ne 0 ]; then
        echo "error: $title failed (exit status $status): $*" >&2
        exit "$status"
    fi
}

FEATURIZE_OPTS=()
if [ -n "${FEATURE_CONFIG:-}" ]; then FEATURIZE_OPTS+=(--config "$FEATURE_CONFIG"); fi
EPOCH_OPTS=()
if [ -n "${EPOCHS:-}" ]; then EPOCH_OPTS+=(--epochs "$EPOCHS"); fi
TRAIN_OPTS=(${EPOCH_OPTS[@]+"${EPOCH_OPTS[@]}"})
if [ -n "${TRAIN_CONFIG:-}" ]; then TRAIN_OPTS+=(--config "$TRAIN_CONFIG"); fi
read -r -a BENCHMARK_OPTS <<< "${BENCHMARK_ARGS:-}"

# Train each MODEL:FEATURE pair of $MODELS on the store $1 into $OUT/<model>_<feature>, and add
# each workdir to RUNS (the report's runs).
train_models() {
    local store=$1 run model feature
    for run in $MODELS; do
        model=${run%%:*} feature=${run##*:}
        step "$model on $feature" "$PY" -m sonicsep.train --store "$store" --model "$model" \
            --feature "$feature" --workdir "$OUT/${model}_$feature" \
            ${TRAIN_OPTS[@]+"${TRAIN_OPTS[@]}"}
        RUNS+=("$OUT/${model}_$feature")
    done
}
