#!/usr/bin/env bash
# Runs on the GPU machine (no Java, no Maven, no network needed), from the repository root:
#   tools/gpu/run-on-gpu.sh [dist/semihard-gpu.tar.gz]
# 1. unpacks the bundle made by tools/gpu/make-bundle.sh into a temporary folder;
# 2. CUDA conformance against the reference backend + a full-size loss check + W1/W3 timings
#    (bin/cuda-selftest; W1 semihard and batch-hard once per triplet backward version, sym / split / dense,
#    with the largest gradient difference between versions); a mismatch fails the script loudly (exit 1);
#    on failure it runs the checks again with the fallback code paths (FALLBACK_ON_FAIL=0 skips that);
# 3. `semihard bench` (W1, W2, W3; SEMIHARD_BENCH=0 skips it) and PyTorch's same workloads from bench/python/bench_torch.py
#    when python3 with torch and CUDA is there (TORCH_BENCH=0 skips it); then W2 and W3 of both again in TF32
#    (TF32_BENCH=0 skips those), appended to the same two logs;
# 4. one short profiled pass (PROFILE=0 skips it): `semihard bench --profile` of W1 semihard and batch-hard at
#    B = 256, 1800 and 16384 and W2 (both models), PROFILE_ITERATIONS (5) iterations each: per-kernel launches, device ms
#    and share of the iteration, into the log and $OUT/profile.md (the tables, then the JSON);
# 5. prints a short table last (with the top 5 kernels of each profiled case). Full logs go to $OUT (or ./gpu-out):
#    6 files, as the device tool returns at most 8: selftest.log (nvidia-smi first), [selftest-fallback.log],
#    semihard-bench.log and torch.log (each ending with its table), semihard-bench/semihard-cuda.json,
#    torch/torch-cuda.json, profile.md.
# Time limits per part (seconds): SELFTEST_TIMEOUT (150), TORCH_TIMEOUT (130, each of the two runs), BENCH_TIMEOUT (170),
# TF32_TIMEOUT (120), PROFILE_TIMEOUT (90).
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
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 | tee "$WORK/gpu.txt"

status=0
echo "=== CUDA self-test (conformance, full-size loss checks, W1/W3 timings)"
cp "$WORK/gpu.txt" "$OUT/selftest.log"
timeout "${SELFTEST_TIMEOUT:-150}" "$B/bin/cuda-selftest" ${SELFTEST_ARGS:-} 2>&1 | tee -a "$OUT/selftest.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
    echo "*** CUDA SELF-TEST FAILED (exit $rc): see $OUT/selftest.log" >&2; status=1
    if [ "${FALLBACK_ON_FAIL:-1}" = 1 ]; then
        # the same checks on the older code paths (plain 64x64 / 128x128 GEMM tiles, channel-major convolutions,
        # full distance matrix, stored D, GEMM triplet backward, one JCuda Pointer per kernel argument): tells
        # whether one of the newer paths is the culprit
        echo "=== CUDA self-test again with the fallback paths"
        JAVA_OPTS="${JAVA_OPTS:-} -Dsemihard.cuda.pipelinedGemm=false -Dsemihard.cuda.thinTiles=false -Dsemihard.cuda.convTaps=false -Dsemihard.cuda.symmetricDistances=false -Dsemihard.cuda.fusedHardMining=false -Dsemihard.cuda.tripletBackward=dense -Dsemihard.cuda.packedArgs=false -Dsemihard.cuda.distanceTensorCores=false" \
            timeout "${SELFTEST_TIMEOUT:-150}" "$B/bin/cuda-selftest" --no-bench 2>&1 | tee "$OUT/selftest-fallback.log" \
            | grep -E '^(FAIL|PASS|conformance|SELFTEST)'
    fi
fi

if [ "${SEMIHARD_BENCH:-1}" = 1 ] && [ -x "$B/bin/semihard" ]; then
    echo "=== semihard bench --backend cuda"
    timeout "${BENCH_TIMEOUT:-170}" "$B/bin/semihard" bench --backend cuda --out "$OUT/semihard-bench" 2>&1 | tee "$OUT/semihard-bench.log"
    rm -f "$OUT/semihard-bench/semihard-cuda.md"     # its table is at the end of semihard-bench.log; keeps $OUT to 8 files
fi

if [ "${SEMIHARD_BENCH:-1}" = 1 ] && [ "${TF32_BENCH:-1}" = 1 ] && [ -x "$B/bin/semihard" ]; then
    # W2 and W3 once more on TF32 tensor cores (issue 6 compares W2 with PyTorch in the same precision);
    # appended to semihard-bench.log, the files stay in $WORK (the device tool returns at most 8)
    echo "=== semihard bench --backend cuda --precision tf32 (W2, W3)" | tee -a "$OUT/semihard-bench.log"
    timeout "${TF32_TIMEOUT:-120}" "$B/bin/semihard" bench --backend cuda --precision tf32 --workloads W2,W3 \
        --out "$WORK/semihard-bench-tf32" 2>&1 | tee -a "$OUT/semihard-bench.log"
