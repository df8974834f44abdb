"""`Accelerator`: one API for the reference, the simulated device and a real board.

    with Accelerator.open("sim") as acc:          # or "ref", "serial:/dev/ttyUSB1"
        acc.load_layer(spec, codes)
        y = acc.matmul(x)                          # any batch size; chunked inside
        print(acc.counters().run_cycles)

Targets:

``ref[:DEVICE]``
    The bit-exact numpy reference, shaped like a named device (`hdl.configs`): the
    same validation, chunking and, from the cycle model, the same cycle counters.
``sim[:DEVICE]``
    The device's RTL in Verilator behind a pseudo-terminal, reached through the same
    pyserial code path as a board (the model is built on first use).
``serial:PORT[,BAUD]``
    A board running the bitstream from ``make bitstream``.
"""

from __future__ import annotations

import termios
import time

import numpy as np
import serial

from sw.kernel import LayerSpec, check_activations, matmul
from sw.kernel.codes import check_codes
from sw.kernel.cycles import run_cycles

from .errors import DeviceError, DeviceGone, DeviceTimeout
from .protocol import (
    Counters,
    DeviceInfo,
    Op,
    ProtocolError,
    Response,
    ResponseParser,
    Status,
    decode_results,
    encode_layer,
    encode_request,
    encode_run,
    layer_result_bytes,
)

DEFAULT_BAUD = 3_000_000
# What a serial port raises when the other end disappears (a pty reports EIO via termios).
LINK_ERRORS = (OSError, termios.error, serial.SerialException)
MAX_RESPONSE_PAYLOAD = 0xFFFF


class SerialLink:
    """Frames over a pyserial port: send a request, wait for its response."""

    def __init__(self, port, *, timeout: float, liveness=None, bytes_per_second: float):
        self.port = port
        self.timeout = timeout
        self.liveness = liveness  # returns why the device is gone, or None
        self.bytes_per_second = bytes_per_second
        self.parser = ResponseParser()
        self.pending: list[Response] = []

    def write(self, data: bytes) -> None:
        self._check_alive()
        try:
            self.port.write(data)
            self.port.flush()
        except LINK_ERRORS as error:
            self._link_failed("writing to", error)

    def read_response(self, timeout: float | None = None) -> Response:
        """The next complete response frame, or `DeviceTimeout`."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.pending:
            self._check_alive()
            if time.monotonic() > deadline:
                raise DeviceTimeout(
                    f"no complete response from {self.port.port} within "
                    f"{self.timeout if timeout is None else timeout:.1f} s"
                )
            try:
                data = self.port.read(max(1, self.port.in_waiting))
            except LINK_ERRORS as error:
                self._link_failed("reading from", error)
            if data:
                self.pending += self.parser.feed(data)
        return self.pending.pop(0)

    def drain(self, quiet: float = 0.2) -> list[Response]:
        """Every response that arrives until the link has been quiet for ``quiet`` s."""
        responses = []
        while True:
            try:
                responses.append(self.read_response(timeout=quiet))
            except DeviceTimeout:
                return responses

    def transact(self, op: Op, payload: bytes = b"", *, expected_reply_bytes: int = 0) -> bytes:
        """Send one command; return its payload, or raise `DeviceError` on a bad status."""
        self.write(encode_request(op, payload))
        transfer = (len(payload) + expected_reply_bytes + 16) / self.bytes_per_second
        response = self.read_response(self.timeout + transfer)
        if response.op != op:
            raise ProtocolError(
                f"expected a response to {Op(op).name}, got op 0x{response.op:02X} "
                f"with status {response.status}"
            )
        if response.status != Status.OK:
            raise DeviceError(op, response.status)
        return response.payload

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


class SerialBackend:
    """A device behind a `SerialLink`: a board, or the simulator's pseudo-terminal."""

    def __init__(self, link: SerialLink):
        self.link = link
        self.info = DeviceInfo.decode(link.transact(Op.IDENTIFY))

    def load(self, spec: LayerSpec, codes: np.ndarray) -> None:
        self.link.transact(Op.LOAD_LAYER, encode_layer(spec, codes, self.info))

    def run(self, x: np.ndarray, spec: LayerSpec, n: int) -> np.ndarray:
        width = layer_result_bytes(spec, self.info)
        payload = self.link.transact(
            Op.RUN, encode_run(x), expected_reply_bytes=x.shape[0] * n * width
        )
        return decode_results(payload, x.shape[0], n, width, self.info)

    def counters(self) -> Counters:
        return Counters.decode(self.link.transact(Op.COUNTERS))

    def reset(self) -> None:
        self.link.transact(Op.RESET)

    def close(self) -> None:
        self.link.close()


