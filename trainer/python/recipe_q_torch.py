#!/usr/bin/env python3
"""Recipe Q of docs/benchmarks.md in plain PyTorch, for comparison with `semihard train --recipe Q`.

fmnist-cnn (tools/golden/make_golden.py), Fashion-MNIST train, pixels / 255 then (x - 0.2860) / 0.3530,
semihard loss (the TF-Addons port in tools/golden/make_triplet_golden.py), squared L2, margin 0.2,
P = 10 x K = 32 batches, Adam lr 1e-3, 375 steps, seed 0. Evaluation on the 10,000 test images with
the trainer's definitions: Recall@1 (nearest other image), verification accuracy on 3,000 same +
3,000 different pairs with 10-fold threshold selection from the sorted distances, VAL@FAR=1e-3.
The batches and pairs come from NumPy's generator, not the trainer's, so figures agree only
statistically.

    python3 trainer/python/recipe_q_torch.py [--steps 375] [--threads 2] [--seed 0] [--init torch|he]
        [--init-from DIR --batches DIR/batches.npy] [--bn-recalibrate 50]

--init-from / --batches train from exactly the Java trainer's starting point (its initial weights and its
P x K batches, written by tools/compare/DumpStart.java): then the two frameworks differ only in float
rounding. The figures are printed twice: with the training-time batch-norm running statistics and after
re-estimating them with the final weights (--bn-recalibrate, as the Java trainer does by default).

--init he re-initializes the model the way the Java models do (engine/.../nn/Init.java, Conv2d,
Linear, BatchNorm2d): every conv and the fc weight He normal N(0, 2 / fan_in), fc bias 0, batch-norm
gamma 1 and beta 0. --init torch (default) keeps PyTorch's defaults (kaiming_uniform a=sqrt(5),
std 1 / sqrt(3 fan_in), about 2.45x smaller, and a small uniform fc bias).
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "golden"))
from make_golden import FmnistCnn  # noqa: E402
from make_triplet_golden import semihard_loss  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def load(kind):
    x = np.frombuffer(gzip.open(f"{DATA}/{kind}-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(-1, 1, 28, 28)
    y = np.frombuffer(gzip.open(f"{DATA}/{kind}-labels-idx1-ubyte.gz").read()[8:], np.uint8).astype(np.int64)
    return ((x.astype(np.float32) / 255.0 - 0.2860) / 0.3530), y


def verification(d, same, folds):
    acc = []
    for f in range(10):
        tr, te = folds != f, folds == f
        dt, st = d[tr], same[tr]
        o = np.argsort(dt)
        ds, ss = dt[o], st[o]
        correct = (~ss).sum() + np.cumsum(np.where(ss, 1, -1))
        last = np.r_[ds[1:] != ds[:-1], True]           # end of each group of equal distances
        cand = np.where(last)[0]
        best = cand[np.argmax(correct[cand])]
        t = 0.5 * (ds[best] + ds[best + 1]) if best + 1 < len(ds) else ds[best]
        if (~ss).sum() > correct[cand].max():
            t = ds[0] - 1e-6
        acc.append(((d[te] <= t) == same[te]).mean())
    return float(np.mean(acc)), float(np.std(acc))


def he_init(model):
    """The Java models' init: conv and linear weights N(0, 2 / fan_in), linear bias 0, BN gamma 1, beta 0."""
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(m.weight)
            torch.nn.init.zeros_(m.bias)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=375)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="seeds torch (initial weights) and the batch sampler")
    ap.add_argument("--init", choices=["torch", "he"], default="torch",
                    help="torch: PyTorch's default init; he: the Java models' He-normal init")
    ap.add_argument("--init-from", metavar="DIR",
                    help="load the initial state from DIR/<name>.npy (the Java state names, as written by "
                         "tools/compare/DumpStart.java), overriding --init")
    ap.add_argument("--batches", metavar="FILE",
                    help="train on these batches: a .npy of steps x 320 training-set indices (the Java sampler's)")
    ap.add_argument("--bn-recalibrate", type=int, default=50, metavar="N",
                    help="after the evaluation with the training-time batch-norm statistics, re-estimate them over N random "
                         "training batches of 320 (torch.optim.swa_utils.update_bn, as the trainer's --bn-recalibrate) and "
                         "evaluate again; 0 = skip (default 50)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    by = [np.where(ytr == c)[0] for c in range(10)]
    model = FmnistCnn().float()
    if a.init == "he":
        he_init(model)
    if a.init_from:
        sd = model.state_dict()
        for name in sd:
            if not name.endswith("num_batches_tracked"):
                sd[name].copy_(torch.from_numpy(np.load(os.path.join(a.init_from, name + ".npy"))))
    fixed = np.load(a.batches).reshape(-1, 320) if a.batches else None
    if fixed is not None and len(fixed) < a.steps:
        sys.exit(f"--batches: {a.batches} holds {len(fixed)} batches, fewer than --steps {a.steps}")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.time()
    for s in range(a.steps):
        if fixed is not None:
            idx = fixed[s]
        else:
            ids = rng.choice(10, 10, replace=False)
            idx = np.concatenate([rng.choice(by[c], 32, replace=False) for c in ids])
        x, y = torch.from_numpy(xtr[idx]), torch.from_numpy(ytr[idx])
        e = model(x)
        loss, units, active = semihard_loss(e, y, 0.2, False, "squared-l2", len(idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s % 25 == 0 or s == a.steps - 1:
            print(f"step {s + 1}/{a.steps} loss {loss.item():.4f} active {active / units:.3f} "
                  f"{(s + 1) * 320 / (time.time() - t0):.0f} img/s", flush=True)
    train_s = time.time() - t0
    def evaluate():
        model.eval()
        with torch.no_grad():
            emb = torch.cat([model(torch.from_numpy(xte[i:i + 500])) for i in range(0, len(xte), 500)]).double()
        sq = (emb * emb).sum(1)
        d = sq[:, None] + sq[None, :] - 2 * emb @ emb.t()
        d.fill_diagonal_(float("inf"))
        r1 = float((torch.from_numpy(yte)[d.argmin(1)] == torch.from_numpy(yte)).double().mean())
        e = emb.numpy()
        pr = np.random.default_rng(12345)
        pairs = []
        bycls = [np.where(yte == c)[0] for c in range(10)]
        for i in range(3000):
            a_ = pr.integers(len(yte))
            b_ = a_
            while b_ == a_:
                b_ = pr.choice(bycls[yte[a_]])
            pairs.append((a_, b_, True, i * 10 // 3000))
        for i in range(3000):
            a_ = pr.integers(len(yte))
            b_ = pr.integers(len(yte))
            while yte[b_] == yte[a_]:
                b_ = pr.integers(len(yte))
            pairs.append((a_, b_, False, i * 10 // 3000))
        pa = np.array(pairs, dtype=object)
        dist = np.array([((e[p[0]] - e[p[1]]) ** 2).sum() for p in pairs])
        same = pa[:, 2].astype(bool)
        folds = pa[:, 3].astype(int)
        acc, std = verification(dist, same, folds)
        diff = np.sort(dist[~same])
        val = float((dist[same] < diff[int(1e-3 * len(diff))]).mean())
        model.train()
        return r1, acc, std, val

    src = f"init {a.init_from or a.init}" + (f", batches {a.batches}" if a.batches else "")
    r1, acc, std, val = evaluate()
    print(f"PyTorch {torch.__version__} recipe Q (seed {a.seed}, {src}), training-time BN statistics: Recall@1 {r1:.4f}  "
          f"verification {acc:.4f} +- {std:.4f}  VAL@FAR=1e-3 {val:.4f}  train {train_s:.1f} s ({a.steps * 320 / train_s:.0f} img/s)")
    if a.bn_recalibrate > 0:
        brng = np.random.default_rng(a.seed + 1000)
        loader = [torch.from_numpy(xtr[brng.choice(len(xtr), 320, replace=False)]) for _ in range(a.bn_recalibrate)]
        torch.optim.swa_utils.update_bn(loader, model)
        r1, acc, std, val = evaluate()
        print(f"PyTorch {torch.__version__} recipe Q (seed {a.seed}, {src}), BN recalibrated over {a.bn_recalibrate} batches: "
              f"Recall@1 {r1:.4f}  verification {acc:.4f} +- {std:.4f}  VAL@FAR=1e-3 {val:.4f}")


if __name__ == "__main__":
    main()
