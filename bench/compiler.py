"""The graph compiler: host time against float torch, and array utilization per conv layer.

For each CNN of `qmatmul run cnn` (the 8x8 digits residual CNN and the mnist1d Conv1d
net; float trained with the default `TrainConfig`, cached in build/cache; SP2 4-bit PTQ):

- host time: the whole test set through the compiled program on ``ref`` (im2col, the
  numpy reference products, the host steps) against the same float network in torch
  on the same inputs; median of ``REPEATS`` runs each, one thread;
- device cycles: the same test set on ``sim`` (the RTL in Verilator; its run_cycles
  counters), per core layer against the ideal M*K*N/(R*C). A layer *fills the array*
  when N is a multiple of the array's C, M of its R, and K + 1 >= R*C (a tile's K
  beats outlast the previous tile's drain of R*C results); the goal is >= 90% there.

Also a 512x512 layer (its LOAD frame exceeds 65,535 bytes) and a 1000-deep layer
(K > k_max) through `run_product` on ``ref`` and ``sim``: bit-identical, with their
load/run counts and cycles. Writes bench/results/compiler.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sw.driver import Accelerator  # noqa: E402
from sw.kernel import matmul, run_product  # noqa: E402
from sw.kernel.random_layer import random_product  # noqa: E402
from sw.nn import compile_model, layer_sizing  # noqa: E402
from sw.workloads.cnn.experiment import (  # noqa: E402
    TrainConfig,
    accuracy,
    float_outputs,
    images,
    load_data,
    trained_float,
)
from sw.workloads.common import write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "compiler.json"
CACHE = Path(__file__).resolve().parent.parent / "build" / "cache"
REPEATS = 5
SEED = 0
UTILIZATION_GOAL = 0.90


def median_seconds(function, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def fills_array(layer: dict, info) -> bool:
    return (
        layer["n"] % info.cols == 0
        and layer["rows"] % info.rows == 0
        and layer["k"] + 1 >= info.rows * info.cols
    )


def network(data: str, ref, sim) -> dict:
    dataset = load_data(data)
    model = trained_float(
        data, dataset, TrainConfig(), SEED, CACHE, progress=f"{data} float training"
    )
    x = images(dataset, dataset.x_test)
    program = compile_model(model, images(dataset, dataset.x_train), "sp2")
    x32 = torch.as_tensor(x, dtype=torch.float32)
    with torch.no_grad():
        float_seconds = median_seconds(lambda: model(x32))
    ref_seconds = median_seconds(lambda: program.run(ref, x, measure_cycles=False))
    fake_seconds = median_seconds(lambda: program.fake_quant(x))
    on_ref, _ = program.run(ref, x)
    ref_sizes = layer_sizing(program, ref.identify())
    on_sim, _ = program.run(sim, x)
    info = sim.identify()
    sim_sizes = layer_sizing(program, info)
    layers = []
    for on_sim_size, on_ref_size in zip(sim_sizes, ref_sizes, strict=True):
        entry = on_sim_size.as_dict()
        entry["cycle_model_cycles"] = on_ref_size.cycles  # ref's counters: the cycle model
        entry["fills_array"] = fills_array(entry, info)
        layers.append(entry)
    conv = [layer for layer in layers if layer["kind"] != "linear"]
    filling = [layer for layer in conv if layer["fills_array"]]
    return {
        "data": data,
        "test_samples": len(dataset.y_test),
        "scheme": "sp2-4 (PTQ)",
        "float_accuracy": accuracy(float_outputs(model, x), dataset.y_test),
        "program_accuracy": accuracy(on_sim, dataset.y_test),
        "sim_identical_to_ref": bool(np.array_equal(on_sim, on_ref)),
        "host_seconds": {
            "float_torch": float_seconds,
            "program_on_ref": ref_seconds,
            "program_fake_quant": fake_seconds,
        },
        "host_time_ratio_ref_over_float": ref_seconds / float_seconds,
        "layers": layers,
        "conv_utilization_where_filled": [layer["utilization"] for layer in filling],
        "goal_met_where_filled": all(layer["utilization"] >= UTILIZATION_GOAL for layer in filling),
    }


def large_product(name: str, m: int, k: int, n: int, ref, sim) -> dict:
    product = random_product(np.random.default_rng(k), m, k, n, mode="spx")
    expected = matmul(product.x, product.codes, product.spec)
    results = {}
    for label, device in (("ref", ref), ("sim", sim)):
        start = time.perf_counter()
        y, report = run_product(device, product.spec, product.codes, product.x)
        results[label] = {
            "identical_to_matmul": bool(np.array_equal(y, expected)),
            "seconds": time.perf_counter() - start,
            **report.as_dict(),
        }
    return {"name": name, "m": m, "k": k, "n": n, "mode": "spx (SP2 4-bit)", **results}


def main() -> int:
    torch.set_num_threads(1)
    start = time.monotonic()
    with Accelerator.open("ref") as ref, Accelerator.open("sim") as sim:
        info = sim.identify()
        networks = [network(data, ref, sim) for data in ("digits", "mnist1d")]
        products = [
            large_product("512x512", 8, 512, 512, ref, sim),
            large_product("1000-deep", 8, 1000, 16, ref, sim),
        ]
    report = {
        "benchmark": "compiler",
        "conditions": (
            f"SP2 4-bit PTQ programs of the run-cnn networks (seed {SEED}), whole test sets; "
            f"sim = the {info.rows}x{info.cols} device (k_max {info.k_max}, {info.channels} "
            f"channels, m_max {info.m_max}) in Verilator; host times: median of {REPEATS}, "
            "one torch thread, on a shared 2-core machine"
        ),
        "utilization_goal": UTILIZATION_GOAL,
        "networks": networks,
        "large_products": products,
        "seconds": round(time.monotonic() - start, 1),
    }
    write_json(RESULTS, report)
    for net in networks:
        print(
            f"{net['data']}: float {100 * net['float_accuracy']:.2f}%, program "
            f"{100 * net['program_accuracy']:.2f}%, sim = ref: {net['sim_identical_to_ref']}; "
            f"host time ref/float = {net['host_time_ratio_ref_over_float']:.1f}x "
            f"({1e3 * net['host_seconds']['program_on_ref']:.1f} ms vs "
            f"{1e3 * net['host_seconds']['float_torch']:.1f} ms)"
        )
        print(
            f"{'layer':<12} {'K':>4} {'N':>3} {'M':>6} {'cycles':>9} {'ideal':>9} {'util':>6} fills"
        )
        for layer in net["layers"]:
            print(
                f"{layer['name']:<12} {layer['k']:>4} {layer['n']:>3} {layer['rows']:>6} "
                f"{layer['cycles']:>9} {layer['ideal_cycles']:>9.0f} "
                f"{100 * layer['utilization']:>5.1f}% {layer['fills_array']}"
            )
    for product in products:
        print(
            f"{product['name']}: ref {product['ref']['identical_to_matmul']}, sim "
            f"{product['sim']['identical_to_matmul']} ({product['sim']['loads']} loads, "
            f"{product['sim']['k_blocks']} K blocks, "
            f"{product['sim']['column_blocks']} column blocks)"
        )
    print(f"wrote {RESULTS}")
    ok = all(net["sim_identical_to_ref"] for net in networks) and all(
        p[side]["identical_to_matmul"] for p in products for side in ("ref", "sim")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
