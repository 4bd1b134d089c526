#!/usr/bin/python3
"""Writes the PyTorch golden fixture of the deeper face models (engine/src/test/resources/golden/golden-deep-v1.bin).

Run with Debian's python3-torch (1.13):  /usr/bin/python3 tools/golden/make_golden_deep.py

face-resnet18 and face-resnet34 (dev.semihard.engine.nn.Models) are torchvision's ResNet-18 and -34 with a
3x3 stride-1 stem and a 2x2 maxpool; the twins below use torchvision's state names (conv1, bn1,
layer1.0.conv1, ..., layer2.0.downsample.0, fc). The networks end in a global average pool, so a small
input checks them as well as a face-sized one: the fixture is kept small (~0.2 MB) with a batch of 2 at
32x32 (face-resnet18, D = 128) and 36x36 (face-resnet34, D = 64: odd map sizes 9 -> 5 -> 3 exercise the
stride-2 rounding of the convolutions and the 1x1 shortcuts, and a non-default --embedding-dim).

Same format, generator and conventions as make_golden.py (read its docstring), with less recorded:

  eval/embeddings      eval-mode embeddings (running statistics as initialized)
  train/embeddings     train-mode embeddings (batch statistics)
  train/loss           L = sum(E * R)
  grad/<name>          dL/d<name> for every parameter
  train1/<name>        running statistics after that one train-mode forward

Tensors over 256 elements are stored as 64 fixed random positions plus sum(x^2) and sum(|x|). The optimizers
and the triplet loss do not depend on the model and are checked on the two models of make_golden.py.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as g  # noqa: E402  (generator, writer, BasicBlock, init ranges)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "engine", "src", "test", "resources",
                   "golden", "golden-deep-v%d.bin" % g.VERSION)
# (name, blocks per stage, batch, input size, embedding dim, generator seed)
MODELS = [("face-resnet18", (2, 2, 2, 2), 2, 32, 128, 303), ("face-resnet34", (3, 4, 6, 3), 2, 36, 64, 404)]
FULL_MAX, SAMPLES = 256, 64


class FaceResnet(nn.Module):
    """torchvision.models.resnet.ResNet(BasicBlock, blocks) with conv1 3x3 stride 1, maxpool 2, fc 512 -> dim."""

    def __init__(self, blocks, dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = g.bn(64)
        cin = 64
        for i, (n, w) in enumerate(zip(blocks, (64, 128, 256, 512)), 1):
            layers = []
            for j in range(n):
                layers.append(g.BasicBlock(cin, w, 2 if i > 1 and j == 0 else 1))
                cin = w
            setattr(self, "layer%d" % i, nn.Sequential(*layers))
        self.fc = nn.Linear(512, dim)

    def forward(self, x):
        x = Fn.max_pool2d(Fn.relu(self.bn1(self.conv1(x))), 2)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return Fn.normalize(self.fc(x.mean(dim=(2, 3))), dim=1, eps=1e-12)


def main():
    torch.set_default_dtype(torch.float64)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    w = g.Writer()
    w.line("meta torch %s" % torch.__version__)
    w.line("meta generator SplitMix64 (dev.semihard.engine.Rng.nextFloat), float32(lo + (hi - lo) * u)")
    w.line("meta loss sum(embeddings * lossweights)")
    w.line("meta bn eps=%r momentum=%r" % (g.BN_EPS, g.BN_MOMENTUM))
    for name, blocks, batch, size, dim, seed in MODELS:
        model = FaceResnet(blocks, dim)
        names = g.state_names(model)
        w.line("model %s batch=%d seed=%d input_size=%d embedding_dim=%d" % (name, batch, seed, size, dim))
        rng = g.SplitMix64(seed)
        init = {}
        for n in names:
            shape = tuple(model.state_dict()[n].shape)
            lo, hi = g.init_range(n, shape)
            w.line("init %s %s %r %r %s" % (name, n, lo, hi, ",".join(map(str, shape))))
            init[n] = torch.from_numpy(rng.uniform(int(np.prod(shape)), lo, hi).astype(np.float64).reshape(shape))
        xshape = (batch, 3, size, size)
        w.line("init %s input %r %r %s" % (name, -1.0, 1.0, ",".join(map(str, xshape))))
        x = torch.from_numpy(rng.uniform(int(np.prod(xshape)), -1.0, 1.0).astype(np.float64).reshape(xshape))
        w.line("init %s lossweights %r %r %d,%d" % (name, -1.0, 1.0, batch, dim))
        r = torch.from_numpy(rng.uniform(batch * dim, -1.0, 1.0).astype(np.float64).reshape(batch, dim))

        pick = np.random.default_rng(seed)
        idx = {}
        for n in names:
            size_n = init[n].numel()
            idx[n] = None
            if size_n > FULL_MAX:
                idx[n] = np.sort(pick.choice(size_n, SAMPLES, replace=False)).astype(np.int32)
                w.array("%s/idx/%s" % (name, n), idx[n])

        sd = model.state_dict()
        for n in names:
            sd[n].copy_(init[n])
        model.load_state_dict(sd)
        model.eval()
        with torch.no_grad():
            w.array("%s/eval/embeddings" % name, model(x).numpy().astype(np.float32))

        model.train()
        loss = g.train_step(w, name, model, x, r, names, idx)
        print("%s: %d state tensors, %d parameters, loss %.10f" % (name, len(names),
              sum(p.numel() for p in model.parameters()), loss.item()))
    path = os.path.normpath(OUT)
    w.write(path)
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    sys.exit(main())
