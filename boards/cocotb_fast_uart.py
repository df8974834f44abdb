"""cocotb: the board-link tests (sim/test_board_link.py) with the UART in its own domain.

The model has a second clock and reset, ``uart_clk``/``uart_rst``; this starts that
clock at ``uart_clock_ratio`` times the core clock's rate and releases its reset with
the core's, then runs each board-link test unchanged (the host's bit time is given in
core-clock cycles, so the testbench's timing is the same)."""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import Timer

from sim import test_board_link as board_link

RESET_CYCLES = 4  # as `UartHost.start` holds the core's reset


async def start_uart_clock(dut) -> None:
    ratio = board_link.config()["uart_clock_ratio"]
    period = board_link.CLOCK_NS / ratio
    dut.uart_rst.value = 1
    cocotb.start_soon(Clock(dut.uart_clk, period, unit="ns", impl="gpi").start())
    cocotb.start_soon(_release_reset(dut))


async def _release_reset(dut) -> None:
    await Timer(RESET_CYCLES * board_link.CLOCK_NS, unit="ns")
    dut.uart_rst.value = 0


@cocotb.test()
async def identify_load_and_run(dut):
    await start_uart_clock(dut)
    await board_link.identify_load_and_run.func(dut)


@cocotb.test()
async def a_frame_that_stops_part_way_times_out(dut):
    await start_uart_clock(dut)
    await board_link.a_frame_that_stops_part_way_times_out.func(dut)


@cocotb.test()
async def bytes_beyond_the_receive_fifo_are_lost_and_the_device_recovers(dut):
    await start_uart_clock(dut)
    await board_link.bytes_beyond_the_receive_fifo_are_lost_and_the_device_recovers.func(dut)
