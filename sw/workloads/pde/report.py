"""Figures and the terminal table of `qmatmul run pde`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sw.workloads.common import format_table, pyplot

from .evaluate import at_step

ERROR_CEILING = 10.0  # relative errors above this are divergence: not drawn (axis kept useful)
# Drawing order and colours: the nodal model, its core versions, then the baselines.
STYLE = {
    "float": ("#000000", "-"),
    "core-8": ("#fdae6b", "-"),
    "core-12": ("#e6550d", "-"),
    "core-16": ("#a63603", "--"),
    "lstsq-stencil": ("#3182bd", ":"),
    "pde-find": ("#31a354", ":"),
    "mlp": ("#756bb1", ":"),
}


def plot_errors(models: dict, title: str, path: Path) -> None:
    """Relative L2 error vs step for every model (log scale), and the error at the last
    step vs the input bit width of the on-core model."""
    plt = pyplot()
    fig, (curves, bits) = plt.subplots(1, 2, figsize=(12, 4.6), width_ratios=(2.2, 1))
    lowest = ERROR_CEILING
    for name, entry in models.items():
        colour, line = STYLE.get(name, (None, "-"))
        values = np.asarray(entry["relative_l2"], dtype=np.float64)
        steps = np.asarray(entry["horizon_steps"])
        shown = values <= ERROR_CEILING  # diverged curves stop at the ceiling
        label = name if shown.all() else f"{name} (> {ERROR_CEILING:g} after step "
        if not shown.all():
            label += f"{steps[np.argmin(shown)] - 1})"
        curves.plot(steps[shown], values[shown], line, color=colour, label=label, linewidth=1.6)
        if shown.any():
            lowest = min(lowest, values[shown].min())
    curves.set_ylim(lowest / 2, ERROR_CEILING)
    curves.set_yscale("log")
    curves.set_xlabel("time step (training step dt)")
    curves.set_ylabel("relative L2 error (mean over held-out ICs)")
    curves.set_title(title)
    curves.grid(True, which="both", alpha=0.3)
    curves.legend(fontsize=8, ncol=2)
    core = sorted((int(n.split("-")[1]), n) for n in models if n.startswith("core-"))
    if core:
        last = models[core[0][1]]["horizon_steps"][-1]
        values = [at_step(models[name], last) for _, name in core]
        bits.bar([str(b) for b, _ in core], values, color="#e6550d")
        if "float" in models:
            bits.axhline(at_step(models["float"], last), color="black", label="float")
            bits.legend(fontsize=8)
        bits.set_yscale("log")
        bits.set_xlabel("state input bits on the core")
        bits.set_ylabel(f"relative L2 error at step {last}")
        bits.set_title("on-core rollout vs input width")
    else:
        bits.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_solutions(points: np.ndarray, dt: float, reference: np.ndarray, predictions: dict,
                   path: Path) -> None:  # fmt: skip
    """One held-out sample: space-time pictures (1D) or node scatters at the last step
    (2D) of the reference, each prediction, and the first prediction's error.

    ``reference``: ``(T+1, N, F)``; ``predictions``: name -> ``(T+1, N, F)``.
    """
    plt = pyplot()
    names = list(predictions)
    fields = reference.shape[-1]
    panels = 2 + len(names)
    fig, axes = plt.subplots(fields, panels, figsize=(3.2 * panels, 3.0 * fields), squeeze=False)
    first = names[0] if names else None
    for f in range(fields):
        limit = np.nanmax(np.abs(reference[..., f]))
        shown = [("reference", reference)] + [(n, predictions[n]) for n in names]
        if first is not None:
            shown.append((f"error of {first}", predictions[first] - reference))
        for axis, (label, values) in zip(axes[f], shown, strict=True):
            values = np.where(np.isfinite(values[..., f]), values[..., f], np.nan)
            scale = limit if not label.startswith("error") else np.nanmax(np.abs(values)) or 1
            if points.shape[1] == 1:
                order = np.argsort(points[:, 0])
                times = np.arange(values.shape[0]) * dt
                image = axis.pcolormesh(points[order, 0], times, values[:, order],
                                        cmap="RdBu_r", vmin=-scale, vmax=scale,
                                        shading="nearest")  # fmt: skip
                axis.set_xlabel("x")
                axis.set_ylabel("t")
            else:
                image = axis.scatter(points[:, 0], points[:, 1], c=values[-1], s=9,
                                     cmap="RdBu_r", vmin=-scale, vmax=scale)  # fmt: skip
                axis.set_aspect("equal")
                axis.set_xlabel("x")
                axis.set_ylabel("y")
            fig.colorbar(image, ax=axis, fraction=0.046)
            suffix = f" ({'uv'[f]})" if fields > 1 else ""
            when = "" if points.shape[1] == 1 else f", t = {(values.shape[0] - 1) * dt:.3g}"
            axis.set_title(f"{label}{suffix}{when}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(models: dict, steps=(1, 10, 50, 100)) -> str:
    """Mean relative L2 error of every model at a few steps."""
    rows = []
    for name, entry in models.items():
        available = [s for s in steps if s in entry["horizon_steps"]]
        rows.append([name, *[f"{at_step(entry, s):.3e}" for s in available]])
    headers = [
        "model",
        *[f"step {s}" for s in steps if s in next(iter(models.values()))["horizon_steps"]],
    ]
    return format_table(headers, rows)
