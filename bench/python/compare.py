#!/usr/bin/env python3
"""Side-by-side comparison of `semihard bench` and bench_torch.py results from one run on one machine.

  python3 bench/python/compare.py bench/results/cpu              # every *.json in the folder
  python3 bench/python/compare.py semihard-cuda.json torch-cuda.json --markdown

For every measured key (e.g. W1/semihard/P45xK40, W2/fmnist-cnn/B1024, W3/fwd/256x32x48x48x32) it
prints PyTorch's time next to each semihard backend's, and the ratio torch ms / semihard ms
(above 1: semihard is faster). Only the Python standard library is needed.
"""
import argparse
import glob
import json
import math
import os
import sys

SCHEMA = "semihard-bench/1"


def load(paths):
    """Loads result documents from files and folders (*.json); rejects anything of another schema."""
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "*.json"))) if os.path.isdir(p) else [p]
    docs = []
    for f in files:
        with open(f) as fh:
            d = json.load(fh)
        if d.get("schema") != SCHEMA:
            raise SystemExit(f"compare: {f} is not a {SCHEMA} result file (schema {d.get('schema')!r})")
        d["_file"] = f
        docs.append(d)
    if not docs:
        raise SystemExit(f"compare: no result files in {paths}")
    return docs


def split(docs):
    ours = [d for d in docs if d["tool"] == "semihard"]
    torch = [d for d in docs if d["tool"] == "pytorch"]
    return ours, torch


def warnings(docs):
    out = []
    hosts = {d["machine"].get("hostname") for d in docs}
    if len(hosts) > 1:
        out.append(f"results come from different machines {sorted(hosts)}: ratios are not meaningful")
    quick = {d.get("quick") for d in docs}
    if len(quick) > 1:
        out.append("some runs used --quick and others not: only keys present in both are paired")
    threads = {d["threads"] for d in docs if "cpu" in d["backend"] or d["backend"] in ("reference", "opencl")}
    if len(threads) > 1:
        out.append(f"CPU runs used different thread counts {sorted(threads)}")
    return out


def cell(r):
    if r is None:
        return "-"
    if r["status"] != "ok":
        return r["status"]
    return f"{r['ms']:.3f}" if r["ms"] < 100 else f"{r['ms']:.1f}"


def ratio(t, o):
    if t is None or o is None or o["status"] != "ok":
        return "-"
    if t["status"] == "OOM":
        return "torch OOM"
    if t["status"] != "ok":
        return "-"
    return f"{t['ms'] / o['ms']:.2f}x"


def mem(r):
    if r is None or not r.get("peak_bytes"):
        return "-"
    return f"{r['peak_bytes'] / 2**20:.0f} MiB"


def table(docs):
    """Header and rows: key | torch impl | torch ms | per semihard backend: ms, torch/semihard."""
    ours, torch = split(docs)
    index = {}
    order = []
    for d in ours + torch:
        for r in d["results"]:
            if r["key"] not in index:
                index[r["key"]] = True
                order.append(r["key"])
    head = ["key", "PyTorch impl", "PyTorch ms", "PyTorch peak"]
    for o in ours:
        head += [f"{o['backend']} ms", f"{o['backend']} peak", f"torch/{o['backend']}"]
    rows = []
    for key in order:
        ours_rows = [next((r for r in o["results"] if r["key"] == key), None) for o in ours]
        pairs = [(t, r) for t in torch for r in t["results"] if r["key"] == key] or [(None, None)]
        for t, tr in pairs:
            if all(r is None or r["status"] == "skipped" for r in ours_rows) and (tr is None or tr["status"] == "skipped"):
                continue
            impl = "-" if tr is None else (tr["impl"] if len(torch) == 1 else f"{t['backend']} {tr['impl']}")
            row = [key, impl, cell(tr), mem(tr)]
            for r in ours_rows:
                row += [cell(r), mem(r), ratio(tr, r)]
            rows.append(row)
    return head, rows


def render(head, rows, markdown):
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" if i < 2 else "---:" for i in range(len(head))) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    width = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = lambda r: "  ".join(str(x).ljust(w) if i < 2 else str(x).rjust(w) for i, (x, w) in enumerate(zip(r, width)))
    return "\n".join([fmt(head), fmt(["-" * w for w in width])] + [fmt(r) for r in rows]) + "\n"


def _find(doc, key, impl=None):
    for r in doc["results"]:
        if r["key"] == key and (impl is None or r["impl"] == impl) and r["status"] == "ok":
            return r
    return None


