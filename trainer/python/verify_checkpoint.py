#!/usr/bin/env python3
"""Check a semihard checkpoint from Python, independently of the Java code.

1. Reads the safetensors file by hand (8-byte little-endian header length, JSON header, raw
   little-endian float32 or int32 data), exactly as the format specifies, and checks every offset; when the
   `safetensors` package is installed it also loads the file with `safetensors.numpy.load_file`.
2. With PyTorch and the reference model definitions of tools/golden/ (make_golden.py: fmnist-cnn,
   face-resnet10; make_golden_deep.py: face-resnet18, face-resnet34, torchvision's names), builds the
   checkpoint's model (metadata `model`, `embedding_dim`, `input_size`; checkpoints older than `input_size`
   mean the model's default), loads the weights with strict names and shapes, embeds the inputs (eval mode)
   and compares with the embeddings.npy that `semihard embed` wrote for the same images. The inputs are the
   inputs.npy of `semihard embed --save-inputs` (any model), or, for fmnist-cnn without it, the first N
   Fashion-MNIST test images.

    ./semihard embed runs/RUN --limit 200 --out /tmp/emb [--save-inputs]
    python3 trainer/python/verify_checkpoint.py runs/RUN/model.safetensors /tmp/emb/embeddings.npy [/tmp/emb/inputs.npy]
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


def build_model(meta):
    """The PyTorch twin of the checkpoint's model, with its embedding dimension; and its input size."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "golden"))
    import torch.nn as nn
    import make_golden
    import make_golden_deep
    name = meta.get("model")
    dim = int(meta.get("embedding_dim", 128))
    size = int(meta.get("input_size", 28 if name == "fmnist-cnn" else 96))
    if name == "fmnist-cnn":
        model = make_golden.FmnistCnn()
    elif name == "face-resnet10":
        model = make_golden.FaceResnet10()
    elif name in ("face-resnet18", "face-resnet34"):
        return make_golden_deep.FaceResnet((2, 2, 2, 2) if name == "face-resnet18" else (3, 4, 6, 3), dim), size
    else:
        sys.exit(f"unknown model '{name}' in the checkpoint metadata")
    model.fc = nn.Linear(256, dim)
    return model, size


def torchvision_twin(name, state, dim):
    """face-resnet18/34 as torchvision's resnet18/34 with the stem and fc replaced, loaded strictly; None without torchvision."""
    if name not in ("face-resnet18", "face-resnet34"):
        return None
    try:
        import torchvision
    except ImportError:
        print("torchvision not installed: the torchvision twin is not checked")
        return None
    import torch.nn as nn
    m = getattr(torchvision.models, name[5:])()
    m.conv1, m.maxpool, m.fc = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.MaxPool2d(2), nn.Linear(512, dim)
    missing, unexpected = m.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    return m.float().eval()


def main():
    ckpt = sys.argv[1]
    emb = sys.argv[2] if len(sys.argv) > 2 else None
    inputs = sys.argv[3] if len(sys.argv) > 3 else None
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
    import torch
    torch.set_default_dtype(torch.float32)
    model, size = build_model(meta)
    # model tensors only: a checkpoint.safetensors also holds optimizer/*, offline_miner/* and training_bn/*
    # (the batch-norm statistics before recalibration); model names never contain a '/'
    state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items() if "/" not in k}
    missing, unexpected = model.load_state_dict(state, strict=False)   # shapes are checked either way
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    print(f"PyTorch {meta.get('model')} (D = {meta.get('embedding_dim', 128)}, {size} px): every tensor loaded by name and shape")
    model = model.float().eval()
    java = np.load(emb)
    if inputs is not None:
        x = np.load(inputs).astype(np.float32)
        assert x.shape[0] == java.shape[0] and x.shape[2:] == (size, size), (x.shape, java.shape, size)
    elif meta.get("model") == "fmnist-cnn":
        raw = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()[16:]
        x = np.frombuffer(raw, dtype=np.uint8)[: java.shape[0] * 784].reshape(-1, 1, 28, 28).astype(np.float32)
        x = (x / 255.0 - 0.2860) / 0.3530
    else:
        sys.exit("a face model's images: pass the inputs.npy that 'semihard embed --save-inputs' wrote as the third argument")
    with torch.no_grad():
        py = model(torch.from_numpy(x)).numpy()
    diff = np.abs(py - java).max()
    print(f"PyTorch vs semihard embeddings of {java.shape[0]} images: max |diff| = {diff:.3g}")
    tv = torchvision_twin(meta.get("model"), state, int(meta.get("embedding_dim", 128)))
    if tv is not None:
        with torch.no_grad():
            tvd = np.abs(torch.nn.functional.normalize(tv(torch.from_numpy(x)), dim=1).numpy() - java).max()
        print(f"torchvision {meta.get('model')[5:]} (3x3 stem, maxpool 2, fc 512 -> D), strict load: max |diff| = {tvd:.3g}")
        diff = max(diff, tvd)
    sys.exit(0 if diff < 1e-4 else 1)


if __name__ == "__main__":
    main()
