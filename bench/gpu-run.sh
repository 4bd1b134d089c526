#!/usr/bin/env bash
# The benchmark half of a GPU run, on a machine without Java or Maven (the benchmark half of tools/gpu/run-on-gpu.sh, for a lent GPU machine):
#   here:  bench/gpu-run.sh --pack          -> bench/target/gpu/bundle.tar.gz (jlink runtime + benchmarks.jar, ~30 MB)
#   there: bench/gpu-run.sh                 -> $OUT/h200/{semihard-cuda,torch-cuda}.{json,md}, logs, a short JMH sample
# One lease, one machine: `semihard bench --backend cuda` and bench_torch.py run back to back, so
# compare.py's ratios compare like with like. Copy $OUT/h200/*.json to bench/results/h200/ and run
# bench/python/make_results.py. Time limits (s): JAVA_TIMEOUT (300), TORCH_TIMEOUT (150), JMH_TIMEOUT (90).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
G="$ROOT/bench/target/gpu"
if [ "${1:-}" = "--pack" ]; then
    set -e
    (cd "$ROOT" && mvn -B -q -pl bench -am package -DskipTests)
    mkdir -p "$G" && rm -rf "$G/runtime" && cp "$ROOT/bench/target/benchmarks.jar" "$G/"
    # jdeps also names java.desktop (unused on this path): leaving it out saves 30 MB
    jlink --add-modules java.base,java.logging,java.management,jdk.unsupported --strip-debug --no-header-files \
          --no-man-pages --compress=0 --output "$G/runtime"
    strip --strip-unneeded "$G/runtime/lib/server/libjvm.so" 2>/dev/null || true
    (cd "$ROOT" && git rev-parse --short=12 HEAD) > "$G/COMMIT"
    tar -C "$G" -czf "$G/bundle.tar.gz" runtime benchmarks.jar COMMIT
    rm -rf "$G/runtime"
    ls -la "$G/bundle.tar.gz"
    exit 0
fi
OUT="${OUT:-$ROOT/gpu-out}/h200"
mkdir -p "$OUT"
WORK="$(mktemp -d)"
tar -xzf "$G/bundle.tar.gz" -C "$WORK"
export SEMIHARD_COMMIT="$(cat "$WORK/COMMIT" 2>/dev/null || echo unknown)"
JAVA="$WORK/runtime/bin/java"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"

echo "=== semihard bench --backend cuda (W1, W2, W3; full sizes)"
timeout "${JAVA_TIMEOUT:-300}" "$JAVA" -Xmx16g -cp "$WORK/benchmarks.jar" dev.semihard.bench.BenchCommand \
    --backend cuda --workloads "${WORKLOADS:-W1,W2,W3}" --out "$OUT" > "$OUT/semihard.log" 2>&1
echo "exit $?"; grep -v "INFO\|Backends create" "$OUT/semihard.log" | grep -v "^|" | tail -45

echo "=== PyTorch, the same workloads"
PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-150}" python3 "$ROOT/bench/python/bench_torch.py" --device cuda \
    --workloads "${WORKLOADS:-W1,W2,W3}" --out "$OUT" > "$OUT/torch.log" 2>&1
echo "exit $?"

if [ "${JMH:-1}" = 1 ]; then
    echo "=== JMH sample (full W3 layers 1 and 3, W1 B = 1800 and 16384)"
    timeout "${JMH_TIMEOUT:-90}" "$JAVA" -cp "$WORK/benchmarks.jar" dev.semihard.bench.jmh.KernelBenchMain \
        -wi 2 -i 3 -w 300ms -r 500ms -f 1 'ConvBench|TripletBench' -p backend=cuda \
        -p shape=1024x32x14x14x64,256x32x48x48x32 -p pk=45x40,512x32 -p strategy=semihard,batch-hard \
        > "$OUT/jmh.log" 2>&1
    echo "exit $?"; grep -A20 "^kernel " "$OUT/jmh.log"
fi
python3 "$ROOT/bench/python/compare.py" "$OUT"/semihard-cuda.json "$OUT"/torch-cuda.json
rm -rf "$WORK"
