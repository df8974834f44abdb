"""`hdl.receiver.FrameReceiver` alone: frames, garbage and silence in; what it reports out.

A small model says what each byte stream must produce: for a good frame its header,
payload and a CRC that checks; for a corrupted one a CRC that does not; one report
per run of garbage or bad headers; TIMEOUT after `timeout_cycles` of silence.
"""

from __future__ import annotations

import random

from amaranth.sim import Simulator

from hdl.receiver import FrameReceiver
from sw.device.protocol import HOST_SYNC, Op, Status, encode_request

TIMEOUT = 40


def receive(chunks, *, payload_stalls=0.0, seed=0):
    """Feed ``chunks`` (bytes, or an int: that many idle cycles) to a receiver; return
    the events it reports, in order."""
    dut = FrameReceiver(TIMEOUT)
    events = []
    rng = random.Random(seed)

    async def feed(ctx):
        for chunk in chunks:
            if isinstance(chunk, int):
                ctx.set(dut.rx.valid, 0)
                for _ in range(chunk):
                    await ctx.tick()
                continue
            for byte in chunk:
                ctx.set(dut.rx.payload, byte)
                ctx.set(dut.rx.valid, 1)
                await ctx.tick().until(dut.rx.ready)
            ctx.set(dut.rx.valid, 0)
        for _ in range(2 * TIMEOUT):
            await ctx.tick()

    async def watch(ctx):
        payload = None
        async for _, _, *v in ctx.tick().sample(
            dut.frame_start, dut.header.op, dut.header.tag, dut.header.length,
            dut.payload.valid, dut.payload.ready, dut.payload.payload,
            dut.frame_end, dut.crc_ok, dut.unframed, dut.unframed_status,
            dut.stray_byte, dut.header_error, dut.timed_out,
        ):  # fmt: skip
            start, op, tag, length, valid, ready, byte, end, crc_ok, unframed, status = v[:11]
            stray, header_error, timed_out = v[11:]
            if start:
                payload = bytearray()
                events.append(("frame", op, tag, length))
            if valid and ready:
                payload.append(byte)
            if end:
                events.append(("end", bytes(payload), bool(crc_ok)))
            for flag, name in ((stray, "stray"), (header_error, "bad header"),
                               (timed_out, "timeout")):  # fmt: skip
                if flag:
                    events.append(name)
            if unframed:
                events.append(("report", Status(status)))

    async def consume_and_resume(ctx):
        """The owner of the payload (random back-pressure) and of the answer (resume)."""
        while True:
            ctx.set(dut.payload.ready, not (payload_stalls and rng.random() < payload_stalls))
            ctx.set(dut.resume, rng.random() < 0.5)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feed)
    sim.add_process(watch)
    sim.add_process(consume_and_resume)
    sim.run_until(1e-6 * (20 * sum(len(c) if isinstance(c, bytes) else c for c in chunks) + 400))
    return events


def test_good_frames_come_through_whole():
    frames = [(Op.RUN, 7, bytes(range(30))), (Op.IDENTIFY, 8, b""), (0x7E, 255, b"xyz")]
    chunks = [encode_request(op, payload, tag=tag) for op, tag, payload in frames]
    events = receive(chunks, payload_stalls=0.4)
    expected = []
    for op, tag, payload in frames:
        expected += [("frame", op, tag, len(payload)), ("end", payload, True)]
    assert events == expected


def test_a_corrupted_payload_fails_its_crc():
    payload = bytearray(b"abcdef")
    frame = bytearray(encode_request(Op.LOAD_LAYER, bytes(payload), tag=3))
    frame[6 + 2] ^= 0x10  # sync, 4 header bytes and the header CRC come first
    payload[2] ^= 0x10
    events = receive([bytes(frame)])
    assert events == [("frame", Op.LOAD_LAYER, 3, 6), ("end", bytes(payload), False)]


def test_garbage_is_one_report_per_run_and_every_byte_is_counted():
    good = encode_request(Op.COUNTERS, tag=5)
    events = receive([b"\x00\x13\x99", good, b"\x42"])
    assert events == [
        "stray", ("report", Status.BAD_SYNC), "stray", "stray",
        ("frame", Op.COUNTERS, 5, 0), ("end", b"", True),
        "stray", ("report", Status.BAD_SYNC),
    ]  # fmt: skip


def test_a_run_of_sync_bytes_is_one_report():
    events = receive([bytes([HOST_SYNC]) * 30, encode_request(Op.IDENTIFY, tag=1)])
    assert events.count(("report", Status.BAD_HEADER)) == 1
    assert events.count("bad header") == 5  # 30 bytes: five false headers (sync, 4, CRC)
    assert events[-2:] == [("frame", Op.IDENTIFY, 1, 0), ("end", b"", True)]


def test_a_frame_that_stops_part_way_times_out_and_the_next_one_works():
    frame = encode_request(Op.RUN, bytes(10), tag=9)
    events = receive([frame[:9], TIMEOUT + 5, encode_request(Op.IDENTIFY, tag=2)])
    assert events == [
        ("frame", Op.RUN, 9, 10),
        "timeout", ("report", Status.TIMEOUT),
        ("frame", Op.IDENTIFY, 2, 0), ("end", b"", True),
    ]  # fmt: skip


def test_silence_between_frames_is_not_a_timeout():
    frame = encode_request(Op.IDENTIFY, tag=4)
    assert receive([frame, 3 * TIMEOUT, frame]) == [("frame", Op.IDENTIFY, 4, 0),
                                                    ("end", b"", True)] * 2  # fmt: skip
