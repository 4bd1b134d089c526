#!/usr/bin/env python3
"""The reference workloads W1, W2, W3 of docs/benchmarks.md in PyTorch, written the way a user
would write them, so `semihard bench` has something honest to be compared with.

  W1  triplet losses, forward + backward, D = 128, unit-norm rows, P x K labels:
        semihard  "tfa"    : a line-by-line port of tfa.losses.triplet_semihard_loss (B x B x B masks)
        semihard  "sorted" : sort each anchor's negative distances once, binary-search each positive
                             (O(B^2) memory; the best plain-PyTorch formulation we know)
        batch-hard "torch" : hardest positive / hardest negative per anchor (Hermans et al.)
        batch-all  "torch" : every valid triplet by broadcasting (B x B x B), mean over active ones
  W2  one training step (forward, semihard loss, backward, SGD momentum) of fmnist-cnn B = 1024 and
      face-resnet10 B = 256 on random inputs; images/s
  W3  the six conv layers with torch.nn.functional.conv2d, forward and forward + backward; GFLOP/s

Timing: warm-up runs, then the median of many runs; on CUDA each run is timed with CUDA events and
the device is synchronized before the clock is read; peak memory is torch.cuda.max_memory_allocated
per case. Out of memory is recorded as status "OOM", never a crash.

Output: torch-<cpu|cuda>.json (schema semihard-bench/1, the same as `semihard bench`) and .md in
--out. Works with PyTorch 1.13 (Debian's python3-torch, CPU) and 2.x (CUDA).

  /usr/bin/python3 bench/python/bench_torch.py --device cpu --threads 2 --quick --out bench/results/cpu
  python3 bench/python/bench_torch.py --device cuda --out $OUT
"""
import argparse
import datetime
import gc
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SCHEMA = "semihard-bench/1"
D = 128
MARGIN = 0.2
# the same lists as dev.semihard.bench.Shapes / Workloads
W1_PK = [(32, 8), (128, 8), (45, 40), (128, 32), (256, 32), (512, 32)]
W2 = [("fmnist-cnn", 1024, 32, 32), ("face-resnet10", 256, 32, 8)]
W2_QUICK = [("fmnist-cnn", 128, 16, 8), ("face-resnet10", 16, 4, 4)]
W3 = [(1024, 32, 14, 14, 64), (1024, 64, 7, 7, 128), (256, 32, 48, 48, 32), (256, 64, 24, 24, 64),
      (256, 128, 12, 12, 128), (256, 256, 6, 6, 256)]
W3_QUICK_BATCH = 8
W1_QUICK_MAX_BATCH = 1024


# ----------------------------------------------------------------------------- losses

def pairwise_sq_dist(e):
    """TF-Addons' metric_learning.pairwise_distance(squared=True): Gram form, clamped at 0, zero diagonal."""
    sq = (e * e).sum(1, keepdim=True)
    d = sq + sq.t() - 2.0 * (e @ e.t())
    d = d.clamp(min=0.0)
    d = d * (d > 0).to(d.dtype)
    return d * (1.0 - torch.eye(e.shape[0], device=e.device, dtype=e.dtype))


def _masked_minimum(data, mask, dim=1):
    axis_max = data.max(dim, keepdim=True).values
    return ((data - axis_max) * mask).min(dim, keepdim=True).values + axis_max


def _masked_maximum(data, mask, dim=1):
    axis_min = data.min(dim, keepdim=True).values
    return ((data - axis_min) * mask).max(dim, keepdim=True).values + axis_min


def semihard_tfa(e, labels, margin=MARGIN):
    """tfa.losses.triplet_semihard_loss, ported op by op (it tiles the B x B distances B times)."""
    pdist = pairwise_sq_dist(e)
    lab = labels.view(-1, 1)
    adjacency = lab == lab.t()
    adjacency_not = ~adjacency
    b = labels.numel()
    pdist_tile = pdist.repeat(b, 1)                                              # [B*B, B]
    mask = adjacency_not.repeat(b, 1) & (pdist_tile > pdist.t().reshape(-1, 1))  # [B*B, B]
    mask_final = (mask.to(e.dtype).sum(1, keepdim=True) > 0.0).view(b, b).t()
    adjacency_not_f = adjacency_not.to(e.dtype)
    mask_f = mask.to(e.dtype)
    negatives_outside = _masked_minimum(pdist_tile, mask_f).view(b, b).t()
    negatives_inside = _masked_maximum(pdist, adjacency_not_f).repeat(1, b)
    semi_hard_negatives = torch.where(mask_final, negatives_outside, negatives_inside)
    loss_mat = margin + pdist - semi_hard_negatives
    mask_positives = adjacency.to(e.dtype) - torch.eye(b, device=e.device, dtype=e.dtype)
    num_positives = mask_positives.sum()
    return (loss_mat * mask_positives).clamp(min=0.0).sum() / num_positives


