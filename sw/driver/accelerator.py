"""`Accelerator`: one API for the reference, the simulated device and a real board.

    with Accelerator.open("sim") as acc:          # or "ref", "serial:/dev/ttyUSB1"
        acc.load_layer(spec, codes)
        y = acc.matmul(x)                          # any batch size; chunked inside
        print(acc.counters().run_cycles)

        acc.load_network([(spec1, codes1), (spec2, codes2)])
        y = acc.run_network(x)                     # on chip when the pair fits

Targets (a target string is all another process needs to open its own accelerator):

``ref[:DEVICE]``
    The bit-exact numpy reference, shaped like a named device (`sw.device.configs`):
    the same checks, chunking and, from the cycle model, the same cycle counters.
``sim[:DEVICE][,stall=P][,seed=S]``
    The device's RTL in Verilator behind a pseudo-terminal, reached through the same
    pyserial code path as a board (the model is built on first use). ``stall=P``
    holds the device's output back on a fraction P of cycles (back-pressure).
``serial:PORT[,BAUD]``
    A board running the bitstream from ``make bitstream``.

The rule: every call returns the right result or raises. Requests and answers are
matched by tag (`SerialLink`); a call that fails on the link (a timeout, garbled
bytes, a frame the device could not read) is retried up to ``retries`` times after
resynchronizing, reloading the layer first when the device's layer is in doubt.
Errors that retrying cannot fix (a refused layer, a dead simulator) raise at once.
"""

from __future__ import annotations

import os
import termios

import numpy as np

from sw.device.configs import (
    DEFAULT_BAUD,
    USB_FULL_SPEED,
    USB_PRODUCT_ID,
    USB_VENDOR_ID,
    device,
)
from sw.device.payloads import (
    NETWORK_HEADER,
    RUN_HEADER,
    Counters,
    DeviceInfo,
    check_layer,
    decode_results,
    encode_layer,
    encode_network_run,
    encode_repeat,
    encode_run,
    layer_result_bytes,
    network_problem,
)
from sw.device.protocol import MAX_PAYLOAD, Op, ProtocolError, Status, layout_bytes
from sw.kernel import LayerSpec, check_activations, matmul
from sw.kernel.codes import check_codes
from sw.kernel.product import ProductReport, run_product

from .errors import DeviceError, DeviceGone, DeviceTimeout, LinkProtocolError
from .link import SerialLink

# Statuses that mean the request or the layer was lost on the way, not that it is wrong:
# retried. Any other error status is the device refusing what the host checked as
# valid, which retrying cannot fix.
TRANSIENT_STATUSES = (Status.BAD_CRC, Status.BAD_LENGTH, Status.NO_LAYER, Status.WRONG_LAYER)
LAYER_LOST_STATUSES = (Status.NO_LAYER, Status.WRONG_LAYER)


class SerialBackend:
    """A device behind a `SerialLink`: a board, or the simulator's pseudo-terminal."""

    def __init__(self, link: SerialLink):
        self.link = link
        self.info = DeviceInfo.decode(link.transact(Op.IDENTIFY))
        # The tags of the layers the device holds, oldest first (at most `layer_banks`);
        # empty while in doubt. A RUN names the last; a RUN_NETWORK a chain's first and last.
        self.resident: list[int] = []

    @property
    def layer_tag(self) -> int | None:
        return self.resident[-1] if self.resident else None

    def forget_layers(self) -> None:
        self.resident = []

    def load(self, spec: LayerSpec, codes: np.ndarray) -> None:
        kept = self.resident[1 - self.info.layer_banks :]  # the load overwrites the oldest
        self.resident = []  # in doubt until the device says OK
        payload = encode_layer(spec, codes, self.info)
        self.link.transact(Op.LOAD_LAYER, payload)
        self.resident = [*kept, self.link.tag]

    def run(self, x: np.ndarray, spec: LayerSpec, n: int) -> np.ndarray:
        return self._results(Op.RUN, encode_run(x, self.layer_tag), x.shape[0], spec, n)

    def run_network(self, x: np.ndarray, layers: int, spec: LayerSpec, n: int) -> np.ndarray:
        """RUN_NETWORK: the last ``layers`` layers loaded, in order; the last one has
        ``spec`` and N = ``n``."""
        payload = encode_network_run(x, self.resident[-layers], self.resident[-1], layers)
        return self._results(Op.RUN_NETWORK, payload, x.shape[0], spec, n)

    def _results(self, op: Op, request: bytes, m: int, spec: LayerSpec, n: int) -> np.ndarray:
        width = layer_result_bytes(spec, self.info)
        payload = self.link.transact(op, request, reply_bytes=m * n * width)
        try:
            return decode_results(payload, m, n, width, self.info)
        except ProtocolError as error:
            raise LinkProtocolError(str(error)) from error

    def counters(self) -> Counters:
        return Counters.decode(self.link.transact(Op.COUNTERS))

    def repeat(self, count: int, seconds: float) -> None:
        """REPEAT: the last RUN ``count`` more times; its answer comes when all are done,
        about ``seconds`` from now, so the wait is that much longer."""
        timeout = self.link.timeout
        self.link.timeout = timeout + seconds
        try:
            self.link.transact(Op.REPEAT, encode_repeat(count))
        finally:
            self.link.timeout = timeout

    def reset(self) -> None:
        self.forget_layers()
        self.link.transact(Op.RESET)

    def close(self) -> None:
        self.link.close()


