"""The byte protocol between host and device (see docs/protocol.md): frames and payloads.

This module is the host side's single definition of the wire format; the device
(`hdl.top`) imports its constants. Every frame is

    sync | op [| status] | len_lo len_hi | header_crc8 | payload[len] | crc16_hi crc16_lo

host to device with sync 0xA5 and no status byte, device to host with sync 0x5A and
a status byte. ``header_crc8`` is CRC-8/SMBUS over the bytes between sync and
itself; ``crc16`` is CRC-16/CCITT-FALSE over every byte after sync up to the end of
the payload, sent most significant byte first (so that running the CRC over the
whole frame, check included, leaves zero). Every other multi-byte field is
little-endian.
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
    return bytes([sync]) + body + struct.pack(">H", crc16(body))


def encode_request(op: int, payload: bytes = b"") -> bytes:
    return _frame(HOST_SYNC, bytes([op]), bytes(payload))


def encode_response(op: int, status: int, payload: bytes = b"") -> bytes:
    return _frame(DEVICE_SYNC, bytes([op, status]), bytes(payload))


@dataclass(frozen=True)
class Response:
    op: int
    status: int
    payload: bytes


@dataclass(frozen=True)
class Request:
    op: int
    payload: bytes


class FrameParser:
    """Incremental parser of frames in one direction: feed bytes, take complete frames.

    ``ResponseParser`` reads what a device sends, ``RequestParser`` what a host sends
    (for tests and for modelling the device). A malformed frame raises
    `ProtocolError`, and so do bytes before a sync byte.
    """

    def __init__(self, sync: int, with_status: bool):
        self.sync = sync
        self.header_size = 4 if with_status else 3  # op [status] len_lo len_hi
        self.with_status = with_status
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list:
        self.buffer += data
        frames = []
        h = self.header_size
        while self.buffer:
            if self.buffer[0] != self.sync:
                bad = bytes(self.buffer[:16])
                self.buffer.clear()
                raise ProtocolError(f"expected sync byte 0x{self.sync:02X}, got {bad.hex(' ')}")
            if len(self.buffer) < 2 + h:
                break
            header = bytes(self.buffer[1 : 1 + h])
            if crc8(header) != self.buffer[1 + h]:
                self.buffer.clear()
                raise ProtocolError(f"frame header {header.hex(' ')} fails its CRC-8")
            length = struct.unpack("<H", header[-2:])[0]
            total = 2 + h + length + 2
            if len(self.buffer) < total:
                break
            body = bytes(self.buffer[1 : 2 + h + length])
            (check,) = struct.unpack(">H", self.buffer[2 + h + length : total])
            del self.buffer[:total]
            if crc16(body) != check:
                raise ProtocolError(f"frame with op 0x{header[0]:02X} fails its CRC-16")
            payload = body[1 + h :]
            if self.with_status:
                frames.append(Response(op=header[0], status=header[1], payload=payload))
            else:
                frames.append(Request(op=header[0], payload=payload))
        return frames


class ResponseParser(FrameParser):
    def __init__(self):
        super().__init__(DEVICE_SYNC, with_status=True)


class RequestParser(FrameParser):
    def __init__(self):
        super().__init__(HOST_SYNC, with_status=False)


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
            self._FORMAT,
            MAGIC,
            self.version,
            self.rows,
            self.cols,
            self.act_bits,
            self.weight_bits,
            self.acc_bits,
            mask,
            self.spx_terms,
            self.max_shift,
            self.channels,
            self.k_max,
            self.m_max,
            self.clock_hz,
        )

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
        return cls(
            version,
            rows,
            cols,
            act,
            weight,
            acc,
            modes,
            terms,
            shift,
            channels,
            k_max,
            m_max,
            clock,
        )

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


# ---- command payloads --------------------------------------------------------------


def core_params(info: DeviceInfo):
    """The `CoreParams` a device reports, to encode layers the way its core reads them."""
    from hdl.params import CoreParams

    return CoreParams(
        rows=info.rows,
        cols=info.cols,
        act_bits=info.act_bits,
        weight_bits=info.weight_bits,
        acc_bits=info.acc_bits,
        weight_modes=info.weight_modes,
        spx_terms=info.spx_terms,
        max_shift=info.max_shift,
        channels=info.channels,
    )


def layer_result_bytes(spec, info: DeviceInfo) -> int:
    return result_bytes(spec.requant.out_bits if spec.requant else None, info.acc_bits)


def encode_layer(spec, codes: np.ndarray, info: DeviceInfo) -> bytes:
    """LOAD_LAYER payload: header, decode table, requantization records, codes."""
    from hdl.decode import decode_table_entries, hardware_codes, table_entry_bits, uses_table
    from hdl.params import MODE_INDEX

    params = core_params(info)
    k, n = codes.shape
    params.check_spec(spec, n)
    if k > info.k_max or n > info.channels:
        raise ValueError(
            f"a {k} x {n} layer exceeds the device's buffers (K <= {info.k_max}, "
            f"N <= {info.channels})"
        )
    requant = spec.requant
    flags = (FLAG_REQUANT if requant else 0) | (FLAG_RELU if requant and requant.relu else 0)
    payload = bytearray(
        LAYER_HEADER.pack(
            MODE_INDEX[spec.weight_mode], flags, requant.out_bits if requant else 0, k, n
        )
    )
    if uses_table(params):
        width = table_bytes(table_entry_bits(params))
        for entry in decode_table_entries(spec, params):
            payload += entry.to_bytes(width, "little")
    if requant:
        bias = requant.bias or (0,) * n
        for channel in range(n):
            payload += REQUANT_RECORD_HEAD.pack(requant.multiplier[channel], requant.shift[channel])
            payload += bias[channel].to_bytes(acc_bytes(info.acc_bits), "little", signed=True)
    payload += hardware_codes(codes, spec, params).astype(np.uint8).tobytes()
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(
            f"a {k} x {n} layer takes {len(payload)} bytes, more than one LOAD_LAYER frame "
            f"carries ({MAX_PAYLOAD}); split it by output channels"
        )
    return bytes(payload)


def encode_run(x: np.ndarray) -> bytes:
    """RUN payload: M, then the activations as signed bytes, row-major."""
    return RUN_HEADER.pack(x.shape[0]) + np.ascontiguousarray(x, dtype=np.int8).tobytes()


def decode_results(payload: bytes, m: int, n: int, width: int, info: DeviceInfo) -> np.ndarray:
    """RUN response payload (tile order, ``width`` bytes each) -> (M, N) results."""
    from sw.kernel import result_order

    values = unpack_signed(payload, width)
    if values.size != m * n:
        raise ProtocolError(f"RUN returned {values.size} results, expected {m} x {n} = {m * n}")
    rows, cols = result_order(m, n, info.rows, info.cols)
    y = np.empty((m, n), dtype=np.int64)
    y[rows, cols] = values
    return y
