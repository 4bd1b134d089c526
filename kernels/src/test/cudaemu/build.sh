#!/usr/bin/env bash
# Builds shemu's stand-in libcuda.so.1 (see include/shemu.h) from kernels/src/main/cuda/*.cu.
#
#   build.sh OUT_DIR      -> OUT_DIR/libcuda.so.1 (skipped when it is newer than every source)
#
# Needs g++ (C++17) and objcopy. Each .cu file (the kernels of src/main/cuda, and the emulator's own
# checks here) is compiled as C++ with shemu.h force-included; its extern "C" kernels (found in the
# preprocessed text, so macro-made ones count) are registered by name.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cuda="$(cd "$here/../../main/cuda" && pwd)"
out="${1:?usage: build.sh OUT_DIR}"
mkdir -p "$out/obj"
lib="$out/libcuda.so.1"
CXX="${CXX:-g++}"
command -v "$CXX" >/dev/null || { echo "shemu: $CXX not found (apt-get install g++)" >&2; exit 3; }
if [ -f "$lib" ] && [ -z "$(find "$cuda" "$here" -newer "$lib" -type f | head -1)" ]; then
    echo "shemu: $lib is up to date"; exit 0
fi
flags=(-std=c++17 -O1 -fPIC -w -I "$here/include" -I "$cuda" -include shemu.h)
objs=()
pids=()
for src in "$cuda"/*.cu "$here"/*.cu; do
    name="$(basename "$src" .cu)"
    wrap="$out/obj/$name.cpp"
    {
        echo "#include \"$src\""
        "$CXX" "${flags[@]}" -E -x c++ "$src" | tr '\n' ' ' \
            | grep -oE 'extern "C" +void +[A-Za-z_][A-Za-z0-9_]* *\(' \
            | sed -E 's/extern "C" +void +([A-Za-z_][A-Za-z0-9_]*).*/SHEMU_REG(\1)/' | sort -u
    } > "$wrap"
    echo "shemu: $name.cu: $(grep -c SHEMU_REG "$wrap") kernels"
    "$CXX" "${flags[@]}" -c "$wrap" -o "$out/obj/$name.o" & pids+=($!)
    objs+=("$out/obj/$name.o")
done
for p in "${pids[@]}"; do wait "$p"; done
# helpers in headers (splitKReduce in gemm.cuh, inline functions) exist once per file: keep each
# object's definitions to itself; the registrars reach the driver through undefined references only
for o in "${objs[@]}"; do objcopy -w --localize-symbol='*' "$o"; done
"$CXX" -std=c++17 -O1 -fPIC -w -I "$here/include" -c "$here/driver.cpp" -o "$out/obj/driver.o"
"$CXX" -shared -Wl,-soname,libcuda.so.1 -o "$lib.tmp" "$out/obj/driver.o" "${objs[@]}"
mv "$lib.tmp" "$lib"
echo "shemu: built $lib"
