"""What a sweep shows: means over seeds, GFBS against each baseline, rounding's effect.

- `summarize`: per network, criterion, budget and rounding, the mean and std over
  seeds of the scores, MACs, parameters and device cycles.
- `compare_criteria`: GFBS against every other criterion, paired by (budget, seed)
  per network (the same trained network is pruned by both), with
  `sw.workloads.common.paired_test` (paired t-test and Wilcoxon signed-rank), for the
  score after fine-tuning in float, on the core, and before fine-tuning; and pooled
  over every network of the sweep, paired by (network, budget, seed).
- `compare_rounding`: the hardware-aware option, per criterion that ran both ways:
  the same MAC budget rounded to the array width vs not, paired by (network, budget,
  seed): device cycles, the array's throughput (core MACs per cycle: rounding may
  overshoot the budget by a few channels, so cycles alone would flatter it) and the
  score on the core.
- `verdict`: one line per baseline, from the pooled comparisons.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from sw.workloads.common import mean_std, paired_comparison, paired_test

from .importance import CRITERIA

# The paired comparisons GFBS gets: record key -> what it measures.
COMPARED_SCORES = {
    "score_after_finetune": "float, after fine-tuning",
    "core_score": "on the core, after fine-tuning",
    "score_before_finetune": "float, before fine-tuning",
}
SUMMARY_KEYS = (
    "score_before_finetune",
    "score_after_finetune",
    "core_score",
    "macs",
    "params",
    "macs_saved",
    "cycles_per_image",
    "cycles_saved",
    "macs_per_cycle",
)


def network(record: dict) -> str:
    """``dataset/arch``, e.g. ``digits/vgg``."""
    return f"{record['dataset']}/{record['arch']}"


def summarize(runs: list[dict], baselines: list[dict]) -> dict:
    """``{network: {"metric", "unpruned": {key: mean_std}, "cells": [{criterion, budget,
    rounded, key: mean_std}]}}``, means over seeds."""
    out: dict = {}
    for net in sorted({network(b) for b in baselines}):
        chosen = [b for b in baselines if network(b) == net]
        unpruned = {
            key: mean_std(b[key] for b in chosen)
            for key in ("score", "core_score", "macs", "params", "cycles_per_image")
        }
        groups = defaultdict(list)
        for r in runs:
            if network(r) == net:
                groups[(r["criterion"], r["budget"], r["rounded"])].append(r)
        cells = []
        for (criterion, budget, rounded), group in sorted(groups.items()):
            cell = {"criterion": criterion, "budget": budget, "rounded": rounded}
            cell.update({key: mean_std(r[key] for r in group) for key in SUMMARY_KEYS})
            cells.append(cell)
        out[net] = {"metric": chosen[0]["metric"], "unpruned": unpruned, "cells": cells}
    return out


def _paired(runs: list[dict], key: str, pair_by, first: str, second: str) -> dict | None:
    """`paired_comparison` of ``key`` between criterion ``first`` and criterion ``second``."""
    return paired_comparison(
        runs,
        key=key,
        pair_by=pair_by,
        first=lambda run: run["criterion"] == first,
        second=lambda run: run["criterion"] == second,
        names=(first, second),
    )


def compare_criteria(runs: list[dict], reference: str = "gfbs") -> dict:
    """``reference`` against every other criterion (unrounded runs); see the module doc."""
    plain = [r for r in runs if not r["rounded"]]
    criteria = [c for c in CRITERIA if c != reference and any(r["criterion"] == c for r in plain)]
    nets = sorted({network(r) for r in plain})
    result: dict = {"reference": reference, "per_network": {}, "per_budget": {}, "pooled": {}}
    for other in criteria:
        for key in COMPARED_SCORES:
            result["pooled"].setdefault(other, {})[key] = _paired(
                plain, key, lambda r: (network(r), r["budget"], r["seed"]), reference, other
            )
            for net in nets:
                on_net = [r for r in plain if network(r) == net]
                result["per_network"].setdefault(net, {}).setdefault(other, {})[key] = _paired(
                    on_net, key, lambda r: (r["budget"], r["seed"]), reference, other
                )
                for budget in sorted({r["budget"] for r in on_net}):
                    at_budget = [r for r in on_net if r["budget"] == budget]
                    cell = result["per_budget"].setdefault(f"{net}@{budget:g}", {})
                    cell.setdefault(other, {})[key] = _paired(
                        at_budget, key, lambda r: r["seed"], reference, other
                    )
    return result


def compare_rounding(runs: list[dict]) -> dict:
    """Rounded (hardware-aware) vs unrounded pruning at the same MAC budget, per criterion."""
    out: dict = {}
    for criterion in sorted({r["criterion"] for r in runs if r["rounded"]}):
        mine = [r for r in runs if r["criterion"] == criterion]

        def cell(r):
            return (network(r), r["budget"], r["seed"])

        rounded = {cell(r): r for r in mine if r["rounded"]}
        plain = {cell(r): r for r in mine if not r["rounded"]}
        pairs = sorted(set(rounded) & set(plain), key=repr)
        if not pairs:
            continue
        rows = []
        for net, budget in sorted({(n, b) for n, b, _ in pairs}):
            at = [p for p in pairs if p[:2] == (net, budget)]
            rows.append(
                {
                    "network": net,
                    "budget": budget,
                    "seeds": len(at),
                    **{
                        f"{key}_{side}": float(np.mean([table[p][key] for p in at]))
                        for key in (
                            "cycles_per_image",
                            "macs",
                            "core_score",
                            "macs_saved",
                            "macs_per_cycle",
                        )
                        for side, table in (("rounded", rounded), ("plain", plain))
                    },
                }
            )
        out[criterion] = {
            "cells": rows,
            # positive = rounding better: fewer cycles (plain - rounded), a higher score
            "cycles_per_image": paired_test(
                [plain[p]["cycles_per_image"] for p in pairs],
                [rounded[p]["cycles_per_image"] for p in pairs],
                names=("unrounded", "rounded"),
            ),
            "macs_per_cycle": paired_test(
                [rounded[p]["macs_per_cycle"] for p in pairs],
                [plain[p]["macs_per_cycle"] for p in pairs],
                names=("rounded", "unrounded"),
            ),
            "core_score": paired_test(
                [rounded[p]["core_score"] for p in pairs],
                [plain[p]["core_score"] for p in pairs],
                names=("rounded", "unrounded"),
            ),
            "cycles_saved_rounded": mean_std(rounded[p]["cycles_saved"] for p in pairs),
            "cycles_saved_plain": mean_std(plain[p]["cycles_saved"] for p in pairs),
            "macs_saved_rounded": mean_std(rounded[p]["macs_saved"] for p in pairs),
            "macs_saved_plain": mean_std(plain[p]["macs_saved"] for p in pairs),
        }
    return out


def _points(metric: str) -> tuple[float, str]:
    """How a score difference prints: accuracy in points, PSNR in dB."""
    return (100.0, "points") if metric == "accuracy" else (1.0, "dB")


def verdict(comparison: dict, runs: list[dict], key: str = "core_score") -> list[str]:
    """One sentence per baseline from the pooled paired comparison of ``key``."""
    metrics = {r["metric"] for r in runs}
    scale, unit = _points(metrics.pop()) if len(metrics) == 1 else (1.0, "score units")
    reference = CRITERIA[comparison["reference"]]
    lines = []
    for other, entries in comparison["pooled"].items():
        entry = entries.get(key)
        if entry is None:
            continue
        word = {
            f"{comparison['reference']} better": "wins",
            f"{other} better": "loses",
        }.get(entry["verdict"], "ties (no significant difference)")
        lines.append(
            f"{reference} vs {CRITERIA[other]}: {word}; mean difference "
            f"{scale * entry['mean_difference']:+.2f} ± {scale * entry['std_difference']:.2f} "
            f"{unit} over {entry['pairs']} pairs ({entry['wins']} wins / {entry['ties']} ties / "
            f"{entry['losses']} losses; paired t p={entry['t_test_p']:.3g}, "
            f"Wilcoxon p={entry['wilcoxon_p']:.3g})"
        )
    return lines
