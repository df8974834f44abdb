"""Device-to-host frames, and the serializer that turns results into payload bytes.

`Responder` sends ``0x5A | op | status | len | crc8 | payload | crc16`` (the format
in `sw.driver.protocol`), pulling the payload from a byte stream, so a RUN's
results go out while the core still computes.
"""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import crc, stream, wiring
from amaranth.lib.wiring import In, Out

from sw.driver.protocol import DEVICE_SYNC


class Responder(wiring.Component):
    def __init__(self):
        super().__init__(
            {
                "start": In(1),  # pulse: send a frame with the fields below
                "op": In(8),
                "status": In(8),
                "length": In(16),
                "payload": In(stream.Signature(8)),
                "tx": Out(stream.Signature(8)),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.header_crc = header_crc = crc.catalog.CRC8_SMBUS(8).create()
        m.submodules.frame_crc = frame_crc = crc.catalog.CRC16_CCITT_FALSE(8).create()
        op, status, length = Signal(8), Signal(8), Signal(16)
        remaining = Signal(16)
        # remaining == 0, as a register: the zero test of 16 bits would otherwise sit
        # in the path from here through the payload's ready into the serializer.
        payload_over = Signal()
        sent = self.tx.valid & self.tx.ready
        m.d.comb += [
            header_crc.data.eq(self.tx.payload),
            frame_crc.data.eq(self.tx.payload),
        ]

        def header_byte(value, next_state, *, header=True):
            m.d.comb += [self.tx.payload.eq(value), self.tx.valid.eq(1)]
            m.d.comb += [header_crc.valid.eq(sent & header), frame_crc.valid.eq(sent)]
            with m.If(sent):
                m.next = next_state

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        op.eq(self.op),
                        status.eq(self.status),
                        length.eq(self.length),
                        remaining.eq(self.length),
                        payload_over.eq(self.length == 0),
                    ]
                    m.next = "SYNC"
            with m.State("SYNC"):
                m.d.comb += [self.tx.payload.eq(DEVICE_SYNC), self.tx.valid.eq(1), self.busy.eq(1)]
                with m.If(sent):
                    m.next = "OP"
            with m.State("OP"):
                m.d.comb += [self.busy.eq(1), header_crc.start.eq(1), frame_crc.start.eq(1)]
                header_byte(op, "STATUS")
            with m.State("STATUS"):
                m.d.comb += self.busy.eq(1)
                header_byte(status, "LENGTH_LOW")
            with m.State("LENGTH_LOW"):
                m.d.comb += self.busy.eq(1)
                header_byte(length[:8], "LENGTH_HIGH")
            with m.State("LENGTH_HIGH"):
                m.d.comb += self.busy.eq(1)
                header_byte(length[8:], "HEADER_CHECK")
            with m.State("HEADER_CHECK"):
                m.d.comb += self.busy.eq(1)
                header_byte(header_crc.crc, "PAYLOAD", header=False)
            with m.State("PAYLOAD"):
                m.d.comb += self.busy.eq(1)
                with m.If(payload_over):
                    m.next = "CHECK_HIGH"
                with m.Else():
                    m.d.comb += [
                        self.tx.payload.eq(self.payload.payload),
                        self.tx.valid.eq(self.payload.valid),
                        self.payload.ready.eq(self.tx.ready),
                        frame_crc.valid.eq(sent),
                    ]
                    with m.If(sent):
                        m.d.sync += [remaining.eq(remaining - 1), payload_over.eq(remaining == 1)]
            # The CRC goes most significant byte first (see sw.driver.protocol).
            with m.State("CHECK_HIGH"):
                m.d.comb += [
                    self.tx.payload.eq(frame_crc.crc[8:]),
                    self.tx.valid.eq(1),
                    self.busy.eq(1),
                ]
                with m.If(sent):
                    m.next = "CHECK_LOW"
            with m.State("CHECK_LOW"):
                m.d.comb += [
                    self.tx.payload.eq(frame_crc.crc[:8]),
                    self.tx.valid.eq(1),
                    self.busy.eq(1),
                ]
                with m.If(sent):
                    m.next = "IDLE"
        return m


class ResultSerializer(wiring.Component):
    """Each result becomes ``width`` little-endian bytes (``width`` set per layer).

    Takes a new value in the same cycle its previous one's last byte leaves, so
    one-byte results flow at one per cycle.
    """

    def __init__(self, value_bits: int, max_bytes: int):
        self.max_bytes = max_bytes
        super().__init__(
            {
                "width": In(range(max_bytes + 1)),
                "values": In(stream.Signature(signed(value_bits))),
                "bytes": Out(stream.Signature(8)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        word = Signal(8 * self.max_bytes)
        left = Signal(range(self.max_bytes + 1))
        sent = self.bytes.valid & self.bytes.ready
        m.d.comb += [
            self.bytes.valid.eq(left != 0),
            self.bytes.payload.eq(word[:8]),
            self.values.ready.eq((left == 0) | ((left == 1) & self.bytes.ready)),
        ]
        with m.If(self.values.valid & self.values.ready):
            m.d.sync += [word.eq(self.values.payload.as_signed()), left.eq(self.width)]
        with m.Elif(sent):
            m.d.sync += [word.eq(word >> 8), left.eq(left - 1)]
        return m
