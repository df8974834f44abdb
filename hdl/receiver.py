"""`FrameReceiver`: finds request frames in the received bytes and checks their framing.

    rx bytes ─► hunt for A5 ─► header (op, tag, length) ─► header CRC-8
                                   │ valid: `frame_start`, then the payload bytes
                                   │        on `payload`, then the CRC-16: `frame_end`
                                   └ not:   `unframed` BAD_HEADER; the rest is stray bytes

The receiver does not interpret payloads: whoever owns the frame's op takes its
bytes from `payload` (and may hold `ready` low for a cycle to think). It answers
for the framing only: stray bytes between frames (one BAD_SYNC per run of them, or
of bad headers, so that a run of A5 bytes is one report, not one per five bytes),
a header that fails its CRC (BAD_HEADER) and a frame that stops arriving part way
(TIMEOUT after `timeout_cycles` without a byte). After `frame_end` or an
`unframed` report it waits for `resume` (the answer has gone out) before it hunts
for the next frame.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import crc, stream, wiring
from amaranth.lib.wiring import In, Out

from sw.device.protocol import HOST_SYNC, REQUEST_HEADER, Status, layout_bytes

HEADER_BYTES = layout_bytes(REQUEST_HEADER)


class FrameReceiver(wiring.Component):
    def __init__(self, timeout_cycles: int):
        self.timeout_cycles = timeout_cycles
        super().__init__(
            {
                "rx": In(stream.Signature(8)),
                "header": Out(
                    REQUEST_HEADER
                ),  # the current frame's, from `frame_start` to `resume`
                "frame_start": Out(1),  # pulse: a header passed its CRC-8
                "payload": Out(stream.Signature(8)),
                "frame_end": Out(1),  # pulse: the CRC-16 has arrived; `crc_ok` says whether
                "crc_ok": Out(1),
                "unframed": Out(1),  # pulse: answer `unframed_status` with op NONE
                "unframed_status": Out(Status),
                "stray_byte": Out(1),  # pulse: a byte between frames was dropped
                "header_error": Out(1),  # pulse: a header failed its CRC-8
                "timed_out": Out(1),  # pulse: a frame stopped arriving part way
                "resume": In(1),  # the frame's answer is out: hunt for the next one
                "busy": Out(1),  # a frame part way in, or waiting for `resume`
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.header_crc = header_crc = crc.catalog.CRC8_SMBUS(8).create()
        m.submodules.frame_crc = frame_crc = crc.catalog.CRC16_CCITT_FALSE(8).create()
        byte = self.rx.payload
        taking = Signal()  # this state takes a byte this cycle
        got = self.rx.valid & taking
        m.d.comb += [
            self.rx.ready.eq(taking),
            header_crc.data.eq(byte),
            frame_crc.data.eq(byte),
        ]

        # The header, shifted in first byte lowest. It holds still from the header's last
        # byte until the next frame's sync, so `header` is valid at `frame_start` and
        # until the frame has been answered.
        header_bits = Signal(REQUEST_HEADER.size)
        m.d.comb += self.header.eq(header_bits)
        header_index = Signal(range(HEADER_BYTES))
        remaining = Signal(16)  # payload bytes still to come
        payload_over = Signal()  # remaining == 0, kept as a register for speed
        # One report per run of garbage: stray bytes and bad headers after a report (or
        # a timeout) are only counted, until a frame's header checks out.
        garbage_reported = Signal()
        silent = Signal(range(self.timeout_cycles + 1))  # cycles since the last byte

        def report(status):
            m.d.comb += [self.unframed.eq(1), self.unframed_status.eq(status)]
            m.d.sync += garbage_reported.eq(1)
            m.next = "WAIT"

        def watch_silence():
            """Inside a frame: drop it if no byte came for `timeout_cycles`."""
            with m.If(got):
                m.d.sync += silent.eq(0)
            with m.Elif(silent == self.timeout_cycles - 1):
                m.d.sync += silent.eq(0)
                m.d.comb += self.timed_out.eq(1)
                report(Status.TIMEOUT)
            with m.Else():
                m.d.sync += silent.eq(silent + 1)

        with m.FSM() as fsm:
            with m.State("HUNT"):
                m.d.sync += [silent.eq(0), header_index.eq(0)]
                m.d.comb += taking.eq(1)
                with m.If(got & (byte == HOST_SYNC)):
                    m.d.comb += [header_crc.start.eq(1), frame_crc.start.eq(1)]
                    m.next = "HEADER"
                with m.Elif(got):
                    m.d.comb += self.stray_byte.eq(1)
                    with m.If(~garbage_reported):
                        report(Status.BAD_SYNC)

            with m.State("HEADER"):
                m.d.comb += [taking.eq(1), header_crc.valid.eq(got), frame_crc.valid.eq(got)]
                watch_silence()
                with m.If(got):
                    m.d.sync += [
                        header_bits.eq(Cat(header_bits[8:], byte)),
                        header_index.eq(header_index + 1),
                    ]
                    with m.If(header_index == HEADER_BYTES - 1):
                        m.next = "HEADER_CHECK"

            with m.State("HEADER_CHECK"):
                m.d.comb += [taking.eq(1), frame_crc.valid.eq(got)]
                watch_silence()
                with m.If(got & (byte != header_crc.crc)):
                    m.d.comb += self.header_error.eq(1)
                    with m.If(~garbage_reported):
                        report(Status.BAD_HEADER)
                    with m.Else():
                        m.next = "HUNT"  # part of the same run of garbage
                with m.Elif(got):
                    header = REQUEST_HEADER(header_bits)
                    m.d.sync += [
                        remaining.eq(header.length),
                        payload_over.eq(header.length == 0),
                        garbage_reported.eq(0),
                    ]
                    m.d.comb += self.frame_start.eq(1)
                    m.next = "PAYLOAD"

            with m.State("PAYLOAD"):
                watch_silence()
                with m.If(payload_over):
                    m.next = "CHECK_HIGH"
                with m.Else():
                    m.d.comb += [
                        self.payload.payload.eq(byte),
                        self.payload.valid.eq(self.rx.valid),
                        taking.eq(self.payload.ready),
                        frame_crc.valid.eq(got),
                    ]
                    with m.If(got):
                        m.d.sync += [remaining.eq(remaining - 1), payload_over.eq(remaining == 1)]

            for state, next_state in (("CHECK_HIGH", "CHECK_LOW"), ("CHECK_LOW", "END")):
                with m.State(state):
                    m.d.comb += [taking.eq(1), frame_crc.valid.eq(got)]
                    watch_silence()
                    with m.If(got):
                        m.next = next_state

            with m.State("END"):
                m.d.comb += [self.frame_end.eq(1), self.crc_ok.eq(frame_crc.match_detected)]
                m.next = "WAIT"

            with m.State("WAIT"):
                with m.If(self.resume):
                    m.next = "HUNT"

        m.d.comb += self.busy.eq(~fsm.ongoing("HUNT"))
        return m
