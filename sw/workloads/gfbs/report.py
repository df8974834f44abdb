"""Figures and terminal tables of a GFBS sweep (headless matplotlib via `common.pyplot`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sw.workloads.common import format_table, pyplot

from .analysis import COMPARED_SCORES, network
from .importance import CRITERIA

COLORS = {
    "gfbs": "#d62728",
    "bn_taylor": "#ff7f0e",
    "l1": "#1f77b4",
    "bn_scale": "#2ca02c",
    "weight_taylor": "#9467bd",
    "fpgm": "#8c564b",
    "lamp": "#e377c2",
    "random": "#7f7f7f",
}


def score_scale(metric: str) -> tuple[float, str]:
    """Display factor and label: accuracy in %, PSNR in dB."""
    return (100.0, "accuracy (%)") if metric == "accuracy" else (1.0, "PSNR (dB)")


def _series(cells: list[dict], criterion: str, rounded: bool, key: str):
    chosen = sorted(
        (c for c in cells if c["criterion"] == criterion and c["rounded"] == rounded),
        key=lambda c: c["macs"]["mean"],
    )
    macs = np.array([c["macs"]["mean"] for c in chosen])
    mean = np.array([c[key]["mean"] for c in chosen])
    std = np.array([c[key]["std"] for c in chosen])
    return macs, mean, std


def plot_network(net: str, summary: dict, path: Path) -> Path:
    """Score before/after fine-tuning and device cycles against MACs, one line per criterion."""
    plt = pyplot()
    scale, label = score_scale(summary["metric"])
    unpruned, cells = summary["unpruned"], summary["cells"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    panels = (
        ("core_score", f"{label}, on the core after fine-tuning"),
        ("score_before_finetune", f"{label}, float, before fine-tuning"),
        ("cycles_per_image", "device cycles per image"),
    )
    base_macs = unpruned["macs"]["mean"]
    for axis, (key, title) in zip(axes, panels, strict=True):
        factor = 1.0 if key == "cycles_per_image" else scale
        for criterion in CRITERIA:
            for rounded in (False, True):
                macs, mean, std = _series(cells, criterion, rounded, key)
                if len(macs) == 0:
                    continue
                axis.errorbar(
                    macs / 1e3,
                    factor * mean,
                    yerr=factor * std,
                    color=COLORS[criterion],
                    marker="s" if rounded else "o",
                    linestyle="--" if rounded else "-",
                    capsize=2,
                    markersize=4,
                    label=CRITERIA[criterion] + (" rounded" if rounded else ""),
                )
        reference = {
            "core_score": unpruned["core_score"]["mean"],
            "score_before_finetune": unpruned["score"]["mean"],
            "cycles_per_image": unpruned["cycles_per_image"]["mean"],
        }[key]
        axis.plot(base_macs / 1e3, factor * reference, "k*", markersize=12, label="unpruned")
        if key == "cycles_per_image":
            # cycles falling in proportion to MACs: what an array with no padding would give
            span = np.linspace(0, base_macs, 20)
            axis.plot(span / 1e3, reference * span / base_macs, "k:", linewidth=1, label="∝ MACs")
        axis.set_xlabel("MACs per image (thousands, torch-pruning count)")
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{net}: pruned to 25/50/70% fewer MACs (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_rounding(runs: list[dict], path: Path) -> Path | None:
    """Cycles saved against MACs saved, rounded to the array width or not, every cell."""
    rounded_criteria = sorted({r["criterion"] for r in runs if r["rounded"]})
    if not rounded_criteria:
        return None
    plt = pyplot()
    nets = sorted({network(r) for r in runs})
    fig, axes = plt.subplots(1, len(nets), figsize=(max(6, 5 * len(nets)), 4.8), squeeze=False)
    for axis, net in zip(axes[0], nets, strict=True):
        for criterion in rounded_criteria:
            for rounded, marker in ((False, "o"), (True, "s")):
                chosen = [
                    r
                    for r in runs
                    if network(r) == net and r["criterion"] == criterion and r["rounded"] == rounded
                ]
                axis.scatter(
                    [100 * r["macs_saved"] for r in chosen],
                    [100 * r["cycles_saved"] for r in chosen],
                    marker=marker,
                    facecolors=COLORS[criterion] if rounded else "none",
                    edgecolors=COLORS[criterion],
                    label=f"{CRITERIA[criterion]} {'rounded' if rounded else 'unrounded'}",
                )
        axis.plot([0, 100], [0, 100], "k:", linewidth=1)
        axis.set_xlim(0, 100)
        axis.set_ylim(0, 100)
        axis.set_xlabel("MACs saved (%)")
        axis.set_ylabel("device cycles saved (%)")
        axis.set_title(net)
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("channels rounded to the array width vs not", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def network_table(net: str, summary: dict) -> str:
    """Per criterion and budget: the core score after fine-tuning, and cycles per image."""
    scale, label = score_scale(summary["metric"])
    unpruned, cells = summary["unpruned"], summary["cells"]
    budgets = sorted({c["budget"] for c in cells})
    rows = []
    for criterion in CRITERIA:
        for rounded in (False, True):
            mine = {
                c["budget"]: c
                for c in cells
                if c["criterion"] == criterion and c["rounded"] == rounded
            }
            if not mine:
                continue
            row = [CRITERIA[criterion] + (" rounded" if rounded else "")]
            for budget in budgets:
                c = mine.get(budget)
                if c is None:
                    row += ["-", "-"]
                    continue
                row.append(
                    f"{scale * c['score_before_finetune']['mean']:.1f} -> "
                    f"{scale * c['core_score']['mean']:.2f} ± {scale * c['core_score']['std']:.2f}"
                )
                row.append(
                    f"{c['cycles_per_image']['mean']:.0f} "
                    f"({100 * c['macs_saved']['mean']:.0f}%/{100 * c['cycles_saved']['mean']:.0f}%)"
                )
            rows.append(row)
    headers = ["criterion"]
    for budget in budgets:
        headers += [f"{budget:.0%}: before -> core", "cycles (MACs/cyc saved)"]
    head = (
        f"{net}: {label} before fine-tuning (float) -> on the core after fine-tuning, "
        f"mean ± std over seeds; unpruned {scale * unpruned['score']['mean']:.2f} float, "
        f"{scale * unpruned['core_score']['mean']:.2f} core, "
        f"{unpruned['cycles_per_image']['mean']:.0f} cycles/image"
    )
    return head + "\n" + format_table(headers, rows)


def comparison_lines(comparison: dict, metric: str) -> list[str]:
    """GFBS minus each baseline per network (pooled over budgets and seeds)."""
    scale, _ = score_scale(metric)
    unit = "points" if metric == "accuracy" else "dB"
    lines = [
        f"GFBS - baseline ({unit}), paired by (budget, seed) per network: "
        "mean, wins/ties/losses, paired-t p -> verdict"
    ]
    for net, per_other in comparison["per_network"].items():
        for other, entries in per_other.items():
            parts = []
            for key, what in COMPARED_SCORES.items():
                e = entries.get(key)
                if e is None:
                    continue
                parts.append(
                    f"{what.split(',')[0] if key != 'core_score' else 'core'}"
                    f"{' before FT' if key == 'score_before_finetune' else ''}: "
                    f"{scale * e['mean_difference']:+.2f} {e['wins']}/{e['ties']}/{e['losses']} "
                    f"p={e['t_test_p']:.2g} -> {e['verdict']}"
                )
            lines.append(f"  {net} vs {CRITERIA[other]}: " + "; ".join(parts))
    return lines


def rounding_lines(rounding: dict, metric: str) -> list[str]:
    scale, _ = score_scale(metric)
    lines = []
    for criterion, entry in rounding.items():
        cycles, score = entry["cycles_per_image"], entry["core_score"]
        throughput = entry["macs_per_cycle"]
        lines.append(
            f"{CRITERIA[criterion]} rounded to the array width vs not, same budget: MACs saved "
            f"{100 * entry['macs_saved_rounded']['mean']:.1f}% vs "
            f"{100 * entry['macs_saved_plain']['mean']:.1f}%, cycles saved "
            f"{100 * entry['cycles_saved_rounded']['mean']:.1f}% vs "
            f"{100 * entry['cycles_saved_plain']['mean']:.1f}% "
            f"(rounding saves {cycles['mean_difference']:.0f} cycles/image on average, "
            f"p={cycles['t_test_p']:.2g}); array throughput "
            f"{throughput['mean_difference']:+.2f} MACs/cycle (p={throughput['t_test_p']:.2g}); "
            f"core score {scale * score['mean_difference']:+.2f} "
            f"(p={score['t_test_p']:.2g}, {score['verdict']})"
        )
    return lines


def results_text(results: dict) -> str:
    """The terminal report of a sweep: a table per network, GFBS's paired comparisons,
    the verdict, the hardware-aware option's effect."""
    metric = results["metric"]
    parts = [network_table(net, entry) + "\n" for net, entry in results["summary"].items()]
    parts.append("\n".join(comparison_lines(results["gfbs_vs_baselines"], metric)) + "\n")
    parts.append(
        "Verdict (GFBS vs each baseline, on the core after fine-tuning, pooled over networks, "
        "budgets and seeds):"
    )
    parts += ["  " + line for line in results["verdict"]["core_score"]]
    if results["hardware_aware"]:
        parts.append("")
        parts += rounding_lines(results["hardware_aware"], metric)
    return "\n".join(parts)


def check_lines(check: dict) -> list[str]:
    """The backend check: identical outputs, and the device cycles per image on each side."""
    same = sum(c["outputs_identical"] for c in check["checks"])
    lines = [
        f"{check['backend']} vs ref: {same} of {check['networks']} networks bit-identical "
        f"({check['images_per_network']} inputs each); device cycles per image, "
        f"{check['backend']} counters vs ref's cycle model:"
    ]
    rows = []
    for c in check["checks"]:
        differing = c["layers_with_different_cycles"]
        rows.append(
            [
                f"{c['dataset']}/{c['arch']} {c['criterion']}"
                + (f" {c['budget']:.0%}" if c["budget"] is not None else "")
                + (" rounded" if c["rounded"] else ""),
                f"{c['cycles_per_image_backend']:.1f}",
                f"{c['cycles_per_image_ref']:.1f}",
                f"{100 * (c['cycles_per_image_backend'] / c['cycles_per_image_ref'] - 1):+.2f}%",
                ", ".join(f"{name} (K={v['k']}, N={v['n']})" for name, v in differing.items())
                or "-",
            ]
        )
    lines.append(
        format_table(["network", check["backend"], "ref", "difference", "layers differing"], rows)
    )
    return lines
