"""The byte protocol between host and device: opcodes, statuses, frame headers, the codec.

Both sides import this module: the gateware (`hdl`) views received bytes through
the layouts below and sends the enums' values; the host driver packs and parses
frames with the same layouts. docs/protocol.md describes the format for people.

Every frame is

    host -> device:  A5 | op | tag |          length | header_crc8 | payload | crc16
    device -> host:  5A | op | tag | status | length | header_crc8 | payload | crc16

``header_crc8`` is CRC-8/SMBUS over the header (op to length); ``crc16`` is
CRC-16/CCITT-FALSE over every byte after the sync byte up to the end of the
payload, sent most significant byte first (so the CRC over the whole frame, check
included, is zero). Every other multi-byte field is little-endian: a layout's first
field is its lowest bits, which is also the byte that arrives first.

``tag`` (1..255, chosen by the host) is echoed in the response, so the host can
tell the answer to this request from a late answer to an earlier one. Responses
to bytes that are not a frame carry op ``NONE`` and tag 0.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from amaranth.lib import crc, data, enum

HOST_SYNC = 0xA5
DEVICE_SYNC = 0x5A
PROTOCOL_VERSION = 4
MAX_PAYLOAD = 0xFFFF  # the 16-bit length field
NO_TAG = 0  # the tag of responses to bytes that are not a frame; hosts use 1..255


class Op(enum.IntEnum, shape=8):
    NONE = 0x00  # only in device responses to bytes that are not a frame
    IDENTIFY = 0x01
    LOAD_LAYER = 0x02
    RUN = 0x03
    COUNTERS = 0x04
    RESET = 0x05
    RUN_NETWORK = 0x06  # the last layers loaded, chained in load order on chip (v4)
    REPEAT = 0x07  # the last RUN again, N times on chip, its results dropped


class Status(enum.IntEnum, shape=8):
    OK = 0
    BAD_CRC = 1  # the frame's CRC-16 does not match
    BAD_HEADER = 2  # the header's CRC-8 does not match
    UNKNOWN_OPCODE = 3
    BAD_LENGTH = 4  # the payload length does not fit the command
    TOO_LARGE = 5  # a layer or batch larger than the device's buffers
    NO_LAYER = 6  # RUN before any layer was loaded
    BAD_SYNC = 7  # bytes between frames that are not a frame
    TIMEOUT = 8  # a frame stopped arriving part way
    BAD_PARAM = 9  # a layer parameter the device does not support
    BAD_VALUE = 10  # an activation, code or requant field out of its range
    WRONG_LAYER = 11  # RUN names a layer other than the loaded one


class WeightMode(enum.IntEnum, shape=8):
    """How the core decodes a code (`sw.kernel.spec`); the names are the kernel's, upper-cased."""

    UNIFORM = 0
    SPX = 1
    CODEBOOK = 2

    @classmethod
    def of(cls, name: str) -> WeightMode:
        """The member for a kernel weight-mode name (``"spx"`` -> ``WeightMode.SPX``)."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown weight mode {name!r}") from None


# Statuses answered with op NONE and tag 0: the device could not read a frame's header.
UNFRAMED_STATUSES = (Status.BAD_HEADER, Status.BAD_SYNC, Status.TIMEOUT)

# `op` holds an `Op` and `status` a `Status`; as plain bytes, so that a frame with a value
# this side does not know (a newer device, say) still parses and can be reported.
REQUEST_HEADER = data.StructLayout({"op": 8, "tag": 8, "length": 16})
RESPONSE_HEADER = data.StructLayout({"op": 8, "tag": 8, "status": 8, "length": 16})


def layout_bytes(layout: data.Layout) -> int:
    """Bytes a layout takes on the wire (every layout here is whole bytes)."""
    if layout.size % 8:
        raise ValueError(f"layout of {layout.size} bits is not whole bytes")
    return layout.size // 8


def pack(layout: data.Layout, fields) -> bytes:
    """``fields`` (a dict, as for ``layout.const``) as little-endian bytes."""
    return layout.const(fields).as_bits().to_bytes(layout_bytes(layout), "little")


def unpack(layout: data.Layout, raw: bytes) -> data.Const:
    """Bytes -> a constant whose fields read as ints (or enum members)."""
    if len(raw) != layout_bytes(layout):
        raise ProtocolError(f"expected {layout_bytes(layout)} bytes, got {len(raw)}")
    return layout.from_bits(int.from_bytes(raw, "little"))


# Bytes each frame adds to its payload: sync, header, header CRC, CRC-16.
REQUEST_OVERHEAD = 1 + layout_bytes(REQUEST_HEADER) + 1 + 2
RESPONSE_OVERHEAD = 1 + layout_bytes(RESPONSE_HEADER) + 1 + 2


def crc16(raw: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR)."""
    return binascii.crc_hqx(bytes(raw), 0xFFFF)


