"""cocotb tests of a board's whole device behind its USB port: packets in, packets back.

`boards.usb.USBLinkModel` (LUNA's CDC-ACM serial device, the FIFOs between its 12 MHz
``usb`` domain and the core clock, `hdl.top.Top`) for one board, built for its FPGA
family, with the frame timeout scaled down as for the UART boards. `UsbHost` is the
host's USB stack at the UTMI interface (what a PHY hands the device): it enumerates the
device as Linux does before ``/dev/ttyACM0`` appears, then moves the driver's frames in
bulk transfers on the data endpoints. Every result is compared with `sw.kernel`.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, Timer
from cocotb.utils import get_sim_time

from sim import test_board_link as board_link
from sim.usb_packets import Pid, data_packet, handshake, parse, start_of_frame, token
from sw.device.configs import device
from sw.device.payloads import (
    Counters,
    DeviceInfo,
    decode_results,
    encode_layer,
    encode_run,
    layer_result_bytes,
)
from sw.device.protocol import Op, ResponseParser, Status, encode_request
from sw.kernel import matmul

config = board_link.config
CLOCK_NS = board_link.CLOCK_NS
# The usb domain's clock: 7 core cycles, as 12 MHz beside the boards' 84 MHz.
USB_CLOCK_NS = 7 * CLOCK_NS
MAX_PACKET = 64  # the bulk endpoints' and the control endpoint's packet size
DATA_ENDPOINT = 4  # LUNA's USBSerialDevice: bulk OUT 0x04 and IN 0x84
ADDRESS = 5
FRAME_NS = 1_000_000  # a start-of-frame every millisecond, as a host sends them
TURNAROUND_CYCLES = 64  # a device must answer a token within 16-18 bit times; ample


class UsbError(AssertionError):
    pass


class UsbHost:
    """The host's side of a full-speed bus at the UTMI interface, one packet at a time."""

    def __init__(self, dut):
        self.dut = dut
        self.address = 0
        self.toggle = {"in": Pid.DATA0, "out": Pid.DATA0}  # bulk data toggles
        self.parser = ResponseParser()
        self.frames = []
        self.tag = 0
        self.frame_number = 0
        self.last_frame_ns = 0.0
        self.naks = 0  # bulk OUT packets the device refused (its FIFOs full)

    async def start(self):
        dut = self.dut
        dut.rx_active.value = dut.rx_valid.value = dut.rx_data.value = 0
        dut.tx_ready.value = 1  # the PHY takes a byte a cycle (as LUNA's own testbench)
        dut.line_state.value = 0b01  # J: the idle full-speed bus
        dut.vbus_valid.value = dut.session_valid.value = 1
        dut.rst.value = dut.usb_rst.value = 1
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi").start())
        cocotb.start_soon(Clock(dut.usb_clk, USB_CLOCK_NS, unit="ns", impl="gpi").start())
        await ClockCycles(dut.usb_clk, 4)
        dut.rst.value = dut.usb_rst.value = 0
        await ClockCycles(dut.usb_clk, 4)

    # ---- packets ------------------------------------------------------------------
    async def send_packet(self, packet: bytes):
        dut = self.dut
        await RisingEdge(dut.usb_clk)
        dut.rx_active.value = 1
        for byte in packet:
            await RisingEdge(dut.usb_clk)
            dut.rx_data.value, dut.rx_valid.value = byte, 1
        await RisingEdge(dut.usb_clk)
        dut.rx_valid.value = dut.rx_active.value = 0
        await ClockCycles(dut.usb_clk, 2)  # inter-packet gap

    async def receive_packet(self) -> tuple[Pid, bytes] | None:
        """The device's next packet, or None if it sends none in time (a timeout, as
        for a device that does not answer)."""
        dut = self.dut
        for _ in range(TURNAROUND_CYCLES):
            await RisingEdge(dut.usb_clk)
            if dut.tx_valid.value:
                break
        else:
            return None
        packet = bytearray()
        while dut.tx_valid.value:
            packet.append(int(dut.tx_data.value))
            await RisingEdge(dut.usb_clk)
        await ClockCycles(dut.usb_clk, 2)
        return parse(bytes(packet))

    async def keep_alive(self):
        """A start-of-frame each millisecond of simulated time, as a host sends them: a
        device that sees none for 3 ms must suspend."""
        now = get_sim_time(unit="ns")
        if now - self.last_frame_ns >= FRAME_NS:
            self.frame_number = (self.frame_number + 1) % 2048
            self.last_frame_ns = now
            await self.send_packet(start_of_frame(self.frame_number))

    # ---- transactions ------------------------------------------------------------
    async def out_transaction(self, endpoint: int, pid: Pid, payload: bytes, setup=False) -> Pid:
        await self.keep_alive()
        await self.send_packet(token(Pid.SETUP if setup else Pid.OUT, self.address, endpoint))
        await self.send_packet(data_packet(pid, payload))
        answer = await self.receive_packet()
        if answer is None:
            raise UsbError(f"no handshake for an OUT to endpoint {endpoint}")
        return answer[0]

    async def in_transaction(self, endpoint: int, expected: Pid) -> tuple[Pid, bytes]:
        """One IN: (NAK, b""), (STALL, b""), or the data (acknowledged; its toggle must
        be ``expected``, or it is a repeat the host must drop)."""
        await self.keep_alive()
        await self.send_packet(token(Pid.IN, self.address, endpoint))
        answer = await self.receive_packet()
        if answer is None:
            raise UsbError(f"no answer to an IN from endpoint {endpoint}")
        pid, payload = answer
        if pid in (Pid.DATA0, Pid.DATA1):
            await self.send_packet(handshake(Pid.ACK))
            if pid != expected:
                raise UsbError(f"endpoint {endpoint} sent {pid.name}, expected {expected.name}")
        return pid, payload

    async def control(self, request_type, request, value=0, index=0, data=b"", length=0):
        """A control transfer on endpoint 0: setup, an optional data stage either way,
        status. Returns the IN data stage's bytes."""
        setup = bytes([request_type, request]) + b"".join(
            field.to_bytes(2, "little") for field in (value, index, length or len(data))
        )
        if await self.out_transaction(0, Pid.DATA0, setup, setup=True) != Pid.ACK:
            raise UsbError(f"SETUP {setup.hex()} not acknowledged")
        received, toggle = bytearray(), Pid.DATA1
        if request_type & 0x80:  # device to host
            while len(received) < length:
                pid, chunk = await self._until_not_nak(lambda t=toggle: self.in_transaction(0, t))
                if pid == Pid.STALL:
                    raise UsbError(f"request {request:#04x} stalled")
                received += chunk
                toggle = Pid.DATA0 if toggle == Pid.DATA1 else Pid.DATA1
                if len(chunk) < MAX_PACKET:
                    break
            status = await self._until_not_nak(lambda: self.out_transaction(0, Pid.DATA1, b""))
            if status != Pid.ACK:
                raise UsbError(f"status stage of request {request:#04x}: {status.name}")
        else:
            for start in range(0, len(data), MAX_PACKET):
                chunk = data[start : start + MAX_PACKET]
                answer = await self._until_not_nak(
                    lambda c=chunk, t=toggle: self.out_transaction(0, t, c)
                )
                if answer != Pid.ACK:
                    raise UsbError(f"data stage of request {request:#04x}: {answer.name}")
                toggle = Pid.DATA0 if toggle == Pid.DATA1 else Pid.DATA1
            pid, payload = await self._until_not_nak(lambda: self.in_transaction(0, Pid.DATA1))
            if (pid, payload) != (Pid.DATA1, b""):
                raise UsbError(f"status stage of request {request:#04x}: {pid.name} {payload!r}")
        return bytes(received)

    async def _until_not_nak(self, transaction, tries: int = 200):
        for _ in range(tries):
            outcome = await transaction()
            if (outcome[0] if isinstance(outcome, tuple) else outcome) != Pid.NAK:
                return outcome
            await ClockCycles(self.dut.usb_clk, 8)
        raise UsbError(f"still NAKed after {tries} tries")

    # ---- what the OS does, then what the driver does --------------------------------
    async def enumerate(self) -> dict:
        """Device descriptor, address, configuration descriptor, configuration, and the
        CDC line coding (which Windows insists on); returns the descriptors."""
        device_descriptor = await self.control(0x80, 6, value=0x0100, length=18)
        await self.control(0x00, 5, value=ADDRESS)  # SET_ADDRESS
        self.address = ADDRESS
        head = await self.control(0x80, 6, value=0x0200, length=9)
        total = int.from_bytes(head[2:4], "little")
        configuration = await self.control(0x80, 6, value=0x0200, length=total)
        await self.control(0x00, 9, value=1)  # SET_CONFIGURATION 1
        # SET_LINE_CODING: 3 Mbaud 8N1 (ignored by the device: it is not a UART).
        await self.control(0x21, 0x20, data=(3_000_000).to_bytes(4, "little") + b"\x00\x00\x08")
        return {"device": device_descriptor, "configuration": configuration}

    async def string(self, index: int) -> str:
        descriptor = await self.control(0x80, 6, value=0x0300 | index, index=0x0409, length=255)
        return descriptor[2 : descriptor[0]].decode("utf-16-le")

    async def write(self, data: bytes):
        """Bulk OUT, in packets of up to 64 bytes; a NAK (device busy) is tried again."""
        for start in range(0, len(data), MAX_PACKET):
            chunk = data[start : start + MAX_PACKET]
            while True:
                answer = await self.out_transaction(DATA_ENDPOINT, self.toggle["out"], chunk)
                if answer == Pid.ACK:
                    break
                if answer != Pid.NAK:
                    raise UsbError(f"bulk OUT answered {answer.name}")
                self.naks += 1
                await self.read_some()  # what a host does meanwhile: keep reading
            self.toggle["out"] = Pid.DATA1 if self.toggle["out"] == Pid.DATA0 else Pid.DATA0

    async def read_some(self) -> bytes:
        """One bulk IN: the bytes the device had ready (none after a NAK)."""
        pid, payload = await self.in_transaction(DATA_ENDPOINT, self.toggle["in"])
        if pid == Pid.STALL:
            raise UsbError("bulk IN endpoint stalled")
        if pid != Pid.NAK:
            self.toggle["in"] = Pid.DATA1 if pid == Pid.DATA0 else Pid.DATA0
            self.frames += self.parser.feed(payload)
        return payload

    async def response(self, max_polls: int = 20_000):
        for _ in range(max_polls):
            if self.frames:
                return self.frames.pop(0)
            if not await self.read_some():
                await Timer(20 * USB_CLOCK_NS, unit="ns")
        raise UsbError("no response from the device")

    async def transact(self, op, payload=b""):
        self.tag = self.tag % 255 + 1
        await self.write(encode_request(op, payload, tag=self.tag))
        response = await self.response()
        assert (response.op, response.tag) == (op, self.tag), response
        return response


