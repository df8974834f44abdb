"""Methods x seeds on the same clients and rounds: summaries, paired tests, figures.

Each (method, seed) is one Flower simulation (`run_federation`); every method sees the
same clients, data, initial model and batches for a given seed. `summarize_run` turns
the ServerApp's records into per-client numbers; `analyse` aggregates them:

- per method and client: final test macro-F1 and AUC of the personalized models (after
  the last aggregate, as the authors score), mean and std over seeds;
- retrogress: per round, the drop of each client's validation F1 across the moment it
  receives the aggregate, summed over clients (and over rounds for the total); the same
  for the model that receives it (the deputy in DET and PRR);
- paired tests (`sw.workloads.common.paired_test`) of PRR-FL against FedAvg, FedProx
  and FedBN (and the ablations), over (seed, client) cells and, more conservatively,
  over seeds (the clients of one federation are not independent).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from sw.workloads.common import mean_std, paired_test, pyplot

from .config import METHODS, FederationConfig

REFERENCE = "prr"
COMPARED = ("fedavg", "fedprox", "fedbn", "local", "pfa", "det")
CORE_KEYS = (
    "core_test_f1",
    "core_ptq_test_f1",
    "core_test_auc",
    "core_cycles_per_image",
    "core_utilization",
    "core_fake_quant_identical",
    "core_target_identical",
)


def summarize_run(result: dict) -> dict:
    """One federation's ServerApp records as per-client numbers (rounds 1..R). A client
    whose evaluation failed in some round is listed in ``incomplete_clients`` and left
    out of the numbers."""
    config = FederationConfig.from_mapping(result["config"])
    evaluations = defaultdict(dict)
    stages = defaultdict(lambda: defaultdict(int))
    for record in result["records"]:
        client = int(record["client"])
        if record["phase"] == "evaluate":
            evaluations[client][int(record["round"])] = record
        else:
            for key in ("det_recover", "det_exchange", "det_sublimate"):
                stages[client][key] += int(record.get(key, 0))
    clients, incomplete = [], []
    for client in sorted(evaluations):
        by_round = evaluations[client]
        rounds = sorted(by_round)
        if rounds != list(range(1, config.rounds + 1)):
            incomplete.append(client)  # a failed evaluation: no final or retrogress figure
            continue
        final = by_round[rounds[-1]]

        def series(key, by_round=by_round, rounds=rounds):
            return [float(by_round[r][key]) for r in rounds]

        clients.append(
            {
                "client": client,
                "test_f1": float(final["test_f1"]),
                "test_auc": float(final["test_auc"]),
                "val_f1": float(final["val_f1"]),
                "retrogress_per_round": series("retrogress"),
                "receiver_retrogress_per_round": series("receiver_retrogress"),
                "retrogress_total": float(sum(series("retrogress"))),
                "receiver_retrogress_total": float(sum(series("receiver_retrogress"))),
                "val_f1_before": series("val_f1_before"),
                "val_f1_after": series("val_f1_after"),
                "test_f1_per_round": series("test_f1"),
                "det_stages": dict(stages[client]),
                "core": {key: float(final[key]) for key in CORE_KEYS if key in final},
            }
        )
    return {
        "method": config.method,
        "seed": config.seed,
        "rounds": config.rounds,
        "seconds": float(result["seconds"]),
        "failures": result["failures"],
        "failed_attempts": result.get("failed_attempts", []),
        "pfa_ratios": result.get("pfa_ratios", {}),
        "clients": clients,
        "incomplete_clients": incomplete,
    }


def _client_values(run: dict, key: str) -> dict[int, float]:
    return {c["client"]: c[key] for c in run["clients"]}


def analyse(runs: list[dict], methods: list[str]) -> dict:
    """Per-method summaries and the paired comparisons (see the module docstring)."""
    by_method = defaultdict(list)
    for run in runs:
        by_method[run["method"]].append(run)
    summary = {}
    for method in methods:
        method_runs = by_method.get(method, [])
        if not method_runs:
            continue
        clients = sorted({c["client"] for run in method_runs for c in run["clients"]})
        per_client = {}
        for client in clients:
            cells = [c for run in method_runs for c in run["clients"] if c["client"] == client]
            per_client[str(client)] = {
                key: mean_std(c[key] for c in cells)
                for key in ("test_f1", "test_auc", "retrogress_total", "receiver_retrogress_total")
            }
        per_round = [
            np.sum([c["retrogress_per_round"] for c in run["clients"]], axis=0)
            for run in method_runs
        ]
        receiver_per_round = [
            np.sum([c["receiver_retrogress_per_round"] for c in run["clients"]], axis=0)
            for run in method_runs
        ]
        entry = {
            "description": METHODS[method].description,
            "seeds": [run["seed"] for run in method_runs],
            "per_client": per_client,
            # the mean over clients in each seed, then mean and std over seeds
            "test_f1": mean_std(np.mean([c["test_f1"] for c in r["clients"]]) for r in method_runs),
            "test_auc": mean_std(
                np.mean([c["test_auc"] for c in r["clients"]]) for r in method_runs
            ),
            # summed over clients and rounds in each seed
            "retrogress_total": mean_std(float(np.sum(p)) for p in per_round),
            "receiver_retrogress_total": mean_std(float(np.sum(p)) for p in receiver_per_round),
            "retrogress_per_round": np.mean(per_round, axis=0).tolist(),
            "receiver_retrogress_per_round": np.mean(receiver_per_round, axis=0).tolist(),
            "seconds": mean_std(run["seconds"] for run in method_runs),
            "failures": sum(len(run["failures"]) for run in method_runs),
        }
        core_runs = [
            r for r in method_runs if r["clients"] and all(c["core"] for c in r["clients"])
        ]
        if core_runs:
            # like the float scores: the mean over clients in each seed, then over seeds
            entry["core"] = {
                key: mean_std(np.mean([c["core"][key] for c in r["clients"]]) for r in core_runs)
                for key in CORE_KEYS
            }
            for client, cell in per_client.items():
                values = [
                    c["core"]["core_test_f1"]
                    for r in core_runs
                    for c in r["clients"]
                    if str(c["client"]) == client
                ]
                cell["core_test_f1"] = mean_std(values)
        summary[method] = entry
    comparisons = {}
    if REFERENCE in by_method:
        for other in COMPARED:
            if other in by_method:
                comparisons[f"{REFERENCE}_vs_{other}"] = compare(
                    by_method[REFERENCE], by_method[other], (REFERENCE, other)
                )
    return {"summary": summary, "comparisons": comparisons}


def compare(first_runs: list[dict], second_runs: list[dict], names) -> dict:
    """Paired tests over (seed, client) cells and over seeds (client means), for the
    final test F1 and AUC (higher is better) and the total retrogress (lower is better:
    the test is on ``second - first`` so that "first better" means less retrogress)."""
    a = {run["seed"]: run for run in first_runs}
    b = {run["seed"]: run for run in second_runs}
    seeds = sorted(set(a) & set(b))
    out = {"seeds": seeds}
    for key, higher_is_better in (
        ("test_f1", True),
        ("test_auc", True),
        ("retrogress_total", False),
        ("receiver_retrogress_total", False),
    ):
        cells_a, cells_b, seed_a, seed_b = [], [], [], []
        for seed in seeds:
            va, vb = _client_values(a[seed], key), _client_values(b[seed], key)
            common = sorted(set(va) & set(vb))
            cells_a += [va[c] for c in common]
            cells_b += [vb[c] for c in common]
            seed_a.append(float(np.mean([va[c] for c in common])))
            seed_b.append(float(np.mean([vb[c] for c in common])))
        if not higher_is_better:
            cells_a, cells_b = cells_b, cells_a
            seed_a, seed_b = seed_b, seed_a
        out[key] = {
            "by_seed_and_client": paired_test(cells_a, cells_b, names=names),
            "by_seed": paired_test(seed_a, seed_b, names=names),
            "lower_is_better": not higher_is_better,
        }
    return out


# --------------------------------------------------------------------------- figures


def plot_retrogress(analysis: dict, path: Path) -> Path:
    plt = pyplot()
    summary = analysis["summary"]
    fig, (curves, bars) = plt.subplots(1, 2, figsize=(12, 4.5))
    for method, entry in summary.items():
        rounds = np.arange(1, len(entry["retrogress_per_round"]) + 1)
        (line,) = curves.plot(rounds, entry["retrogress_per_round"], marker="o", ms=3, label=method)
        if entry["receiver_retrogress_total"]["mean"] != entry["retrogress_total"]["mean"]:
            curves.plot(
                rounds,
                entry["receiver_retrogress_per_round"],
                ls="--",
                lw=1,
                color=line.get_color(),
                label=f"{method} (deputy)",
            )
    curves.set_xlabel("round")
    curves.set_ylabel("retrogress, summed over clients (F1 points)")
    curves.set_title("Drop of validation macro-F1 when the aggregate arrives")
    curves.legend(fontsize=7, ncol=2)
    names = list(summary)
    x = np.arange(len(names))
    deployed = [summary[m]["retrogress_total"] for m in names]
    receiver = [summary[m]["receiver_retrogress_total"] for m in names]
    bars.bar(
        x - 0.2,
        [d["mean"] for d in deployed],
        0.4,
        yerr=[d["std"] for d in deployed],
        label="personalized model",
    )
    bars.bar(
        x + 0.2,
        [r["mean"] for r in receiver],
        0.4,
        yerr=[r["std"] for r in receiver],
        label="model receiving the aggregate",
        hatch="//",
        alpha=0.7,
    )
    bars.set_xticks(x, names)
    bars.set_ylabel("total retrogress (F1 points, mean over seeds)")
    bars.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_scores(analysis: dict, path: Path) -> Path:
    plt = pyplot()
    summary = analysis["summary"]
    names = list(summary)
    clients = sorted({int(c) for entry in summary.values() for c in entry["per_client"]})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(1, len(names))
    for ax, key, label in ((axes[0], "test_f1", "macro-F1 (%)"), (axes[1], "test_auc", "AUC (%)")):
        for i, method in enumerate(names):
            cells = [summary[method]["per_client"].get(str(c)) for c in clients]
            means = [cell[key]["mean"] if cell else np.nan for cell in cells]
            stds = [cell[key]["std"] if cell else 0.0 for cell in cells]
            ax.bar(
                np.arange(len(clients)) + (i - (len(names) - 1) / 2) * width,
                means,
                width,
                yerr=stds,
                label=method,
            )
        ax.set_xticks(np.arange(len(clients)), [f"client {c}" for c in clients])
        ax.set_ylabel(f"test {label} of the personalized model")
        low = min(
            summary[m]["per_client"][str(c)][key]["mean"]
            for m in names
            for c in clients
            if str(c) in summary[m]["per_client"]
        )
        ax.set_ylim(max(0.0, low - 10), 100.5)
    axes[0].legend(fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_curves(runs: list[dict], path: Path) -> Path:
    """Validation F1 (mean over clients and seeds) before and after each aggregate: the
    saw-tooth of retrogress."""
    plt = pyplot()
    by_method = defaultdict(list)
    for run in runs:
        by_method[run["method"]].append(run)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for method, method_runs in by_method.items():
        before = np.mean(
            [[c["val_f1_before"] for c in r["clients"]] for r in method_runs], axis=(0, 1)
        )
        after = np.mean(
            [[c["val_f1_after"] for c in r["clients"]] for r in method_runs], axis=(0, 1)
        )
        rounds = np.arange(1, len(before) + 1)
        xs = np.ravel(np.column_stack([rounds - 0.05, rounds + 0.05]))
        ys = np.ravel(np.column_stack([before, after]))
        ax.plot(xs, ys, lw=1.2, label=method)
    ax.set_xlabel("round (left: after local training, right: after the aggregate)")
    ax.set_ylabel("validation macro-F1 of the personalized model (%)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
