"""`hdl.loader.LayerLoader` and `hdl.run_loader.RunLoader` alone, against models of their writes.

Payloads come from the host's own encoders (`sw.device.payloads`), with random gaps;
what the loaders write (weight words, table entries, requantization records,
activations) is compared with where the sequencer and the core expect it.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hdl.loader import LayerLoader, weight_bank_words
from hdl.run_loader import RunLoader
from sim.streams import put
from sw.device.params import CoreParams, TopParams
from sw.device.payloads import (
    LAYER_HEADER,
    RUN_HEADER,
    DeviceInfo,
    encode_layer,
    encode_run,
    layer_result_bytes,
)
from sw.device.protocol import Status, WeightMode, pack
from sw.device.tables import decode_table_entries, hardware_codes, table_entry_bytes, uses_table
from sw.kernel.random_layer import random_product

DEVICES = {
    "every-mode": TopParams(
        CoreParams(rows=2, cols=3, acc_bits=20, channels=16), k_max=24, m_max=8
    ),
    "fixed-spx": TopParams(
        CoreParams(rows=3, cols=2, acc_bits=18, weight_modes=("spx",), max_shift=2,
                   spx_programmable=False, channels=8),
        k_max=16, m_max=6,
    ),
}  # fmt: skip


def load(tp: TopParams, payload: bytes, *, bank=0, seed=0, start_again_after=None):
    """Feed ``payload`` to a LayerLoader; return what it wrote and its final outputs."""
    dut = LayerLoader(tp)
    writes = {"weights": {}, "table": {}, "requant": {}}
    result = {}
    rng = random.Random(seed)

    async def bench(ctx):
        ctx.set(dut.bank, bank)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        stream = payload
        if start_again_after is not None:  # a frame that stopped part way, then a new one
            await put(ctx, dut.payload, payload[:start_again_after], rng=rng, gaps=0.3)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
        await put(ctx, dut.payload, stream, rng=rng, gaps=0.3)
        for _ in range(4):
            await ctx.tick()
        layer = dut.layer
        result.update(
            complete=ctx.get(dut.complete),
            error=Status(ctx.get(dut.error)),
            layer={f: ctx.get(getattr(layer, f)) for f in ("mode", "requant", "relu",
                   "out_bits", "k", "n", "result_bytes", "row_bytes")},
        )  # fmt: skip

    async def watch(ctx):
        tables = dut.tables
        async for _, _, *values in ctx.tick().sample(
            dut.weight_enable, dut.weight_address, dut.weight_data,
            tables.requant.write_enable, tables.requant.write_channel,
            tables.requant.write_data, tables.requant.write_bank,
            *((tables.table_write_enable, tables.table_write_address,
               tables.table_write_data, tables.table_write_bank) if uses_table(tp.core) else ()),
        ):  # fmt: skip
            enable, address, data, rq_enable, channel, record, rq_bank, *table = values
            bits = tp.core.weight_bits
            for lane in range(tp.core.cols):
                if enable >> lane & 1:
                    writes["weights"][(address, lane)] = data >> (lane * bits) & ((1 << bits) - 1)
            if rq_enable:
                writes["requant"][(rq_bank, channel)] = (
                    record.multiplier,
                    record.shift,
                    record.bias,
                )
            if table and table[0]:
                writes["table"][(table[3], table[1])] = table[2]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(watch)
    sim.run_until(1e-6 * (10 * len(payload) + 200))
    return writes, result


def expected_weights(tp, codes, bank):
    k, n = codes.shape
    base = bank * weight_bank_words(tp)
    return {
        (base + (j // tp.core.cols) * k + i, j % tp.core.cols): int(codes[i, j])
        for i in range(k)
        for j in range(n)
    }


CASES = [
    ("every-mode", "uniform", {}, True),
    ("every-mode", "codebook", {}, True),
    ("every-mode", "spx", {"spx_terms": 1}, False),
    ("every-mode", "uniform", {"weight_bits": 3}, False),
    ("fixed-spx", "spx", {"spx_terms": 2}, True),
]


@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_a_layer_lands_where_the_core_reads_it(case):
    name, mode, extra, requant = CASES[case]
    tp = DEVICES[name]
    info = DeviceInfo.of(tp)
    rng = np.random.default_rng(case)
    # K kept within what even 8-bit codebook levels can accumulate in 18 bits.
    k, n = int(rng.integers(1, 5)), int(rng.integers(1, tp.core.channels + 1))
    product = random_product(rng, 1, k, n, mode=mode, requant=requant, acc_bits=18, **extra)
    spec = product.spec
    writes, result = load(tp, encode_layer(spec, product.codes, info), bank=1, seed=case)
    assert result["complete"] and result["error"] == Status.OK
    assert result["layer"] | {"result_bytes": 0, "row_bytes": 0} == {
        "mode": WeightMode.of(mode),
        "requant": int(requant),
        "relu": int(bool(requant and spec.requant.relu)),
        "out_bits": spec.requant.out_bits if requant else 0,
        "k": k,
        "n": n,
        "result_bytes": 0,
        "row_bytes": 0,
    }
    assert result["layer"]["row_bytes"] == n * layer_result_bytes(spec, info)
    codes = hardware_codes(product.codes, spec, tp.core)
    assert writes["weights"] == expected_weights(tp, codes, bank=1)
    if uses_table(tp.core):
        entries = decode_table_entries(spec, tp.core)
        assert writes["table"] == {(1, i): e for i, e in enumerate(entries)}
    if requant:
        r = spec.requant
        bias = r.bias or (0,) * n
        assert writes["requant"] == {
            (1, c): (r.multiplier[c], r.shift[c], bias[c]) for c in range(n)
        }
    else:
        assert writes["requant"] == {}


def header(mode=0, requant=0, out_bits=0, k=2, n=2, unused=0) -> bytes:
    flags = {"requant": requant, "relu": 0, "unused": unused}
    return pack(LAYER_HEADER, {"mode": mode, "flags": flags, "out_bits": out_bits, "k": k, "n": n})


def table_bytes(tp) -> bytes:
    """A decode table of zeros, as a uniform layer sends it."""
    return bytes((1 << tp.core.weight_bits) * table_entry_bytes(tp.core))


@pytest.mark.parametrize(
    "payload, status",
    [
        (header(mode=3), Status.BAD_PARAM),  # no such mode
        (header(mode=WeightMode.SPX, unused=4), Status.BAD_PARAM),  # a reserved flag
        (header(requant=1, out_bits=1), Status.BAD_PARAM),  # out_bits below 2
        (header(k=0), Status.BAD_PARAM),
        (header(k=25), Status.TOO_LARGE),  # k_max is 24; header only
        (header(n=17), Status.TOO_LARGE),  # 16 channels
        (header(k=1, n=1) + table_bytes(DEVICES["every-mode"]) + b"\x10", Status.BAD_VALUE),
        (header(k=1, n=1) + table_bytes(DEVICES["every-mode"]) + b"\x01\x00", Status.BAD_LENGTH),
    ],
    ids=["mode", "flags", "out-bits", "zero-k", "deep", "wide", "code", "extra-byte"],
)
def test_a_bad_layer_is_refused_with_its_status(payload, status):
    _, result = load(DEVICES["every-mode"], payload)
    assert result["error"] == status


def test_bad_requantization_values_are_refused():
    tp = DEVICES["every-mode"]
    info = DeviceInfo.of(tp)
    rng = np.random.default_rng(3)
    product = random_product(rng, 1, 2, 1, mode="uniform", requant=True, acc_bits=18)
    good = bytearray(encode_layer(product.spec, product.codes, info))
    record_at = 7 + len(table_bytes(tp))
    for offset, value in ((1, 0x80), (2, 64)):  # multiplier >= 2**15; shift > 63
        bad = bytearray(good)
        bad[record_at + offset] = value
        assert load(tp, bytes(bad))[1]["error"] == Status.BAD_VALUE
    bad = bytearray(good)
    bad[record_at + 3 : record_at + 6] = (1 << 20).to_bytes(3, "little")  # bias over 20 bits
    assert load(tp, bytes(bad))[1]["error"] == Status.BAD_VALUE


def test_a_short_payload_is_incomplete_and_a_new_frame_starts_over():
    tp = DEVICES["every-mode"]
    rng = np.random.default_rng(4)
    product = random_product(rng, 1, 5, 4, mode="codebook", requant=True, acc_bits=18)
    payload = encode_layer(product.spec, product.codes, DeviceInfo.of(tp))
    _, result = load(tp, payload[:-3])
    assert not result["complete"] and result["error"] == Status.OK  # the top answers BAD_LENGTH
    writes, result = load(tp, payload, start_again_after=len(payload) // 2)
    assert result["complete"] and result["error"] == Status.OK
    assert writes["weights"] == expected_weights(tp, product.codes, bank=0)


# ---- RUN ---------------------------------------------------------------------------------


def run(tp, payload, *, layer_valid=1, layer_tag=9, k=5, row_bytes=7, seed=0):
    dut = RunLoader(tp)
    writes, result = {}, {}

    async def bench(ctx):
        ctx.set(dut.layer_valid, layer_valid)
        ctx.set(dut.layer_tag, layer_tag)
        ctx.set(dut.layer.k, k)
        ctx.set(dut.layer.row_bytes, row_bytes)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await put(ctx, dut.payload, payload, rng=random.Random(seed), gaps=0.3)
        for _ in range(4):
            await ctx.tick()
        result.update(
            complete=ctx.get(dut.complete),
            error=Status(ctx.get(dut.error)),
            m=ctx.get(dut.m),
            response_length=ctx.get(dut.response_length),
            too_long=ctx.get(dut.response_too_long),
        )

    async def watch(ctx):
        async for _, _, enable, address, value in ctx.tick().sample(
            dut.act_enable, dut.act_address, dut.act_data
        ):
            for bank in range(tp.core.rows):
                if enable >> bank & 1:
                    writes[(bank, address)] = value

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(watch)
    sim.run_until(1e-6 * (10 * len(payload) + 200))
    return writes, result


@pytest.mark.parametrize("name", list(DEVICES))
def test_activations_land_where_the_sequencer_reads_them(name):
    tp = DEVICES[name]
    rng = np.random.default_rng(5)
    m, k = tp.m_max, 5
    x = rng.integers(-128, 128, (m, k))
    writes, result = run(tp, encode_run(x, layer=9), k=k, row_bytes=7)
    assert result["complete"] and result["error"] == Status.OK and result["m"] == m
    assert result["response_length"] == m * 7 and not result["too_long"]
    rows = tp.core.rows
    assert writes == {
        (i % rows, (i // rows) * k + j): int(x[i, j]) for i in range(m) for j in range(k)
    }


def test_a_bad_run_is_refused_with_its_status():
    tp = TopParams(CoreParams(rows=2, cols=2, act_bits=6, channels=4), k_max=8, m_max=4)
    x = np.zeros((2, 5), dtype=int)
    good = encode_run(x, layer=9)
    assert run(tp, good, layer_valid=0)[1]["error"] == Status.NO_LAYER
    assert run(tp, good, layer_tag=10)[1]["error"] == Status.WRONG_LAYER
    assert run(tp, pack(RUN_HEADER, {"m": 0, "layer": 9}))[1]["error"] == Status.BAD_PARAM
    assert run(tp, pack(RUN_HEADER, {"m": 5, "layer": 9}))[1]["error"] == Status.TOO_LARGE
    x[1, 3] = 40  # beyond 6-bit activations
    assert run(tp, encode_run(x, layer=9))[1]["error"] == Status.BAD_VALUE
    assert run(tp, good + b"\x00")[1]["error"] == Status.BAD_LENGTH
    short = run(tp, good[:-1])[1]
    assert short["error"] == Status.OK and not short["complete"]
    # 4 rows of 20000 result bytes do not fit one response frame.
    long_run = encode_run(np.zeros((4, 5), dtype=int), layer=9)
    assert run(tp, long_run, row_bytes=20000)[1]["too_long"]
