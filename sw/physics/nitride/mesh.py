"""Smoothly graded non-uniform 1D meshes.

Nodes fall on every breakpoint (layer interfaces, IBL edges); the spacing grows
geometrically away from refinement points, h(z) = min(h_max, h_ref + (g - 1) |z - z_ref|),
so that neighbouring cells differ by at most the factor g (keeps the three-point
schemes close to second order).
"""

from __future__ import annotations

import numpy as np


def graded_mesh_nm(
    breakpoints_nm: list[float],
    refinements: list[tuple[float, float]],
    max_spacing_nm: float,
    growth: float = 1.15,
) -> np.ndarray:
    """Node positions (nm) on [min(breakpoints), max(breakpoints)].

    ``refinements`` is a list of (position_nm, spacing_nm at that position).
    """
    if growth <= 1.0:
        raise ValueError(f"mesh growth factor must be > 1, got {growth:g}")
    points = np.unique(np.asarray(breakpoints_nm, dtype=float))
    finest = min([max_spacing_nm] + [spacing for _, spacing in refinements])
    nodes = [points[:1]]
    for start, stop in zip(points[:-1], points[1:], strict=True):
        # Sample the target spacing finely, integrate the cell count s(z) = int dz / h(z),
        # and place nodes at equal steps of s: cells then follow h(z) smoothly.
        samples = max(64, int(np.ceil(4.0 * (stop - start) / finest)) + 1)
        z = np.linspace(start, stop, samples)
        spacing = np.full_like(z, max_spacing_nm)
        for position, local in refinements:
            spacing = np.minimum(spacing, local + (growth - 1.0) * np.abs(z - position))
        density = 1.0 / spacing
        cells = np.concatenate(([0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(z))))
        count = max(1, int(np.ceil(cells[-1])))
        targets = np.linspace(0.0, cells[-1], count + 1)
        segment = np.interp(targets, cells, z)
        segment[0], segment[-1] = start, stop
        nodes.append(segment[1:])
    return np.concatenate(nodes)
