#!/usr/bin/python3
"""Writes the PyTorch golden fixture for the Java engine (engine/src/test/resources/golden/golden-v1.bin).

Run with Debian's python3-torch (1.13):  /usr/bin/python3 tools/golden/make_golden.py

For both reference models (fmnist-cnn, face-resnet10) it builds a PyTorch twin with exactly the
Java state names (see dev.semihard.engine.nn.Models), fills every state tensor, a fixed input batch
and fixed loss weights R from the project's SplitMix64 generator (dev.semihard.engine.Rng), and
records, computed in float64:

  eval/embeddings      eval-mode embeddings (running statistics), before anything else
  train/embeddings     train-mode embeddings (batch statistics)
  train/loss           L = sum(E * R), a loss that needs no triplet code
  grad/<name>          dL/d<name> for every parameter
  train1/<name>        running statistics after that one train-mode forward
  sgd/<name>           every state tensor after 3 steps of SGD (momentum, weight decay), train-mode BN
  adam/<name>          the same with Adam (L2 weight decay)
  semihard/loss, semihard/grad/<name>
                       FaceNet's semi-hard triplet loss (squared L2, margin 0.2, labels i // 2) of the
                       train-mode embeddings and its parameter gradients, with the TF-Addons port of
                       make_triplet_golden.py (the model and the fused triplet kernel end to end)

Why a generator instead of stored weights: face-resnet10 alone has 1.26 M parameters (5 MB as
float32); storing weights, gradients and two updated copies of both models would be ~30 MB. The
Java test regenerates the same float32 values from the same SplitMix64 stream (the "init" lines
say which tensor gets which range, in drawing order), and the fixture stores every small tensor
whole and, for tensors over 4096 elements, 1024 fixed random positions plus sum(x^2) and sum(|x|).
Every hyper-parameter is a float32 value (the Java side passes floats), so the only difference
left is float64 arithmetic order and the final float32 rounding.

File format (version 1): a UTF-8 text header ending with a line "end", then little-endian data.
  SEMIHARD-GOLDEN 1
  meta <key> <value>
  init <model> <tensor> <lo> <hi> <d0,d1,...>          uniform(lo, hi) draws, in stream order
  array <key> <f32|i32> <count> <byte offset> [k=v ...] offsets are from the first byte after "end\\n"
  end
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_triplet_golden import semihard_loss  # noqa: E402  (the TF-Addons port, H3's golden)

VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "engine", "src", "test", "resources",
                   "golden", "golden-v%d.bin" % VERSION)

def f32(x):
    """The float64 value of the float32 nearest to x (what a Java float constant holds)."""
    return float(np.float32(x))

BN_EPS, BN_MOMENTUM = f32(1e-5), f32(0.1)
STEPS = 3
SGD = dict(lr=f32(0.05), momentum=f32(0.9), weight_decay=f32(1e-4))
ADAM = dict(lr=f32(1e-3), beta1=f32(0.9), beta2=f32(0.999), eps=f32(1e-8), weight_decay=f32(1e-4))
MODELS = [("fmnist-cnn", 8, 101), ("face-resnet10", 4, 202)]   # (name, batch, generator seed)
FULL_MAX, SAMPLES = 4096, 1024
MARGIN = f32(0.2)

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


class SplitMix64:
    """dev.semihard.engine.Rng, vectorized: the i-th call returns mix(state + i * GAMMA)."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next_floats(self, n):
        """n values of Rng.nextFloat(): (nextLong() >>> 40) * 2^-24, exactly, as float64."""
        with np.errstate(over="ignore"):
            i = np.arange(1, n + 1, dtype=np.uint64)
            z = np.uint64(self.state) + i * np.uint64(GAMMA)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        self.state = (self.state + n * GAMMA) & MASK
        return (z >> np.uint64(40)).astype(np.float64) * 2.0 ** -24

    def uniform(self, n, lo, hi):
        """float32(lo + (hi - lo) * u), computed in float64 like the Java side."""
        u = self.next_floats(n)
        return (lo + (hi - lo) * u).astype(np.float32)


# ---------------------------------------------------------------------------- the two models

