"""Digits MLP on the simulated core: accuracy per weight scheme and the sim backend's speed.

The 64-64-10 MLP of `qmatmul run digits` (fixed split, seed 0, QAT at 4 bits, 8-bit
activations) for each scheme; the whole 360-image test set runs through the `sim`
backend (Verilator RTL behind the driver's byte protocol) and again on `ref`.
images/s is host wall time through the driver, layer loads included.
Writes bench/results/digits.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from sw.data import load_digits_dataset  # noqa: E402
from sw.driver import Accelerator  # noqa: E402
from sw.quant import WeightScheme  # noqa: E402
from sw.workloads.digits import TrainConfig, float_row, scheme_report, train_float  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "digits.json"
SCHEMES = [WeightScheme(kind, 4) for kind in ("uniform", "sp1", "sp2", "codebook")]
SEED = 0


def main() -> int:
    torch.set_num_threads(1)
    start = time.monotonic()
    dataset = load_digits_dataset()
    config = TrainConfig()
    model = train_float(dataset, config, SEED)
    float_result, _ = float_row(model, dataset)
    rows = []
    with Accelerator.open("ref") as ref, Accelerator.open("sim") as sim:
        info = sim.identify()
        for scheme in SCHEMES:
            row, _ = scheme_report(scheme, model, dataset, config, SEED, ref, sim)
            rows.append(row)
    images = len(dataset.y_test)
    report = {
        "benchmark": "digits",
        "conditions": (
            f"8x8 digits, fixed split ({images} test images), MLP 64-64-10, seed {SEED}, "
            f"QAT 4-bit weights / 8-bit activations; sim = {info.rows}x{info.cols} device in "
            "Verilator over a pseudo-terminal; images/s = host wall time through the driver"
        ),
        "float_accuracy": float_result["accuracy"],
        "schemes": {
            row["scheme"]: {
                "accuracy": row["accuracy"],
                "ptq_accuracy": row["ptq_accuracy"],
                "sim_matches_ref": row["ref_agreement"] == 1.0,
                "sim_images_per_second": images / row["backend_seconds"],
                "cycles_per_image": row["cycles_per_inference"],
                "weight_memory_bits": row["weight_memory_bits"],
                "pe_multipliers": row["pe_multipliers"],
            }
            for row in rows
        },
        "seconds": round(time.monotonic() - start, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"float accuracy {100 * float_result['accuracy']:.2f}%")
    print(f"{'scheme':<12} {'accuracy':>9} {'sim=ref':>8} {'images/s':>9} {'cycles/img':>11}")
    for name, entry in report["schemes"].items():
        print(
            f"{name:<12} {100 * entry['accuracy']:>8.2f}% {str(entry['sim_matches_ref']):>8} "
            f"{entry['sim_images_per_second']:>9.0f} {entry['cycles_per_image']:>11.1f}"
        )
    print(f"wrote {RESULTS}")
    return 0 if all(e["sim_matches_ref"] for e in report["schemes"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
