"""The device contract's codec: round trips, corrupted bytes, and the layouts seen by gateware."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from amaranth import Cat, Module, Signal
from amaranth.lib.crc import catalog
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from sw.device.configs import DEVICES, device
from sw.device.latency import Latencies
from sw.device.payloads import (
    IDENTIFY_LAYOUT,
    LAYER_HEADER,
    NETWORK_HEADER,
    RUN_HEADER,
    Counters,
    DeviceInfo,
    encode_layer,
    encode_network_run,
    encode_repeat,
    encode_run,
    pack_signed,
    requant_record_layout,
    result_bytes,
    unpack_signed,
)
from sw.device.protocol import (
    REQUEST_HEADER,
    REQUEST_OVERHEAD,
    RESPONSE_HEADER,
    RESPONSE_OVERHEAD,
    Op,
    ProtocolError,
    Request,
    RequestParser,
    Response,
    ResponseParser,
    Status,
    WeightMode,
    crc8,
    crc16,
    encode_request,
    encode_response,
    layout_bytes,
    pack,
    unpack,
)
from sw.kernel import LayerSpec, Requant, encode, matmul, result_order


@given(st.binary(max_size=300))
def test_crcs_match_the_hardware_catalogue(raw):
    assert crc16(raw) == catalog.CRC16_CCITT_FALSE(8).compute(raw)
    assert crc8(raw) == catalog.CRC8_SMBUS(8).compute(raw)


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=600))
def test_response_round_trip(op, tag, status, payload):
    frame = encode_response(op, status, payload, tag=tag)
    assert len(frame) == RESPONSE_OVERHEAD + len(payload)
    assert ResponseParser().feed(frame) == [Response(op, tag, status, payload)]


@given(
    st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=100)),
             max_size=5),
    st.integers(1, 50),
)  # fmt: skip
def test_requests_parse_back_from_any_chunking(frames, chunk):
    stream = b"".join(encode_request(op, payload, tag=tag) for op, tag, payload in frames)
    assert len(stream) == sum(REQUEST_OVERHEAD + len(payload) for *_, payload in frames)
    parser = RequestParser()
    got = []
    for i in range(0, len(stream), chunk):
        got += parser.feed(stream[i : i + chunk])
    assert got == [Request(op, tag, payload) for op, tag, payload in frames]


@settings(max_examples=400)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=200), st.data())
def test_every_corrupted_byte_is_detected(op, status, payload, data):
    frame = bytearray(encode_response(op, status, payload, tag=7))
    position = data.draw(st.integers(0, len(frame) - 1))
    frame[position] ^= data.draw(st.integers(1, 255))
    try:
        parsed = ResponseParser().feed(bytes(frame))
    except ProtocolError:
        return
    # Not rejected outright: then it must still be waiting for bytes (a corrupted
    # length asked for more), never a frame accepted with wrong contents.
    assert parsed == []


def test_a_request_frame_byte_by_byte():
    # IDENTIFY, tag 9: A5 | 01 | 09 | 00 00 | crc8(01 09 00 00) | crc16 (big-endian)
    frame = encode_request(Op.IDENTIFY, tag=9)
    assert frame[:5] == bytes([0xA5, 0x01, 0x09, 0x00, 0x00])
    assert frame[5] == crc8(b"\x01\x09\x00\x00")
    assert int.from_bytes(frame[6:8], "big") == crc16(frame[1:6])
    # The CRC-16 runs to zero over the whole frame, check included (what the device tests).
    assert crc16(frame[1:]) == 0


@pytest.mark.parametrize("name", sorted(DEVICES))
def test_device_info_round_trips_for_every_device(name):
    info = DeviceInfo.of(device(name))
    assert DeviceInfo.decode(info.encode()) == info
    assert len(info.encode()) == DeviceInfo.size() == layout_bytes(IDENTIFY_LAYOUT)
    assert info.core_params() == device(name).core  # everything the host needs to encode


def test_device_info_refuses_what_it_cannot_read():
    info = DeviceInfo.of(device("sim"))
    with pytest.raises(ProtocolError, match="IDENTIFY payload has 3 bytes"):
        DeviceInfo.decode(b"abc")
    raw = bytearray(info.encode())
    raw[4] = 1  # protocol version 1
    with pytest.raises(ProtocolError, match="speaks protocol version 1"):
        DeviceInfo.decode(bytes(raw))
    raw[:4] = b"XXXX"
    with pytest.raises(ProtocolError, match="magic"):
        DeviceInfo.decode(bytes(raw))


def test_counters_follow_the_status_enum():
    names = Counters.names()
    assert names[:4] == ["run_cycles", "stall_cycles", "runs", "frames_ok"]
    assert names[4:] == [s.name.lower() for s in Status if s != Status.OK]
    values = list(range(len(names)))
    payload = b"".join(v.to_bytes(4, "little") for v in values)
    counters = Counters.decode(payload)
    assert counters == Counters(*values)
    assert counters.errors == sum(values[4:])


@given(st.integers(1, 8), st.data())
def test_signed_packing_round_trip(width, data):
    lo, hi = -(1 << (8 * width - 1)), (1 << (8 * width - 1)) - 1
    values = data.draw(st.lists(st.integers(lo, hi), max_size=40))
    assert unpack_signed(pack_signed(np.array(values), width), width).tolist() == values


def test_signed_packing_refuses_values_that_do_not_fit():
    with pytest.raises(ValueError, match="does not fit 1 signed bytes"):
        pack_signed(np.array([128]), 1)
    with pytest.raises(ProtocolError, match="not a whole number of 2-byte values"):
        unpack_signed(b"abc", 2)


# ---- the same layouts, as the gateware sees them -----------------------------------------

LAYOUT_FIELDS = {
    "request header": (REQUEST_HEADER, st.fixed_dictionaries(
        {"op": st.sampled_from(list(Op)), "tag": st.integers(0, 255),
         "length": st.integers(0, 0xFFFF)})),
    "response header": (RESPONSE_HEADER, st.fixed_dictionaries(
        {"op": st.sampled_from(list(Op)), "tag": st.integers(0, 255),
         "status": st.sampled_from(list(Status)), "length": st.integers(0, 0xFFFF)})),
    "layer header": (LAYER_HEADER, st.fixed_dictionaries(
        {"mode": st.sampled_from(list(WeightMode)),
         "flags": st.fixed_dictionaries({"requant": st.integers(0, 1), "relu": st.integers(0, 1)}),
         "out_bits": st.integers(0, 255), "k": st.integers(0, 0xFFFF),
         "n": st.integers(0, 0xFFFF)})),
    "requant record": (requant_record_layout(18), st.fixed_dictionaries(
        {"multiplier": st.integers(0, 0xFFFF), "shift": st.integers(0, 255),
         "bias": st.integers(-(1 << 23), (1 << 23) - 1)})),
    "run header": (RUN_HEADER, st.fixed_dictionaries(
        {"m": st.integers(0, 0xFFFF), "layer": st.integers(0, 255)})),
    "network header": (NETWORK_HEADER, st.fixed_dictionaries(
        {"m": st.integers(0, 0xFFFF), "first": st.integers(0, 255),
         "last": st.integers(0, 255)})),
}  # fmt: skip


def leaves(fields: dict, prefix=()):
    for name, value in fields.items():
        if isinstance(value, dict):
            yield from leaves(value, prefix + (name,))
        else:
            yield prefix + (name,), value


def view_field(view, path):
    for name in path:
        view = view[name]
    return view


@pytest.mark.parametrize("name", list(LAYOUT_FIELDS))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_layouts_read_the_same_on_both_sides(name, data):
    """Host-packed bytes, shifted into a register a byte at a time as the receiver does,
    read through the layout in simulation field by field; and fields set on a gateware
    view, sent out a byte at a time as the responder does, unpacked on the host."""
    layout, strategy = LAYOUT_FIELDS[name]
    fields = data.draw(strategy)
    raw = pack(layout, fields)
    size = layout_bytes(layout)
    m = Module()
    byte_in, shifted = Signal(8), Signal(layout.size)
    m.d.sync += shifted.eq(Cat(shifted[8:], byte_in))
    received = layout(shifted)
    to_send = Signal(layout)
    index, byte_out = Signal(range(size)), Signal(8)
    m.d.comb += byte_out.eq(to_send.as_value().word_select(index, 8))
    seen, sent = {}, bytearray()

    async def testbench(ctx):
        for byte in raw:
            ctx.set(byte_in, byte)
            await ctx.tick()
        for path, _ in leaves(fields):
            seen[path] = ctx.get(view_field(received, path))
            ctx.set(view_field(to_send, path), dict(leaves(fields))[path])
        for i in range(size):
            ctx.set(index, i)
            sent.append(ctx.get(byte_out))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert seen == {path: int(value) for path, value in leaves(fields)}
    assert bytes(sent) == raw
    assert unpack(layout, bytes(sent)).as_bits() == layout.const(fields).as_bits()


def test_the_documented_examples_are_what_the_encoder_sends():
    """docs/protocol.md's byte-level examples, regenerated from the code."""
    doc = " ".join(
        Path(__file__).resolve().parents[1].joinpath("docs/protocol.md").read_text().split()
    )

    def hexed(frame):
        return " ".join(f"{b:02X}" for b in frame)

    info = DeviceInfo.of(device("sim"))
    assert info.latencies == Latencies()
    spec = LayerSpec(
        weight_bits=4,
        weight_mode="spx",
        spx_terms=2,
        requant=Requant([16384, 16384], [15, 15], [0, 4], relu=True, out_bits=8),
    )
    codes = encode(np.array([[1, -2], [4, 8], [-1, 0]]), spec)
    x = np.array([[1, 2, 3], [-4, 5, -6]])
    y = matmul(x, codes, spec)
    assert y.tolist() == [[3, 9], [11, 26]]
    rows, cols = result_order(2, 2, info.rows, info.cols)
    width = result_bytes(8, info.acc_bits)
    # A second layer after it, and the two as one network (RUN_NETWORK).
    spec2 = LayerSpec(
        weight_bits=4,
        weight_mode="spx",
        spx_terms=2,
        requant=Requant([16384, 16384], [15, 15], [0, 0], relu=False, out_bits=8),
    )
    codes2 = encode(np.array([[1, 0], [-1, 2]]), spec2)
    y2 = matmul(y, codes2, spec2)
    assert y2.tolist() == [[-3, 9], [-8, 26]]
    examples = [
        encode_request(Op.IDENTIFY, tag=1),
        encode_response(Op.IDENTIFY, Status.OK, info.encode(), tag=1),
        encode_request(Op.LOAD_LAYER, encode_layer(spec, codes, info), tag=2),
        encode_response(Op.LOAD_LAYER, Status.OK, tag=2),
        encode_request(Op.RUN, encode_run(x, layer=2), tag=3),
        encode_response(Op.RUN, Status.OK, pack_signed(y[rows, cols], width), tag=3),
        encode_request(Op.COUNTERS, tag=4),
        encode_request(Op.RESET, tag=5),
        encode_request(Op.REPEAT, encode_repeat(1000), tag=6),
        encode_response(Op.REPEAT, Status.OK, tag=6),
        encode_response(Op.NONE, Status.BAD_SYNC, tag=0),
        encode_response(Op.LOAD_LAYER, Status.BAD_CRC, tag=2),
        encode_response(Op.RUN, Status.WRONG_LAYER, tag=6),
        encode_request(Op.LOAD_LAYER, encode_layer(spec2, codes2, info), tag=3),
        encode_request(Op.RUN_NETWORK, encode_network_run(x, 2, 3, 2), tag=4),
        encode_response(Op.RUN_NETWORK, Status.OK, pack_signed(y2[rows, cols], width), tag=4),
        encode_response(Op.RUN_NETWORK, Status.WRONG_LAYER, tag=4),
    ]
    for frame in examples:
        assert hexed(frame) in doc, f"docs/protocol.md lacks {hexed(frame)}"
