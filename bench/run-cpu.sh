#!/usr/bin/env bash
# One CPU comparison run on this machine, then bench/RESULTS.md regenerated:
#   semihard bench on the cpu backend, OpenCL (when it is available here) and the reference backend
#   against the same workloads in PyTorch on the CPU with the same number of threads.
# Quick sizes by default (W1 up to B = 1024, W2 B = 128 / 16, W3 N = 8) so it finishes in minutes on 2 cores.
#
#   bench/run-cpu.sh                      # all of W1, W2, W3 into bench/results/cpu
#   THREADS=4 WORKLOADS=W1,W3 OUT=/tmp/r bench/run-cpu.sh
#   NICE=-19 bench/run-cpu.sh             # as root on a shared machine: measure at a high CPU priority
#   QUICK= ARGS="--w1-batches 1800 --w1-strategies semihard --w3-batch 32" BACKENDS="cpu opencl" \
#     OUT=bench/results/cpu-backend bench/run-cpu.sh     # full W2 sizes, W1 at B = 1800 (bench/results/cpu-backend)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
WORKLOADS=${WORKLOADS:-W1,W2,W3}
OUT=${OUT:-bench/results/cpu}
BACKENDS=${BACKENDS:-cpu opencl reference}
QUICK=${QUICK---quick}      # empty: the workloads' own sizes
ARGS=${ARGS:-}              # more options for both sides: --w1-batches, --w1-strategies, --w2-models, --w3-batch
RUN=()
[ -n "${NICE:-}" ] && RUN=(nice -n "$NICE")

JAR=bench/target/benchmarks.jar
if [ ! -f "$JAR" ] || [ -n "${REBUILD:-}" ]; then
  mvn -B -q -pl bench -am package -DskipTests
fi
# a private copy: other builds in this tree may rewrite target/ while we measure
TMPJAR=$(mktemp --suffix=.jar); cp "$JAR" "$TMPJAR"; trap 'rm -f "$TMPJAR"' EXIT

PY=python3
$PY -c "import torch" 2>/dev/null || PY=/usr/bin/python3
$PY -c "import torch" || { echo "run-cpu: no python3 with torch (apt-get install python3-torch)"; exit 1; }

mkdir -p "$OUT"
rm -f "$OUT"/semihard-*.json "$OUT"/semihard-*.md "$OUT"/torch-cpu.json "$OUT"/torch-cpu.md
export POCL_CACHE_DIR=${POCL_CACHE_DIR:-$PWD/bench/target/pocl-cache}
# PoCL's CPU device uses every core unless told: the same thread count on every side
export POCL_MAX_PTHREAD_COUNT=$THREADS
for b in $BACKENDS; do
  rc=0
  # shellcheck disable=SC2086
  "${RUN[@]}" java --add-modules jdk.incubator.vector -Xmx12g -cp "$TMPJAR" dev.semihard.bench.BenchCommand --backend "$b" \
       --workloads "$WORKLOADS" $QUICK $ARGS --threads "$THREADS" --out "$OUT" || rc=$?
  [ $rc -eq 2 ] && echo "run-cpu: backend $b is unavailable here, skipped"
  [ $rc -eq 1 ] && echo "run-cpu: backend $b had errors (see above)"
done
# shellcheck disable=SC2086
"${RUN[@]}" $PY bench/python/bench_torch.py --device cpu --threads "$THREADS" $QUICK $ARGS --workloads "$WORKLOADS" --out "$OUT"
python3 bench/python/compare.py "$OUT"
python3 bench/python/make_results.py
