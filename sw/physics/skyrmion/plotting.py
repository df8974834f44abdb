"""Figures: a texture (m_z colour map with in-plane arrows), the T = 0 phase diagram, a field
sweep and the finite-temperature (B, T) phase diagram.

matplotlib is imported inside each function (headless Agg backend, ``common.pyplot``) so that
importing the solver stays fast.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ...workloads.common import pyplot
from .model import SpinSystem
from .observables import PHASES, topological_charge
from .thermal import THERMAL_PHASES

PHASE_COLOURS = {
    "paramagnet": "#ffffff",
    "ferromagnet": "#d9d9d9",
    "helix": "#6baed6",
    "isolated skyrmions": "#fdae6b",
    "skyrmion lattice": "#e6550d",
}


def plot_texture(system: SpinSystem, m, path, *, title: str | None = None, arrows: int = 24):
    """Save m_z (colour, blue -1 to red +1) with in-plane arrows on ~`arrows` per side."""
    plt = pyplot()
    from matplotlib.tri import Triangulation

    m = system.check_spins(m, "m")
    xy = system.positions().reshape(-1, 2)
    nx, ny = system.shape
    index = np.arange(nx * ny).reshape(nx, ny)
    # The same counter-clockwise triangles as the topological charge, without wrapping.
    a, b, c, d = index[:-1, :-1], index[1:, :-1], index[1:, 1:], index[:-1, 1:]
    if system.lattice == "square":
        triangles = np.concatenate([np.stack([a, b, c], -1), np.stack([a, c, d], -1)])
    else:
        triangles = np.concatenate([np.stack([a, b, d], -1), np.stack([b, c, d], -1)])
    mesh = Triangulation(xy[:, 0], xy[:, 1], triangles.reshape(-1, 3))
    width = 6.0
    extent = np.ptp(xy, axis=0) + 1
    fig, ax = plt.subplots(figsize=(width, width * extent[1] / extent[0] + 0.6))
    image = ax.tripcolor(mesh, m[..., 2].ravel(), cmap="RdBu_r", vmin=-1, vmax=1, shading="gouraud")
    stride = max(1, round(float(np.max(extent)) / arrows))
    sub = (slice(stride // 2, None, stride), slice(stride // 2, None, stride))
    pos = system.positions()[sub]
    ax.quiver(
        pos[..., 0],
        pos[..., 1],
        m[sub][..., 0],
        m[sub][..., 1],
        color="k",
        pivot="middle",
        scale=1.1 / stride,
        scale_units="xy",
        width=0.003,
    )
    ax.set_aspect("equal")
    ax.set_xlabel("x (lattice constants)")
    ax.set_ylabel("y (lattice constants)")
    fig.colorbar(image, ax=ax, label="$m_z$", shrink=0.8)
    if title is None:
        q = topological_charge(m, system.lattice, system.boundary)
        title = f"D={system.D:g}, B={system.B:g}, K={system.K:g}: Q = {q:+.3f}"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)


def plot_phase_diagram(diagram, path, *, reduced_field: bool = False):
    """Colour each (B, D) cell by its phase; reduced_field plots h = B J / D^2 instead of B."""
    plt = pyplot()
    from matplotlib.patches import Patch

    D = diagram.D_values
    B = diagram.B_values
    J = diagram.parameters.get("J", 1.0)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, d in enumerate(D):
        x = B * J / d**2 if reduced_field else B
        # Cell edges halfway between grid points; the outer ones mirror the inner.
        middle = (x[1:] + x[:-1]) / 2
        first = x[0] - (middle[0] - x[0]) if len(x) > 1 else x[0] - 0.5
        last = x[-1] + (x[-1] - middle[-1]) if len(x) > 1 else x[0] + 0.5
        edges = np.concatenate([[max(first, 0.0) if x[0] >= 0 else first], middle, [last]])
        half_height = (D[1] - D[0]) / 2 if len(D) > 1 else 0.05
        for j in range(len(B)):
            ax.fill_between(
                [edges[j], edges[j + 1]],
                d - half_height,
                d + half_height,
                color=PHASE_COLOURS[diagram.phase[i, j]],
                linewidth=0,
            )
            q = diagram.topological_charge[i, j]
            if abs(q) > 0.5 and not reduced_field:
                ax.text(x[j], d, f"{abs(q):.0f}", ha="center", va="center", fontsize=6)
    if reduced_field:
        ax.set_xlim(0.0, min(1.5, ax.get_xlim()[1]))
    ax.set_xlabel("reduced field $h = BJ/D^2$" if reduced_field else "Zeeman energy B (units of J)")
    ax.set_ylabel("DMI D (units of J)")
    ax.legend(
        handles=[Patch(color=PHASE_COLOURS[p], label=p) for p in PHASES],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
    )
    lattice = diagram.parameters.get("lattice", "square")
    ax.set_title(
        f"Lowest-energy state, {lattice} lattice, K={diagram.parameters.get('K', 0):g}"
        " (numbers: |Q| per box)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)


def plot_field_window(window, path):
    """Energies per site of helix and skyrmion lattice relative to the ferromagnet vs B."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    B = window.B_values
    ax.axhline(0.0, color="0.5", label="ferromagnet")
    ax.plot(B, window.helix - window.ferromagnet, "o-", ms=3, label="helix")
    ax.plot(B, window.skyrmion_lattice - window.ferromagnet, "s-", ms=3, label="skyrmion lattice")
    for value, name in (
        (window.helix_to_lattice, "helix | SkX"),
        (window.lattice_to_ferromagnet, "SkX | FM"),
    ):
        if value is not None and math.isfinite(value):
            ax.axvline(value, ls="--", color="k", lw=0.8)
            ax.text(value, ax.get_ylim()[1], f" {name}\n B={value:.4f}", va="top", fontsize=7)
    ax.set_xlabel("Zeeman energy B (units of J)")
    ax.set_ylabel("(E - E_FM) per site (units of J)")
    ax.set_title(f"Field sweep at D = {window.D:g}", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)


