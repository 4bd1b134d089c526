#!/usr/bin/env python3
"""Check a semihard checkpoint from Python, independently of the Java code.

1. Reads the safetensors file by hand (8-byte little-endian header length, JSON header, raw
   little-endian float32 or int32 data), exactly as the format specifies, and checks every offset; when the
   `safetensors` package is installed it also loads the file with `safetensors.numpy.load_file`.
2. With PyTorch and the reference model definitions of tools/golden/make_golden.py, loads the
   weights into the PyTorch fmnist-cnn, embeds the first N Fashion-MNIST test images (eval mode)
   and compares them with the embeddings.npy that `semihard embed` wrote for the same images.

    ./semihard embed runs/RUN --limit 200 --out /tmp/emb
    python3 trainer/python/verify_checkpoint.py runs/RUN/model.safetensors /tmp/emb/embeddings.npy
"""
import gzip
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    b = open(path, "rb").read()
    (n,) = struct.unpack("<Q", b[:8])
    header = json.loads(b[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors, end = {}, 0
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        # F32, and I32 for the offline miner's triplet indices (checkpoint.safetensors of such a run)
        assert t["dtype"] in ("F32", "I32"), (name, t["dtype"])
        lo, hi = t["data_offsets"]
        assert lo == end, f"{name}: gap or overlap at {lo} (expected {end})"
        count = int(np.prod(t["shape"])) if t["shape"] else 1
        assert hi - lo == 4 * count, f"{name}: {hi - lo} bytes for shape {t['shape']}"
        kind = "<f4" if t["dtype"] == "F32" else "<i4"
        tensors[name] = np.frombuffer(b[8 + n + lo:8 + n + hi], dtype=kind).reshape(t["shape"])
        end = hi
    assert 8 + n + end == len(b), f"file has {len(b)} bytes, header covers {8 + n + end}"
    return tensors, meta


def main():
    ckpt = sys.argv[1]
    emb = sys.argv[2] if len(sys.argv) > 2 else None
    tensors, meta = read_safetensors(ckpt)
    print(f"{ckpt}: {len(tensors)} tensors, metadata {dict((k, v) for k, v in meta.items() if k != 'config')}")
    try:
        from safetensors.numpy import load_file
        lib = load_file(ckpt)
        assert all(np.array_equal(lib[k], tensors[k]) for k in tensors)
        print("safetensors package: loads the file, same values")
    except ImportError:
        print("safetensors package not installed: checked by hand only")
    if emb is None:
        return
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "golden"))
    import torch
    from make_golden import FmnistCnn
    model = FmnistCnn()
    # model tensors only: a checkpoint.safetensors also holds optimizer/*, offline_miner/* and training_bn/*
    # (the batch-norm statistics before recalibration); model names never contain a '/'
    state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items() if "/" not in k}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    model = model.float().eval()
    java = np.load(emb)
    raw = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()[16:]
    x = np.frombuffer(raw, dtype=np.uint8)[: java.shape[0] * 784].reshape(-1, 1, 28, 28).astype(np.float32)
    x = (x / 255.0 - 0.2860) / 0.3530
    with torch.no_grad():
        py = model(torch.from_numpy(x)).numpy()
    diff = np.abs(py - java).max()
    print(f"PyTorch vs semihard embeddings of {java.shape[0]} test images: max |diff| = {diff:.3g}")
    sys.exit(0 if diff < 1e-4 else 1)


if __name__ == "__main__":
    main()