def semihard_sorted(e, labels, margin=MARGIN):
    """Semi-hard in O(B^2) memory: sort each anchor's negative distances, binary-search each positive."""
    d = pairwise_sq_dist(e)
    b = d.shape[0]
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(b, dtype=torch.bool, device=e.device)
    pos = same & ~eye
    neg = ~same
    inf = float("inf")
    dn_sorted = d.masked_fill(~neg, inf).sort(dim=1).values           # negatives ascending, +inf after them
    idx = torch.searchsorted(dn_sorted.detach().contiguous(), d.detach().contiguous(), right=True)
    found = idx < neg.sum(1, keepdim=True)                             # a negative farther than d(a,p) exists
    semi = dn_sorted.gather(1, idx.clamp(max=b - 1))
    farthest = d.masked_fill(~neg, -inf).max(1, keepdim=True).values   # fallback: the farthest negative
    dan = torch.where(found, semi, farthest.expand(b, b))
    terms = (d - dan + margin).clamp(min=0.0)
    npos = pos.sum()
    return torch.where(pos, terms, torch.zeros_like(terms)).sum() / npos.clamp(min=1)


def batch_hard(e, labels, margin=MARGIN):
    """Batch-hard (Hermans et al. 2017): per anchor the hardest positive and the hardest negative."""
    d = pairwise_sq_dist(e)
    b = d.shape[0]
    same = labels.view(-1, 1) == labels.view(1, -1)
    pos = same & ~torch.eye(b, dtype=torch.bool, device=e.device)
    neg = ~same
    hardest_pos = (d * pos.to(d.dtype)).max(1).values
    hardest_neg = d.masked_fill(~neg, float("inf")).min(1).values
    valid = pos.any(1) & neg.any(1)
    terms = (hardest_pos - hardest_neg + margin).clamp(min=0.0)
    return terms[valid].mean() if bool(valid.any()) else d.sum() * 0.0


def batch_all(e, labels, margin=MARGIN):
    """Batch-all by broadcasting every (a, p, n) into a B x B x B tensor, as most tutorials do."""
    d = pairwise_sq_dist(e)
    b = d.shape[0]
    same = labels.view(-1, 1) == labels.view(1, -1)
    pos = same & ~torch.eye(b, dtype=torch.bool, device=e.device)
    neg = ~same
    t = d.unsqueeze(2) - d.unsqueeze(1) + margin                     # [a, p, n] = d(a,p) - d(a,n) + margin
    valid = pos.unsqueeze(2) & neg.unsqueeze(1)
    t = t.clamp(min=0.0) * valid.to(t.dtype)
    active = (t > 0).sum()
    return t.sum() / active.clamp(min=1)


W1_IMPLS = [("semihard", "tfa", semihard_tfa), ("semihard", "sorted", semihard_sorted),
            ("batch-hard", "torch", batch_hard), ("batch-all", "torch", batch_all)]


def w1_bytes_estimate(impl, b):
    """Rough peak bytes, to skip on CPU what would swap the machine: the B^3 formulations keep
    several B x B x B float tensors alive (tfa ~4, batch-all ~3), the others a few B x B ones."""
    if impl == "tfa":
        return 4.0 * 4 * b ** 3
    if impl == "batch-all" or impl == "torch-b3":
        return 3.0 * 4 * b ** 3
    return 16.0 * 4 * b * b


# ----------------------------------------------------------------------------- models (the same as Models.java)

def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class L2Embedding(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return F.normalize(self.body(x), p=2, dim=1, eps=1e-12)


def fmnist_cnn():
    layers = []
    cin = 1
    for i, w in enumerate([32, 64, 128, 256]):
        layers += conv_bn_relu(cin, w)
        if i < 3:
            layers.append(nn.MaxPool2d(2))
        cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, D)]
    return L2Embedding(nn.Sequential(*layers)), (1, 28, 28)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.downsample is None else self.downsample(x)))


def face_resnet10():
    body = nn.Sequential(*conv_bn_relu(3, 32), nn.MaxPool2d(2),
                         BasicBlock(32, 32, 1), BasicBlock(32, 64, 2), BasicBlock(64, 128, 2), BasicBlock(128, 256, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, D))
    return L2Embedding(body), (3, 96, 96)


