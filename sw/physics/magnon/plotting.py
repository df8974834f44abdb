"""Figures of the magnon package (headless matplotlib; every function writes one PNG).

The functions only draw: the numbers come from ``observables``, ``solver`` and ``scaling``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...workloads.common import pyplot
from .model import MagnonParams
from .observables import DriveSweep, mean_field_scaled_branches
from .solver import PHASES, Phase

PHASE_COLORS = {
    Phase.SYMMETRIC: "#d9e6f2",
    Phase.BROKEN: "#f4b183",
    Phase.BISTABLE: "#a9d18e",
    Phase.UNSTABLE: "#b4a7d6",
    Phase.UNCONFIRMED: "#ff0000",
}
BRANCH_COLORS = {"zero": "black", "upper": "tab:red", "lower": "tab:blue"}


def _window(axis, transition) -> None:
    axis.axvline(transition.critical_drive, color="gray", lw=0.8, ls=":")
    if transition.bistable_window:
        axis.axvspan(*transition.bistable_window, color="tab:green", alpha=0.08)


def plot_drive_sweep(sweep: DriveSweep, path: Path) -> Path:
    """Order parameter +-|beta| vs drive (stable solid, unstable dashed), the time-integrated
    hysteresis sweeps, and the Lyapunov fluctuations below it."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True, height_ratios=[3, 2])
    labelled = set()
    for (name, _parity), curve in sorted(sweep.branches.items()):
        label = None if name in labelled else name
        labelled.add(name)
        top.plot(sweep.drives, curve["stable"], "-", color=BRANCH_COLORS[name], lw=2, label=label)
        top.plot(sweep.drives, curve["unstable"], "--", color=BRANCH_COLORS[name], lw=1.2)
    hysteresis = sweep.hysteresis
    top.plot(hysteresis.drives, np.sqrt(hysteresis.up), "^", ms=5, mfc="none",
             color="tab:green", label="time integration, sweep up")  # fmt: skip
    top.plot(hysteresis.drives, -np.sqrt(hysteresis.down), "v", ms=5, mfc="none",
             color="tab:purple", label="sweep down (shown as -|beta|)")  # fmt: skip
    info = sweep.transition
    for axis in (top, bottom):
        _window(axis, info)
    window = (
        f", bistable {info.bistable_window[0]:.4f}..{info.bistable_window[1]:.4f}"
        if info.bistable_window
        else ""
    )
    top.set_title(
        f"{info.order} order, critical drive {info.critical_drive:.4f}{window}"
        "\nsolid: stable, dashed: unstable",
        fontsize=10,
    )
    top.set_ylabel(r"order parameter $\pm|\beta|$")
    top.legend(fontsize=8, loc="upper left")
    bottom.semilogy(sweep.drives, sweep.zero_fluctuations, color="black", label="around zero state")
    bottom.semilogy(
        sweep.drives, sweep.broken_fluctuations, color="tab:red", label="around broken state"
    )
    bottom.set_xlabel(r"drive $\Omega$")
    bottom.set_ylabel(r"$\langle\delta m^\dagger\delta m\rangle$ (Lyapunov)")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)


def plot_phase_diagram(diagram, path: Path) -> Path:
    """Mean-field phases over (parameter, drive) with the pitchfork, saddle-node and Hopf lines."""
    plt = pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    colors = ListedColormap([PHASE_COLORS[p] for p in PHASES])
    norm = BoundaryNorm(np.arange(len(PHASES) + 1) - 0.5, len(PHASES))
    fig, axis = plt.subplots(figsize=(7, 5))
    axis.pcolormesh(
        diagram.values, diagram.drives, diagram.phases.T, cmap=colors, norm=norm, shading="nearest"
    )
    axis.plot(diagram.values, diagram.critical_drives, "k-", lw=1.2, label="pitchfork")
    axis.plot(diagram.values, diagram.saddle_node_drives, "k--", lw=1.2, label="saddle node")
    hopf = np.where(
        diagram.instability_drives < diagram.critical_drives * (1 - 1e-9),
        diagram.instability_drives,
        np.nan,
    )
    axis.plot(diagram.values, hopf, ":", color="tab:purple", lw=2, label="Hopf (zero state)")
    axis.set_ylim(diagram.drives[0], diagram.drives[-1])
    axis.set_xlabel(diagram.param_name)
    axis.set_ylabel(r"drive $\Omega$")
    counts = diagram.counts()
    handles = [
        Patch(color=PHASE_COLORS[p], label=f"{p.value} ({counts[p.value]})")
        for p in PHASES
        if counts[p.value] or p is not Phase.UNCONFIRMED
    ]
    line_handles, _ = axis.get_legend_handles_labels()
    axis.legend(handles=handles + line_handles, fontsize=8, loc="upper right")
    axis.set_title("mean-field phases (unstable = limit cycle, confirmed by integration)")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)


