"""`SerialLink`: tagged request frames over a byte stream, each matched with its answer.

Every request carries a tag (1..255, a new one each time) that the device echoes, so
an answer is taken only when its op and tag are the request's: a late answer to an
earlier request, or a report about stray bytes, is dropped (and counted), never
mistaken for this one. Any failure leaves the link *dirty*: before the next request
it resynchronizes (reads until the line has been quiet long enough for the device to
have dropped a partial frame, then one IDENTIFY exchange that must match), so one
stray byte or a lost reply costs one call, not every call after it.
"""

from __future__ import annotations

import termios
import time
from collections import Counter

import serial

from sw.device.payloads import DeviceInfo
from sw.device.protocol import (
    RESPONSE_OVERHEAD,
    Op,
    ProtocolError,
    Response,
    ResponseParser,
    Status,
    encode_request,
)

from .errors import DeviceError, DeviceGone, DeviceTimeout, LinkProtocolError

# What a serial port raises when the other end disappears (a pty reports EIO via termios).
LINK_ERRORS = (OSError, termios.error, serial.SerialException)
# After a sign that the request may have been lost (a report about unreadable bytes,
# or garbled bytes back), wait at most this long beyond the expected transfer time.
LOST_REQUEST_GRACE_S = 0.25
RESYNC_ATTEMPTS = 3


class SerialLink:
    """Frames over a pyserial port: send a request, return the payload of its answer."""

    def __init__(
        self,
        port,
        *,
        timeout: float,
        bytes_per_second: float,
        liveness=None,
        quiet_s: float = 0.1,
    ):
        self.port = port
        self.timeout = timeout  # seconds to wait for an answer, beyond its transfer time
        self.bytes_per_second = bytes_per_second
        self.liveness = liveness  # returns why the device is gone, or None
        # Silence that means the device has dropped any partial frame (its timeout).
        self.quiet_s = quiet_s
        self.parser = ResponseParser()
        self.pending: list[Response] = []
        self.tag = 0
        self.dirty = False  # a failure since the last good exchange: resync first
        self.events: Counter = Counter()  # stale answers dropped, resyncs, garbled bytes
        self.bytes_written = self.bytes_read = 0  # every byte on the link, both ways

    # ---- bytes -----------------------------------------------------------------------

    def write(self, raw: bytes) -> None:
        self._check_alive()
        try:
            self.port.write(raw)
            self.port.flush()
            self.bytes_written += len(raw)
        except LINK_ERRORS as error:
            self._link_failed("writing to", error)

    def read_response(self, timeout: float | None = None) -> Response:
        """The next complete frame from the device (any op, any tag), or `DeviceTimeout`.

        Garbled bytes raise `LinkProtocolError` (the parser starts afresh after them)."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while not self.pending:
            self._check_alive()
            if time.monotonic() > deadline:
                raise DeviceTimeout(
                    f"no complete response from {self.port.port} within {wait:.2f} s"
                )
            try:
                raw = self.port.read(max(1, self.port.in_waiting))
            except LINK_ERRORS as error:
                self._link_failed("reading from", error)
            if raw:
                self.bytes_read += len(raw)
                try:
                    self.pending += self.parser.feed(raw)
                except ProtocolError as error:
                    self.events["garbled"] += 1
                    raise LinkProtocolError(f"garbled bytes from the device: {error}") from error
        return self.pending.pop(0)

    def drain(self, quiet: float | None = None) -> list[Response]:
        """Every frame that arrives until the line has been quiet for ``quiet`` s."""
        quiet = self.quiet_s if quiet is None else quiet
        responses = []
        while True:
            try:
                responses.append(self.read_response(timeout=quiet))
            except DeviceTimeout:
                return responses
            except LinkProtocolError:
                continue

    # ---- requests ------------------------------------------------------------------------

    def next_tag(self) -> int:
        self.tag = self.tag % 255 + 1  # 1..255; 0 marks answers to unreadable bytes
        return self.tag

    def request(self, op: Op, payload: bytes = b"", *, reply_bytes: int = 0) -> Response:
        """Send one request; return its matching answer (any status).

        Raises `DeviceTimeout` when no matching answer comes, `LinkProtocolError` when the
        bytes back are garbled; both leave the link dirty."""
        if self.dirty:
            self.resync()
        tag = self.next_tag()
        frame = encode_request(op, payload, tag=tag)
        transfer = (len(frame) + reply_bytes + RESPONSE_OVERHEAD) / self.bytes_per_second
        start = time.monotonic()
        deadline = start + self.timeout + transfer
        self.dirty = True  # until the answer is in
        self.write(frame)
        while True:
            left = deadline - time.monotonic()
            try:
                response = self.read_response(timeout=max(left, 0.0))
            except LinkProtocolError:
                # Maybe our answer was the garbled one: give it a short grace, then give up.
                deadline = min(deadline, time.monotonic() + transfer + LOST_REQUEST_GRACE_S)
                continue
            if response.tag == tag and response.op == op:
                self.dirty = False
                return response
            self.events["stale"] += 1
            if response.op == Op.NONE and response.status in (Status.BAD_HEADER, Status.TIMEOUT):
                # The device could not read a frame: perhaps ours. Wait a little more.
                deadline = min(deadline, time.monotonic() + transfer + LOST_REQUEST_GRACE_S)

    def transact(self, op: Op, payload: bytes = b"", *, reply_bytes: int = 0) -> bytes:
        """`request`, then its payload, or `DeviceError` for an error status."""
        response = self.request(op, payload, reply_bytes=reply_bytes)
        if response.status != Status.OK:
            raise DeviceError(op, response.status)
        return response.payload

    def resync(self) -> DeviceInfo:
        """Drop whatever is in flight, then prove the link works with one IDENTIFY."""
        self.events["resyncs"] += 1
        last_error: Exception | None = None
        for _ in range(RESYNC_ATTEMPTS):
            self.drain()
            self.parser = ResponseParser()
            self.pending.clear()
            self.dirty = False
            try:
                return DeviceInfo.decode(self.transact(Op.IDENTIFY))
            except (DeviceTimeout, LinkProtocolError, DeviceError, ProtocolError) as error:
                last_error = error
        self.dirty = True
        raise DeviceTimeout(
            f"cannot resynchronize with the device on {self.port.port} after "
            f"{RESYNC_ATTEMPTS} attempts: {last_error}"
        )

    # ---- the other end -----------------------------------------------------------------

    def _link_failed(self, doing: str, error: Exception):
        """The port broke: report why (a simulator that exited says so), never hang."""
        if self.liveness is not None:
            for _ in range(20):  # a killed simulator takes a moment to be reaped
                reason = self.liveness()
                if reason:
                    raise DeviceGone(reason) from error
                time.sleep(0.05)
        raise DeviceGone(f"{doing} {self.port.port} failed: {error}") from error

    def _check_alive(self) -> None:
        if self.liveness is not None:
            reason = self.liveness()
            if reason:
                raise DeviceGone(reason)

    def close(self) -> None:
        self.port.close()