def headline(docs):
    """A few sentences with the figures that matter, computed from the results."""
    ours, torch = split(docs)
    out = []
    if not ours:
        for t in torch:
            out += torch_headline(t)
    for o in ours:
        name = o["backend"]
        for t in torch or [None]:
            tname = t["backend"] if t else None
            # W1: FaceNet's B = 1800 and the largest semihard batch both measured
            cands = [r for r in o["results"] if r["workload"] == "W1" and r["status"] == "ok"
                     and r["params"]["strategy"] == "semihard" and (t is None or _find(t, r["key"], "sorted"))]
            picks = []
            if cands:
                picks = [r for r in cands if r["params"]["B"] == 1800]
                largest = max(cands, key=lambda r: r["params"]["B"])
                if largest not in picks:
                    picks.append(largest)
            for best in picks:
                s = f"W1 semihard B = {best['params']['B']}: {name} {best['ms']:.3f} ms"
                if t:
                    srt, tfa = _find(t, best["key"], "sorted"), _find(t, best["key"], "tfa")
                    s += f" vs {tname} sorted {srt['ms']:.3f} ms ({srt['ms'] / best['ms']:.2f}x)"
                    tfa_any = next((r for r in t["results"] if r["key"] == best["key"] and r["impl"] == "tfa"), None)
                    if tfa:
                        s += f", TF-Addons port {tfa['ms']:.3f} ms ({tfa['ms'] / best['ms']:.2f}x"
                        s += f", {tfa['peak_bytes'] / 2**30:.1f} GiB)" if tfa.get("peak_bytes") else ")"
                    elif tfa_any:
                        s += f", TF-Addons port {tfa_any['status']}"
                out.append(s)
            for r in o["results"]:
                if r["workload"] == "W2" and r["status"] == "ok":
                    s = f"W2 {r['params']['model']} B = {r['params']['B']}: {name} {r['rate']:.0f} images/s"
                    tr = _find(t, r["key"]) if t else None
                    if tr:
                        s += f" vs {tname} {tr['rate']:.0f} images/s ({r['rate'] / tr['rate']:.2f} of PyTorch)"
                    out.append(s)
            for p in ("fwd", "fwdbwd"):
                ratios, rates = [], []
                for r in o["results"]:
                    if r["workload"] == "W3" and r["status"] == "ok" and r["params"]["pass"] == p:
                        rates.append(r["rate"])
                        tr = _find(t, r["key"]) if t else None
                        if tr:
                            ratios.append(r["rate"] / tr["rate"])
                if rates:
                    s = f"W3 {'forward' if p == 'fwd' else 'forward+backward'}: {name} {_rate(min(rates))} to {_rate(max(rates))}"
                    if ratios:
                        g = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
                        s += f", geometric mean {g:.2f} of {tname}'s rate over {len(ratios)} layers"
                    out.append(s)
    return out


def _rate(gflops):
    return f"{gflops / 1e3:.3g} TFLOP/s" if gflops >= 1000 else f"{gflops:.3g} GFLOP/s"


def torch_headline(t):
    """PyTorch-only figures (a run without a semihard counterpart yet)."""
    name, out = t["backend"], []
    w1 = [r for r in t["results"] if r["workload"] == "W1" and r["status"] != "skipped"]
    for strategy, impl in (("semihard", "sorted"), ("semihard", "tfa"), ("batch-hard", "torch"), ("batch-all", "torch")):
        rs = [r for r in w1 if r["params"]["strategy"] == strategy and r["impl"] == impl]
        ok = [r for r in rs if r["status"] == "ok"]
        if not ok:
            continue
        parts = [f"B = {r['params']['B']}: {r['ms']:.3f} ms" + (f" ({r['peak_bytes'] / 2**30:.1f} GiB)" if r["peak_bytes"] else "")
                 for r in (ok[0], ok[-1])] if len(ok) > 1 else [f"B = {ok[0]['params']['B']}: {ok[0]['ms']:.3f} ms"]
        first_oom = next((r for r in rs if r["status"] == "OOM"), None)
        s = f"{name} W1 {strategy} ({impl}) " + ", ".join(parts)
        if first_oom:
            s += f"; out of memory from B = {first_oom['params']['B']}"
        out.append(s)
    for r in t["results"]:
        if r["workload"] == "W2" and r["status"] == "ok":
            out.append(f"{name} W2 {r['params']['model']} B = {r['params']['B']}: {r['ms']:.2f} ms, {r['rate']:.0f} images/s")
    for p in ("fwd", "fwdbwd"):
        rates = [r["rate"] for r in t["results"] if r["workload"] == "W3" and r["status"] == "ok" and r["params"]["pass"] == p]
        if rates:
            out.append(f"{name} W3 {'forward' if p == 'fwd' else 'forward+backward'}: {min(rates):.4g} to {max(rates):.4g} GFLOP/s")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compare semihard and PyTorch benchmark results side by side.")
    ap.add_argument("paths", nargs="+", help="result JSON files or folders holding them")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args(argv)
    docs = load(args.paths)
    for w in warnings(docs):
        print("warning:", w, file=sys.stderr)
    head, rows = table(docs)
    print(render(head, rows, args.markdown), end="")
    print()
    for line in headline(docs):
        print(("- " if args.markdown else "") + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
