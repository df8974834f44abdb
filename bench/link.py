"""Link benchmark: the `sim` backend's end-to-end throughput and the protocol's cost.

Measures, in one run:

- the `sim` backend (driver -> pyserial -> pseudo-terminal -> Verilated device):
  MAC/s and bytes/s end to end for batches of 64 rows, and the host-side overhead
  of one call (the same call on `ref`, which does no I/O, against a 1 x 1 x 1
  product on `sim`);
- for the board path: bytes per MAC of the protocol and the share of the link
  spent on framing for batches of 64 rows, against the UART bound of 3 Mbaud (8N1:
  10 bits per byte), using the iCEBreaker's device configuration;
- every board's default design at 3, 6 and 12 Mbaud and USB full speed: end-to-end
  MMAC/s of the digits MLP and a 256-deep layer (computed from bytes and cycles);
- the digits MLP (the demo's trained 64-64-10 program) end to end through `sim:<board>`
  for every board's default design: the bytes the driver really moves and the cycles
  the device really counts, costed at the board's own link rate and at 3 Mbaud, with
  the two layers as one network on chip (RUN_NETWORK) and layer by layer; the ratio;
- a fault run: random faults (stray bytes, truncated frames, garbage, late replies;
  `sim.faults`) injected over a long run of calls on `sim`, each result checked
  against the reference: wrong results (must be 0), calls recovered, calls that
  raised, and the time from a fault to the next right result.

Writes bench/results/link.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from boards import BOARDS  # noqa: E402
from boards.top import uart_timing  # noqa: E402
from sim.faults import run_trials  # noqa: E402
from sw.device.configs import (  # noqa: E402
    BOARD_DEVICES,
    DEFAULT_BAUD,
    USB_FULL_SPEED,
    device,
    uart_link,
)
from sw.device.payloads import DeviceInfo, encode_layer, encode_run, result_bytes  # noqa: E402
from sw.device.protocol import RESPONSE_OVERHEAD, Op, encode_request  # noqa: E402
from sw.driver import Accelerator  # noqa: E402
from sw.kernel.random_layer import random_product  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "link.json"
UART_BAUD = DEFAULT_BAUD
BATCH = 64
FRAMING_TARGET = 0.10
FAULT_CALLS = 400
FAULT_RATE = 0.1


def timed(function, repeats: int) -> float:
    """Median wall time of ``function()`` in seconds."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def sim_throughput(rng) -> dict:
    rows = []
    with Accelerator.open("sim") as sim, Accelerator.open("ref") as ref:
        tiny = random_product(rng, 1, 1, 1, mode="spx")
        for acc in (sim, ref):
            acc.load_layer(tiny.spec, tiny.codes)
        sim_call = timed(lambda: sim.matmul(tiny.x), 30)
        ref_call = timed(lambda: ref.matmul(tiny.x), 30)
        for k, n in ((64, 64), (256, 64), (256, 128)):
            product = random_product(rng, BATCH, k, n, mode="spx", requant=True)
            sim.load_layer(product.spec, product.codes)
            seconds = timed(lambda p=product: sim.matmul(p.x), 5)
            request = encode_request(Op.RUN, encode_run(product.x, layer=1))
            bytes_moved = len(request) + RESPONSE_OVERHEAD + BATCH * n
            macs = BATCH * k * n
            rows.append(
                {
                    "m": BATCH,
                    "k": k,
                    "n": n,
                    "seconds_per_call": seconds,
                    "macs_per_second": macs / seconds,
                    "bytes_per_second": bytes_moved / seconds,
                }
            )
    return {
        "per_call_seconds_sim_1x1x1": sim_call,
        "per_call_seconds_ref_1x1x1": ref_call,
        "host_overhead_seconds": sim_call,
        "products": rows,
    }


