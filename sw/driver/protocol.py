"""The byte protocol between host and device (see docs/protocol.md): frames and payloads.

This module is the host side's single definition of the wire format; the device
(`hdl.top`) imports its constants. Every frame is

    sync | op [| status] | len_lo len_hi | header_crc8 | payload[len] | crc16_lo crc16_hi

host to device with sync 0xA5 and no status byte, device to host with sync 0x5A and
a status byte. ``header_crc8`` is CRC-8/SMBUS over the bytes between sync and
itself; ``crc16`` is CRC-16/CCITT-FALSE over every byte after sync up to the end of
the payload. Multi-byte fields are little-endian.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

from sw.kernel.spec import WEIGHT_MODES

HOST_SYNC = 0xA5
DEVICE_SYNC = 0x5A
PROTOCOL_VERSION = 1
MAGIC = b"QMMC"
MAX_PAYLOAD = 0xFFFF


class Op(IntEnum):
    NONE = 0x00  # only in device responses to bytes that are not a frame
    IDENTIFY = 0x01
    LOAD_LAYER = 0x02
    RUN = 0x03
    COUNTERS = 0x04
    RESET = 0x05


class Status(IntEnum):
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


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR)."""
    return binascii.crc_hqx(bytes(data), 0xFFFF)


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS (poly 0x07, init 0, no reflection, no final XOR)."""
    crc = 0
    for byte in bytes(data):
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class ProtocolError(Exception):
    """A response that is not a well-formed frame."""


def _frame(sync: int, head: bytes, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte limit")
    header = head + struct.pack("<H", len(payload))
    body = header + bytes([crc8(header)]) + payload
    return bytes([sync]) + body + struct.pack("<H", crc16(body))


def encode_request(op: int, payload: bytes = b"") -> bytes:
    return _frame(HOST_SYNC, bytes([op]), bytes(payload))


def encode_response(op: int, status: int, payload: bytes = b"") -> bytes:
    return _frame(DEVICE_SYNC, bytes([op, status]), bytes(payload))


@dataclass(frozen=True)
class Response:
    op: int
    status: int
    payload: bytes


class ResponseParser:
    """Incremental parser of device frames: feed bytes, take complete `Response`s.

    A malformed frame raises `ProtocolError` (bytes before a sync byte too: the
    device never sends anything outside a frame).
    """

    def __init__(self):
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Response]:
        self.buffer += data
        responses = []
        while self.buffer:
            if self.buffer[0] != DEVICE_SYNC:
                bad = bytes(self.buffer[:16])
                self.buffer.clear()
                raise ProtocolError(f"expected sync byte 0x{DEVICE_SYNC:02X}, got {bad.hex(' ')}")
            if len(self.buffer) < 6:
                break
            header = bytes(self.buffer[1:5])
            if crc8(header) != self.buffer[5]:
                self.buffer.clear()
                raise ProtocolError(f"response header {header.hex(' ')} fails its CRC-8")
            length = struct.unpack("<H", header[2:4])[0]
            total = 6 + length + 2
            if len(self.buffer) < total:
                break
            body = bytes(self.buffer[1 : 6 + length])
            (check,) = struct.unpack("<H", self.buffer[6 + length : total])
            del self.buffer[:total]
            if crc16(body) != check:
                raise ProtocolError(f"response to op 0x{header[0]:02X} fails its CRC-16")
            responses.append(Response(op=header[0], status=header[1], payload=body[5:]))
        return responses


# ---- payloads ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    """What IDENTIFY returns: the generator parameters and buffer sizes."""

    version: int
    rows: int
    cols: int
    act_bits: int
    weight_bits: int
    acc_bits: int
    weight_modes: tuple[str, ...]
    spx_terms: int
    max_shift: int
    channels: int  # largest N (requantization table depth)
    k_max: int  # largest K (weight buffer depth per column tile)
    m_max: int  # largest batch of activation rows per RUN
    clock_hz: int

    _FORMAT = "<4sBBBBBBBBBHHHI"

    def encode(self) -> bytes:
        mask = sum(1 << i for i, mode in enumerate(WEIGHT_MODES) if mode in self.weight_modes)
        return struct.pack(
            self._FORMAT, MAGIC, self.version, self.rows, self.cols, self.act_bits,
            self.weight_bits, self.acc_bits, mask, self.spx_terms, self.max_shift,
            self.channels, self.k_max, self.m_max, self.clock_hz,
        )  # fmt: skip

    @classmethod
    def decode(cls, payload: bytes) -> DeviceInfo:
        size = struct.calcsize(cls._FORMAT)
        if len(payload) != size:
            raise ProtocolError(f"IDENTIFY payload has {len(payload)} bytes, expected {size}")
        magic, version, *values = struct.unpack(cls._FORMAT, payload)
        if magic != MAGIC:
            raise ProtocolError(f"IDENTIFY magic is {magic!r}, expected {MAGIC!r}")
        rows, cols, act, weight, acc, mask, terms, shift, channels, k_max, m_max, clock = values
        modes = tuple(mode for i, mode in enumerate(WEIGHT_MODES) if mask >> i & 1)
        return cls(version, rows, cols, act, weight, acc, modes, terms, shift, channels,
                   k_max, m_max, clock)  # fmt: skip

    @classmethod
    def size(cls) -> int:
        return struct.calcsize(cls._FORMAT)


# LOAD_LAYER payload header: mode, flags (bit 0 requantize, bit 1 ReLU), out_bits, K, N
LAYER_HEADER = struct.Struct("<BBBHH")
FLAG_REQUANT = 0x01
FLAG_RELU = 0x02
# One requantization record per output channel: multiplier, shift, then the bias
# in acc_bytes bytes.
REQUANT_RECORD_HEAD = struct.Struct("<HB")
# RUN payload header: M (rows of activations), then M x K signed bytes.
RUN_HEADER = struct.Struct("<H")


def acc_bytes(acc_bits: int) -> int:
    return -(-acc_bits // 8)


def table_bytes(entry_bits: int) -> int:
    return -(-entry_bits // 8)


def result_bytes(out_bits: int | None, acc_bits: int) -> int:
    """Bytes per result on the wire: 1 or 2 when requantized, else the accumulator's."""
    if out_bits is None:
        return acc_bytes(acc_bits)
    return 1 if out_bits <= 8 else 2


