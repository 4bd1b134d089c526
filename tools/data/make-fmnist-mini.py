#!/usr/bin/env python3
"""Draws the Fashion-MNIST subset embedded in the trainer jar (trainer/src/main/resources/fmnist-mini).

A class-balanced, seeded draw from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist):
TRAIN_PER_CLASS training images and TEST_PER_CLASS test images per class, in a shuffled order, written
as gzip IDX files like the originals. Sized so that `./semihard train` on a machine with only a JDK
(the cpu backend on two cores) finishes in under three minutes and reaches Recall@1 >= 0.85 on the
embedded test images, while the jar stays small (about 2.6 MB of images).

  python3 tools/data/make-fmnist-mini.py [SRC_DIR] [OUT_DIR] [TRAIN_PER_CLASS] [TEST_PER_CLASS]
"""
import gzip
import random
import struct
import sys
from pathlib import Path

SRC = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/usr/share/datasets/fashion-mnist")
OUT = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[2] / "trainer/src/main/resources/fmnist-mini"
TRAIN_PER_CLASS = int(sys.argv[3]) if len(sys.argv) > 3 else 600
TEST_PER_CLASS = int(sys.argv[4]) if len(sys.argv) > 4 else 100
SEED = 20


def read(prefix):
    imgs = gzip.open(SRC / f"{prefix}-images-idx3-ubyte.gz").read()
    labs = gzip.open(SRC / f"{prefix}-labels-idx1-ubyte.gz").read()
    n, rows, cols = struct.unpack(">III", imgs[4:16])
    size = rows * cols
    return [(imgs[16 + i * size:16 + (i + 1) * size], labs[8 + i]) for i in range(n)], rows, cols


def draw(items, per_class, rng):
    by = {}
    for img, lab in items:
        by.setdefault(lab, []).append((img, lab))
    out = []
    for lab in sorted(by):
        if len(by[lab]) < per_class:
            sys.exit(f"class {lab} has only {len(by[lab])} images, asked for {per_class}")
        out += rng.sample(by[lab], per_class)
    rng.shuffle(out)
    return out


def write(prefix, items, rows, cols):
    OUT.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(OUT / f"{prefix}-images-idx3-ubyte.gz", "wb", mtime=0) as f:
        f.write(struct.pack(">IIII", 2051, len(items), rows, cols) + b"".join(img for img, _ in items))
    with gzip.GzipFile(OUT / f"{prefix}-labels-idx1-ubyte.gz", "wb", mtime=0) as f:
        f.write(struct.pack(">II", 2049, len(items)) + bytes(lab for _, lab in items))


def main():
    rng = random.Random(SEED)
    for prefix, per in (("train", TRAIN_PER_CLASS), ("t10k", TEST_PER_CLASS)):
        items, rows, cols = read(prefix)
        sub = draw(items, per, rng)
        write(prefix, sub, rows, cols)
        print(f"{prefix}: {len(sub)} images ({per} per class) -> {OUT}")


if __name__ == "__main__":
    main()
