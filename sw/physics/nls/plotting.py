"""Figures (headless matplotlib, PNG): profiles, scans, the branch map, the existence study."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sw.workloads.common import pyplot

BRANCH_COLOURS = {"u_driven": "C0", "v_driven": "C1", "both": "C2"}


def plot_profiles(solution, path: str | Path) -> Path:
    """u and v against r: the core (linear axes) and the whole tail (log axes)."""
    plt = pyplot()
    path = Path(path)
    fig, (ax_core, ax_tail) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    r = solution.r
    core = r <= 8.0 / np.sqrt(max(solution.lambda1, solution.lambda2))
    for profile, name in ((solution.u, "u"), (solution.v, "v")):
        ax_core.plot(r[core], profile[core], label=name)
        ax_tail.loglog(r, np.abs(profile), label=name)
    ax_core.set_xlabel("r")
    ax_core.set_title("profiles near the origin")
    ax_tail.set_xlabel("r")
    # down to 1e-14 of the peak, or further for a long driven tail (show it out to 1/κ)
    floor = 1e-14 * max(solution.u.max(), solution.v.max())
    reach = r <= 1.0 / solution.decay_rate if solution.decay_rate > 0 else r > 0
    smallest = np.abs(np.concatenate([solution.u[reach], solution.v[reach]]))
    smallest = smallest[smallest > 0]
    if smallest.size:
        floor = max(min(floor, 0.1 * smallest.min()), 1e-300)
    ax_tail.set_ylim(floor, None)
    ax_tail.set_title(f"tails: decay rate κ = {solution.decay_rate:.3g}")
    for axis in (ax_core, ax_tail):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.suptitle(
        f"N={solution.N}, p={solution.p:g}, q={solution.q:g}, μ=({solution.mu1:g}, "
        f"{solution.mu2:g}), β={solution.beta:g}, a={solution.a:g}, b={solution.b:g}: "
        f"λ1={solution.lambda1:.6g}, λ2={solution.lambda2:.6g}",
        fontsize=10,
    )
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_scan(result, path: str | Path) -> Path:
    """λ1, λ2 and the energy against the scanned parameter; points without a solution are
    marked on the axis with their diagnosis."""
    plt = pyplot()
    path = Path(path)
    x = result.values
    fig, (ax_lambda, ax_energy) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    ax_lambda.plot(x, result.column("lambda1"), "o-", label="λ1")
    ax_lambda.plot(x, result.column("lambda2"), "s-", label="λ2")
    ax_energy.plot(x, result.column("energy"), "o-", color="C2", label="energy")
    markers = {"concentration": ("x", "C3"), "vanishing": ("v", "C4")}
    for axis in (ax_lambda, ax_energy):
        for status, (marker, color) in markers.items():
            chosen = [p.value for p in result.points if p.status == status]
            if chosen:
                axis.plot(
                    chosen,
                    np.zeros(len(chosen)),
                    marker,
                    color=color,
                    ms=10,
                    label=f"no solution: {status}",
                    clip_on=False,
                )
        others = [p.value for p in result.points if p.status in ("unresolved", "failed")]
        if others:
            axis.plot(others, np.zeros(len(others)), "^", color="0.4", label="not converged")
        axis.set_xlabel(result.parameter)
        axis.grid(alpha=0.3)
        axis.legend()
    ax_lambda.set_ylabel("Lagrange multipliers")
    ax_energy.set_ylabel("E(u, v)")
    fixed = ", ".join(f"{k}={v:g}" for k, v in result.parameters.items() if k != result.parameter)
    fig.suptitle(f"normalized solutions along {result.parameter} ({fixed})", fontsize=10)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_branch_map(result, path: str | Path) -> Path:
    """Energy of every state found against the parameter, by the start that found it and
    marked with the method and Morse index; the least energy per point is outlined."""
    plt = pyplot()
    path = Path(path)
    fig, (ax_energy, ax_lambda) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for point in result.points:
        lowest = min((state["energy"] for state in point["states"]), default=np.nan)
        for state in point["states"]:
            kind = state["start"].split("+")[0]
            colour = BRANCH_COLOURS.get(kind, "0.4")
            marker = "o" if state["method"] == "pohozaev" else "s"
            filled = state["morse_index"] == 1
            ax_energy.plot(
                point["value"],
                state["energy"],
                marker,
                ms=8 if state["method"] == "pohozaev" else 5,
                color=colour,
                mfc=colour if filled else "none",
            )
            ax_lambda.plot(point["value"], state["lambda1"], marker, color=colour, mfc="none")
            if state["energy"] == lowest:
                ax_energy.plot(point["value"], lowest, "o", ms=13, mfc="none", color="k")
    handles = [
        ax_energy.plot([], [], "o", color=c, label=f"start {k}")[0]
        for k, c in BRANCH_COLOURS.items()
    ]
    handles += [
        ax_energy.plot([], [], "o", color="0.3", ms=8, label="found by the descent")[0],
        ax_energy.plot([], [], "s", color="0.3", ms=5, label="found by fixed-λ")[0],
        ax_energy.plot([], [], "o", color="0.3", mfc="none", label="Morse index ≠ 1")[0],
        ax_energy.plot([], [], "o", ms=13, mfc="none", color="k", label="least energy")[0],
    ]
    ax_energy.legend(handles=handles, fontsize=7)
    ax_energy.set(xlabel=result.parameter, ylabel="E(u, v)", title="states found per point")
    ax_lambda.set(xlabel=result.parameter, ylabel="λ1", title="λ1 of each state")
    ax_lambda.set_yscale("log")
    for axis in (ax_energy, ax_lambda):
        axis.grid(alpha=0.3)
    fixed = ", ".join(f"{k}={v:g}" for k, v in result.parameters.items() if k != result.parameter)
    fig.suptitle(f"branches along {result.parameter} ({fixed})", fontsize=10)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_existence(study: dict, path: str | Path) -> Path:
    """The existence study: decay rate κ and energy of the ground state against the mass
    of the driven component, one curve per dimension (see ``cli existence``)."""
    plt = pyplot()
    path = Path(path)
    fig, (ax_kappa, ax_energy) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for index, series in enumerate(study["series"]):
        ok = [row for row in series["rows"] if row["status"] == "ok"]
        failed = [row for row in series["rows"] if row["status"] != "ok"]
        label = f"N={series['N']}, p={series['p']:g}, q={series['q']:g}"
        colour = f"C{index}"
        if ok:
            a = [row["a"] for row in ok]
            ax_kappa.semilogy(a, [row["decay_rate"] for row in ok], "o-", color=colour, label=label)
            ax_energy.plot(a, [row["energy"] for row in ok], "o-", color=colour, label=label)
        for row in failed:
            ax_kappa.plot(row["a"], 1e-16, "x", color=colour, ms=10, clip_on=False)
    ax_kappa.set(
        xlabel="mass a of u", ylabel="decay rate κ of the ground state", title="tails: κ(a)"
    )
    ax_energy.set(xlabel="mass a of u", ylabel="E(u, v)", title="ground-state energy")
    for axis in (ax_kappa, ax_energy):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle(study["title"], fontsize=10)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
