#!/usr/bin/env bash
# Runs on the GPU machine (no Java, no Maven, no network needed), from the repository root:
#   tools/gpu/run-on-gpu.sh [dist/semihard-gpu.tar.gz]
# 1. unpacks the bundle made by tools/gpu/make-bundle.sh into a temporary folder;
# 2. CUDA conformance against the reference backend + a full-size loss check + W1/W3 timings
#    (bin/cuda-selftest); a mismatch fails the script loudly (exit 1);
#    on failure it runs the checks again with the fallback code paths (FALLBACK_ON_FAIL=0 skips that);
# 3. `semihard bench` (W1, W2, W3; SEMIHARD_BENCH=0 skips it) and PyTorch's same workloads from bench/python/bench_torch.py
#    when python3 with torch and CUDA is there (TORCH_BENCH=0 skips it);
# 4. prints a short table last. Full logs go to $OUT (or ./gpu-out).
# Time limits per part (seconds): SELFTEST_TIMEOUT (150), TORCH_TIMEOUT (130), BENCH_TIMEOUT (170).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TARBALL="${1:-$ROOT/dist/semihard-gpu.tar.gz}"
OUT="${OUT:-$ROOT/gpu-out}"
mkdir -p "$OUT"
[ -f "$TARBALL" ] || { echo "run-on-gpu: no bundle at $TARBALL; run tools/gpu/make-bundle.sh first" >&2; exit 2; }
WORK="$(mktemp -d)"
tar -xzf "$TARBALL" -C "$WORK"
B="$WORK/semihard-gpu"
echo "bundle $(cat "$B/COMMIT" 2>/dev/null) unpacked in $WORK"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 | tee "$OUT/gpu.txt"

status=0
echo "=== CUDA self-test (conformance, full-size loss checks, W1/W3 timings)"
timeout "${SELFTEST_TIMEOUT:-150}" "$B/bin/cuda-selftest" ${SELFTEST_ARGS:-} 2>&1 | tee "$OUT/selftest.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
    echo "*** CUDA SELF-TEST FAILED (exit $rc): see $OUT/selftest.log" >&2; status=1
    if [ "${FALLBACK_ON_FAIL:-1}" = 1 ]; then
        # the same checks on the older code paths (plain GEMM tiles, full distance matrix, GEMM triplet
        # backward): tells whether one of the newer paths is the culprit
        echo "=== CUDA self-test again with the fallback paths"
        JAVA_OPTS="${JAVA_OPTS:-} -Dsemihard.cuda.pipelinedGemm=false -Dsemihard.cuda.symmetricDistances=false -Dsemihard.cuda.denseTripletBackward=true" \
            timeout "${SELFTEST_TIMEOUT:-150}" "$B/bin/cuda-selftest" --no-bench 2>&1 | tee "$OUT/selftest-fallback.log" \
            | grep -E '^(FAIL|PASS|conformance|SELFTEST)'
    fi
fi

if [ "${SEMIHARD_BENCH:-1}" = 1 ] && [ -x "$B/bin/semihard" ]; then
    echo "=== semihard bench --backend cuda"
    timeout "${BENCH_TIMEOUT:-170}" "$B/bin/semihard" bench --backend cuda --out "$OUT/semihard-bench" 2>&1 | tee "$OUT/semihard-bench.log"
fi

if [ "${TORCH_BENCH:-1}" = 1 ] && [ -f "$ROOT/bench/python/bench_torch.py" ] \
        && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "=== PyTorch, same workloads (${TORCH_WORKLOADS:-W1,W2,W3})"
    PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-130}" python3 "$ROOT/bench/python/bench_torch.py" --device cuda \
        --workloads "${TORCH_WORKLOADS:-W1,W2,W3}" --out "$OUT/torch" 2>&1 | tee "$OUT/torch.log"
fi

echo
echo "=== summary ($(head -2 "$OUT/gpu.txt" | tail -1))"
grep -E '^\| (what|---|conformance|W1 |W3 |error)' "$OUT/selftest.log" | grep -v '^| W1 check' || true
grep -E '^(PASS|FAIL) ' "$OUT/selftest.log" || true
[ -f "$OUT/torch/torch-cuda.md" ] && { echo "--- PyTorch"; grep -E '^\|' "$OUT/torch/torch-cuda.md" | head -40; }
echo "$( [ $status = 0 ] && echo 'GPU RUN PASSED' || echo 'GPU RUN FAILED: CUDA results do not match the reference' )"
rm -rf "$WORK"
exit $status
