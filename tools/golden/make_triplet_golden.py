#!/usr/bin/python3
"""Writes the golden fixture of the fused triplet loss (engine/src/test/resources/golden/triplet-golden-v1.txt).

Run with Debian's python3-torch (1.13):  /usr/bin/python3 tools/golden/make_triplet_golden.py

The losses are PyTorch ports, in float64 with autograd for dLoss/dE, of the formulations people
compare against:

  semihard    tfa.losses.triplet_semihard_loss (TensorFlow Addons), ported operation by operation:
              the B^2 x B "tile" masks, _masked_minimum / _masked_maximum, the same pairwise_distance
              (Gram form, clamp, sqrt with the error mask) and angular_distance. Memory O(B^3): fine
              for fixtures, and exactly what the fused kernel avoids.
  batch-hard  tfa.losses.triplet_hard_loss (hardest positive by _masked_maximum, hardest negative by
              _masked_minimum), averaged over the anchors.
  batch-all   the usual masked B x B x B formulation (valid-triplet mask, relu, divided by the count
              of positive terms).

Two extensions, both small masks, so the fixture covers the project's options:
  * anchor_rows: rows >= anchor_rows (FaceNet's extra negatives) are removed from the positive mask
    (never anchors, never positives) but stay in the negative mask;
  * soft margin: log(1 + exp(x)) in place of max(x + margin, 0) (TF-Addons' triplet_hard_loss
    has soft=True; for semihard and batch-all the same replacement is applied).

Embeddings are float32 values (so the Java side, which uploads floats, sees the very same inputs);
random Gaussian values, so no exact distance ties occur (on ties TF splits a gradient between the tied
entries while the project's kernel gives it to the lowest index; the loss is the same).

File format (text, one item per line):
  TRIPLET-GOLDEN 1
  case <name> <strategy> <distance> <margin> <soft 0|1> <B> <D> <anchorRows>
  labels <B ints>
  e <B*D floats, float32 values printed with 9 significant digits>
  loss <float64>
  dE <B*D float64>
  counts <units> <active>       (units: positive pairs / valid anchors / valid triplets)
  end
"""
import os
import struct

import torch

torch.set_default_dtype(torch.float64)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "engine", "src", "test", "resources", "golden", "triplet-golden-v1.txt")


# ---------------------------------------------------------------- TF-Addons metric_learning, ported

def pairwise_distance(feature, squared=False):
    """tfa.losses.metric_learning.pairwise_distance."""
    sq = torch.sum(feature ** 2, dim=1, keepdim=True)
    pdist_sq = sq + sq.t() - 2.0 * feature @ feature.t()
    pdist_sq = torch.clamp(pdist_sq, min=0.0)
    error_mask = pdist_sq <= 0.0
    if squared:
        pdist = pdist_sq
    else:
        pdist = torch.sqrt(pdist_sq + error_mask.double() * 1e-16)
    pdist = pdist * (~error_mask).double()
    n = feature.shape[0]
    return pdist * (torch.ones(n, n) - torch.eye(n))


def angular_distance(feature):
    """tfa.losses.metric_learning.angular_distance: 1 - cos, clamped at 0, zero diagonal."""
    norm = torch.sqrt(torch.clamp(torch.sum(feature ** 2, dim=1, keepdim=True), min=1e-12))
    f = feature / norm
    d = 1.0 - f @ f.t()
    d = torch.clamp(d, min=0.0)
    n = feature.shape[0]
    return d * (torch.ones(n, n) - torch.eye(n))


def distances(e, metric):
    if metric == "squared-l2":
        return pairwise_distance(e, squared=True)
    if metric == "l2":
        return pairwise_distance(e, squared=False)
    if metric == "cosine":
        return angular_distance(e)
    raise ValueError(metric)


def masked_maximum(data, mask, dim=1):
    axis_minimums = torch.min(data, dim, keepdim=True).values
    return torch.max((data - axis_minimums) * mask, dim, keepdim=True).values + axis_minimums


def masked_minimum(data, mask, dim=1):
    axis_maximums = torch.max(data, dim, keepdim=True).values
    return torch.min((data - axis_maximums) * mask, dim, keepdim=True).values + axis_maximums


def hinge(x, margin, soft):
    # x = d_ap - d_an
    return torch.nn.functional.softplus(x) if soft else torch.clamp(x + margin, min=0.0)


def masks(labels, anchor_rows):
    b = labels.shape[0]
    lab = labels.view(-1, 1)
    adjacency = lab == lab.t()
    adjacency_not = ~adjacency
    is_anchor = torch.arange(b) < anchor_rows
    # positives: same label, off-diagonal, both rows inside the P x K part
    mask_pos = adjacency & ~torch.eye(b, dtype=torch.bool) & is_anchor.view(-1, 1) & is_anchor.view(1, -1)
    return adjacency, adjacency_not, mask_pos


# ---------------------------------------------------------------- the three losses

