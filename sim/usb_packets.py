"""USB 2.0 full-speed packets as a UTMI interface carries them (no SYNC, NRZI or bit
stuffing: the PHY's job): what the simulated host (sim/test_usb_link.py) sends and
checks. USB 2.0 section 8.3-8.5: a PID byte with its complement in the high nibble;
tokens carry 7 address and 4 endpoint bits and a CRC5, data packets a CRC16, both
sent least-significant bit first and inverted."""

from __future__ import annotations

from enum import IntEnum

from amaranth.lib.crc import catalog


class Pid(IntEnum):
    OUT = 0x1
    IN = 0x9
    SOF = 0x5
    SETUP = 0xD
    DATA0 = 0x3
    DATA1 = 0xB
    ACK = 0x2
    NAK = 0xA
    STALL = 0xE

    def byte(self) -> int:
        return self | (~self & 0xF) << 4

    @classmethod
    def of(cls, byte: int) -> Pid:
        """The PID a packet's first byte names; refuses a byte whose check nibble is wrong."""
        if (byte >> 4) != (~byte & 0xF):
            raise ValueError(f"PID byte {byte:#04x} fails its check nibble")
        return cls(byte & 0xF)


def crc5(value: int, bits: int = 11) -> int:
    """USB's token CRC (x^5 + x^2 + 1) of the ``bits`` low bits of ``value``, LSB first."""
    return catalog.CRC5_USB(data_width=bits).compute([value & ((1 << bits) - 1)])


def crc16(data: bytes) -> int:
    """USB's data CRC (x^16 + x^15 + x^2 + 1), each byte LSB first."""
    return catalog.CRC16_USB().compute(data)


def token(pid: Pid, address: int = 0, endpoint: int = 0) -> bytes:
    fields = address | endpoint << 7
    return bytes([pid.byte(), *(fields | crc5(fields) << 11).to_bytes(2, "little")])


def start_of_frame(frame: int) -> bytes:
    frame &= 0x7FF
    return bytes([Pid.SOF.byte(), *(frame | crc5(frame) << 11).to_bytes(2, "little")])


def data_packet(pid: Pid, payload: bytes) -> bytes:
    return bytes([pid.byte(), *payload, *crc16(payload).to_bytes(2, "little")])


def handshake(pid: Pid) -> bytes:
    return bytes([pid.byte()])


def parse(packet: bytes) -> tuple[Pid, bytes]:
    """A packet from the device: its PID and, for a data packet, the payload (its CRC
    checked); refuses a malformed one."""
    if not packet:
        raise ValueError("empty packet")
    pid = Pid.of(packet[0])
    if pid in (Pid.DATA0, Pid.DATA1):
        if len(packet) < 3:
            raise ValueError(f"{pid.name} packet of {len(packet)} bytes has no CRC")
        payload, crc = packet[1:-2], int.from_bytes(packet[-2:], "little")
        if crc != crc16(payload):
            raise ValueError(f"{pid.name} packet's CRC16 {crc:#06x} != {crc16(payload):#06x}")
        return pid, bytes(payload)
    if len(packet) != 1:
        raise ValueError(f"{pid.name} handshake of {len(packet)} bytes")
    return pid, b""
