"""PRR-FL against FedAvg, FedProx, FedBN, local training, PFA alone and DET alone.

The full run of `qmatmul run prrfl` (Flower's Ray simulation engine): 4 clients, each
with its own device (blur, gamma, noise, shear) and a Dirichlet(1.0) label mix, 5 local
epochs per round, every method on the same clients, data, initial model and batches for
each seed. After the last round every client fine-tunes its personalized model with 3
epochs of local QAT, compiles it (SP2 4-bit weights, 8-bit activations) and runs its
test images on the core (``--backend``, default ``ref``; ``sim`` also checks the
Verilator model bit for bit). Paired tests of PRR-FL against each other method over
(seed, client) cells and over seeds.

    .venv/bin/python bench/prrfl.py --data digits --rounds 10    # 8x8 digits, ~26 min
    .venv/bin/python bench/prrfl.py --data mnist1d --rounds 5    # mnist1d signals

(times on this shared 2-core machine under load; docs/prrfl.md has the results).

Each call updates its data set's section of bench/results/prrfl.json (summaries,
comparisons, each run's per-client finals, times) and writes the full results.json and
figures under build/prrfl-bench/<data>/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sw.workloads.common import write_json  # noqa: E402
from sw.workloads.prrfl import cli  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "prrfl.json"
OUT = Path("build/prrfl-bench")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("digits", "mnist1d"), default="digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--backend", default="ref")
    args = parser.parse_args(argv)
    out = OUT / args.data
    cli_args = cli.build_parser().parse_args(
        ["--data", args.data, "--rounds", str(args.rounds), "--seeds", str(args.seeds)]
        + ["--backend", args.backend, "--out", str(out)]
    )
    started = time.monotonic()
    results = cli.run(cli_args, list(cli.ALL_METHODS), args.rounds, args.seeds)
    config = results["config"]
    report = {
        "command": "python bench/prrfl.py " + " ".join(argv or sys.argv[1:]),
        "conditions": (
            f"{config['clients']} clients on {config['data']} (devices {results['devices']}), "
            f"Dirichlet alpha {config['alpha']}, {config['rounds']} rounds x "
            f"{config['local_epochs']} local epochs, seeds {config['seeds']}, Flower "
            f"simulation (Ray); core: {config['core_scheme']} {config['core_weight_bits']}-bit "
            f"weights after {config['core_qat_epochs']} local QAT epochs, on "
            f"{config['core_target'] or 'no backend'}"
        ),
        "wall_seconds": time.monotonic() - started,
        "summary": results["summary"],
        "comparisons": results["comparisons"],
        "runs": [
            {
                "method": run["method"],
                "seed": run["seed"],
                "seconds": run["seconds"],
                "failures": len(run["failures"]),
                "clients": [
                    {
                        key: client[key]
                        for key in (
                            "client",
                            "test_f1",
                            "test_auc",
                            "retrogress_total",
                            "receiver_retrogress_total",
                            "det_stages",
                            "core",
                        )
                    }
                    for client in run["clients"]
                ],
            }
            for run in results["runs"]
        ],
    }
    sections = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if "benchmark" in sections:  # an older single-section file
        sections = {}
    sections[args.data] = report
    write_json(RESULTS, sections)
    print(f"wrote the {args.data} section of {RESULTS} ({report['wall_seconds'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