def semihard_loss(e, labels, margin, soft, metric, anchor_rows):
    """tfa.losses.triplet_semihard_loss, line by line (plus anchor_rows and soft margin)."""
    pdist_matrix = distances(e, metric)
    adjacency, adjacency_not, mask_positives = masks(labels, anchor_rows)
    batch_size = labels.shape[0]
    pdist_matrix_tile = pdist_matrix.repeat(batch_size, 1)                                   # [B*B, B]
    mask = adjacency_not.repeat(batch_size, 1) & (pdist_matrix_tile > pdist_matrix.t().reshape(-1, 1))
    mask_final = (mask.double().sum(1, keepdim=True) > 0.0).reshape(batch_size, batch_size).t()
    adjacency_not_f = adjacency_not.double()
    mask_f = mask.double()
    negatives_outside = masked_minimum(pdist_matrix_tile, mask_f).reshape(batch_size, batch_size).t()
    negatives_inside = masked_maximum(pdist_matrix, adjacency_not_f).repeat(1, batch_size)
    semi_hard_negatives = torch.where(mask_final, negatives_outside, negatives_inside)
    mp = mask_positives.double()
    num_positives = mp.sum()
    terms = hinge(pdist_matrix - semi_hard_negatives, margin, soft) * mp
    loss = terms.sum() / num_positives
    units = int(num_positives.item())
    active = int(((terms > 0) & mask_positives).sum().item())
    return loss, units, active


def batch_hard_loss(e, labels, margin, soft, metric, anchor_rows):
    """tfa.losses.triplet_hard_loss (plus anchor_rows), averaged over anchors with a positive."""
    pdist_matrix = distances(e, metric)
    adjacency, adjacency_not, mask_positives = masks(labels, anchor_rows)
    hardest_positive = masked_maximum(pdist_matrix, mask_positives.double())
    hardest_negative = masked_minimum(pdist_matrix, adjacency_not.double())
    valid = (mask_positives.sum(1, keepdim=True) > 0) & (adjacency_not.sum(1, keepdim=True) > 0)
    terms = hinge(hardest_positive - hardest_negative, margin, soft) * valid.double()
    units = int(valid.sum().item())
    loss = terms.sum() / units
    active = int(((terms > 0) & valid).sum().item())
    return loss, units, active


def batch_all_loss(e, labels, margin, soft, metric, anchor_rows):
    """Every valid (a, p, n): sum of the terms divided by the number of positive terms."""
    pdist = distances(e, metric)
    adjacency, adjacency_not, mask_positives = masks(labels, anchor_rows)
    x = pdist.unsqueeze(2) - pdist.unsqueeze(1)                                              # [a, p, n]
    valid = mask_positives.unsqueeze(2) & adjacency_not.unsqueeze(1)
    terms = hinge(x, margin, soft) * valid.double()
    positive = (terms > 0) & valid
    active = int(positive.sum().item())
    loss = terms.sum() / active if active > 0 else terms.sum() * 0.0
    return loss, int(valid.sum().item()), active


LOSSES = {"semihard": semihard_loss, "batch-hard": batch_hard_loss, "batch-all": batch_all_loss}


# ---------------------------------------------------------------- cases

class SplitMix64:
    """dev.semihard.engine.Rng, so the inputs could be regenerated in Java (they are stored anyway)."""
    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def next_long(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def next_double(self):
        return (self.next_long() >> 11) * 2.0 ** -53

    def gaussian(self):
        import math
        u1, u2 = self.next_double(), self.next_double()
        u1 = max(u1, 1e-300)
        return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def layout(name, labels, anchor_rows, d, seed, normalize):
    r = SplitMix64(seed)
    b = len(labels)
    rows = []
    for _ in range(b):
        v = [r.gaussian() for _ in range(d)]
        if normalize:
            n = sum(t * t for t in v) ** 0.5
            v = [t / n for t in v]
        rows.append([f32(t) for t in v])
    return name, labels, anchor_rows, d, rows


def cases():
    out = []
    out.append(layout("pk4x3", [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3], 12, 6, 1, True))
    out.append(layout("pk3x4+3extra", [5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 20, 21, 22], 12, 8, 2, True))
    out.append(layout("uneven+2extra", [1, 2, 1, 3, 2, 1, 3, 3, 1, 2, 9, 8], 10, 5, 3, True))
    out.append(layout("raw-gaussian", [0, 1, 0, 1, 2, 2, 0, 3, 3], 9, 4, 4, False))
    return out


def main():
    lines = ["TRIPLET-GOLDEN 1"]
    n = 0
    for name, labels, anchor_rows, d, rows in cases():
        for strategy, fn in LOSSES.items():
            for metric in ("squared-l2", "l2", "cosine"):
                for margin, soft in ((0.2, False), (1.0, False), (0.2, True)):
                    margin32 = f32(margin)
                    e = torch.tensor(rows, requires_grad=True)
                    lab = torch.tensor(labels)
                    loss, units, active = fn(e, lab, margin32, soft, metric, anchor_rows)
                    loss.backward()
                    b = len(labels)
                    lines.append(f"case {name} {strategy} {metric} {margin32!r} {int(soft)} {b} {d} {anchor_rows}")
                    lines.append("labels " + " ".join(str(x) for x in labels))
                    lines.append("e " + " ".join(f"{v:.9g}" for row in rows for v in row))
                    lines.append(f"loss {loss.item()!r}")
                    lines.append("dE " + " ".join(repr(v) for v in e.grad.reshape(-1).tolist()))
                    lines.append(f"counts {units} {active}")
                    lines.append("end")
                    n += 1
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {n} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