def plot_thermal_phase_diagram(diagram, path, *, markers=()):
    """Field-cooled phases over (B, T) and the thermal skyrmion density |<Q>| / ideal count.

    markers: (B, T, label) points in lattice units to place on the diagram (a material).
    """
    plt = pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    B, T = diagram.B_values, diagram.temperatures
    index = {name: i for i, name in enumerate(THERMAL_PHASES)}
    codes = np.vectorize(index.get)(diagram.phase).astype(float)
    colours = ListedColormap([PHASE_COLOURS[name] for name in THERMAL_PHASES])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    left.pcolormesh(B, T, codes.T, cmap=colours, vmin=-0.5, vmax=len(THERMAL_PHASES) - 0.5,
                    shading="nearest", edgecolors="0.85", linewidth=0.3)  # fmt: skip
    density = np.abs(diagram.charge) / diagram.ideal_skyrmions
    image = right.pcolormesh(B, T, density.T, cmap="magma_r", vmin=0, vmax=1.1, shading="nearest")
    fig.colorbar(image, ax=right, label=r"$|\langle Q\rangle|$ / ideal skyrmion count")
    for axis in (left, right):
        axis.set_yscale("log")
        axis.set_xlabel("Zeeman energy B (units of J)")
        axis.set_ylabel("temperature $k_BT$ (units of J)")
        for b, t, label in markers:
            axis.plot(b, t, "*", color="tab:blue", ms=11, mec="k")
            axis.annotate(label, (b, t), textcoords="offset points", xytext=(5, 4), fontsize=7)
    params = diagram.parameters
    left.set_title(
        f"field-cooled Monte Carlo, D={params.get('D', 0):g}, K={params.get('K', 0):g}, "
        f"{params.get('shape')}",
        fontsize=9,
    )
    handles = [Patch(facecolor=PHASE_COLOURS[p], edgecolor="0.5", label=p) for p in THERMAL_PHASES]
    left.legend(handles=handles, fontsize=7, loc="upper right")
    right.set_title("thermal skyrmion density", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)
