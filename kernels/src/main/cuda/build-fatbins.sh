#!/usr/bin/env bash
# Builds the CUDA kernels of kernels/src/main/cuda into fatbins for the jar.
#
#   build-fatbins.sh OUT_DIR [MODE]      (run by Maven in generate-resources; MODE = -Dsemihard.fatbins)
#   build-fatbins.sh --update-prebuilt   (after editing a .cu/.cuh file: refreshes prebuilt/, commit it)
#
# Each <name>.cu becomes <name>.fatbin with SASS for sm_80 and sm_90 and PTX for compute_90 (newer
# GPUs JIT it), written to OUT_DIR/dev/semihard/kernels/cuda/ with sources.sha256, the hash of the
# sources it was built from (see sourceHash below; CudaFatbinTest recomputes it in Java).
# MODE prebuilt (the default): the committed prebuilt/ copies are used when they were built from
# these sources (nvcc takes minutes on a small machine), else the fatbins are compiled with nvcc
# (NVCC, /usr/local/bin/nvcc, /usr/local/cuda/bin/nvcc or PATH). MODE compile (the full test suite,
# -Dsemihard.fullSuite=true): compiled with nvcc whenever it exists. Without nvcc and without
# matching prebuilt/ copies the build stops. Nothing is done when OUT_DIR already holds fatbins of
# the same sources.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prebuilt="$here/prebuilt"

# sha256 of the lines "<sha256 of file>  <file name>\n" over *.cu and *.cuh sorted by name (C locale)
sourceHash() {
    (cd "$here" && LC_ALL=C ls -1 -- *.cu *.cuh | LC_ALL=C sort | while read -r f; do
        printf '%s  %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$f"; done) | sha256sum | cut -d' ' -f1
}

findNvcc() {
    for c in "${NVCC:-}" /usr/local/bin/nvcc /usr/local/cuda/bin/nvcc "$(command -v nvcc 2>/dev/null || true)"; do
        if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
    done
    return 1
}

compileAll() {   # $1 = destination folder
    local dst="$1" nvcc
    nvcc="$(findNvcc)"
    mkdir -p "$dst"
    for src in "$here"/*.cu; do
        local name; name="$(basename "$src" .cu)"
        echo "[cuda] $nvcc $name.cu -> $name.fatbin"
        "$nvcc" -fatbin -O3 -std=c++17 -Xptxas -warn-spills \
            -gencode arch=compute_80,code=sm_80 \
            -gencode arch=compute_90,code=sm_90 \
            -gencode arch=compute_90,code=compute_90 \
            -o "$dst/$name.fatbin.tmp" "$src"
        mv "$dst/$name.fatbin.tmp" "$dst/$name.fatbin"
    done
}

hash="$(sourceHash)"
if [ "${1:-}" = "--update-prebuilt" ]; then
    findNvcc >/dev/null || { echo "[cuda] --update-prebuilt needs nvcc" >&2; exit 1; }
    rm -f "$prebuilt"/*.fatbin
    compileAll "$prebuilt"
    echo "$hash" > "$prebuilt/sources.sha256"
    echo "[cuda] prebuilt/ updated for sources $hash: commit kernels/src/main/cuda/prebuilt"
    exit 0
fi

out="${1:?usage: build-fatbins.sh OUT_DIR [prebuilt|compile] | --update-prebuilt}/dev/semihard/kernels/cuda"
mode="${2:-prebuilt}"
case "$mode" in prebuilt|compile) ;; *) echo "[cuda] unknown mode '$mode': use prebuilt or compile" >&2; exit 1;; esac
mkdir -p "$out"
if [ -f "$out/sources.sha256" ] && [ "$(cat "$out/sources.sha256")" = "$hash" ]; then
    echo "[cuda] fatbins up to date ($hash)"; exit 0
fi
rm -f "$out"/*.fatbin "$out/sources.sha256"
if [ "$mode" = prebuilt ] && [ "$(cat "$prebuilt/sources.sha256" 2>/dev/null || echo none)" = "$hash" ]; then
    echo "[cuda] using the committed prebuilt fatbins, built from these sources ($hash; -Dsemihard.fatbins=compile compiles them)"
    cp "$prebuilt"/*.fatbin "$out/"
elif findNvcc >/dev/null; then
    compileAll "$out"
else
    have="$(cat "$prebuilt/sources.sha256" 2>/dev/null || echo none)"
    if [ "$have" != "$hash" ]; then
        echo "[cuda] no nvcc here, and kernels/src/main/cuda/prebuilt was built from other sources ($have, sources are $hash)." >&2
        echo "[cuda] Run kernels/src/main/cuda/build-fatbins.sh --update-prebuilt on a machine with nvcc and commit prebuilt/." >&2
        exit 1
    fi
    echo "[cuda] no nvcc: using the committed prebuilt fatbins ($hash)"
    cp "$prebuilt"/*.fatbin "$out/"
fi
echo "$hash" > "$out/sources.sha256"