def bn(c):
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class FmnistCnn(nn.Module):
    def __init__(self):
        super().__init__()
        cin = 1
        for i, c in enumerate([32, 64, 128, 256], 1):
            setattr(self, "conv%d" % i, nn.Conv2d(cin, c, 3, 1, 1, bias=False))
            setattr(self, "bn%d" % i, bn(c))
            cin = c
        self.fc = nn.Linear(256, 128)

    def forward(self, x):
        for i in range(1, 5):
            x = Fn.relu(getattr(self, "bn%d" % i)(getattr(self, "conv%d" % i)(x)))
            if i < 4:
                x = Fn.max_pool2d(x, 2)
        return Fn.normalize(self.fc(x.mean(dim=(2, 3))), dim=1, eps=1e-12)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = bn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = bn(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), bn(cout))

    def forward(self, x):
        h = Fn.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return Fn.relu(h + (x if self.downsample is None else self.downsample(x)))


class FaceResnet10(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 1, 1, bias=False)
        self.bn1 = bn(32)
        self.block1 = BasicBlock(32, 32, 1)
        self.block2 = BasicBlock(32, 64, 2)
        self.block3 = BasicBlock(64, 128, 2)
        self.block4 = BasicBlock(128, 256, 2)
        self.fc = nn.Linear(256, 128)

    def forward(self, x):
        x = Fn.max_pool2d(Fn.relu(self.bn1(self.conv1(x))), 2)
        x = self.block4(self.block3(self.block2(self.block1(x))))
        return Fn.normalize(self.fc(x.mean(dim=(2, 3))), dim=1, eps=1e-12)


INPUT_SHAPES = {"fmnist-cnn": (1, 28, 28), "face-resnet10": (3, 96, 96)}


def build(name):
    return {"fmnist-cnn": FmnistCnn, "face-resnet10": FaceResnet10}[name]()


def init_range(name, shape):
    """Which uniform range each state tensor is drawn from."""
    if name.endswith("running_mean") or (name.endswith(".bias") and len(shape) == 1):
        return -0.1, 0.1
    if name.endswith("running_var") or (name.endswith(".weight") and len(shape) == 1):
        return 0.8, 1.2
    fan_in = int(np.prod(shape[1:]))
    b = math.sqrt(6.0 / fan_in)   # He uniform: the same variance as He normal
    return -b, b


def state_names(model):
    return [k for k in model.state_dict().keys() if not k.endswith("num_batches_tracked")]


# ---------------------------------------------------------------------------- fixture writer

class Writer:
    def __init__(self):
        self.header, self.blob, self.size = [], [], 0

    def line(self, s):
        self.header.append(s)

    def array(self, key, a, **props):
        a = np.ascontiguousarray(a)
        dtype = {np.dtype(np.float32): "f32", np.dtype(np.int32): "i32"}[a.dtype]
        data = a.astype(a.dtype.newbyteorder("<")).tobytes()
        extra = "".join(" %s=%s" % (k, v if isinstance(v, str) else repr(v)) for k, v in props.items())
        self.line("array %s %s %d %d%s" % (key, dtype, a.size, self.size, extra))
        self.blob.append(data)
        self.size += len(data)

    def summary(self, key, values, idx):
        """Whole tensor when small, else the values at the fixed positions idx; plus sum(x^2), sum(|x|)."""
        v = values.detach().double().cpu().numpy().ravel()
        props = dict(n=int(v.size), sumsq=float(np.sum(v * v)), sumabs=float(np.sum(np.abs(v))))
        if idx is None:
            self.array(key, v.astype(np.float32), **props)
        else:
            self.array(key, v[idx].astype(np.float32), idx=idx_key(key), **props)

    def write(self, path):
        text = "\n".join(["SEMIHARD-GOLDEN %d" % VERSION] + self.header + ["end"]) + "\n"
        with open(path, "wb") as f:
            f.write(text.encode("utf-8"))
            for b in self.blob:
                f.write(b)


def idx_key(key):
    model, name = key.split("/")[0], key.rsplit("/", 1)[1]
    return "%s/idx/%s" % (model, name)


def train_step(w, name, model, x, r, names, idx):
    """One train-mode forward of loss = sum(E * r) and its backward: the embeddings, the loss, every
    parameter's gradient and every buffer after the step (running statistics). Returns the loss."""
    e = model(x)
    loss = (e * r).sum()
    loss.backward()
    w.array("%s/train/embeddings" % name, e.detach().numpy().astype(np.float32))
    w.array("%s/train/loss" % name, np.array([loss.item()], dtype=np.float32), value=loss.item())
    params = dict(model.named_parameters())
    for n in names:
        if n in params:
            w.summary("%s/grad/%s" % (name, n), params[n].grad, idx[n])
        else:
            w.summary("%s/train1/%s" % (name, n), model.state_dict()[n], idx[n])
    return loss


