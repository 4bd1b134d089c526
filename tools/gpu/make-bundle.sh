#!/usr/bin/env bash
# Builds, on this machine, a self-contained bundle for a GPU machine that has no Java and no Maven:
#   dist/semihard-gpu.tar.gz      one folder semihard-gpu/ with runtime/ (jlink image), lib/*.jar,
#                                 lib/native/libJCudaDriver*.so, bin/cuda-selftest, bin/semihard (when
#                                 the trainer builds) and bin/run; must stay well under 40 MB. Only the
#                                 archive is left in dist/ (the device tool carries at most 64 MiB).
# Usage: tools/gpu/make-bundle.sh            (uses mvn -o when the dependencies are already downloaded)
# The launchers use their own directory, and JCuda's native library is loaded from lib/native via
# -Djava.library.path, so nothing is extracted to /tmp. See tools/gpu/run-on-gpu.sh for the GPU side.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIST="$ROOT/dist"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
B="$STAGE/semihard-gpu"
JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"
MVN="mvn -B -q ${MVN_OFFLINE:--o}"
cd "$ROOT"

echo "[bundle] building jars"
rm -rf "$DIST/semihard-gpu" "$DIST/semihard-gpu.tar.gz"
mkdir -p "$DIST"
mkdir -p "$B/lib/native" "$B/bin"
trainer=0
if $MVN -pl trainer -am package -Dmaven.test.skip=true >/tmp/semihard-bundle-mvn.log 2>&1 && [ -d trainer/target/lib ]; then
    trainer=1     # the trainer's pom copies every runtime dependency (our modules too) to target/lib
    cp trainer/target/lib/*.jar "$B/lib/"
    cp trainer/target/semihard-trainer-*.jar "$B/lib/"
else
    echo "[bundle] WARNING: the trainer module does not build right now (see /tmp/semihard-bundle-mvn.log);" \
         "bundling the kernels module and CudaSelfTest only"
    $MVN -pl kernels -am package dependency:copy-dependencies -Dmaven.test.skip=true -DincludeScope=runtime \
         -DoutputDirectory="$B/lib"
    cp engine/target/semihard-engine-*.jar kernels/target/semihard-kernels-*.jar "$B/lib/"
fi
rm -f "$B"/lib/*-sources.jar "$B"/lib/*-tests.jar "$B"/lib/*-javadoc.jar
# JCuda: only the driver binding, as a plain file on java.library.path (the natives jar also holds
# NVRTC / runtime / PTX-compiler bindings we never load: 24 MB we do not carry)
nat="$(ls "$B"/lib/jcuda-natives-*-linux-x86_64.jar)"
(cd "$B/lib/native" && unzip -q -j -o "$nat" 'lib/libJCudaDriver-*-linux-x86_64.so')
rm -f "$B"/lib/jcuda-natives-*.jar
# LWJGL natives for other platforms are never needed on linux-x86_64
rm -f "$B"/lib/lwjgl-*-natives-{windows,macos,linux-arm}*.jar

echo "[bundle] jlink runtime"
mods="$("$JAVA_HOME/bin/jdeps" --print-module-deps --ignore-missing-deps --multi-release 17 -q "$B"/lib/*.jar)"
case ",$mods," in *,jdk.unsupported,*) ;; *) mods="$mods,jdk.unsupported";; esac     # LWJGL and JCuda reach for sun.misc.Unsafe
case ",$mods," in *,jdk.incubator.vector,*) ;; *) mods="$mods,jdk.incubator.vector";; esac   # the cpu backend's SIMD kernels
echo "[bundle] modules: $mods"
"$JAVA_HOME/bin/jlink" --add-modules "$mods" --strip-debug --no-header-files --no-man-pages --compress=0 \
    --output "$B/runtime"
# gzip packs the uncompressed module image better than jlink's per-class zip (16 vs 22 MB), and the
# JVM library ships with its symbol table
strip --strip-unneeded "$B/runtime/lib/server/libjvm.so" 2>/dev/null || true

cat > "$B/bin/run" <<'LAUNCH'
#!/bin/sh
# run CLASS [ARGS...]: runs a main class of the bundle with its own Java runtime.
here="$(cd "$(dirname "$0")/.." && pwd)"
cls="$1"; shift
exec "$here/runtime/bin/java" ${JAVA_OPTS:-} --add-modules jdk.incubator.vector -Djava.library.path="$here/lib/native" -cp "$here/lib/*" "$cls" "$@"
LAUNCH
cat > "$B/bin/cuda-selftest" <<'LAUNCH'
#!/bin/sh
# CUDA conformance against the reference backend, a full-size loss check, and W1/W3 timings.
exec "$(dirname "$0")/run" dev.semihard.kernels.cuda.CudaSelfTest "$@"
LAUNCH
if [ "$trainer" = 1 ]; then
cat > "$B/bin/semihard" <<'LAUNCH'
#!/bin/sh
# the semihard CLI (train, eval, embed, info, selftest, bench)
exec "$(dirname "$0")/run" dev.semihard.trainer.Main "$@"
LAUNCH
fi
chmod +x "$B"/bin/*
(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown) > "$B/COMMIT"
tar -C "$STAGE" -czf "$DIST/semihard-gpu.tar.gz" semihard-gpu
size=$(stat -c %s "$DIST/semihard-gpu.tar.gz")
echo "[bundle] $DIST/semihard-gpu.tar.gz: $((size / 1048576)) MiB ($(du -sh "$B" | cut -f1) unpacked)"
if [ "$size" -gt $((40 * 1048576)) ]; then echo "[bundle] too large: must stay under 40 MB" >&2; exit 1; fi