class RefBackend:
    """The numpy reference, behaving like the named device (limits, chunks, counters)."""

    def __init__(self, device_name: str):
        self.info = DeviceInfo.of(device(device_name))
        # The layers held, oldest first (at most `layer_banks`), as on the device.
        self.resident: list[tuple[LayerSpec, np.ndarray]] = []
        self.last_run_cycles: int | None = None  # of the last RUN of the loaded layer
        self._counters = dict.fromkeys(Counters.names(), 0)

    @property
    def spec(self) -> LayerSpec | None:
        return self.resident[-1][0] if self.resident else None

    @property
    def codes(self) -> np.ndarray | None:
        return self.resident[-1][1] if self.resident else None

    @property
    def layer_tag(self) -> int | None:
        return 1 if self.resident else None

    def forget_layers(self) -> None:
        self.resident = []

    def load(self, spec: LayerSpec, codes: np.ndarray) -> None:
        check_layer(spec, *codes.shape, self.info)  # the check the device path makes
        self.resident = [*self.resident[1 - self.info.layer_banks :], (spec, codes)]
        self.last_run_cycles = None
        self._counters["frames_ok"] += 1

    def run_network(self, x: np.ndarray, layers: int, spec: LayerSpec, n: int) -> np.ndarray:
        info = self.info
        if not info.networks:
            raise DeviceError(Op.RUN_NETWORK, Status.UNKNOWN_OPCODE)
        if not 2 <= layers <= info.layer_banks:
            raise DeviceError(Op.RUN_NETWORK, Status.BAD_PARAM)
        if layers > len(self.resident):
            raise DeviceError(Op.RUN_NETWORK, Status.NO_LAYER)
        chain = self.resident[-layers:]
        if network_problem(chain, info):
            raise DeviceError(Op.RUN_NETWORK, Status.BAD_PARAM)
        cycles = info.network_cycles(x.shape[0], [codes.shape for _, codes in chain])
        self._counters.update(run_cycles=cycles, stall_cycles=0)
        self._counters["runs"] += 1
        self._counters["frames_ok"] += 1
        self.last_run_cycles = None  # REPEAT repeats RUNs only
        for layer_spec, codes in chain:
            x = matmul(x, codes, layer_spec)
        return x

    def run(self, x: np.ndarray, spec: LayerSpec, n: int) -> np.ndarray:
        if self.spec is None:
            raise DeviceError(Op.RUN, Status.NO_LAYER)
        k = self.codes.shape[0]
        info = self.info
        cycles = info.run_cycles(x.shape[0], k, n)
        self._counters.update(run_cycles=cycles, stall_cycles=0)
        self._counters["runs"] += 1
        self._counters["frames_ok"] += 1
        self.last_run_cycles = cycles
        return matmul(x, self.codes, self.spec)

    def repeat(self, count: int, seconds: float) -> None:
        encode_repeat(count)  # the same range check as the device path
        if self.last_run_cycles is None:
            raise DeviceError(Op.REPEAT, Status.NO_LAYER)
        # As on the device: each repeat counts one RUN's cycles; the command one run.
        self._counters.update(run_cycles=count * self.last_run_cycles, stall_cycles=0)
        self._counters["runs"] += 1
        self._counters["frames_ok"] += 1

    def counters(self) -> Counters:
        self._counters["frames_ok"] += 1  # as on the device: the request counts itself
        return Counters(**self._counters)

    def reset(self) -> None:
        self._counters = dict.fromkeys(Counters.names(), 0)
        self.resident = []
        self.last_run_cycles = None

    def close(self) -> None:
        pass