def board_link(rng) -> dict:
    """Bytes and time on a 3 Mbaud UART for batches of 64 rows on the iCEBreaker's device
    (the driver sends them as RUNs of at most m_max rows)."""
    params = device("icebreaker")
    info = DeviceInfo.of(params)
    rows = []
    for k, n in sorted({(64, 64), (64, 10), (params.k_max, params.core.channels)}):
        product = random_product(rng, BATCH, k, n, mode="spx", requant=True)
        width = result_bytes(product.spec.requant.out_bits, info.acc_bits)
        bytes_total = payload = cycles = 0
        for start in range(0, BATCH, info.m_max):
            chunk = product.x[start : start + info.m_max]
            request = encode_request(Op.RUN, encode_run(chunk, layer=1))
            response = RESPONSE_OVERHEAD + chunk.shape[0] * n * width
            bytes_total += len(request) + response
            payload += chunk.size + chunk.shape[0] * n * width
            cycles += info.run_cycles(chunk.shape[0], k, n)
        link_seconds = bytes_total * 10 / UART_BAUD
        compute_seconds = cycles / info.clock_hz
        macs = BATCH * k * n
        rows.append(
            {
                "m": BATCH,
                "k": k,
                "n": n,
                "runs": -(-BATCH // info.m_max),
                "bytes": bytes_total,
                "framing_bytes": bytes_total - payload,
                "framing_share": (bytes_total - payload) / bytes_total,
                "bytes_per_mac": bytes_total / macs,
                "link_seconds": link_seconds,
                "compute_seconds": compute_seconds,
                "macs_per_second_link_bound": macs / max(link_seconds, compute_seconds),
            }
        )
    worst = max(r["framing_share"] for r in rows)
    layer = random_product(
        rng,
        1,
        params.k_max,
        params.core.channels,
        mode="spx",
        requant=True,
        acc_bits=params.core.acc_bits,
    )
    load = encode_request(Op.LOAD_LAYER, encode_layer(layer.spec, layer.codes, info))
    return {
        "uart_baud": UART_BAUD,
        "device": "icebreaker",
        "batch_rows": BATCH,
        "runs": rows,
        "worst_framing_share": worst,
        "framing_target": FRAMING_TARGET,
        "framing_target_met": worst < FRAMING_TARGET,
        "load_layer_bytes_largest": len(load),
    }


# The links compared for every board: the UART at 3, 6 and 12 Mbaud and USB full speed
# (the bulk ceiling of a CDC-ACM port: the OrangeCrabs' link and the ULX3S's second
# port). A link a board cannot be built with (a UART faster than its bridge takes, or
# none at all on the OrangeCrab; USB where it has no FPGA-side port) gets no figure.
LINKS = {
    "uart 3 Mbaud": uart_link(3_000_000),
    "uart 6 Mbaud": uart_link(6_000_000),
    "uart 12 Mbaud": uart_link(12_000_000),
    "usb full speed": USB_FULL_SPEED,
}


def buildable(board: str, link) -> bool:
    """Whether ``board`` can be built with ``link``: the board has the kind of link, and
    a UART's rate passes the same check as ``make bitstream BAUD=...``."""
    if link.kind not in BOARDS[board].links:
        return False
    try:
        if link.kind == "uart":
            uart_timing(BOARDS[board], link.bits_per_second)
    except ValueError:
        return False
    return True


def run_traffic(acc, product) -> tuple[int, int]:
    """Bytes on the link (requests and answers, the frames the driver sends) and device
    cycles of ``product``'s RUNs on ``acc`` (a `ref:<board>`: the cycle model)."""
    info = acc.identify()
    acc.load_layer(product.spec, product.codes)
    acc.matmul(product.x, measure_cycles=True)
    width = result_bytes(product.spec.requant.out_bits if product.spec.requant else None,
                         info.acc_bits)  # fmt: skip
    sent = 0
    for start in range(0, product.x.shape[0], info.m_max):
        chunk = product.x[start : start + info.m_max]
        request = encode_request(Op.RUN, encode_run(chunk, layer=1))
        sent += len(request) + RESPONSE_OVERHEAD + chunk.shape[0] * product.codes.shape[1] * width
    return sent, acc.last_run_cycles


def boards_at_link_rates(rng) -> list[dict]:
    """End-to-end MMAC/s of each board's default design at each link rate, from the bytes
    its RUNs move and its device cycles: the digits MLP (64 -> 64 -> 10, layer by layer,
    64 images) and a 256-deep layer (64 x 256 x 64). The link and the device take turns
    (a RUN computes once its frame is in), so time = wire time + cycles / clock. The
    pseudo-terminal of `sim` has no line rate, so this is computed, not timed."""
    rows = []
    for name in sorted(BOARD_DEVICES):
        board = BOARD_DEVICES[name]
        config = board.config_name(board.default_mode)
        params = device(config)
        mode = params.core.weight_modes[0]
        acc_bits = params.core.acc_bits
        workloads = {
            "digits MLP": [
                random_product(rng, BATCH, 64, 64, mode=mode, requant=True, acc_bits=acc_bits),
                random_product(rng, BATCH, 64, 10, mode=mode, requant=True, acc_bits=acc_bits),
            ],
            "256-deep layer": [
                random_product(
                    rng, BATCH, min(256, params.k_max), 64, mode=mode, requant=True,
                    acc_bits=acc_bits,
                )
            ],
        }  # fmt: skip
        with Accelerator.open(f"ref:{config}") as acc:
            for workload, products in workloads.items():
                traffic = [run_traffic(acc, product) for product in products]
                sent = sum(t[0] for t in traffic)
                cycles = sum(t[1] for t in traffic)
                macs = sum(p.x.shape[0] * p.codes.shape[0] * p.codes.shape[1] for p in products)
                compute = cycles / params.clock_hz
                rows.append(
                    {
                        "board": name,
                        "config": config,
                        "workload": workload,
                        "k": products[0].codes.shape[0],
                        "macs": macs,
                        "link_bytes": sent,
                        "device_cycles": cycles,
                        "clock_hz": params.clock_hz,
                        "board_baud": board.baud,
                        "board_link": board.link.kind,
                        "mmacs_per_second": {
                            link: macs / (rate.wire_seconds(sent) + compute) / 1e6
                            if buildable(name, rate)
                            else None
                            for link, rate in LINKS.items()
                        },
                        "compute_only_mmacs_per_second": macs / compute / 1e6,
                    }
                )
    return rows


def digits_whole_vs_layers() -> list[dict]:
    """Images per second of the digits MLP on each board's simulated device, whole network
    against layer by layer (`sw.workloads.demo.end_to_end`: bytes counted on the link,
    cycles on the device; the pseudo-terminal has no line rate, so time is costed)."""
    from sw.data import load_digits_dataset
    from sw.quant import WeightScheme
    from sw.workloads.demo import DEFAULT_CACHE, end_to_end, trained_program
    from sw.workloads.digits import TrainConfig

    dataset = load_digits_dataset()
    programs = {}  # SP2 weights where the array shifts and adds, else uniform 4-bit
    rows = []
    for name in sorted(BOARD_DEVICES):
        board = BOARD_DEVICES[name]
        config = board.config_name(board.default_mode)
        kind = "sp2" if "spx" in device(config).core.weight_modes else "uniform"
        if kind not in programs:
            programs[kind], _ = trained_program(
                TrainConfig(), dataset, WeightScheme(kind, 4), DEFAULT_CACHE, retrain=False
            )
        program = programs[kind]
        links = {"board": board.link, "uart 3 Mbaud": uart_link(UART_BAUD)}
        with Accelerator.open(f"sim:{config}") as sim:
            for link_name, link in links.items():
                paths = {
                    label: end_to_end(program, sim, dataset.x_test, link, whole_network=whole)
                    for label, whole in (("whole network", True), ("layer by layer", False))
                }
                whole, layers = paths["whole network"], paths["layer by layer"]
                rows.append(
                    {
                        "board": name,
                        "config": config,
                        "weights": f"{kind} 4-bit",
                        "link": link_name,
                        "link_kind": link.kind,
                        "link_bits_per_second": link.bits_per_second,
                        "images": len(dataset.x_test),
                        "paths": paths,
                        "whole_over_layers": whole["images_per_second"]
                        / layers["images_per_second"],
                    }
                )
    return rows


def fault_run(rng) -> dict:
    """Random faults among many checked calls on `sim`, the driver retrying as it does."""
    start = time.monotonic()
    with Accelerator.open("sim") as acc:
        report = run_trials(acc, rng, calls=FAULT_CALLS, fault_rate=FAULT_RATE)
        events = dict(acc.raw.events)
    return {
        "calls": FAULT_CALLS,
        "fault_rate": FAULT_RATE,
        **report.as_dict(),
        "link_events": events,
        "seconds": round(time.monotonic() - start, 1),
    }


def main() -> int:
    rng = np.random.default_rng(0)
    start = time.monotonic()
    report = {
        "benchmark": "link",
        "sim": sim_throughput(rng),
        "board": board_link(rng),
        "boards_at_link_rates": boards_at_link_rates(rng),
        "digits_whole_vs_layers": digits_whole_vs_layers(),
        "faults": fault_run(rng),
        "seconds": round(time.monotonic() - start, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    sim = report["sim"]
    print(
        f"sim backend: {sim['host_overhead_seconds'] * 1e3:.2f} ms per call on sim, "
        f"{sim['per_call_seconds_ref_1x1x1'] * 1e6:.0f} us on ref"
    )
    for r in sim["products"]:
        print(
            f"  {r['m']}x{r['k']}x{r['n']}: {r['macs_per_second'] / 1e6:.1f} MMAC/s, "
            f"{r['bytes_per_second'] / 1e3:.1f} kB/s end to end"
        )
    board = report["board"]
    print(f"board link at {UART_BAUD / 1e6:g} Mbaud ({board['device']}):")
    for r in board["runs"]:
        print(
            f"  {r['m']}x{r['k']}x{r['n']} in {r['runs']} RUNs: {r['bytes_per_mac']:.4f} B/MAC, "
            f"framing {r['framing_share']:.2%}, link {r['link_seconds'] * 1e3:.2f} ms, "
            f"compute {r['compute_seconds'] * 1e3:.3f} ms"
        )
    print(
        f"worst framing share: {board['worst_framing_share']:.2%} (target < {FRAMING_TARGET:.0%})"
    )
    print("end to end MMAC/s at " + ", ".join(LINKS) + " (computed from bytes and cycles):")
    for r in report["boards_at_link_rates"]:
        rates = " / ".join("-" if v is None else f"{v:.2f}" for v in r["mmacs_per_second"].values())
        print(
            f"  {r['board']:>12} {r['workload']:>15}: {rates}  "
            f"(compute alone {r['compute_only_mmacs_per_second']:.0f})"
        )
    print("digits MLP images/s end to end on sim (whole network vs layer by layer):")
    for r in report["digits_whole_vs_layers"]:
        whole, layers = r["paths"]["whole network"], r["paths"]["layer by layer"]
        print(
            f"  {r['board']:>14} {r['link']:>13} ({r['link_bits_per_second'] / 1e6:g} Mbit/s):"
            f" {whole['images_per_second']:.0f} vs {layers['images_per_second']:.0f}"
            f" = {r['whole_over_layers']:.2f}x; link share {whole['link_share']:.1%} vs"
            f" {layers['link_share']:.1%}; on chip: {whole['on_chip']}"
        )
    faults = report["faults"]
    print(
        f"fault run: {faults['calls']} calls, faults {faults['faults']}: wrong results "
        f"{faults['wrong']}, recovered {faults['recovered']}, raised {faults['raised']}, "
        f"recovery median {faults['recovery_s_median'] * 1e3:.0f} ms "
        f"(max {faults['recovery_s_max'] * 1e3:.0f} ms)"
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
