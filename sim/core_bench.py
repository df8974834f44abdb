"""cocotb driver for `MatmulCore`: configure a layer, stream a product, collect results.

Operand beats follow `sw.kernel.tiling`; the collected results are put back in
(M, N) order with `result_order` and compared by the tests with `sw.kernel.matmul`.
"""

from __future__ import annotations

import json
import os
import random

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from hdl.core import operand_layout, result_layout
from hdl.requant import requant_param_layout
from sw.device.params import CoreParams
from sw.device.protocol import WeightMode
from sw.device.tables import decode_table_entries, hardware_codes, uses_table
from sw.kernel import LayerSpec, result_order, tiles

from .packing import Packer


def params_from_env() -> CoreParams:
    config = json.loads(os.environ["QMATMUL_SIM_CONFIG"])
    config["params"]["weight_modes"] = tuple(config["params"]["weight_modes"])
    return CoreParams(**config["params"])


class RunTimeout(AssertionError):
    pass


class CoreBench:
    def __init__(self, dut, params: CoreParams):
        self.dut = dut
        self.params = params
        self.operands = Packer(operand_layout(params))
        self.results = Packer(result_layout(params))
        self.requant_params = Packer(requant_param_layout(params))
        self.cycle = 0

    async def start(self):
        Clock(self.dut.clk, 10, unit="ns").start()
        self.dut.operands__valid.value = 0
        self.dut.results__ready.value = 0
        self._idle_control()
        await self.reset()

    def _idle_control(self):
        dut = self.dut
        dut.control__bank.value = 0
        dut.control__requant__write_enable.value = 0
        if uses_table(self.params):
            dut.control__table_write_enable.value = 0

    async def reset(self, cycles: int = 2):
        self.dut.rst.value = 1
        self.dut.operands__valid.value = 0
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def configure(self, spec: LayerSpec, n: int, bank: int = 0):
        """Write the decode table and per-channel requantization of one layer into
        ``bank``, then select it (with the mode and output settings)."""
        dut, p = self.dut, self.params
        p.check_spec(spec, n)
        if uses_table(p):
            dut.control__table_write_bank.value = bank
            for address, word in enumerate(decode_table_entries(spec, p)):
                dut.control__table_write_enable.value = 1
                dut.control__table_write_address.value = address
                dut.control__table_write_data.value = word
                await RisingEdge(dut.clk)
            dut.control__table_write_enable.value = 0
        requant = spec.requant
        if requant is not None:
            dut.control__requant__write_bank.value = bank
            bias = requant.bias or (0,) * requant.channels
            for channel in range(requant.channels):
                dut.control__requant__write_enable.value = 1
                dut.control__requant__write_channel.value = channel
                dut.control__requant__write_data.value = self.requant_params.pack(
                    {
                        "multiplier": requant.multiplier[channel],
                        "shift": requant.shift[channel],
                        "bias": bias[channel],
                    }
                )
                await RisingEdge(dut.clk)
            dut.control__requant__write_enable.value = 0
        self.select(spec, bank)
        # The mode, bank and saturation bounds are registered inside the core.
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)

    def select(self, spec: LayerSpec, bank: int):
        """Point the core at a loaded bank, with the layer's mode and output settings."""
        dut = self.dut
        dut.control__bank.value = bank
        dut.control__mode.value = WeightMode.of(spec.weight_mode)
        dut.control__requant__enable.value = int(spec.requant is not None)
        if spec.requant is not None:
            dut.control__requant__relu.value = int(spec.requant.relu)
            dut.control__requant__out_bits.value = spec.requant.out_bits

    def beats(self, x: np.ndarray, codes: np.ndarray, spec: LayerSpec) -> list[int]:
        """Operand beats for the whole product, tile by tile, padded at the edges."""
        p = self.params
        m, k = x.shape
        n = codes.shape[1]
        codes = hardware_codes(codes, spec, p)
        beats = []
        for tile in tiles(m, n, p.rows, p.cols):
            x_block = np.zeros((p.rows, k), dtype=np.int64)
            x_block[: tile.rows] = x[tile.row_base : tile.row_base + tile.rows]
            c_block = np.zeros((k, p.cols), dtype=np.int64)
            c_block[:, : tile.cols] = codes[:, tile.col_base : tile.col_base + tile.cols]
            for step in range(k):
                last = step == k - 1
                beats.append(
                    self.operands.pack(
                        {
                            "x": x_block[:, step].tolist(),
                            "codes": c_block[step].tolist(),
                            "last": int(last),
                            "rows": tile.rows if last else 0,
                            "cols": tile.cols if last else 0,
                            "col_base": tile.col_base if last else 0,
                        }
                    )
                )
        return beats

    async def stream(
        self,
        beats: list[int],
        expected_results: int,
        *,
        gap_probability: float = 0.0,
        stall_probability: float = 0.0,
        rng: random.Random | None = None,
        stop_after_beats: int | None = None,
        timeout_cycles: int | None = None,
    ) -> tuple[list[dict], int]:
        """Offer ``beats`` (with random gaps) while taking results (with random stalls).

        Returns the results in arrival order and the cycles from the first accepted
        beat to the last result, both included. ``stop_after_beats`` returns early
        (for the reset test) once that many beats were accepted.
        """
        dut = self.dut
        rng = rng or random.Random(0)
        timeout_cycles = timeout_cycles or 50 * (len(beats) + expected_results) + 1000
        results: list[dict] = []
        sent = 0
        offering = False
        first_accept = None
        last_result = None
        for cycle in range(timeout_cycles):
            if not offering and sent < len(beats) and rng.random() >= gap_probability:
                offering = True
                dut.operands__payload.value = beats[sent]
            dut.operands__valid.value = int(offering)
            dut.results__ready.value = int(rng.random() >= stall_probability)
            await ReadOnly()
            if offering and dut.operands__ready.value:
                offering = False
                sent += 1
                if first_accept is None:
                    first_accept = cycle
            if dut.results__ready.value and dut.results__valid.value:
                beat = self.results.unpack(dut.results__payload.value.to_unsigned())
                results += self.values_of(beat)
                last_result = cycle
            # `busy` must hold from the first beat in until the last result is out.
            if (
                first_accept is not None
                and len(results) < expected_results
                and cycle > first_accept
            ):
                assert dut.busy.value, f"busy fell at cycle {cycle} with results still to come"
            await RisingEdge(dut.clk)
            if stop_after_beats is not None and sent >= stop_after_beats:
                dut.operands__valid.value = 0
                return results, 0
            if len(results) >= expected_results and sent == len(beats):
                dut.operands__valid.value = 0
                dut.results__ready.value = 0
                return results, last_result - first_accept + 1
        raise RunTimeout(
            f"no progress: {sent}/{len(beats)} beats accepted, "
            f"{len(results)}/{expected_results} results after {timeout_cycles} cycles"
        )

    def values_of(self, beat: dict) -> list[dict]:
        """A results beat as its values in order, `last` on the tile's final one only."""
        count = beat["count"]
        if not 1 <= count <= self.params.drain_lanes:
            raise AssertionError(
                f"a results beat of {count} values from {self.params.drain_lanes} lanes"
            )
        return [
            {"value": beat["values"][i], "last": beat["last"] and i == count - 1}
            for i in range(count)
        ]

    async def matmul(
        self, x, codes, spec: LayerSpec, *, bank: int = 0, configure=True, **stream_options
    ):
        """Configure (unless told not to), stream the product and return
        ``(y (M x N), cycles, results)``."""
        m, n = x.shape[0], codes.shape[1]
        if configure:
            await self.configure(spec, n, bank)
        results, cycles = await self.stream(self.beats(x, codes, spec), m * n, **stream_options)
        return self.assemble(results, m, n), cycles, results

    def assemble(self, results: list[dict], m: int, n: int) -> np.ndarray:
        if len(results) != m * n:
            raise AssertionError(f"expected {m * n} results, got {len(results)}")
        rows, cols = result_order(m, n, self.params.rows, self.params.cols)
        y = np.zeros((m, n), dtype=np.int64)
        y[rows, cols] = [r["value"] for r in results]
        return y

    def check_tile_ends(self, results: list[dict], m: int, n: int):
        """``last`` must mark exactly the final result of every tile."""
        ends = np.cumsum([t.results for t in tiles(m, n, self.params.rows, self.params.cols)]) - 1
        flagged = [i for i, r in enumerate(results) if r["last"]]
        assert flagged == ends.tolist(), f"last flags at {flagged}, tile ends at {ends.tolist()}"