class Accelerator:
    def __init__(self, backend, target: str, *, retries: int = 2):
        self.backend = backend
        self.target = target
        self.retries = retries
        self.spec: LayerSpec | None = None  # the layer the user loaded
        self.codes: np.ndarray | None = None
        self.k = self.n = 0
        self.last_run_cycles = 0
        self.retried_calls = 0  # calls that hit a link fault and then succeeded
        self.network: list[tuple[LayerSpec, np.ndarray]] = []  # from `load_network`
        self.network_problem: str | None = None  # why it runs layer by layer (None: whole)
        self._network_resident = False  # the device holds the chain, in order
        self._network_loads = 0  # LOAD_LAYERs of the chain not yet in a report
        self.last_network_layers: list[ProductReport] = []  # of the last run_network

    @classmethod
    def open(cls, target: str = "ref", *, timeout: float = 10.0, retries: int = 2) -> Accelerator:
        kind, _, rest = target.partition(":")
        if kind == "ref":
            return cls(RefBackend(rest or "sim"), target, retries=retries)
        if kind == "sim":
            from sim.device import SimulatedDevice  # builds the RTL: only when asked for

            name, options = parse_sim_target(rest)
            simulated = SimulatedDevice(name, **options)
            try:
                link = simulated.connect(timeout=timeout)
                return cls(SerialBackend(link), target, retries=retries)
            except BaseException:
                simulated.stop()
                raise
        if kind == "serial":
            link = open_serial(rest, timeout=timeout)
            try:
                return cls(SerialBackend(link), target, retries=retries)
            except BaseException:
                link.close()
                raise
        raise ValueError(
            f"unknown target {target!r}; use 'ref[:DEVICE]', 'sim[:DEVICE][,stall=P]' or "
            "'serial:PORT[,BAUD]'"
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
        check_layer(spec, *codes.shape, self.info)  # refused before anything is sent
        self.spec = None  # until the device has it
        self._network_resident = False  # the device's older layer is no longer the chain's
        self._reliably(lambda: self.backend.load(spec, codes))
        self.spec, self.codes, (self.k, self.n) = spec, codes, codes.shape

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
        parts = self._in_chunks(x, self.rows_per_run(), lambda c: self._run(c, measure_cycles))
        return np.concatenate(parts) if parts else np.zeros((0, self.n), dtype=np.int64)

    def rows_per_run(self) -> int:
        """Rows per RUN: the device's batch, the response and the request frame limits."""
        width = layer_result_bytes(self.spec, self.info)
        by_request = (MAX_PAYLOAD - layout_bytes(RUN_HEADER)) // self.k
        return max(1, min(self.info.m_max, MAX_PAYLOAD // (self.n * width), by_request))

    def load_network(self, layers) -> None:
        """Take a chain of layers ``[(spec, codes), ...]`` for `run_network`.

        A chain the device can run whole (`network_problem`: `layer_banks` layers at
        most, each loaded in one frame, all but the last requantized to at most the
        activations' bits) is loaded now and stays on the device: each `run_network`
        chunk is then one RUN_NETWORK, its intermediate activations never crossing the
        link. Any other chain runs layer by layer (`run_product` per layer, reloading
        each); ``network_problem`` says why.
        """
        layers = [(spec, check_codes(codes, spec)) for spec, codes in layers]
        if not layers:
            raise ValueError("a network needs at least one layer")
        for index, ((_, codes), (_, after)) in enumerate(zip(layers, layers[1:], strict=False)):
            if codes.ndim != 2 or after.ndim != 2 or codes.shape[1] != after.shape[0]:
                raise ValueError(
                    f"layer {index} gives {codes.shape[-1]} outputs but layer {index + 1} "
                    f"takes K={after.shape[0]}"
                )
        self.network = layers
        self.network_problem = network_problem(layers, self.info)
        if self.network_problem is None:
            for spec, codes in layers:
                self.load_layer(spec, codes)
            self._network_resident = True
            self._network_loads = len(layers)

    def run_network(self, x, *, measure_cycles: bool = False) -> np.ndarray:
        """The `load_network` chain on x (M, K of the first layer), any M.

        ``last_network_layers`` holds a `ProductReport` per layer of this call (its loads,
        MACs and, with ``measure_cycles``, cycles; the RUN_NETWORK frames on the first
        layer) and ``last_network_report`` their sum. The device counts a whole chain's
        cycles together: each layer gets the cycle model's share of the measured count
        (exact with one drain lane, where the model is).
        """
        if not self.network:
            raise RuntimeError("no network loaded: call load_network(layers) first")
        first_spec, first_codes = self.network[0]
        x = check_activations(x, first_spec)
        if x.shape[1] != first_codes.shape[0]:
            raise ValueError(
                f"x has K={x.shape[1]} columns but the network's first layer has "
                f"K={first_codes.shape[0]}"
            )
        if self.network_problem is not None or len(self.network) == 1:
            return self._network_layer_by_layer(x, measure_cycles)
        parts = self._in_chunks(
            x, self.rows_per_network_run(), lambda c: self._run_whole(c, measure_cycles)
        )
        shapes = [codes.shape for _, codes in self.network]
        modelled = [
            sum(self.info.run_cycles(part.shape[0], k, n) for part in parts) for k, n in shapes
        ]
        measured = self.last_run_cycles
        shares = [measured * part // max(1, sum(modelled)) for part in modelled[:-1]]
        loads_each = self._network_loads // len(shapes)  # the chain loads whole, in order
        self.last_network_layers = [
            ProductReport(
                cycles=cycles,
                loads=loads_each,
                runs=len(parts) if index == 0 else 0,
                macs=x.shape[0] * k * n,
            )
            for index, (cycles, (k, n)) in enumerate(
                zip([*shares, measured - sum(shares)], shapes, strict=True)
            )
        ]
        self._network_loads = 0
        if parts:
            return np.concatenate(parts)
        return np.zeros((0, self.network[-1][1].shape[1]), dtype=np.int64)

    @property
    def last_network_report(self) -> ProductReport:
        """The last `run_network`'s cost, all its layers together."""
        return sum(self.last_network_layers, ProductReport())

    def rows_per_network_run(self) -> int:
        """Rows per RUN_NETWORK: the device's batch, the request and response frame limits."""
        (last_spec, last_codes), k = self.network[-1], self.network[0][1].shape[0]
        out_bytes = last_codes.shape[1] * layer_result_bytes(last_spec, self.info)
        by_request = (MAX_PAYLOAD - layout_bytes(NETWORK_HEADER)) // k
        return max(1, min(self.info.m_max, MAX_PAYLOAD // out_bytes, by_request))

    def counters(self) -> Counters:
        return self._reliably(self.backend.counters)

    def repeat_product(self, n: int) -> int:
        """Run the device's last RUN (the last chunk of the last `matmul`) ``n`` more times
        on chip, back to back, its results dropped; return the ``run_cycles`` counter, the
        cycles of all ``n``. For measuring power with the array busy rather than the link
        (`qmatmul energy --board`): the answer comes when the repeats are done."""
        if self.spec is None:
            raise RuntimeError("no layer loaded: call load_layer(spec, codes) and matmul first")
        encode_repeat(n)  # ValueError for a count outside 1..65535
        info = self.info
        longest = info.run_cycles(self.rows_per_run(), self.k, self.n)
        self.backend.repeat(n, n * longest / info.clock_hz)
        return self.counters().run_cycles

    def reset(self) -> None:
        """Clear the device's counters and its layer."""
        self.spec = None
        self._network_resident = False
        self._reliably(self.backend.reset)

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

    # ---- inside ----------------------------------------------------------------------

    def _run(self, x: np.ndarray, measure_cycles: bool) -> np.ndarray:
        if self.backend.layer_tag is None:  # the device's layer is in doubt: load it again
            self.backend.load(self.spec, self.codes)
        y = self.backend.run(x, self.spec, self.n)
        if measure_cycles:
            self.last_run_cycles += self.backend.counters().run_cycles
        return y

    def _in_chunks(self, x: np.ndarray, rows: int, run) -> list[np.ndarray]:
        """``run(chunk)`` for each chunk of ``rows`` rows of x, each retried after a link
        fault (`_reliably`); ``last_run_cycles`` starts from 0."""
        self.last_run_cycles = 0
        return [
            self._reliably(lambda chunk=x[i : i + rows]: run(chunk))
            for i in range(0, x.shape[0], rows)
        ]

    def _run_whole(self, x: np.ndarray, measure_cycles: bool) -> np.ndarray:
        if not self._network_resident:  # replaced since, or in doubt: load both again
            for spec, codes in self.network:
                self.load_layer(spec, codes)
            self._network_resident = True
            self._network_loads += len(self.network)
        elif len(self.backend.resident) < len(self.network):
            for spec, codes in self.network:  # lost on the link: again, in order
                self.backend.load(spec, codes)
            self._network_loads += len(self.network)
        y = self.backend.run_network(x, len(self.network), self.spec, self.n)
        if measure_cycles:
            self.last_run_cycles += self.backend.counters().run_cycles
        return y

    def _network_layer_by_layer(self, x: np.ndarray, measure_cycles: bool) -> np.ndarray:
        self.last_network_layers = []
        for spec, codes in self.network:
            x, layer_report = run_product(self, spec, codes, x, measure_cycles=measure_cycles)
            self.last_network_layers.append(layer_report)
        self.last_run_cycles = self.last_network_report.cycles
        return x

    def _reliably(self, action):
        """``action()``, retried after a link fault; the last fault if every try fails."""
        for attempt in range(self.retries + 1):
            try:
                result = action()
            except (DeviceTimeout, LinkProtocolError) as error:
                fault = error
            except DeviceError as error:
                if error.status not in TRANSIENT_STATUSES:
                    raise
                if error.status in LAYER_LOST_STATUSES:
                    self.backend.forget_layers()
                fault = error
            else:
                if attempt:
                    self.retried_calls += 1
                return result
            if isinstance(self.backend, SerialBackend):
                self.backend.link.dirty = True
        raise fault


def parse_sim_target(rest: str) -> tuple[str, dict]:
    """``DEVICE[,stall=P][,seed=S]`` -> (device name, options for `SimulatedDevice`)."""
    name, *pairs = rest.split(",") if rest else ["sim"]
    options: dict = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            if key == "stall":
                options["stall"] = float(value)
                if not 0.0 <= options["stall"] < 1.0:
                    raise ValueError
            elif key == "seed":
                options["seed"] = int(value)
            else:
                raise KeyError(key)
        except KeyError:
            raise ValueError(f"unknown sim option {key!r}; known: stall=P, seed=S") from None
        except ValueError:
            raise ValueError(
                f"sim option {pair!r} is out of range; stall must be in [0, 1), seed an integer"
            ) from None
    return name or "sim", options


def open_serial(spec: str, *, timeout: float) -> SerialLink:
    """``PORT[,BAUD]`` -> an open `SerialLink`, or a clear error naming the port."""
    port, _, baud = spec.partition(",")
    if not port:
        raise ValueError(f"serial target needs a port: 'serial:/dev/ttyUSB1[,{DEFAULT_BAUD}]'")
    try:
        baudrate = int(baud) if baud else DEFAULT_BAUD
    except ValueError as error:
        raise ValueError(f"baud rate {baud!r} is not an integer") from error
    import serial

    try:
        handle = serial.Serial(port, baudrate, timeout=0.05)
    except (serial.SerialException, OSError) as error:
        raise DeviceGone(f"cannot open serial port {port}: {error}") from error
    handle.reset_input_buffer()
    _low_latency(handle)
    # A device on its own USB port ignores the baud rate: bytes move at USB's pace.
    usb_device = _port_ids(port) == (USB_VENDOR_ID, USB_PRODUCT_ID)
    bytes_per_second = USB_FULL_SPEED.bytes_per_second if usb_device else baudrate / 10
    # A board drops a partial frame after its timeout (about 0.2 s at the boards' clocks).
    return SerialLink(handle, timeout=timeout, bytes_per_second=bytes_per_second, quiet_s=0.3)


def _low_latency(handle) -> None:
    """Ask the USB-serial driver to pass bytes on at once: Linux's ftdi_sio then sets the
    FTDI chip's latency timer to 1 ms instead of 16 (every answer of a few bytes would
    otherwise wait up to 16 ms). Ports that have no such setting (a CDC-ACM device, a
    pseudo-terminal, other systems) are left as they are."""
    try:
        handle.set_low_latency_mode(True)
    except (AttributeError, NotImplementedError, ValueError, OSError, termios.error):
        pass


def _port_ids(port: str) -> tuple[int | None, int | None]:
    """The USB vendor and product IDs of ``port`` (None for a port that is not USB)."""
    from serial.tools import list_ports

    wanted = os.path.realpath(port)  # /dev/serial/by-id/... names the same device
    for info in list_ports.comports():
        if os.path.realpath(info.device) == wanted:
            return info.vid, info.pid
    return None, None