def plot_gap_scaling(panels: list[tuple[str, list]], path: Path) -> Path:
    """Even and odd Liouvillian gaps against 1/K (log scale), one row per (title, points), one
    line per drive, labelled with the mean-field phase at that drive."""
    plt = pyplot()
    fig, axes = plt.subplots(
        len(panels), 2, figsize=(10, 4 * len(panels)), sharey="row", squeeze=False
    )
    cmap = plt.get_cmap("viridis")
    for row, (title, points) in zip(axes, panels, strict=True):
        drives = sorted({p.drive for p in points})
        for index, drive in enumerate(drives):
            chosen = sorted((p for p in points if p.drive == drive), key=lambda p: p.kerr)
            color = cmap(index / max(1, len(drives) - 1))
            phases = sorted({p.mean_field_phase for p in chosen})
            label = rf"$\Omega$={drive:g} ({'/'.join(phases)})"
            inverse = [1 / p.kerr for p in chosen]
            for axis, sector in zip(row, ("even", "odd"), strict=True):
                gaps = [getattr(p, f"{sector}_gap") for p in chosen]
                axis.semilogy(inverse, gaps, "o-", color=color, label=label)
        for axis, sector in zip(row, ("even", "odd"), strict=True):
            axis.set_xlabel("1/K (system size)")
            axis.set_title(f"{title}: {sector}-sector gap", fontsize=10)
            axis.grid(alpha=0.3, which="both")
        row[0].set_ylabel(r"slowest decay rate ($\kappa_m$)")
        row[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)


def plot_order_parameter_limit(
    panels: list[tuple[str, MagnonParams, np.ndarray, list]], path: Path
) -> Path:
    """K <m^dag m> vs drive: the mean-field branches (K |beta|^2; stable solid, unstable dashed)
    and quantum curves at several K, one panel per (title, params, drives, curves)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for axis, (title, params, drives, curves) in zip(axes[0], panels, strict=True):
        fine = np.linspace(drives[0], drives[-1], 400)
        branches = mean_field_scaled_branches(params, fine)
        for name in ("zero", "upper", "lower"):
            axis.plot(fine, branches[f"{name}_stable"], "-", color="0.2", lw=2.2,
                      label="mean field (stable)" if name == "zero" else None)  # fmt: skip
            axis.plot(fine, branches[f"{name}_unstable"], "--", color="0.5", lw=1,
                      label="mean field (unstable)" if name == "lower" else None)  # fmt: skip
        cmap = plt.get_cmap("plasma")
        for index, curve in enumerate(curves):
            color = cmap(index / max(1, len(curves)))
            marker = "o-" if curve.method == "exact" else "s:"
            label = f"K={curve.kerr:g}, {curve.method}"
            axis.errorbar(
                curve.drives, curve.scaled_number, yerr=curve.errors, fmt=marker, ms=3.5,
                color=color, label=label,
            )  # fmt: skip
        axis.set_xlabel(r"drive $\Omega$")
        axis.set_ylabel(r"$K\langle m^\dagger m\rangle$")
        axis.set_title(title, fontsize=10)
        axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)


def plot_wigner_snapshots(rows: list[tuple[str, list]], path: Path) -> Path:
    """The magnon's Wigner function at each drive, one row per (title, snapshots), the stable
    mean-field states marked (x)."""
    plt = pyplot()
    columns = max(len(snapshots) for _, snapshots in rows)
    fig, axes = plt.subplots(
        len(rows), columns, figsize=(3.3 * columns, 3.6 * len(rows)), squeeze=False
    )
    for axis_row, (title, snapshots) in zip(axes, rows, strict=True):
        for axis in axis_row[len(snapshots) :]:
            axis.axis("off")
        for axis, snap in zip(axis_row, snapshots, strict=False):
            limit = float(np.max(np.abs(snap.values)))
            axis.imshow(
                snap.values.T,
                origin="lower",
                extent=(snap.grid[0], snap.grid[-1], snap.grid[0], snap.grid[-1]),
                cmap="RdBu_r",
                vmin=-limit,
                vmax=limit,
            )
            for beta in snap.mean_field_amplitudes:
                axis.plot(beta.real, beta.imag, "x", color="k", ms=7)
            axis.set_title(
                f"{title}\n$\\Omega$={snap.drive:g} ({snap.mean_field_phase}), "
                f"{len(snap.peaks)} peak(s)",
                fontsize=8,
            )
            axis.set_xlabel(r"Re $\beta$", fontsize=8)
            axis.set_ylabel(r"Im $\beta$", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)
