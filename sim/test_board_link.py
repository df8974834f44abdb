"""cocotb tests of a board's whole device behind its UART: bits on the rx pin, bits back.

`boards.top.BoardLink` (UART PHY, receive FIFO, `hdl.top.Top`) for one board, built
for its FPGA family (the ULX3S with its MULT18X18D instances and their model), with
the frame timeout and the receive FIFO scaled down so that running into them takes
thousands of cycles rather than millions. Frames are the host's own encoding; every
result is compared with `sw.kernel`.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer

from sw.device.configs import device
from sw.device.payloads import (
    Counters,
    DeviceInfo,
    acc_bytes,
    decode_results,
    encode_layer,
    encode_run,
    layer_result_bytes,
)
from sw.device.protocol import Op, ResponseParser, Status, encode_request
from sw.kernel import matmul
from sw.kernel.random_layer import random_product

CLOCK_NS = 10


def config() -> dict:
    return json.loads(os.environ["QMATMUL_SIM_CONFIG"])


class UartHost:
    """The host end of the line: 8N1 at ``divisor`` clock cycles per bit."""

    def __init__(self, dut, divisor: int):
        self.dut, self.divisor = dut, divisor
        self.parser = ResponseParser()
        self.frames = []
        self.tag = 0

    async def start(self):
        self.dut.rx_pin.value = 1
        # The clock toggled in the simulator (C++), not from Python: the 12 x 12 arrays run
        # hundreds of thousands of cycles here, most of them UART bit times.
        cocotb.start_soon(Clock(self.dut.clk, CLOCK_NS, unit="ns", impl="gpi").start())
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        cocotb.start_soon(self._listen())

    async def cycles(self, count: int):
        """Wait ``count`` clock cycles with one timer (a `ClockCycles` wakes Python every
        cycle, which would dominate a UART's 10 x divisor cycles a byte)."""
        await Timer(count * CLOCK_NS, unit="ns")

    async def send(self, data: bytes):
        for byte in data:
            # Each start bit a quarter cycle later than the last, relative to the clock:
            # a receiver that samples on both clock edges sees every phase of it.
            await Timer(CLOCK_NS / 4, unit="ns")
            for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                self.dut.rx_pin.value = bit
                await self.cycles(self.divisor)

    async def _listen(self):
        while True:
            await FallingEdge(self.dut.tx_pin)
            await self.cycles(self.divisor // 2)  # the middle of the start bit
            byte = 0
            for i in range(8):
                await self.cycles(self.divisor)
                byte |= int(self.dut.tx_pin.value) << i
            await self.cycles(self.divisor)  # the stop bit
            self.frames += self.parser.feed(bytes([byte]))

    async def response(self, max_cycles: int = 2_000_000):
        waited = 0
        while not self.frames:
            await self.cycles(100)
            waited += 100
            assert waited < max_cycles, "no response from the device"
        return self.frames.pop(0)

    async def transact(self, op, payload=b""):
        self.tag = self.tag % 255 + 1
        await self.send(encode_request(op, payload, tag=self.tag))
        response = await self.response()
        assert (response.op, response.tag) == (op, self.tag), response
        return response


async def started():
    dut = cocotb.top
    host = UartHost(dut, config()["divisor"])
    await host.start()
    return dut, host


def product_for(info: DeviceInfo, rng, m, k, n, **options):
    mode = info.weight_modes[0]
    return random_product(rng, m, k, n, mode=mode, acc_bits=info.acc_bits, **options)


@cocotb.test()
async def identify_load_and_run(_):
    """What the driver does, bit by bit: the results are the kernel's."""
    _, host = await started()
    params = device(config()["device"])
    info = DeviceInfo.decode((await host.transact(Op.IDENTIFY)).payload)
    assert info.core_params() == params.core and info.k_max == params.k_max
    rng = np.random.default_rng(1)
    for requant in (True, False):
        # More rows and columns than the array (two tiles each way), few enough bits to
        # keep the UART's 10 bits a byte short in simulated time.
        product = product_for(info, rng, info.rows + 1, 9, info.cols + 3, requant=requant)
        load = await host.transact(Op.LOAD_LAYER, encode_layer(product.spec, product.codes, info))
        assert load.status == Status.OK
        run = await host.transact(Op.RUN, encode_run(product.x, layer=host.tag))
        assert run.status == Status.OK
        width = layer_result_bytes(product.spec, info)
        m, n = product.x.shape[0], product.codes.shape[1]
        y = decode_results(run.payload, m, n, width, info)
        np.testing.assert_array_equal(y, matmul(product.x, product.codes, product.spec))


@cocotb.test()
async def a_frame_that_stops_part_way_times_out(_):
    dut, host = await started()
    frame = encode_request(Op.IDENTIFY, b"", tag=9)
    await host.send(frame[:3])
    await host.cycles(config()["timeout_cycles"] + 10 * host.divisor)
    response = await host.response()
    assert (response.op, response.status) == (Op.NONE, Status.TIMEOUT)
    assert (await host.transact(Op.IDENTIFY)).status == Status.OK


@cocotb.test()
async def bytes_beyond_the_receive_fifo_are_lost_and_the_device_recovers(_):
    """While the device sends a long answer it reads nothing: stray bytes fill the receive
    FIFO and the rest are lost. Then they are one BAD_SYNC report, and it works again."""
    _, host = await started()
    info = DeviceInfo.decode((await host.transact(Op.IDENTIFY)).payload)
    fifo_depth = config()["fifo_depth"]
    stray = 3 * fifo_depth
    # Raw results, an answer four times as long as the stray bytes take to send.
    m, width = min(info.m_max, 8), acc_bytes(info.acc_bits)
    n = min(info.channels, -(-4 * stray // (m * width)))
    product = product_for(info, np.random.default_rng(2), m, 4, n, requant=False)
    await host.transact(Op.LOAD_LAYER, encode_layer(product.spec, product.codes, info))
    load_tag = host.tag
    host.tag += 1
    await host.send(encode_request(Op.RUN, encode_run(product.x, layer=load_tag), tag=host.tag))
    await host.send(b"\x00" * stray)  # sent while the answer goes out
    run = await host.response()
    assert run.status == Status.OK
    report = await host.response()
    assert (report.op, report.status) == (Op.NONE, Status.BAD_SYNC)
    counters = Counters.decode((await host.transact(Op.COUNTERS)).payload)
    assert fifo_depth <= counters.bad_sync < stray  # the FIFO's worth (and a few in flight)
    assert (await host.transact(Op.IDENTIFY)).status == Status.OK