def main():
    torch.set_default_dtype(torch.float64)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    w = Writer()
    w.line("meta torch %s" % torch.__version__)
    w.line("meta generator SplitMix64 (dev.semihard.engine.Rng.nextFloat), float32(lo + (hi - lo) * u)")
    w.line("meta loss sum(embeddings * lossweights)")
    w.line("meta steps %d" % STEPS)
    w.line("meta bn eps=%r momentum=%r" % (BN_EPS, BN_MOMENTUM))
    w.line("meta sgd lr=%r momentum=%r weight_decay=%r nesterov=0" % (SGD["lr"], SGD["momentum"], SGD["weight_decay"]))
    w.line("meta adam lr=%r beta1=%r beta2=%r eps=%r weight_decay=%r" % tuple(ADAM[k] for k in ("lr", "beta1", "beta2", "eps", "weight_decay")))
    for name, batch, seed in MODELS:
        model = build(name)
        names = state_names(model)
        w.line("model %s batch=%d seed=%d" % (name, batch, seed))
        rng = SplitMix64(seed)
        init = {}
        for n in names:
            shape = tuple(model.state_dict()[n].shape)
            lo, hi = init_range(n, shape)
            w.line("init %s %s %r %r %s" % (name, n, lo, hi, ",".join(map(str, shape))))
            init[n] = torch.from_numpy(rng.uniform(int(np.prod(shape)), lo, hi).astype(np.float64).reshape(shape))
        xshape = (batch,) + INPUT_SHAPES[name]
        w.line("init %s input %r %r %s" % (name, -1.0, 1.0, ",".join(map(str, xshape))))
        x = torch.from_numpy(rng.uniform(int(np.prod(xshape)), -1.0, 1.0).astype(np.float64).reshape(xshape))
        w.line("init %s lossweights %r %r %d,128" % (name, -1.0, 1.0, batch))
        r = torch.from_numpy(rng.uniform(batch * 128, -1.0, 1.0).astype(np.float64).reshape(batch, 128))

        # fixed sample positions for the big tensors (the same for grad/sgd/adam)
        pick = np.random.default_rng(seed)
        idx = {}
        for n in names:
            size = init[n].numel()
            if size > FULL_MAX:
                idx[n] = np.sort(pick.choice(size, SAMPLES, replace=False)).astype(np.int32)
                w.array("%s/idx/%s" % (name, n), idx[n])
            else:
                idx[n] = None

        def load():
            sd = model.state_dict()
            for n in names:
                sd[n].copy_(init[n])
            model.load_state_dict(sd)

        # eval mode first (running statistics as initialized)
        load()
        model.eval()
        with torch.no_grad():
            w.array("%s/eval/embeddings" % name, model(x).numpy().astype(np.float32))

        # one train-mode forward + backward
        load()
        model.train()
        model.zero_grad(set_to_none=True)
        train_step(w, name, model, x, r, names, idx)

        # the semi-hard triplet loss end to end (labels: pairs of consecutive rows)
        load()
        model.train()
        model.zero_grad(set_to_none=True)
        labels = torch.arange(batch) // 2
        tl, units, active = semihard_loss(model(x), labels, MARGIN, False, "squared-l2", batch)
        tl.backward()
        w.line("meta %s.semihard labels=i//2 margin=%r distance=squared-l2 units=%d active=%d" % (name, MARGIN, units, active))
        w.array("%s/semihard/loss" % name, np.array([tl.item()], dtype=np.float32), value=tl.item())
        params = dict(model.named_parameters())
        for n in names:
            if n in params:
                w.summary("%s/semihard/grad/%s" % (name, n), params[n].grad, idx[n])

        for tag, make in (("sgd", lambda ps: torch.optim.SGD(ps, lr=SGD["lr"], momentum=SGD["momentum"],
                                                               weight_decay=SGD["weight_decay"])),
                          ("adam", lambda ps: torch.optim.Adam(ps, lr=ADAM["lr"], betas=(ADAM["beta1"], ADAM["beta2"]),
                                                                eps=ADAM["eps"], weight_decay=ADAM["weight_decay"]))):
            load()
            model.train()
            opt = make(model.parameters())
            for _ in range(STEPS):
                opt.zero_grad(set_to_none=True)
                ((model(x) * r).sum()).backward()
                opt.step()
            sd = model.state_dict()
            for n in names:
                w.summary("%s/%s/%s" % (name, tag, n), sd[n], idx[n])
        print("%s: %d state tensors, loss %.10f" % (name, len(names), loss.item()))
    path = os.path.normpath(OUT)
    w.write(path)
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    sys.exit(main())