async def started() -> UsbHost:
    host = UsbHost(cocotb.top)
    await host.start()
    await host.enumerate()
    return host


@cocotb.test()
async def enumerates_as_a_cdc_acm_serial_port(_):
    host = UsbHost(cocotb.top)
    await host.start()
    descriptors = await host.enumerate()
    d = descriptors["device"]
    assert (d[0], d[1]) == (18, 1)  # a device descriptor
    assert d[4] == 0  # the class is given per interface (and by an association)
    assert int.from_bytes(d[8:10], "little") == config()["vendor_id"]
    assert int.from_bytes(d[10:12], "little") == config()["product_id"]
    assert d[7] == MAX_PACKET  # endpoint 0's packet size
    # The configuration: an ACM control interface, a data interface, bulk endpoints 4.
    c = descriptors["configuration"]
    interfaces, endpoints, functions, i = [], [], [], 0
    while i < len(c):
        length, kind = c[i], c[i + 1]
        if kind == 11:  # interface association: one function of two interfaces
            functions.append((c[i + 3], c[i + 4], c[i + 5]))  # count, class, subclass
        if kind == 4:
            interfaces.append((c[i + 5], c[i + 6]))  # class, subclass
        if kind == 5:
            endpoints.append((c[i + 2], c[i + 3] & 3, int.from_bytes(c[i + 4 : i + 6], "little")))
        i += length
    assert functions == [(2, 0x02, 0x02)]  # a CDC ACM function ...
    assert (0x02, 0x02) in interfaces and (0x0A, 0x00) in interfaces  # ... control + data
    assert (DATA_ENDPOINT, 2, MAX_PACKET) in endpoints  # bulk OUT
    assert (0x80 | DATA_ENDPOINT, 2, MAX_PACKET) in endpoints  # bulk IN
    assert await host.string(d[14]) == "qmatmul"  # iManufacturer


