"""cocotb tests of `MatmulCore` under Verilator: every result checked against `sw.kernel`.

Run through `sim.suites` (``make sim`` or pytest), which builds one model per array
configuration and passes its `CoreParams` in ``QMATMUL_SIM_CONFIG``.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np

from sw.kernel import LayerSpec, matmul, max_depth
from sw.kernel.codes import decode_table
from sw.kernel.cycles import core_cycles
from sw.kernel.random_layer import random_operands, random_spec

from .core_bench import CoreBench, params_from_env

# (weight_mode, extra LayerSpec fields) for every mode variant the core may run.
MODE_VARIANTS = (
    ("uniform", {}),
    ("spx", {"spx_terms": 1}),
    ("spx", {"spx_terms": 2}),
    ("codebook", {}),
)


def runs_on(params, mode, extra, weight_bits=None) -> bool:
    """Whether the core can run this kind of layer at all (a fixed SPx decoder, for
    one, has only its own level set)."""
    bits = weight_bits or params.weight_bits
    codebook = [0] * (1 << bits) if mode == "codebook" else None
    try:
        spec = LayerSpec(
            act_bits=min(params.act_bits, 8),
            weight_bits=bits,
            weight_mode=mode,
            codebook=codebook,
            acc_bits=params.acc_bits,
            **extra,
        )
        params.check_spec(spec)
    except ValueError:
        return False
    return True


def variants(params, weight_bits=None):
    found = [
        (mode, extra) for mode, extra in MODE_VARIANTS if runs_on(params, mode, extra, weight_bits)
    ]
    assert found or weight_bits, f"no kind of layer runs on {params}"
    return found


def spec_for(rng, params, mode, extra, n, *, k_hint, requant=None, weight_bits=None, act_bits=None):
    return random_spec(
        rng,
        n,
        mode=mode,
        act_bits=act_bits or params.act_bits,
        weight_bits=weight_bits or params.weight_bits,
        acc_bits=params.acc_bits,
        requant=requant,
        k_hint=k_hint,
        **extra,
    )


async def started_bench(dut):
    bench = CoreBench(dut, params_from_env())
    await bench.start()
    return bench


async def check_product(bench, x, codes, spec, label, **options):
    expected = matmul(x, codes, spec)
    y, cycles, results = await bench.matmul(x, codes, spec, **options)
    mismatch = np.argwhere(y != expected)
    assert mismatch.size == 0, (
        f"{label}: {len(mismatch)} of {y.size} results differ, first at {mismatch[0].tolist()}: "
        f"rtl={y[tuple(mismatch[0])]} ref={expected[tuple(mismatch[0])]}"
    )
    bench.check_tile_ends(results, *y.shape)
    return cycles


@cocotb.test()
async def every_mode_random_shapes(dut):
    """Random layers in every mode, M/N/K not multiples of the array, light gaps and stalls."""
    bench = await started_bench(dut)
    p = bench.params
    rng = np.random.default_rng(11)
    stream_rng = random.Random(11)
    for mode, extra in variants(p):
        for trial in range(3):
            m = int(rng.integers(1, 2 * p.rows + 2))
            n = int(rng.integers(1, min(2 * p.cols + 2, p.channels) + 1))
            spec = spec_for(rng, p, mode, extra, n, k_hint=24)
            k = int(rng.integers(1, min(40, max_depth(spec)) + 1))
            x, codes = random_operands(rng, spec, m, k, n)
            await check_product(
                bench,
                x,
                codes,
                spec,
                f"{mode}{extra} trial {trial} M={m} K={k} N={n}",
                gap_probability=0.2,
                stall_probability=0.2,
                rng=stream_rng,
            )


@cocotb.test()
async def back_pressure_and_gaps(dut):
    """Heavy random back-pressure and input gaps lose, duplicate or reorder nothing."""
    bench = await started_bench(dut)
    p = bench.params
    rng = np.random.default_rng(12)
    stream_rng = random.Random(12)
    for gaps, stalls in ((0.5, 0.0), (0.0, 0.8), (0.6, 0.7)):
        m, n = 2 * p.rows + 1, min(2 * p.cols + 1, p.channels)
        spec = spec_for(rng, p, p.weight_modes[0], {}, n, k_hint=8, requant=True)
        k = min(8, max_depth(spec))
        x, codes = random_operands(rng, spec, m, k, n)
        await check_product(
            bench,
            x,
            codes,
            spec,
            f"gaps={gaps} stalls={stalls}",
            gap_probability=gaps,
            stall_probability=stalls,
            rng=stream_rng,
        )


@cocotb.test()
async def extreme_values(dut):
    """Every activation and code at its extremes, at the largest K before overflow."""
    bench = await started_bench(dut)
    p = bench.params
    for mode, extra in variants(p):
        rng = np.random.default_rng(13)
        spec = spec_for(rng, p, mode, extra, 2, k_hint=1, requant=False)
        table = decode_table(spec)
        code_min, code_max = int(np.argmin(table)), int(np.argmax(table))
        # The largest depth the accumulator allows, capped to keep the simulation short.
        k = min(max_depth(spec), 2048)
        lo, hi = spec.act_range
        m = min(p.rows + 1, 3)
        for x_value in (lo, hi):
            x = np.full((m, k), x_value, dtype=np.int64)
            codes = np.tile(np.array([[code_min, code_max]]), (k, 1))
            await check_product(bench, x, codes, spec, f"{mode}{extra} x={x_value} K={k}")
        # And through a requantizer that saturates at both ends.
        spec = spec_for(rng, p, mode, extra, 2, k_hint=k, requant=True)
        k = min(k, max_depth(spec))  # the bias takes part of the accumulator's range
        x = np.full((m, k), lo, dtype=np.int64)
        x[1::2] = hi
        codes = codes[:k]
        await check_product(bench, x, codes, spec, f"{mode}{extra} requantized extremes K={k}")


@cocotb.test()
async def narrower_layers(dut):
    """Layers narrower than the core: fewer activation and weight bits."""
    bench = await started_bench(dut)
    p = bench.params
    rng = np.random.default_rng(14)
    for weight_bits in range(2, p.weight_bits):
        for mode, extra in variants(p, weight_bits):
            spec = spec_for(
                rng,
                p,
                mode,
                extra,
                p.cols + 1,
                k_hint=16,
                weight_bits=weight_bits,
                act_bits=max(2, p.act_bits - 3),
            )
            k = min(16, max_depth(spec))
            x, codes = random_operands(rng, spec, p.rows + 1, k, p.cols + 1)
            await check_product(bench, x, codes, spec, f"{mode}{extra} weight_bits={weight_bits}")


@cocotb.test()
async def banks_are_independent(dut):
    """Loading a layer into one bank leaves the layer in the other bank intact."""
    bench = await started_bench(dut)
    p = bench.params
    rng = np.random.default_rng(17)
    m, n = p.rows + 1, min(p.cols + 1, p.channels)
    layers = []
    for bank, mode in enumerate((p.weight_modes[0], p.weight_modes[-1])):
        spec = spec_for(rng, p, mode, {}, n, k_hint=6, requant=True)
        k = min(6, max_depth(spec))
        layers.append((bank, spec, *random_operands(rng, spec, m, k, n)))
        await bench.configure(spec, n, bank)
    for bank, spec, x, codes in layers + layers[:1]:
        bench.select(spec, bank)
        await check_product(bench, x, codes, spec, f"bank {bank}", configure=False)


@cocotb.test()
async def reset_in_the_middle(dut):
    """A reset in the middle of a product, then a whole product comes out right."""
    bench = await started_bench(dut)
    p = bench.params
    rng = np.random.default_rng(15)
    m, n = 2 * p.rows, min(2 * p.cols, p.channels)
    spec = spec_for(rng, p, p.weight_modes[-1], {}, n, k_hint=12, requant=True)
    k = min(12, max_depth(spec))
    x, codes = random_operands(rng, spec, m, k, n)
    await bench.configure(spec, n)
    beats = bench.beats(x, codes, spec)
    await bench.stream(beats, m * n, stop_after_beats=len(beats) // 2 + 1)
    await bench.reset()
    x, codes = random_operands(rng, spec, m, k, n)
    await check_product(bench, x, codes, spec, "after reset", stall_probability=0.3)


@cocotb.test()
async def cycles_match_the_model(dut):
    """With no gaps and no stalls the measured cycles equal `core_cycles` exactly."""
    bench = await started_bench(dut)
    p = bench.params
    rng = np.random.default_rng(16)
    shapes = [
        (p.rows, 1, p.cols),  # one short tile: drain-bound
        (2 * p.rows, 3, 2 * p.cols),  # short K: drains back to back
        (2 * p.rows + 1, 37, 3 * p.cols - 1 if p.cols > 1 else 3),  # ragged edges
        (2 * p.rows, 64, 2 * p.cols),  # compute-bound
    ]
    for m, k, n in shapes:
        n = min(n, p.channels)
        spec = spec_for(rng, p, p.weight_modes[0], {}, n, k_hint=k, requant=True)
        k = min(k, max_depth(spec))
        x, codes = random_operands(rng, spec, m, k, n)
        measured = await check_product(bench, x, codes, spec, f"cycles M={m} K={k} N={n}")
        predicted = core_cycles(m, k, n, p.rows, p.cols, drain_lanes=p.drain_lanes)
        assert measured == predicted, (
            f"M={m} K={k} N={n} on {p.rows}x{p.cols}: measured {measured} cycles, "
            f"model predicts {predicted}"
        )
        dut._log.info("M=%d K=%d N=%d: %d cycles (model %d)", m, k, n, measured, predicted)
