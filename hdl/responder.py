"""Device-to-host frames, and the serializer that turns results into payload bytes.

`Responder` sends ``0x5A | header | crc8 | payload | crc16``, the header being
`sw.device.protocol.RESPONSE_HEADER` (op, tag, status, length) sent a byte at a
time through its layout. It pulls the payload from a byte stream, so a RUN's
results go out while the core still computes.
"""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import crc, data, stream, wiring
from amaranth.lib.wiring import In, Out

from sw.device.protocol import DEVICE_SYNC, RESPONSE_HEADER, layout_bytes

HEADER_BYTES = layout_bytes(RESPONSE_HEADER)


class Responder(wiring.Component):
    def __init__(self):
        super().__init__(
            {
                "start": In(1),  # pulse: send a frame with this header
                "header": In(RESPONSE_HEADER),
                "payload": In(stream.Signature(8)),
                "tx": Out(stream.Signature(8)),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.header_crc = header_crc = crc.catalog.CRC8_SMBUS(8).create()
        m.submodules.frame_crc = frame_crc = crc.catalog.CRC16_CCITT_FALSE(8).create()
        header = Signal(RESPONSE_HEADER)
        header_index = Signal(range(HEADER_BYTES))
        remaining = Signal(16)
        # remaining == 0, as a register: the zero test of 16 bits would otherwise sit
        # in the path from here through the payload's ready into the serializer.
        payload_over = Signal()
        sent = self.tx.valid & self.tx.ready
        m.d.comb += [header_crc.data.eq(self.tx.payload), frame_crc.data.eq(self.tx.payload)]

        def send(value, next_state):
            m.d.comb += [self.tx.payload.eq(value), self.tx.valid.eq(1), self.busy.eq(1)]
            with m.If(sent):
                m.next = next_state

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        header.eq(self.header),
                        header_index.eq(0),
                        remaining.eq(self.header.length),
                        payload_over.eq(self.header.length == 0),
                    ]
                    m.next = "SYNC"
            with m.State("SYNC"):
                m.d.comb += [header_crc.start.eq(1), frame_crc.start.eq(1)]
                send(DEVICE_SYNC, "HEADER")
            with m.State("HEADER"):
                m.d.comb += [header_crc.valid.eq(sent), frame_crc.valid.eq(sent)]
                send(header.as_value().word_select(header_index, 8), "HEADER")
                with m.If(sent):
                    m.d.sync += header_index.eq(header_index + 1)
                    with m.If(header_index == HEADER_BYTES - 1):
                        m.next = "HEADER_CHECK"
            with m.State("HEADER_CHECK"):
                m.d.comb += frame_crc.valid.eq(sent)
                send(header_crc.crc, "PAYLOAD")
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
            # The CRC goes most significant byte first (see sw.device.protocol).
            with m.State("CHECK_HIGH"):
                send(frame_crc.crc[8:], "CHECK_LOW")
            with m.State("CHECK_LOW"):
                send(frame_crc.crc[:8], "IDLE")
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


class LaneSerializer(wiring.Component):
    """A results beat of ``lanes`` values (``count`` of them real, from the first) becomes
    single values, one a cycle: the core's drain lanes ahead of the one-value
    `ResultSerializer`. Takes the next beat as its last value leaves."""

    def __init__(self, value_bits: int, lanes: int):
        self.lanes = lanes
        beat = data.StructLayout(
            {"values": data.ArrayLayout(signed(value_bits), lanes), "count": range(1, lanes + 1)}
        )
        super().__init__(
            {
                "beats": In(stream.Signature(beat)),
                "values": Out(stream.Signature(signed(value_bits))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        held = Signal.like(self.beats.payload)
        index = Signal(range(self.lanes))
        full = Signal()
        sent = self.values.valid & self.values.ready
        final = index == held.count - 1
        m.d.comb += [
            self.values.valid.eq(full),
            self.values.payload.eq(held.values[index]),
            self.beats.ready.eq(~full | (sent & final)),
        ]
        with m.If(self.beats.valid & self.beats.ready):
            m.d.sync += [held.eq(self.beats.payload), index.eq(0), full.eq(1)]
        with m.Elif(sent):
            m.d.sync += [index.eq(index + 1), full.eq(~final)]
        return m