@cocotb.test()
async def identify_load_and_run(_):
    """What the driver does, through USB: answers longer than a packet arrive whole and
    the results are the kernel's."""
    host = await started()
    params = device(config()["device"])
    info = DeviceInfo.decode((await host.transact(Op.IDENTIFY)).payload)
    assert info.core_params() == params.core and info.k_max == params.k_max
    rng = np.random.default_rng(1)
    for requant, k in ((True, 9), (False, 33)):
        m, n = info.rows + 1, info.cols + 3  # two tiles each way
        product = board_link.product_for(info, rng, m, k, n, requant=requant)
        load = await host.transact(Op.LOAD_LAYER, encode_layer(product.spec, product.codes, info))
        assert load.status == Status.OK
        run = await host.transact(Op.RUN, encode_run(product.x, layer=host.tag))
        assert run.status == Status.OK
        width = layer_result_bytes(product.spec, info)
        if not requant:
            assert len(run.payload) > MAX_PACKET  # the answer spans several packets
        y = decode_results(run.payload, m, n, width, info)
        np.testing.assert_array_equal(y, matmul(product.x, product.codes, product.spec))


@cocotb.test()
async def frames_sent_back_to_back_lose_nothing(_):
    """Unlike a UART, USB holds the host back (NAK) while the device cannot take more:
    frames written in one go, the host reading only when refused, a RUN's long answer
    filling the device's outgoing buffers so that it stops reading frames and its
    incoming ones fill too. Every frame is answered, in order, with the kernel's
    results."""
    host = await started()
    info = DeviceInfo.decode((await host.transact(Op.IDENTIFY)).payload)
    rng = np.random.default_rng(3)
    n = min(info.channels, 64)
    product = board_link.product_for(info, rng, info.rows, 16, n, requant=False)
    load = encode_layer(product.spec, product.codes, info)
    frames, tags = [], []
    # A RUN's long answer, unread, stops the device reading; the LOAD after it (1 kB)
    # then fills the device's incoming buffers.
    for op in (Op.LOAD_LAYER, Op.RUN, Op.LOAD_LAYER, Op.RUN, Op.IDENTIFY, Op.COUNTERS):
        host.tag += 1
        if op == Op.LOAD_LAYER:
            payload, load_tag = load, host.tag
        elif op == Op.RUN:
            payload = encode_run(product.x, layer=load_tag)
        else:
            payload = b""
        frames.append(encode_request(op, payload, tag=host.tag))
        tags.append((op, host.tag))
    await host.write(b"".join(frames))
    assert host.naks > 0  # the device did hold the host back
    answers = [await host.response() for _ in frames]
    assert [(a.op, a.tag) for a in answers] == tags
    assert all(a.status == Status.OK for a in answers)
    width = layer_result_bytes(product.spec, info)
    expected = matmul(product.x, product.codes, product.spec)
    for run in (answers[1], answers[3]):
        assert len(run.payload) > 4 * MAX_PACKET
        np.testing.assert_array_equal(
            decode_results(run.payload, info.rows, n, width, info), expected
        )
    counters = Counters.decode(answers[-1].payload)
    assert counters.bad_sync == counters.bad_crc == 0


@cocotb.test()
async def a_frame_that_stops_part_way_times_out(_):
    host = await started()
    await host.write(encode_request(Op.IDENTIFY, b"", tag=9)[:3])
    await Timer(2 * config()["timeout_cycles"] * CLOCK_NS, unit="ns")
    response = await host.response()
    assert (response.op, response.status) == (Op.NONE, Status.TIMEOUT)
    assert (await host.transact(Op.IDENTIFY)).status == Status.OK