MODELS = {"fmnist-cnn": fmnist_cnn, "face-resnet10": face_resnet10}


# ----------------------------------------------------------------------------- timing

class Plan:
    def __init__(self, warmup, min_runs, max_runs, budget_s):
        self.warmup, self.min_runs, self.max_runs, self.budget_s = warmup, min_runs, max_runs, budget_s


STANDARD = Plan(3, 10, 100, 2.0)
QUICK = Plan(1, 3, 20, 1.0)


def measure(fn, device, plan):
    """Median milliseconds of fn() after warm-up; CUDA: events, synchronized before reading."""
    cuda = device.type == "cuda"
    for _ in range(plan.warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    spent = 0.0
    while len(times) < plan.max_runs and (len(times) < plan.min_runs or spent < plan.budget_s * 1e3):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            ms = start.elapsed_time(end)
        else:
            t0 = time.perf_counter()
            fn()
            ms = (time.perf_counter() - t0) * 1e3
        times.append(ms)
        spent += ms
    return {"ms": statistics.median(times), "ms_min": min(times), "ms_max": max(times), "runs": len(times)}


def is_oom(exc):
    name = type(exc).__name__
    msg = str(exc).lower()
    return name == "OutOfMemoryError" or "out of memory" in msg or "can't allocate memory" in msg \
        or "cannot allocate memory" in msg or isinstance(exc, MemoryError)


def free_memory(device):
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


class Runner:
    def __init__(self, args, device):
        self.args, self.device = args, device
        self.plan = QUICK if args.quick else STANDARD
        self.results = []

    def case(self, workload, key, impl, params, body, rate_of=None, rate_unit=None, skip=None):
        """Runs body() -> timing dict (or raises); records ok / OOM / skipped / error."""
        row = {"workload": workload, "key": key, "impl": impl, "params": params, "status": "ok", "detail": None,
               "ms": None, "ms_min": None, "ms_max": None, "runs": None, "rate": None, "rate_unit": None,
               "peak_bytes": None}
        print(f"{key:40s} {impl:7s} ...", end=" ", flush=True)
        if skip:
            row.update(status="skipped", detail=skip)
            print("skipped:", skip, flush=True)
            self.results.append(row)
            return row
        cuda = self.device.type == "cuda"
        try:
            free_memory(self.device)
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            t = body()
            row.update(t)
            if rate_of is not None:
                row["rate"], row["rate_unit"] = rate_of(t["ms"]), rate_unit
            if cuda:
                row["peak_bytes"] = int(torch.cuda.max_memory_allocated())
            print(f"{t['ms']:.3f} ms (median of {t['runs']})"
                  + (f", {row['rate']:.4g} {rate_unit}" if row["rate"] is not None else "")
                  + (f", peak {row['peak_bytes'] / 2**20:.1f} MiB" if row["peak_bytes"] else ""), flush=True)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, the run goes on
            if is_oom(exc):
                row.update(status="OOM", detail=str(exc).splitlines()[0][:300])
                if cuda:
                    row["peak_bytes"] = int(torch.cuda.max_memory_allocated())
            else:
                row.update(status="error", detail=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")
            print(row["status"] + ":", row["detail"], flush=True)
        finally:
            free_memory(self.device)
        self.results.append(row)
        return row

    # ------------------------------------------------------------------------- W1
    def w1(self):
        dev = self.device
        cap = self.args.max_batch
        if cap is None:
            cap = W1_QUICK_MAX_BATCH if self.args.quick else (4096 if dev.type == "cpu" else 0)
        self.max_batch = cap
        g = torch.Generator().manual_seed(7)
        for p, k in W1_PK:
            b = p * k
            if self.args.w1_batches and b not in self.args.w1_batches:
                continue
            for strategy, impl, fn in W1_IMPLS:
                if self.args.w1_strategies and strategy not in self.args.w1_strategies:
                    continue
                key = f"W1/{strategy}/P{p}xK{k}"
                params = {"strategy": strategy, "B": b, "P": p, "K": k, "D": D, "distance": "squared-l2",
                          "margin": MARGIN}
                skip = None
                if cap and b > cap:
                    skip = f"B = {b} is above --max-batch {cap}"
                elif dev.type == "cpu" and w1_bytes_estimate(strategy if strategy == "batch-all" else impl, b) > self.args.cpu_mem_gib * 2**30:
                    skip = (f"would need about {w1_bytes_estimate(impl, b) / 2**30:.0f} GiB of host memory "
                            f"(B^3 tensors), above --cpu-mem-gib {self.args.cpu_mem_gib}")

                def body(fn=fn, b=b, p=p, k=k, params=params):
                    x = torch.randn(b, D, generator=g)
                    x = F.normalize(x, dim=1).to(dev).requires_grad_(True)
                    labels = torch.arange(p, device=dev).repeat_interleave(k)
                    last = {}

                    def step():
                        x.grad = None
                        loss = fn(x, labels)
                        loss.backward()
                        last["loss"] = loss

                    t = measure(step, dev, self.plan)
                    params["loss"] = float(last["loss"])
                    return t

                self.case("W1", key, impl, params, body, skip=skip)

    # ------------------------------------------------------------------------- W2
    def w2(self):
        dev = self.device
        for name, b, p, k in (W2_QUICK if self.args.quick else W2):
            if self.args.w2_models and name not in self.args.w2_models:
                continue
            key = f"W2/{name}/B{b}"
            params = {"model": name, "B": b, "P": p, "K": k, "loss": "semihard (sorted), squared-l2, margin 0.2",
                      "optimizer": "sgd lr 0.01 momentum 0.9"}

            def body(name=name, b=b, p=p, k=k, params=params):
                torch.manual_seed(0)
                model, shape = MODELS[name]()
                model = model.to(dev).train()
                opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
                x = torch.randn(b, *shape, device=dev)
                labels = torch.arange(p, device=dev).repeat_interleave(k)
                last = {}

                def step():
                    opt.zero_grad(set_to_none=True)
                    loss = semihard_sorted(model(x), labels)
                    loss.backward()
                    opt.step()
                    last["loss"] = loss

                t = measure(step, dev, self.plan)
                params["last_loss"] = float(last["loss"])
                params["parameters"] = sum(q.numel() for q in model.parameters())
                return t

            self.case("W2", key, "torch", params, body, rate_of=lambda ms, b=b: b / (ms / 1e3), rate_unit="images/s")

    # ------------------------------------------------------------------------- W3
    def w3(self):
        dev = self.device
        n_override = self.args.w3_batch or (W3_QUICK_BATCH if self.args.quick else 0)
        for i, (n, c, h, w, k) in enumerate(W3):
            n = n_override or n
            shape = f"{n}x{c}x{h}x{w}x{k}"
            fwd_flops = 2.0 * n * k * h * w * c * 9
            for backward in (False, True):
                pass_ = "fwdbwd" if backward else "fwd"
                flops = fwd_flops * (3 if backward else 1)
                params = {"layer": i + 1, "pass": pass_, "N": n, "C": c, "H": h, "W": w, "K": k, "gflop": flops / 1e9}

                def body(n=n, c=c, h=h, w=w, k=k, backward=backward):
                    x = torch.rand(n, c, h, w, device=dev) * 2 - 1
                    wt = (torch.rand(k, c, 3, 3, device=dev) * 2 - 1) * 0.1
                    if backward:
                        x.requires_grad_(True)
                        wt.requires_grad_(True)
                        dy = torch.rand(n, k, h, w, device=dev) * 2 - 1

                        def step():
                            x.grad = None
                            wt.grad = None
                            F.conv2d(x, wt, padding=1).backward(dy)
                    else:
                        def step():
                            with torch.no_grad():
                                F.conv2d(x, wt, padding=1)
                    return measure(step, dev, self.plan)

                self.case("W3", f"W3/{pass_}/{shape}", "torch", params, body,
                          rate_of=lambda ms, f=flops: f / 1e9 / (ms / 1e3), rate_unit="GFLOP/s")


# ----------------------------------------------------------------------------- output

def commit():
    env = os.environ.get("SEMIHARD_COMMIT")
    if env:
        return env.strip()
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        c = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if c.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            return c.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def markdown(doc):
    lines = [f"### PyTorch {doc['versions']['torch']}, {doc['backend']} ({doc['device']})", "",
             f"date {doc['date']}, commit {doc['commit']}, command `{doc['command']}`", "",
             "| key | impl | ms (median) | rate | peak memory | status |", "| --- | --- | ---: | ---: | ---: | --- |"]
    for r in doc["results"]:
        lines.append("| {} | {} | {} | {} | {} | {} |".format(
            r["key"], r["impl"], "" if r["ms"] is None else f"{r['ms']:.3f}",
            "" if r["rate"] is None else f"{r['rate']:.4g} {r['rate_unit']}",
            "" if not r["peak_bytes"] else f"{r['peak_bytes'] / 2**20:.1f} MiB",
            "ok" if r["status"] == "ok" else f"{r['status']}: {(r['detail'] or '').replace('|', '/')}"))
    return "\n".join(lines) + "\n\n"


def document(args, device, dev_name, runner, versions, load_before, argv):
    plan = runner.plan
    return {
        "schema": SCHEMA, "tool": "pytorch", "backend": f"torch-{args.device}", "device": dev_name,
        "precision": args.precision if device.type == "cuda" else "fp32", "threads": torch.get_num_threads(),
        "quick": args.quick, "max_batch": runner.max_batch,
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "commit": commit(), "command": "bench_torch.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {"hostname": socket.gethostname(), "os": f"{platform.system()} {platform.release()}",
                    "arch": platform.machine(), "cpus": os.cpu_count(), "cpu_model": cpu_model(),
                    "loadavg_before": load_before and round(load_before[0], 2),
                    "loadavg_after": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None},
        "versions": versions,
        "timing": {"warmup": plan.warmup, "min_runs": plan.min_runs, "max_runs": plan.max_runs, "budget_s": plan.budget_s,
                   "statistic": "median; CUDA events, synchronized" if device.type == "cuda" else "median; perf_counter",
                   "cudnn_benchmark": bool(device.type == "cuda" and not args.no_cudnn_benchmark)},
        "results": runner.results,
    }


def write(base, doc):
    with open(base + ".json", "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    md = markdown(doc)
    with open(base + ".md", "w") as f:
        f.write(md)
    return md


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    ap.add_argument("--workloads", default="W1,W2,W3", help="comma-separated subset of W1,W2,W3")
    ap.add_argument("--quick", action="store_true", help="CPU sizes: W1 up to B = 1024, W2 B = 128 / 16, W3 N = 8, few runs")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 = all cores)")
    ap.add_argument("--max-batch", type=int, default=None,
                    help="largest W1 batch (default 4096 on CPU, 1024 with --quick, none on CUDA; 0 = none)")
    ap.add_argument("--w3-batch", type=int, default=0, help="W3 batch N instead of the workload's")
    ap.add_argument("--w1-batches", type=lambda v: [int(x) for x in v.split(",")], default=None,
                    help="only these W1 batches B = P * K (like semihard bench --w1-batches)")
    ap.add_argument("--w1-strategies", type=lambda v: v.split(","), default=None,
                    help="only these W1 strategies: semihard, batch-hard, batch-all")
    ap.add_argument("--w2-models", type=lambda v: v.split(","), default=None,
                    help="only these W2 models: fmnist-cnn, face-resnet10")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32"], help="CUDA: allow TF32 or not")
    ap.add_argument("--no-cudnn-benchmark", action="store_true", help="CUDA: do not autotune convolutions")
    ap.add_argument("--cpu-mem-gib", type=float, default=8.0,
                    help="CPU: skip B^3 formulations whose tensors would need more host memory than this")
    ap.add_argument("--out", default="bench-results", help="output folder for torch-<device>.json and .md")
    args = ap.parse_args(argv)

    workloads = []
    for w in args.workloads.split(","):
        w = w.strip().upper()
        if w not in ("W1", "W2", "W3"):
            ap.error(f"unknown workload '{w}': use W1, W2 and/or W3")
        if w not in workloads:
            workloads.append(w)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_torch: --device cuda but torch.cuda.is_available() is False; use --device cpu", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        tf32 = args.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
        dev_name = f"{torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB"
    else:
        dev_name = f"{cpu_model()}, {torch.get_num_threads()} threads"

    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    runner = Runner(args, device)
    runner.max_batch = args.max_batch
    print(f"bench_torch: PyTorch {torch.__version__} on {args.device} ({dev_name}), workloads {workloads}"
          + (", quick" if args.quick else ""), flush=True)
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    if device.type == "cuda":
        versions["cuda"] = torch.version.cuda
        versions["cudnn"] = torch.backends.cudnn.version()
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"torch-{args.device}")
    md = ""
    for w in workloads:
        getattr(runner, w.lower())()
        # written after every workload, so a run cut short by a time limit keeps what it measured
        md = write(base, document(args, device, dev_name, runner, versions, load_before, argv))
    print()
    print(md, end="")
    print(f"wrote {base}.json and {base}.md")
    return 1 if any(r["status"] == "error" for r in runner.results) else 0


if __name__ == "__main__":
    sys.exit(main())
