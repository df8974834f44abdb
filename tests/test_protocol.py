"""The frame codec: round trips, and every corrupted byte is caught."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.lib.crc import catalog
from hypothesis import given, settings
from hypothesis import strategies as st

from sw.driver.protocol import (
    Counters,
    DeviceInfo,
    Op,
    ProtocolError,
    RequestParser,
    Response,
    ResponseParser,
    crc8,
    crc16,
    encode_request,
    encode_response,
    pack_signed,
    unpack_signed,
)


@given(st.binary(max_size=300))
def test_crcs_match_the_hardware_catalogue(data):
    assert crc16(data) == catalog.CRC16_CCITT_FALSE(8).compute(data)
    assert crc8(data) == catalog.CRC8_SMBUS(8).compute(data)


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=600))
def test_response_round_trip(op, status, payload):
    frame = encode_response(op, status, payload)
    assert ResponseParser().feed(frame) == [Response(op, status, payload)]


@given(
    st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=100)), max_size=5),
    st.integers(1, 50),
)
def test_requests_parse_back_from_any_chunking(frames, chunk):
    stream = b"".join(encode_request(op, payload) for op, payload in frames)
    parser = RequestParser()
    got = []
    for i in range(0, len(stream), chunk):
        got += parser.feed(stream[i : i + chunk])
    assert [(r.op, r.payload) for r in got] == frames


@settings(max_examples=400)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=200), st.data())
def test_every_corrupted_byte_is_detected(op, status, payload, data):
    frame = bytearray(encode_response(op, status, payload))
    position = data.draw(st.integers(0, len(frame) - 1))
    flip = data.draw(st.integers(1, 255))
    frame[position] ^= flip
    try:
        parsed = ResponseParser().feed(bytes(frame))
    except ProtocolError:
        return
    # Not rejected outright: then it must still be waiting for bytes (a corrupted
    # length asked for more), never a frame accepted with wrong contents.
    assert parsed == []


def test_a_request_frame_byte_by_byte():
    # IDENTIFY: A5 | 01 | 00 00 | crc8(01 00 00) | crc16 (big-endian)
    frame = encode_request(Op.IDENTIFY)
    assert frame[:4] == bytes([0xA5, 0x01, 0x00, 0x00])
    assert frame[4] == crc8(b"\x01\x00\x00")
    assert int.from_bytes(frame[5:7], "big") == crc16(frame[1:5])
    # The CRC-16 runs to zero over the whole frame, check included (what the device tests).
    assert crc16(frame[1:]) == 0


def test_device_info_and_counters_round_trip():
    info = DeviceInfo(1, 4, 4, 8, 4, 32, ("uniform", "spx"), 2, 6, 256, 256, 64, 48_000_000)
    assert DeviceInfo.decode(info.encode()) == info
    with pytest.raises(ProtocolError, match="IDENTIFY payload has 3 bytes"):
        DeviceInfo.decode(b"abc")
    values = list(range(len(Counters.names())))
    payload = b"".join(v.to_bytes(4, "little") for v in values)
    assert Counters.decode(payload) == Counters(*values)


@given(st.lists(st.integers(-(1 << 31), (1 << 31) - 1), max_size=50), st.sampled_from([4]))
def test_signed_packing_round_trip(values, width):
    assert unpack_signed(pack_signed(np.array(values), width), width).tolist() == values


def test_signed_packing_refuses_values_that_do_not_fit():
    with pytest.raises(ValueError, match="does not fit 1 signed bytes"):
        pack_signed(np.array([128]), 1)


def test_the_documented_examples_are_what_the_encoder_sends():
    """docs/protocol.md's byte-level examples, regenerated from the code."""
    from pathlib import Path

    from hdl.configs import device
    from sw.driver.protocol import Status, encode_layer, encode_run, result_bytes
    from sw.kernel import LayerSpec, Requant, encode, matmul, result_order

    doc = " ".join(
        Path(__file__).resolve().parents[1].joinpath("docs/protocol.md").read_text().split()
    )

    def hexed(frame):
        return " ".join(f"{b:02X}" for b in frame)

    info = device("sim").device_info()
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
    examples = [
        encode_request(Op.IDENTIFY),
        encode_response(Op.IDENTIFY, Status.OK, info.encode()),
        encode_request(Op.LOAD_LAYER, encode_layer(spec, codes, info)),
        encode_response(Op.LOAD_LAYER, Status.OK),
        encode_request(Op.RUN, encode_run(x)),
        encode_response(Op.RUN, Status.OK, pack_signed(y[rows, cols], width)),
        encode_request(Op.COUNTERS),
        encode_request(Op.RESET),
        encode_response(Op.NONE, Status.BAD_SYNC),
        encode_response(Op.LOAD_LAYER, Status.BAD_CRC),
    ]
    for frame in examples:
        assert hexed(frame) in doc, f"docs/protocol.md lacks {hexed(frame)}"
