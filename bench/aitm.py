"""AITM against the multi-task baselines on synthetic funnels, and AITM on the core.

Studies, each a `qmatmul run aitm` with its defaults unless stated (5 seeds, the
paired cells; per seed 10,000 training, 10,000 validation and 100,000 test
impressions; dependence 0.9):

- ``four_steps``: click -> application -> approval -> activation, every model; AITM
  (seed 0) compiled onto the core, SP2 and uniform 4-bit weights, 8-bit activations,
  `CORE_SAMPLES` test samples on ``ref`` and ``--check-samples`` samples on ``sim``
  compared bit for bit.
- ``two_steps``: click -> purchase, every model (ESMM included); the core on ``ref``.
- ``dependence``: four steps at dependence 0.0 and 0.5 for AITM, AITM without the
  transfer (independent towers) and SharedBottom; with ``four_steps`` (0.9) it gives
  AITM's end-to-end gain over the towers without transfer as the dependence grows.
- ``scarce``: four steps with 3,000 training impressions (about 12 activations) for
  AITM, AITM without transfer, SharedBottom and MMoE: does the transfer matter when the
  last step has almost no positives?

Writes bench/results/aitm.json (per study: summaries, paired tests, the core report,
wall time, the command), each run's results.json and PNGs under build/aitm-bench/, and
build/aitm-bench/dependence.png (end-to-end AUC against the dependence).
``--studies a,b`` reruns only those studies and keeps the others already in the
results file. ``--quick`` runs every study at `qmatmul run aitm --quick` size (a smoke
test of this script; its numbers come from under-trained models).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from threadpoolctl import threadpool_limits  # noqa: E402

from sw.workloads.aitm import cli  # noqa: E402
from sw.workloads.common import write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "aitm.json"
OUT = Path("build/aitm-bench")
CORE_SAMPLES = 30_000  # test samples run through the compiled program on ref
SWEEP_MODELS = "aitm,aitm_no_transfer,shared_bottom"
SWEEP_DEPENDENCE = (0.0, 0.5)
SCARCE_MODELS = "aitm,aitm_no_transfer,shared_bottom,mmoe"
SCARCE_TRAIN = 3_000
STUDIES = ("four_steps", "two_steps", "dependence", "scarce")


def run_aitm(name: str, arguments: list[str], quick: bool) -> dict:
    out = OUT / name
    argv = [*arguments, "--out", str(out)] + (["--quick"] if quick else [])
    print(f"\n=== {name}: qmatmul run aitm {' '.join(argv)}", flush=True)
    start = time.monotonic()
    args = cli.build_parser().parse_args(argv)
    result = cli.run(args)
    cli.print_summary(result)
    cli.write_outputs(result, out)
    result["command"] = "qmatmul run aitm " + " ".join(argv)
    result["wall_seconds"] = time.monotonic() - start
    return result


def condensed(result: dict) -> dict:
    """What the bench keeps of a run: the per-seed runs reduced to their end-to-end AUCs,
    the core report without its per-layer table (kept once)."""
    kept = {key: value for key, value in result.items() if key not in ("core", "runs")}
    kept["end_to_end_auc_per_seed"] = {
        name: [r["end_to_end_auc"] for r in result["runs"] if r["model"] == name]
        for name in result["models"]
    }
    if "core" in result:
        core = result["core"]
        schemes = core["schemes"]
        kept["core"] = {key: value for key, value in core.items() if key != "schemes"}
        kept["core"]["schemes"] = {
            scheme: {k: v for k, v in entry.items() if k != "layers"}
            for scheme, entry in schemes.items()
        }
        kept["core"]["layers"] = schemes[next(iter(schemes))]["layers"]
    return kept


def gain_row(dependence: float, result: dict) -> dict:
    """AITM minus the towers without transfer (end-to-end AUC) at one dependence."""
    return {
        "dependence": dependence,
        "aitm": result["models"]["aitm"]["end_to_end_auc"],
        "aitm_no_transfer": result["models"]["aitm_no_transfer"]["end_to_end_auc"],
        "shared_bottom": result["models"]["shared_bottom"]["end_to_end_auc"],
        "oracle": result["oracle"]["auc"][-1],
        "aitm_minus_no_transfer": result["paired_tests"]["aitm_no_transfer"]["end_to_end_auc"],
        "aitm_minus_shared_bottom": result["paired_tests"]["shared_bottom"]["end_to_end_auc"],
    }


def run_study(name: str, args, report: dict) -> dict:
    core = ["--core-samples", str(CORE_SAMPLES)]
    if name == "four_steps":
        four = ["--steps", "4", "--backend", args.backend, *core]
        return condensed(run_aitm(name, four, args.quick))
    if name == "two_steps":
        return condensed(run_aitm(name, ["--steps", "2", *core], args.quick))
    if name == "dependence":
        if "four_steps" not in report:
            raise SystemExit("the dependence study needs four_steps (dependence 0.9) first")
        runs = {}
        for rho in SWEEP_DEPENDENCE:
            argv = ["--steps", "4", "--dependence", str(rho), "--models", SWEEP_MODELS]
            runs[str(rho)] = condensed(
                run_aitm(f"dependence_{rho}", [*argv, "--no-core"], args.quick)
            )
        gains = [gain_row(float(rho), result) for rho, result in runs.items()]
        gains.append(gain_row(0.9, report["four_steps"]))
        return {"models": SWEEP_MODELS.split(","), "runs": runs, "gain_by_dependence": gains}
    if name == "scarce":
        argv = ["--steps", "4", "--train-samples", str(SCARCE_TRAIN), "--models", SCARCE_MODELS]
        return condensed(run_aitm(name, [*argv, "--no-core"], args.quick))
    raise SystemExit(f"unknown study {name!r}; choose from {', '.join(STUDIES)}")


def plot_dependence(report: dict, path: Path) -> Path | None:
    """End-to-end AUC against the dependence: AITM, towers without transfer, SharedBottom."""
    if "dependence" not in report:
        return None
    from sw.workloads.common import pyplot

    plt = pyplot()
    rows = sorted(report["dependence"]["gain_by_dependence"], key=lambda g: g["dependence"])
    x = [g["dependence"] for g in rows]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for key, label in (
        ("aitm", "AITM"),
        ("aitm_no_transfer", "AITM w/o transfer"),
        ("shared_bottom", "SharedBottom"),
    ):
        means = [g[key]["mean"] for g in rows]
        stds = [g[key]["std"] for g in rows]
        ax.errorbar(x, means, yerr=stds, marker="o", capsize=3, label=label)
    ax.plot(x, [g["oracle"]["mean"] for g in rows], "k:", label="oracle")
    ax.set_xlabel("dependence rho (consecutive steps' latent correlation)")
    ax.set_ylabel("end-to-end AUC (activation), mean +- std over 5 seeds")
    ax.set_title("four-step funnel: does modelling the dependence help?")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_aliccp_demo(directory: Path, seed: int = 0) -> None:
    """Made-up files in Ali-CCP's raw release format (not Taobao data), to run
    ``--data aliccp`` end to end at size: 40,000 training and 20,000 test skeleton lines,
    400 common-feature lines (users) per part, every field of `aliccp.SPARSE_FIELDS`;
    click and purchase drawn from a hidden logistic model of the user and item ids."""
    import numpy as np

    from sw.workloads.aitm.aliccp import write_raw_sample

    rng = np.random.default_rng(seed)
    users = 400
    user_fields = ("101", "121", "122", "124", "125", "126", "127", "128", "129", "301")
    user_fields += ("109_14", "110_14", "127_14", "150_14")
    item_fields = ("205", "206", "207", "210", "216", "508", "509", "702", "853")
    vocab = {f: int(rng.integers(5, 60)) for f in user_fields + item_fields}
    effect = {f: rng.normal(0, 0.6, vocab[f]) for f in vocab}
    user_ids = {f: rng.integers(0, vocab[f], users) for f in user_fields}

    def sigmoid(x: float) -> float:
        return 1 / (1 + np.exp(-x))

    for part, samples, first_id in (("train", 40_000, 0), ("test", 20_000, 10**6)):
        common = {
            f"u{u}": {f: (f"{f}_{user_ids[f][u]}", f"{rng.uniform(0, 5):.3f}") for f in user_fields}
            for u in range(users)
        }
        rows = []
        for i in range(samples):
            user = int(rng.integers(users))
            own = {f: int(rng.integers(vocab[f])) for f in item_fields}
            score = sum(effect[f][user_ids[f][user]] for f in user_fields) / 3
            score += sum(effect[f][v] for f, v in own.items()) / 3
            click = int(rng.random() < sigmoid(score - 2.2))
            purchase = int(click and rng.random() < sigmoid(1.5 * score - 2.5))
            features = {f: (f"{f}_{v}", f"{rng.uniform(0, 3):.3f}") for f, v in own.items()}
            rows.append((str(first_id + i), click, purchase, f"u{user}", features))
        write_raw_sample(directory, part, rows, common)
        clicks, purchases = sum(r[1] for r in rows), sum(r[2] for r in rows)
        print(f"{part}: {samples} samples, {clicks} clicks, {purchases} purchases")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every study at --quick size")
    parser.add_argument("--backend", default="sim", help="backend of the bit-identity check")
    parser.add_argument("--studies", default=",".join(STUDIES), help="comma-separated studies")
    parser.add_argument(
        "--figures-only", action="store_true", help="only redraw the figures from the results"
    )
    parser.add_argument(
        "--write-aliccp-demo",
        type=Path,
        metavar="DIR",
        help="only write made-up files in Ali-CCP's raw format to DIR (a format demo)",
    )
    args = parser.parse_args()
    if args.write_aliccp_demo:
        write_aliccp_demo(args.write_aliccp_demo)
        return 0
    if args.figures_only:
        report = json.loads(RESULTS.read_text())
        print(plot_dependence(report, OUT / "dependence.png"))
        return 0
    studies = [s.strip() for s in args.studies.split(",") if s.strip()]
    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    report |= {
        "benchmark": "aitm",
        "conditions": (
            "synthetic funnels (sw.workloads.aitm.data.synthetic_funnel), seeds 0-4 as paired "
            "cells; the models of sw.workloads.aitm.models, early stopping on the validation "
            "AUC sum; core: post-training quantization, per-channel 4-bit weights, 8-bit "
            "activations; 2 CPU cores shared with other jobs (wall times are slow)"
        ),
        "quick": args.quick,
    }
    with threadpool_limits(limits=1, user_api="blas"):
        for name in studies:
            start = time.monotonic()
            report[name] = run_study(name, args, report)
            report[name]["study_seconds"] = time.monotonic() - start
            write_json(RESULTS, report)  # after every study: a crash keeps the rest
    figure = plot_dependence(report, OUT / "dependence.png")
    print(f"\nwrote {RESULTS}" + (f" and {figure}" if figure else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
