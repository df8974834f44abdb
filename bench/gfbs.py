"""GFBS channel pruning, the full sweep: every task, criterion, MAC budget and seed.

Runs `qmatmul run gfbs` for the digits (VGG, ResNet), mnist1d (VGG, ResNet; Conv1d)
and denoising (DnCNN at sigma 15 and 25) tasks: 8 criteria x 3 MAC budgets (25, 50,
70% removed) x 3 seeds, plus GFBS and L1 again with every group's channels rounded to
the array width; every network fine-tuned, compiled SP2 4-bit / 8-bit activations and
run on `ref` with device cycles; the seed-0 networks at the 50% budget checked on `sim`.
Each task writes its results.json and PNGs under build/gfbs-bench/<task>/; this script
collects the headline numbers into bench/results/gfbs.json and copies the figures to
docs/figures/.

    .venv/bin/python bench/gfbs.py [--tasks digits,mnist1d,denoise] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sw.workloads.common import write_json  # noqa: E402
from sw.workloads.gfbs import cli  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "gfbs.json"
OUT = ROOT / "build" / "gfbs-bench"
FIGURES = ROOT / "docs" / "figures"
TASKS = ("digits", "mnist1d", "denoise")


def condense(results: dict, seconds: float | None, cpu: float | None) -> dict:
    """The headline numbers of one task's results.json (with its wall and CPU time, s)."""
    summary = {}
    for net, entry in results["summary"].items():
        unpruned = entry["unpruned"]
        cells = {}
        for cell in entry["cells"]:
            name = cell["criterion"] + ("_rounded" if cell["rounded"] else "")
            cells.setdefault(name, {})[f"{cell['budget']:g}"] = {
                key: round(cell[key]["mean"], 5)
                for key in (
                    "score_before_finetune",
                    "score_after_finetune",
                    "core_score",
                    "macs_saved",
                    "cycles_per_image",
                    "cycles_saved",
                    "macs_per_cycle",
                )
            } | {"core_score_std": round(cell["core_score"]["std"], 5)}
        summary[net] = {
            "metric": entry["metric"],
            "unpruned": {key: round(value["mean"], 5) for key, value in unpruned.items()},
            "cells": cells,
        }
    check = results.get("backend_check")
    return {
        "seconds": None if seconds is None else round(seconds, 1),
        "cpu_seconds": None if cpu is None else round(cpu, 1),
        "sweep_seconds": round(results["sweep_seconds"], 1),
        "config": {
            key: results["config"][key]
            for key in ("archs", "criteria", "budgets", "seeds", "rounded_criteria", "train")
        },
        "networks": summary,
        "verdict": results["verdict"],
        "hardware_aware": {
            criterion: {
                key: entry[key]
                for key in (
                    "cycles_saved_rounded",
                    "cycles_saved_plain",
                    "macs_saved_rounded",
                    "macs_saved_plain",
                    "cycles_per_image",
                    "macs_per_cycle",
                    "core_score",
                )
            }
            for criterion, entry in results["hardware_aware"].items()
        },
        "backend_check": None
        if check is None
        else {
            key: check[key]
            for key in (
                "backend",
                "networks",
                "images_per_network",
                "outputs_identical",
                "cycles_identical",
            )
        }  # fmt: skip
        | {
            "cycle_differences": [
                {
                    "network": f"{c['dataset']}/{c['arch']} {c['criterion']}"
                    + (" rounded" if c["rounded"] else ""),
                    "cycles_per_image_sim": c["cycles_per_image_backend"],
                    "cycles_per_image_ref": c["cycles_per_image_ref"],
                }
                for c in check["checks"]
                if c["layers_with_different_cycles"]
            ]
        },
    }


def load_report() -> dict:
    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    return report if report.get("benchmark") == "gfbs" else {"benchmark": "gfbs", "tasks": {}}


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the simulator)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def copy_figures(task: str, results: dict) -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    for figure in results["figures"].values():
        name = Path(figure).name
        target = f"gfbs_rounding_{task}.png" if name == "gfbs_rounding.png" else name
        shutil.copy(figure, FIGURES / target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--quick", action="store_true", help="the --quick sweep of each task")
    parser.add_argument("--backend", default="sim")
    parser.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: rebuild the entries of --tasks from build/gfbs-bench/<task>/ "
        "(after tasks ran in separate processes)",
    )
    args = parser.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    conditions = (
        "8 criteria x budgets x seeds per network, torch-pruning 1.6.1 surgery, "
        "Adam fine-tuning, SP2 4-bit weights / 8-bit activations on the core (PTQ); "
        "sweep on ref (cycle model), seed-0 networks at the middle budget checked on "
        f"{args.backend}; 2 CPU cores shared with other jobs, torch with 1 thread"
        + ("; --quick" if args.quick else "")
    )
    status = 0
    for task in tasks:
        out = OUT / task
        previous = load_report()["tasks"].get(task, {})
        wall, cpu = previous.get("seconds"), previous.get("cpu_seconds")
        if not args.collect:
            wall, cpu = time.monotonic(), cpu_seconds()
            argv = ["--task", task, "--backend", args.backend, "--out", str(out)]
            if task == "denoise":
                argv += ["--check-images", "8"]  # 32x32 patches: 10 MMAC each on the simulator
            status |= cli.main(argv + (["--quick"] if args.quick else []))
            wall, cpu = time.monotonic() - wall, cpu_seconds() - cpu
        results = json.loads((out / "results.json").read_text())
        if not args.quick:
            copy_figures(task, results)
        # Read again just before writing: tasks may run in parallel processes.
        report = load_report()
        report["conditions"] = conditions
        report["tasks"][task] = condense(results, wall, cpu)
        write_json(RESULTS, report)  # after every task: a long run keeps what it finished
    print(f"wrote {RESULTS}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
