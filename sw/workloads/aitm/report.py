"""Tables for the terminal and PNG figures of an AITM run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sw.workloads.common import format_table, pyplot

from .models import MODELS


def comparison_table(summary: dict, step_names) -> str:
    """Per model: AUC per step (mean +- std over seeds), violations, AITM's paired test."""
    headers = ["model", *[f"AUC {name}" for name in step_names], "violations", "vs AITM (p)"]
    rows = []
    for name, entry in summary["models"].items():
        aucs = [f"{a['mean']:.4f}+-{a['std']:.4f}" for a in entry["auc"]]
        share = entry["violation_share"]
        test = summary["paired_tests"].get(name, {}).get("end_to_end_auc")
        versus = "-" if test is None else f"{test['mean_difference']:+.4f} ({test['t_test_p']:.2g})"
        rows.append([entry["label"], *aucs, f"{100 * share['mean']:.1f}%", versus])
    if "oracle" in summary:
        oracle = [f"{a['mean']:.4f}" for a in summary["oracle"]["auc"]]
        rows.append(["(oracle)", *oracle, "0.0%", "-"])
    return format_table(headers, rows)


def core_table(core: dict, step_names) -> str:
    headers = ["scheme", "evaluation", *[f"AUC {n}" for n in step_names], "cycles/sample"]
    rows = [["float", "torch", *[f"{a:.4f}" for a in core["float"]["auc"]], "-"]]
    for scheme, entry in core["schemes"].items():
        label = f"{scheme} w{core['weight_bits']}a{core['act_bits']}"
        rows.append([label, "fake-quant", *[f"{a:.4f}" for a in entry["fake_quant"]["auc"]], "-"])
        rows.append(
            [
                label,
                "core (ref)",
                *[f"{a:.4f}" for a in entry["core"]["auc"]],
                f"{entry['cycles_per_sample']:.0f}",
            ]
        )
        check = entry.get("backend_check")
        if check:
            same = "bit-identical" if check["bit_identical"] else "DIFFERENT"
            rows.append(
                [
                    label,
                    f"backend: {same}",
                    *["" for _ in step_names],
                    f"{check['cycles_per_sample']:.0f}",
                ]
            )
    return format_table(headers, rows)


def plot_comparison(summary: dict, runs: list[dict], step_names, path: Path, title: str) -> Path:
    """Per-step AUC per model (bars: mean, whiskers: std) and the end-to-end AUC per seed;
    the share of samples whose predictions violate the funnel."""
    plt = pyplot()
    names = list(summary["models"])
    labels = [summary["models"][n]["label"] for n in names]
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    width = 0.8 / len(step_names)
    x = np.arange(len(names))
    for step, step_name in enumerate(step_names):
        means = [summary["models"][n]["auc"][step]["mean"] for n in names]
        stds = [summary["models"][n]["auc"][step]["std"] for n in names]
        axes[0].bar(x + step * width, means, width, yerr=stds, label=step_name, capsize=2)
    if "oracle" in summary:
        for step, entry in enumerate(summary["oracle"]["auc"]):
            axes[0].axhline(entry["mean"], color=f"C{step}", ls=":", lw=1)
    low = min(summary["models"][n]["auc"][s]["mean"] for n in names for s in range(len(step_names)))
    axes[0].set_ylim(max(0.5, low - 0.05), 1.0)
    axes[0].set_xticks(x + 0.4 - width / 2, labels, rotation=35, ha="right")
    axes[0].set_ylabel("test AUC")
    axes[0].set_title("AUC per step (dotted: oracle)")
    axes[0].legend(fontsize=8)

    for i, name in enumerate(names):
        values = [r["end_to_end_auc"] for r in runs if r["model"] == name]
        axes[1].scatter(np.full(len(values), i), values, s=14, color="C0" if i else "C3")
        axes[1].errorbar(
            i,
            summary["models"][name]["end_to_end_auc"]["mean"],
            yerr=summary["models"][name]["end_to_end_auc"]["std"],
            fmt="_",
            color="k",
            capsize=4,
        )
    axes[1].set_xticks(x, labels, rotation=35, ha="right")
    axes[1].set_ylabel(f"end-to-end AUC ({step_names[-1]})")
    axes[1].set_title("end-to-end AUC: one dot per seed")

    shares = [100 * summary["models"][n]["violation_share"]["mean"] for n in names]
    errors = [100 * summary["models"][n]["violation_share"]["std"] for n in names]
    colors = ["C2" if MODELS[n].uses_calibrator else "C7" for n in names]
    axes[2].bar(x, shares, yerr=errors, color=colors, capsize=2)
    axes[2].set_xticks(x, labels, rotation=35, ha="right")
    axes[2].set_ylabel("% of test samples with some y_t > y_(t-1)")
    axes[2].set_title("funnel violations (green: trained with the calibrator)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_core(core: dict, step_names, path: Path) -> Path:
    """AUC per step: float vs fake-quant vs core per scheme; cycles per sample by part."""
    plt = pyplot()
    schemes = list(core["schemes"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    series = [("float", core["float"]["auc"])]
    for scheme in schemes:
        series.append((f"{scheme} core", core["schemes"][scheme]["core"]["auc"]))
    width = 0.8 / len(series)
    x = np.arange(len(step_names))
    for i, (label, aucs) in enumerate(series):
        axes[0].bar(x + i * width, aucs, width, label=label)
    low = min(min(aucs) for _, aucs in series)
    axes[0].set_ylim(max(0.5, low - 0.03), 1.0)
    axes[0].set_xticks(x + 0.4 - width / 2, step_names)
    axes[0].set_ylabel("test AUC")
    axes[0].set_title(f"float vs core (w{core['weight_bits']}, a{core['act_bits']})")
    axes[0].legend(fontsize=8)

    parts = sorted({p for s in schemes for p in core["schemes"][s]["cycles_per_sample_by_part"]})
    bottom = np.zeros(len(schemes))
    for part in parts:
        values = np.array(
            [core["schemes"][s]["cycles_per_sample_by_part"].get(part, 0.0) for s in schemes]
        )
        axes[1].bar(schemes, values, bottom=bottom, label=part)
        bottom += values
    axes[1].set_ylabel("device cycles per sample")
    axes[1].set_title(f"cycles per sample on a {core['schemes'][schemes[0]]['array']} array")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
