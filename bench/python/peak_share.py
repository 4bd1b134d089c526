#!/usr/bin/env python3
"""Each W3 convolution's GFLOP/s and its share of the machine's float32 FMA peak, from a results folder.

  python3 bench/python/peak_share.py bench/results/cpu-backend PEAK_GFLOPS

PEAK_GFLOPS is the measured peak of the same machine and thread count (`dev.semihard.cpu.FmaPeak THREADS`:
12 independent register-only vector FMA chains per thread, 2 flops x lanes per FMA). Prints a Markdown table.
"""
import json
import sys
from pathlib import Path


def main():
    folder, peak = Path(sys.argv[1]), float(sys.argv[2])
    docs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    rows = {}
    for d in docs:
        name = d["backend"] if d["tool"] == "semihard" else "pytorch"
        for r in d["results"]:
            if r["workload"] == "W3" and r["status"] == "ok" and r["rate"]:
                rows.setdefault(r["key"], {})[name] = r["rate"]
    names = sorted({n for v in rows.values() for n in v}, key=lambda n: (n != "cpu", n))
    print("| W3 layer | " + " | ".join(f"{n} GFLOP/s (share of peak)" for n in names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for key, v in rows.items():
        cells = [f"{v[n]:.1f} ({100 * v[n] / peak:.0f}%)" if n in v else "" for n in names]
        print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