# The header CRC is the gateware's own (`amaranth.lib.crc`), so both sides share one definition.
_CRC8 = crc.catalog.CRC8_SMBUS(data_width=8)


def crc8(raw: bytes) -> int:
    """CRC-8/SMBUS (poly 0x07, init 0, no reflection, no final XOR)."""
    return _CRC8.compute(bytes(raw))


class ProtocolError(Exception):
    """Bytes that are not a well-formed frame, or a payload of the wrong shape."""


def _frame(sync: int, header: bytes, payload: bytes) -> bytes:
    body = header + bytes([crc8(header)]) + payload
    return bytes([sync]) + body + crc16(body).to_bytes(2, "big")


def _check_payload(payload: bytes) -> bytes:
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte limit")
    return payload


def encode_request(op: int, payload: bytes = b"", *, tag: int = 1) -> bytes:
    payload = _check_payload(payload)
    header = pack(REQUEST_HEADER, {"op": op, "tag": tag, "length": len(payload)})
    return _frame(HOST_SYNC, header, payload)


def encode_response(op: int, status: int, payload: bytes = b"", *, tag: int = 1) -> bytes:
    payload = _check_payload(payload)
    fields = {"op": op, "tag": tag, "status": status, "length": len(payload)}
    return _frame(DEVICE_SYNC, pack(RESPONSE_HEADER, fields), payload)


@dataclass(frozen=True)
class Request:
    op: int
    tag: int
    payload: bytes


@dataclass(frozen=True)
class Response:
    op: int
    tag: int
    status: int
    payload: bytes


class FrameParser:
    """Incremental parser of the frames one side sends: feed bytes, take whole frames.

    `ResponseParser` reads what a device sends, `RequestParser` what a host sends (for
    tests and models). A malformed frame raises `ProtocolError`, and so do bytes
    before a sync byte; the parser then starts afresh with the next bytes fed.
    """

    def __init__(self, sync: int, header: data.StructLayout, frame_type):
        self.sync, self.header, self.frame_type = sync, header, frame_type
        self.buffer = bytearray()

    def feed(self, raw: bytes) -> list:
        self.buffer += raw
        frames = []
        size = layout_bytes(self.header)
        while self.buffer:
            if self.buffer[0] != self.sync:
                bad = bytes(self.buffer[:16])
                self.buffer.clear()
                raise ProtocolError(f"expected sync byte 0x{self.sync:02X}, got {bad.hex(' ')}")
            if len(self.buffer) < 2 + size:
                break
            header = bytes(self.buffer[1 : 1 + size])
            if crc8(header) != self.buffer[1 + size]:
                self.buffer.clear()
                raise ProtocolError(f"frame header {header.hex(' ')} fails its CRC-8")
            fields = unpack(self.header, header)
            total = 2 + size + fields.length + 2
            if len(self.buffer) < total:
                break
            body = bytes(self.buffer[1 : total - 2])
            check = int.from_bytes(self.buffer[total - 2 : total], "big")
            del self.buffer[:total]
            if crc16(body) != check:
                raise ProtocolError(f"frame with op 0x{header[0]:02X} fails its CRC-16")
            values = {name: int(fields[name]) for name, _ in self.header}
            del values["length"]
            frames.append(self.frame_type(**values, payload=body[1 + size :]))
        return frames


class ResponseParser(FrameParser):
    def __init__(self):
        super().__init__(DEVICE_SYNC, RESPONSE_HEADER, Response)


class RequestParser(FrameParser):
    def __init__(self):
        super().__init__(HOST_SYNC, REQUEST_HEADER, Request)
