#!/usr/bin/env python3
"""Launch census: the kernels one iteration of a benchmark case launches on CUDA, with their grids,
planned for a GPU of --sms multiprocessors, without that GPU.

It runs `semihard bench` on the CUDA emulator (kernels/src/test/cudaemu) with the kernels skipped
(SHEMU_NO_EXEC=1: only the host side runs, so data are garbage but every launch decision that does not
read results back is the real one), the plans made for --sms SMs (-Dsemihard.cuda.planSmCount) and each
launch written to a trace (SHEMU_TRACE). It then finds the last iteration (the trace's period) and
prints its launches in order: grid, blocks, and blocks per SM. A grid of fewer blocks than SMs leaves
SMs idle for that launch's whole time; that is what this table is for (it found the weight gradients
capped at 64 splits). It says nothing about how long a launch takes.

  tools/census/launch-census.py [--sms 132] [--all] -- BENCH_ARGS...
  tools/census/launch-census.py -- --workloads W2 --w2-models face-resnet10
  tools/census/launch-census.py -- --workloads W1 --w1-batches 1800 --w1-strategies semihard

Choose bench arguments that make one case (one model, one batch and strategy), else the period is that
of the last case only. --all prints every launch of the iteration; by default launches of the same
kernel and grid in a row are merged.
"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def period(rows, tail=4):
    """The smallest p such that the last half of the launches (and at least tail iterations) repeat with
    period p: the bench's iteration. Half, because runs of one launch (sgdUpdate per parameter) repeat
    with period 1 over a few rows."""
    n = len(rows)
    for p in range(1, n // tail + 1):
        span = max((tail - 1) * p, n // 2 - p)
        if all(rows[n - 1 - i] == rows[n - 1 - i - p] for i in range(span)):
            return p
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sms", type=int, default=132, help="multiprocessors to plan for (default 132, an H200)")
    ap.add_argument("--all", action="store_true", help="print every launch, not runs of the same launch merged")
    ap.add_argument("bench", nargs=argparse.REMAINDER, help="arguments of semihard bench, after --")
    a = ap.parse_args()
    bench = [x for x in a.bench if x != "--"] or ["--workloads", "W2", "--w2-models", "face-resnet10"]
    if a.sms < 1:
        sys.exit("launch-census: --sms must be 1 or more")

    shemu_dir = os.path.join(ROOT, "kernels", "target", "shemu")
    driver = os.path.join(shemu_dir, "libcuda.so.1")
    build = subprocess.run(["bash", os.path.join(ROOT, "kernels", "src", "test", "cudaemu", "build.sh"), shemu_dir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if build.returncode != 0:
        sys.exit("launch-census: building the emulator failed:\n" + build.stderr)

    with tempfile.TemporaryDirectory(prefix="census-") as tmp:
        trace = os.path.join(tmp, "trace.txt")
        env = dict(os.environ, SEMIHARD_CUDA_DRIVER=driver, SHEMU_NO_EXEC="1", SHEMU_TRACE=trace,
                   JAVA_OPTS=(os.environ.get("JAVA_OPTS", "") + f" -Dsemihard.cuda.planSmCount={a.sms}").strip())
        cmd = [os.path.join(ROOT, "semihard"), "bench", "--backend", "cuda", "--out", os.path.join(tmp, "out")] + bench
        run = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0 or not os.path.exists(trace):
            sys.exit(f"launch-census: {' '.join(cmd)} failed (exit {run.returncode}):\n{run.stdout[-4000:]}")
        rows = [line.split() for line in open(trace) if line.strip()]

    p = period(rows)
    if p is None:
        sys.exit(f"launch-census: no repeating iteration in {len(rows)} launches; give bench one case")
    it = rows[-p:]
    print(f"# launch census: semihard bench {' '.join(bench)}")
    print(f"# planned for {a.sms} SMs; {p} launches per iteration (kernels not run: grids only, no times)\n")
    print("| # | kernel | grid | block | blocks | blocks/SM | note |")
    print("| ---: | --- | --- | ---: | ---: | ---: | --- |")
    merged = []
    for r in it:
        key = tuple(r)
        if not a.all and merged and merged[-1][0] == key:
            merged[-1][1] += 1
        else:
            merged.append([key, 1])
    small = 0
    i = 0
    for key, count in merged:
        name, gx, gy, gz, bx, by, bz = key[0], *map(int, key[1:])
        blocks = gx * gy * gz
        note = "fewer blocks than SMs" if blocks < a.sms else ""
        small += count if blocks < a.sms else 0
        label = f"{i + 1}" if count == 1 else f"{i + 1}-{i + count}"
        times = f" x{count}" if count > 1 else ""
        print(f"| {label} | {name}{times} | {gx}x{gy}x{gz} | {bx * by * bz} | {blocks} | {blocks / a.sms:.2f} | {note} |")
        i += count
    print(f"\n{p} launches; {small} with fewer blocks than the {a.sms} SMs.")
    totals = {}
    for r in it:
        totals[r[0]] = totals.get(r[0], 0) + 1
    print("\n| kernel | launches |\n| --- | ---: |")
    for name, c in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"| {name} | {c} |")


if __name__ == "__main__":
    main()
