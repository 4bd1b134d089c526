#!/usr/bin/env python3
"""Instruction mix of a CUDA kernel's main loops, from SASS: how much of each loop is the work (FFMA,
HMMA) and how much is loads, addresses and control. A loop whose FFMAs are a small share of its
instructions is bound by instruction issue long before the FMA units; the share times the GPU's FP32
rate bounds what the kernel can reach.

  tools/sass/loop-mix.py FILE.cu KERNEL [KERNEL...] [--loops N]

Compiles FILE.cu for sm_90 with nvcc (as build-fatbins.sh does, -O3 -std=c++17), disassembles it with
nvdisasm, and prints, for each kernel, its N largest loops (default 1): length in instructions and the
most frequent opcodes. nvcc 13 ships no disassembler here; NVDISASM may point at another one. The
Debian one (non-free nvidia-cuda-toolkit 11.8: `apt-get download nvidia-cuda-toolkit`, `dpkg -x`, no
need to install) reads sm_90 code but not CUDA 13's ELF header, so this script writes the older header
flags (EF_CUDA_SM90 | EF_CUDA_VIRTUAL_SM(90), ABI version 7) into a copy of the cubin first.
"""
import collections
import os
import re
import struct
import subprocess
import sys
import tempfile


def sass(cu, nvcc, nvdisasm):
    tmp = tempfile.mkdtemp()
    cubin = os.path.join(tmp, "k.cubin")
    subprocess.run([nvcc, "-cubin", "-O3", "-std=c++17", "-arch=sm_90", "-o", cubin, cu], check=True)
    d = bytearray(open(cubin, "rb").read())
    struct.pack_into("<I", d, 0x30, 0x5A055A)   # e_flags as CUDA <= 12 wrote them for sm_90
    d[8] = 7                                       # EI_ABIVERSION
    open(cubin, "wb").write(d)
    return subprocess.run([nvdisasm, "-c", cubin], check=True, capture_output=True, text=True).stdout


def loops(text, kernel):
    m = re.search(r"\n%s:\n(.*?)(?=\n\s*//-----|\Z)" % re.escape(kernel), text, re.S)
    if not m:
        raise SystemExit("no kernel %s in the SASS" % kernel)
    ins, labels = [], {}
    for line in m.group(1).split("\n"):
        lm = re.match(r"^\s*(\.L_x_\d+):", line)
        if lm:
            labels[lm.group(1)] = len(ins)
            continue
        im = re.match(r"\s*/\*[0-9a-f]{4,}\*/\s+(.*?);", line)
        if im:
            ins.append(im.group(1).strip())
    found = []
    bars = [i for i, s in enumerate(ins) if s.startswith("BAR.SYNC")]
    for i, s in enumerate(ins):   # a backward branch closes a loop
        b = re.search(r"BRA.*`\((\.L_x_\d+)\)", s)
        if not b:
            continue
        if b.group(1) in labels:
            start = labels[b.group(1)]
            if start > i:
                continue
        else:
            # nvdisasm 11.8 sometimes prints no label for a target in CUDA 13 code; the tiles' k-slice loop
            # ends with its barrier and the branch back, and begins after the barrier before that one
            before = [j for j in bars if j < i]
            if len(before) < 2 or before[-1] != i - 1:
                continue
            start = before[-2] + 1
        ops = collections.Counter(re.sub(r"^@!?U?P\w+\s+", "", x).split()[0] for x in ins[start:i + 1])
        found.append((i - start + 1, ops))
    return len(ins), sorted(found, key=lambda f: -f[0])


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--loops")]
    n = next((int(a.split("=")[1]) for a in sys.argv[1:] if a.startswith("--loops=")), 1)
    if len(args) < 2:
        raise SystemExit(__doc__)
    nvcc = os.environ.get("NVCC", "/usr/local/bin/nvcc")
    nvdisasm = os.environ.get("NVDISASM", "nvdisasm")
    text = sass(args[0], nvcc, nvdisasm)
    for k in args[1:]:
        total, ls = loops(text, k)
        print("%s: %d instructions" % (k, total))
        for length, ops in ls[:n]:
            work = sum(v for o, v in ops.items() if o.startswith(("FFMA", "HMMA")))
            local = sum(v for o, v in ops.items() if o.startswith(("LDL", "STL")))   # spilled registers
            print("  loop of %d: %d FFMA/HMMA (%.0f%%); %s%s" % (length, work, 100.0 * work / length,
                  " ".join("%s %d" % kv for kv in ops.most_common(12)),
                  "; local memory (spills) %d" % local if local else ""))


if __name__ == "__main__":
    main()