@dataclass(frozen=True)
class Counters:
    """What COUNTERS returns, each a little-endian u32 in this order."""

    run_cycles: int  # last RUN: first operand issued to last result out of the core
    stall_cycles: int  # last RUN: cycles a result waited on the output link
    runs: int
    frames_ok: int
    bad_crc: int
    bad_header: int
    unknown_opcode: int
    bad_length: int
    too_large: int
    no_layer: int
    bad_sync: int  # bytes discarded between frames
    timeouts: int
    bad_param: int
    bad_value: int

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def decode(cls, payload: bytes) -> Counters:
        count = len(fields(cls))
        if len(payload) != 4 * count:
            raise ProtocolError(f"COUNTERS payload has {len(payload)} bytes, expected {4 * count}")
        return cls(*struct.unpack(f"<{count}I", payload))

    @property
    def errors(self) -> int:
        names = self.names()
        return sum(getattr(self, n) for n in names[names.index("bad_crc") :])


def pack_signed(values: np.ndarray, width_bytes: int) -> bytes:
    """Little-endian two's complement, ``width_bytes`` per value."""
    values = np.asarray(values, dtype=np.int64).ravel()
    lo, hi = -(1 << (8 * width_bytes - 1)), (1 << (8 * width_bytes - 1)) - 1
    if values.size and (values.min() < lo or values.max() > hi):
        raise ValueError(f"a value does not fit {width_bytes} signed bytes")
    raw = values.astype("<i8").view(np.uint8).reshape(-1, 8)[:, :width_bytes]
    return raw.tobytes()


def unpack_signed(data: bytes, width_bytes: int) -> np.ndarray:
    if len(data) % width_bytes:
        raise ProtocolError(f"{len(data)} bytes is not a whole number of {width_bytes}-byte values")
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, width_bytes).astype(np.int64)
    values = np.zeros(raw.shape[0], dtype=np.int64)
    for i in range(width_bytes):
        values |= raw[:, i] << (8 * i)
    sign = 1 << (8 * width_bytes - 1)
    return (values ^ sign) - sign
