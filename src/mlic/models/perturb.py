"""Emulate a decoder machine whose floating point differs from the encoder's (for tests and benchmarks).

A real other machine (another CPU's kernels, a GPU) changes predicted σ in the last bits; how often
that crosses a table-index boundary depends on luck. This makes the worst case happen on purpose: in
every checkerboard half, the σ closest to an index boundary are moved across it by their own distance
(a rounding error no larger than that distance), on top of uniform relative noise. Means are left
exact, so the decoded latents can be compared bit for bit with the encoder's.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from ..entropy.reconcile import MAX_MARGIN


def other_machine(model, relative: float = 0.0, mirror: int = 0, seed: int = 0):
    """A copy of ``model`` with perturbed σ. Returns (model, stats); ``stats["flips"]`` counts the σ
    moved across a boundary (all of them closer than ``MAX_MARGIN``)."""
    other = copy.deepcopy(model)
    gc = other.gaussian_conditional
    g = torch.Generator().manual_seed(seed)
    C = model.config.slice_channels
    bounds = gc.index_boundaries()
    stats = {"flips": 0}

    def perturb(module, inputs, output):
        # The parameter nets run on one checkerboard half, squeezed: every position is coded.
        scales = output[:, :C]
        if relative:
            scales = scales * (1 + relative * (2 * torch.rand(scales.shape, generator=g) - 1)).to(scales)
        if mirror:
            for b in range(scales.shape[0]):
                idx = gc.build_indexes(scales[b]).cpu().numpy()
                margins, alt = gc.index_alternatives(scales[b], idx)
                flat = scales[b].reshape(-1).double().cpu().clone()
                for p in np.argsort(margins, kind="stable")[:mirror]:
                    if margins[p] < MAX_MARGIN:
                        edge = bounds[min(int(idx.reshape(-1)[p]), int(alt[p]))]
                        flat[p] = edge * edge / flat[p]  # mirror across the boundary in log space
                        stats["flips"] += 1
                scales = scales.clone()
                scales[b] = flat.reshape(scales[b].shape).to(output)
        return torch.cat([scales, output[:, C:]], 1)

    for s in other.slices:
        s.params_anchor.register_forward_hook(perturb)
        s.params_nonanchor.register_forward_hook(perturb)
    return other, stats