fi

if [ "${TORCH_BENCH:-1}" = 1 ] && [ -f "$ROOT/bench/python/bench_torch.py" ] \
        && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "=== PyTorch, same workloads (${TORCH_WORKLOADS:-W1,W2,W3})"
    PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-130}" python3 "$ROOT/bench/python/bench_torch.py" --device cuda \
        --workloads "${TORCH_WORKLOADS:-W1,W2,W3}" --out "$OUT/torch" 2>&1 | tee "$OUT/torch.log"
    [ -f "$OUT/torch/torch-cuda.md" ] && mv "$OUT/torch/torch-cuda.md" "$WORK/"    # its table ends torch.log
    if [ "${TF32_BENCH:-1}" = 1 ]; then
        echo "=== PyTorch, W2 and W3 with TF32 allowed (cuDNN and cuBLAS on tensor cores)" | tee -a "$OUT/torch.log"
        PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-130}" python3 "$ROOT/bench/python/bench_torch.py" --device cuda \
            --precision tf32 --workloads W2,W3 --out "$WORK/torch-tf32" 2>&1 | tee -a "$OUT/torch.log"
    fi
fi

if [ "${PROFILE:-1}" = 1 ] && [ -x "$B/bin/semihard" ]; then
    # one short pass: the cases that missed their targets, each timed once more and then profiled on a
    # second backend with per-kernel event timing (so the timings above stay unperturbed)
    echo "=== kernel profile: semihard bench --backend cuda --profile (W1 semihard/batch-hard at B = 256, 1800, 16384; W2)"
    timeout "${PROFILE_TIMEOUT:-90}" "$B/bin/semihard" bench --backend cuda --workloads W1,W2 --w1-batches 256,1800,16384 \
        --w1-strategies semihard,batch-hard --profile-iterations "${PROFILE_ITERATIONS:-5}" --out "$WORK/profile" 2>&1 \
        | tee "$WORK/profile.log"
    { echo "# kernel profile, $(head -2 "$WORK/gpu.txt" | tail -1), bundle $(cat "$B/COMMIT" 2>/dev/null)"; echo
      echo '```'; cat "$WORK/profile.log"; echo '```'; echo
      [ -f "$WORK/profile/semihard-cuda.md" ] && cat "$WORK/profile/semihard-cuda.md"
      [ -f "$WORK/profile/semihard-cuda.json" ] && { echo '```json'; cat "$WORK/profile/semihard-cuda.json"; echo '```'; }
    } > "$OUT/profile.md"
fi

echo
echo "=== summary ($(head -2 "$WORK/gpu.txt" | tail -1))"
grep -E '^\| (what|---|conformance|tf32 checks|calibrate|W1 |W3 |error)' "$OUT/selftest.log" | grep -v '^| W1 check' || true
grep -E '^(PASS|FAIL) ' "$OUT/selftest.log" || true
[ -f "$OUT/semihard-bench/semihard-cuda.json" ] && { echo "--- semihard bench (fp32)"; sed '/--precision tf32/q' "$OUT/semihard-bench.log" | grep -E '^\| (W1|W2|W3)/'; }
[ -f "$WORK/torch-cuda.md" ] && { echo "--- PyTorch"; grep -E '^\|' "$WORK/torch-cuda.md" | head -40; }
for f in "$WORK/semihard-bench-tf32/semihard-cuda-tf32.md" "$WORK/torch-tf32/torch-cuda.md"; do
    [ -f "$f" ] && { echo "--- TF32: $(basename "$f")"; grep -E '^\| (W2|W3)/' "$f"; }
done
if [ -f "$WORK/profile.log" ]; then
    # each profiled case: its title, the 5 largest kernels, all kernels, outside kernels
    echo "--- kernel profile (top 5 per case; all of it in profile.md)"
    awk '/^kernel profile /{print; n=0; inp=1; rows=0; next}
         inp && /^\| (kernel|---) /{next}
         inp && /^\| /{ rows=1; if ($0 ~ /all kernels|outside kernels/) print; else if (n++ < 5) print; next }
         inp && rows && /^$/ {inp=0}' "$WORK/profile.log"
fi
echo "$( [ $status = 0 ] && echo 'GPU RUN PASSED' || echo 'GPU RUN FAILED: CUDA results do not match the reference' )"
rm -rf "$WORK"
exit $status
