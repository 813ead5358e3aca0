#!/usr/bin/env bash
# Every performance benchmark of benchmarks/BENCHMARKS.md in one bounded run, results as JSON + Markdown.
#
#   bash benchmarks/run_gpu.sh OUT_DIR            # on the lent GPU machine (one H200 / H100), under 6 minutes
#   bash benchmarks/run_gpu.sh --tiny OUT_DIR     # on CPU at tiny sizes, installs nothing (what the test runs)
#   bash benchmarks/run_gpu.sh --zero OUT_DIR     # also checks that DeepSpeed imports (for a ZeRO run)
#
# On the GPU machine it first installs the carried wheel bundle offline (benchmarks/fetch_gpu_wheels.sh
# builds it here; carry benchmarks/.gpu_bundle). Each benchmark runs under its own `timeout`, writes
# OUT_DIR/<name>.json (partial results survive a timeout) and OUT_DIR/<name>.log; a failing or timed-out
# benchmark is recorded as such and the others still run. OUT_DIR/results.json and OUT_DIR/results.md
# collect every ratio against its goal. Python: $PYTHON, else `python`.
set -uo pipefail
cd "$(dirname "$0")/.."

TINY=0
ZERO=0
OUT=""
for arg in "$@"; do
    case "$arg" in
        --tiny) TINY=1 ;;
        --zero) ZERO=1 ;;
        -h|--help) sed -n 2,12p "$0"; exit 0 ;;
        -*) echo "unknown option $arg" >&2; exit 2 ;;
        *) OUT="$arg" ;;
    esac
done
[ -n "$OUT" ] || { echo "usage: bash benchmarks/run_gpu.sh [--tiny] [--zero] OUT_DIR" >&2; exit 2; }
mkdir -p "$OUT"
PY=${PYTHON:-python}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)

if [ "$TINY" = 0 ]; then
    INSTALL=(bash benchmarks/install_gpu_wheels.sh)
    [ "$ZERO" = 1 ] && INSTALL+=(--zero)
    PYTHON="$PY" timeout 120 "${INSTALL[@]}" 2>&1 | tee "$OUT/install.log" || { echo "install failed: see $OUT/install.log" >&2; exit 1; }
fi

# name | timeout on GPU (s) | GPU arguments | CPU tiny arguments. GPU timeouts sum to 330 s: with the install,
# the run stays under 6 minutes on one H200. Each CPU tiny setting runs in well under 2 minutes unloaded.
BENCHMARKS=(
    "superedit|70|--device cuda --model-size sd15 --resolution 512 --batch-size 8 --steps 12 --warmup 3 --compile-warmup 3|--tiny"
    "sft|95|--size 2b --image-size 512 --batch-size 8 --steps 12 --warmup 3 --workers 4 --device cuda --recipe-liger|--tiny"
    "dpo|105|--size 2b --image-size 512 --batch-size 8 --pairs 64 --epochs 2 --workers 4 --device cuda|--tiny"
    "synthesis|60|--model random-2b --device cuda --dtype bfloat16 --num-pairs 128 --image-size 512 --batch-size 64 --new-tokens 48 --static-cache --repeats 1 --one-at-a-time-pairs 4 --http-concurrency|--tiny"
)
TINY_TIMEOUT=300   # a bound for a loaded CI machine; unloaded, each tiny setting takes well under 2 minutes

STATUS=()
for entry in "${BENCHMARKS[@]}"; do
    IFS='|' read -r name limit gpu_args tiny_args <<<"$entry"
    if [ "$TINY" = 1 ]; then
        limit=$TINY_TIMEOUT
        args="$tiny_args"
    else
        args="$gpu_args"
    fi
    rm -f "$OUT/$name.json"
    echo "== $name (timeout ${limit}s): benchmarks/bench_$name.py $args --output $OUT/$name.json"
    # shellcheck disable=SC2086  (args is a list of flags)
    timeout --kill-after=10 "$limit" "$PY" "benchmarks/bench_$name.py" $args --output "$OUT/$name.json" >"$OUT/$name.log" 2>&1
    rc=$?
    grep -E "^RATIOS" "$OUT/$name.log" || tail -n 5 "$OUT/$name.log"
    case $rc in
        0) STATUS+=("$name=ok") ;;
        124|137) STATUS+=("$name=timed out after ${limit}s") ;;
        *) STATUS+=("$name=failed (exit $rc)") ;;
    esac
done

"$PY" benchmarks/summarize_runs.py "$OUT" --elapsed $(( $(date +%s) - START )) --mode "$([ "$TINY" = 1 ] && echo tiny-cpu || echo gpu)" \
    "${STATUS[@]}"