class RefBackend:
    """The numpy reference, behaving like the named device (limits, chunks, counters)."""

    def __init__(self, device_name: str):
        from hdl.configs import device

        self.info = device(device_name).device_info()
        self.spec: LayerSpec | None = None
        self.codes: np.ndarray | None = None
        self._counters = dict.fromkeys(Counters.names(), 0)

    def load(self, spec: LayerSpec, codes: np.ndarray) -> None:
        encode_layer(spec, codes, self.info)  # the same checks the device path makes
        self.spec, self.codes = spec, codes
        self._counters["frames_ok"] += 1

    def run(self, x: np.ndarray, spec: LayerSpec, n: int) -> np.ndarray:
        k = self.codes.shape[0]
        self._counters["run_cycles"] = run_cycles(x.shape[0], k, n, self.info.rows, self.info.cols)
        self._counters["runs"] += 1
        self._counters["frames_ok"] += 1
        return matmul(x, self.codes, self.spec)

    def counters(self) -> Counters:
        self._counters["frames_ok"] += 1  # as on the device: the request counts itself
        return Counters(**self._counters)

    def reset(self) -> None:
        self._counters = dict.fromkeys(Counters.names(), 0)
        self.spec = self.codes = None

    def close(self) -> None:
        pass


class Accelerator:
    def __init__(self, backend, target: str):
        self.backend = backend
        self.target = target
        self.spec: LayerSpec | None = None
        self.k = self.n = 0
        self.last_run_cycles = 0

    @classmethod
    def open(cls, target: str = "ref", *, timeout: float = 10.0) -> Accelerator:
        kind, _, rest = target.partition(":")
        if kind == "ref":
            return cls(RefBackend(rest or "sim"), target)
        if kind == "sim":
            from .simulator import SimulatedDevice

            simulated = SimulatedDevice(rest or "sim")
            try:
                link = simulated.connect(timeout=timeout)
                return cls(SerialBackend(link), target)
            except BaseException:
                simulated.stop()
                raise
        if kind == "serial":
            return cls(SerialBackend(open_serial(rest, timeout=timeout)), target)
        raise ValueError(
            f"unknown target {target!r}; use 'ref[:DEVICE]', 'sim[:DEVICE]' or 'serial:PORT[,BAUD]'"
        )

    # ---- the API -------------------------------------------------------------------

    @property
    def info(self) -> DeviceInfo:
        return self.backend.info

    def identify(self) -> DeviceInfo:
        return self.backend.info

    def load_layer(self, spec: LayerSpec, codes) -> None:
        """Load a layer: the device keeps it until the next load (or reset)."""
        codes = check_codes(codes, spec)
        if codes.ndim != 2:
            raise ValueError(f"codes must be 2-D (K, N), got shape {codes.shape}")
        if spec.requant is not None and spec.requant.channels != codes.shape[1]:
            raise ValueError(
                f"requant has {spec.requant.channels} output channels but codes has "
                f"N={codes.shape[1]} columns"
            )
        try:
            self.backend.load(spec, codes)
        except (ValueError, DeviceError):
            raise  # refused before sending, or by the device: its old layer is still loaded
        except BaseException:
            self.spec = None  # the link failed part way: the device's state is unknown
            raise
        self.spec, (self.k, self.n) = spec, codes.shape

    def matmul(self, x, *, measure_cycles: bool = False) -> np.ndarray:
        """``requant(x @ decode(codes))`` for the loaded layer; x is (M, K), any M.

        With ``measure_cycles`` the device's ``run_cycles`` counter is read after every
        chunk and the total left in ``last_run_cycles``.
        """
        if self.spec is None:
            raise RuntimeError("no layer loaded: call load_layer(spec, codes) first")
        x = check_activations(x, self.spec)
        if x.shape[1] != self.k:
            raise ValueError(f"x has K={x.shape[1]} columns but the loaded layer has K={self.k}")
        width = layer_result_bytes(self.spec, self.info)
        rows = max(1, min(self.info.m_max, MAX_RESPONSE_PAYLOAD // (self.n * width)))
        parts = []
        self.last_run_cycles = 0
        for i in range(0, x.shape[0], rows):
            parts.append(self.backend.run(x[i : i + rows], self.spec, self.n))
            if measure_cycles:
                self.last_run_cycles += self.backend.counters().run_cycles
        return np.concatenate(parts) if parts else np.zeros((0, self.n), dtype=np.int64)

    def counters(self) -> Counters:
        return self.backend.counters()

    def reset(self) -> None:
        """Clear the device's counters and its layer."""
        self.backend.reset()
        self.spec = None

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Accelerator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def raw(self) -> SerialLink:
        """The frame-level link (not for `ref`): send any bytes, read any responses."""
        if not isinstance(self.backend, SerialBackend):
            raise TypeError(f"target {self.target!r} has no byte link")
        return self.backend.link


def open_serial(spec: str, *, timeout: float) -> SerialLink:
    """``PORT[,BAUD]`` -> an open `SerialLink`, or a clear error naming the port."""
    import serial

    port, _, baud = spec.partition(",")
    if not port:
        raise ValueError("serial target needs a port: 'serial:/dev/ttyUSB1[,3000000]'")
    try:
        baudrate = int(baud) if baud else DEFAULT_BAUD
    except ValueError as error:
        raise ValueError(f"baud rate {baud!r} is not an integer") from error
    try:
        handle = serial.Serial(port, baudrate, timeout=0.05)
    except (serial.SerialException, OSError) as error:
        raise DeviceGone(f"cannot open serial port {port}: {error}") from error
    handle.reset_input_buffer()
    return SerialLink(handle, timeout=timeout, bytes_per_second=baudrate / 10)
