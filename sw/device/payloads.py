"""What each command carries: payload layouts, and the host's packing and parsing of them.

    IDENTIFY    response: `DeviceInfo` (`IDENTIFY_LAYOUT`)
    LOAD_LAYER  request:  `LAYER_HEADER`, the decode table, one `requant_record_layout`
                          per output channel, then K x N code bytes, row-major
    RUN         request:  `RUN_HEADER`, then M x K activation bytes, row-major
                response: M x N results in tile order, `result_bytes` each
    RUN_NETWORK request:  `NETWORK_HEADER`, then M x K activation bytes of the first layer
                response: as RUN's, of the second layer
    COUNTERS    response: one u32 per `Counters` field

The gateware reads the request layouts through `amaranth.lib.data` views of the
bytes it received (`hdl.loader`, `hdl.run_loader`); nothing here is retyped there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from amaranth import signed
from amaranth.lib import data

from sw.kernel import LayerSpec, check_depth, cycles, result_order
from sw.kernel.spec import WEIGHT_MODES

from .latency import Latencies
from .params import CoreParams, TopParams
from .protocol import (
    MAX_PAYLOAD,
    PROTOCOL_VERSION,
    ProtocolError,
    Status,
    WeightMode,
    layout_bytes,
    pack,
    unpack,
)
from .tables import decode_table_entries, hardware_codes, table_entry_bytes, uses_table

MAGIC = int.from_bytes(b"QMMC", "little")

IDENTIFY_LAYOUT = data.StructLayout(
    {
        "magic": 32,
        "version": 8,
        "rows": 8,
        "cols": 8,
        "drain_lanes": 8,
        "layer_banks": 8,
        "act_bits": 8,
        "weight_bits": 8,
        "acc_bits": 8,
        "weight_modes": data.StructLayout({mode: 1 for mode in WEIGHT_MODES} | {"unused": 5}),
        "spx_terms": 8,
        "max_shift": 8,
        "features": data.StructLayout({"spx_table": 1, "networks": 1, "unused": 6}),
        "channels": 16,
        "k_max": 16,
        "m_max": 16,
        "clock_hz": 32,
        "timeout_cycles": 32,
        "latency": data.StructLayout({f.name: 8 for f in dataclasses.fields(Latencies)}),
    }
)


@dataclass(frozen=True)
class DeviceInfo:
    """What IDENTIFY returns: everything the host needs to talk to this device."""

    version: int
    rows: int
    cols: int
    drain_lanes: int  # results leaving the array per cycle (`CoreParams.drain_lanes`)
    layer_banks: int  # layers held at once (`CoreParams.layer_banks`)
    act_bits: int
    weight_bits: int
    acc_bits: int
    weight_modes: tuple[str, ...]
    spx_terms: int
    max_shift: int
    spx_programmable: bool  # SPx codes go through a table loaded with each layer
    networks: bool  # RUN_NETWORK is there (`TopParams.networks`)
    channels: int  # largest N (requantization table depth)
    k_max: int  # largest K (weight buffer depth per column tile)
    m_max: int  # largest batch of activation rows per RUN
    clock_hz: int
    timeout_cycles: int  # cycles without a byte after which a partial frame is dropped
    latencies: Latencies

    @classmethod
    def of(cls, params: TopParams) -> DeviceInfo:
        """What a device built from ``params`` reports."""
        c = params.core
        return cls(
            version=PROTOCOL_VERSION,
            rows=c.rows,
            cols=c.cols,
            drain_lanes=c.drain_lanes,
            layer_banks=c.layer_banks,
            act_bits=c.act_bits,
            weight_bits=c.weight_bits,
            acc_bits=c.acc_bits,
            weight_modes=c.weight_modes,
            spx_terms=c.spx_terms,
            max_shift=c.max_shift,
            spx_programmable=c.spx_programmable,
            networks=params.networks,
            channels=c.channels,
            k_max=params.k_max,
            m_max=params.m_max,
            clock_hz=params.clock_hz,
            timeout_cycles=params.timeout_cycles,
            latencies=Latencies(),
        )

    def core_params(self) -> CoreParams:
        """The `CoreParams` this device reports: the host encodes layers for exactly these."""
        return CoreParams(
            rows=self.rows,
            cols=self.cols,
            drain_lanes=self.drain_lanes,
            layer_banks=self.layer_banks,
            act_bits=self.act_bits,
            weight_bits=self.weight_bits,
            acc_bits=self.acc_bits,
            weight_modes=self.weight_modes,
            spx_terms=self.spx_terms,
            max_shift=self.max_shift,
            channels=self.channels,
            spx_programmable=self.spx_programmable,
        )

    def run_cycles(self, m: int, k: int, n: int) -> int:
        """The cycle model's ``run_cycles`` of one RUN of M rows on this device."""
        return cycles.run_cycles(
            m, k, n, self.rows, self.cols, drain_lanes=self.drain_lanes, latencies=self.latencies
        )

    def network_cycles(self, m: int, layers) -> int:
        """The cycle model's ``run_cycles`` of one RUN_NETWORK of M rows through layers of
        shapes ``[(k, n), ...]``: one RUN's count per layer (the counter pauses between
        them). Exact with one drain lane; with more, the write-back of the first layer
        takes a value a cycle and holds its drain, so the device counts more."""
        return sum(self.run_cycles(m, k, n) for k, n in layers)

    def encode(self) -> bytes:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["weight_modes"] = {mode: mode in self.weight_modes for mode in WEIGHT_MODES}
        fields["features"] = {"spx_table": self.spx_programmable, "networks": self.networks}
        fields["latency"] = dataclasses.asdict(self.latencies)
        del fields["spx_programmable"], fields["networks"], fields["latencies"]
        return pack(IDENTIFY_LAYOUT, {"magic": MAGIC, **fields})

    @classmethod
    def decode(cls, payload: bytes) -> DeviceInfo:
        if len(payload) != cls.size():
            raise ProtocolError(f"IDENTIFY payload has {len(payload)} bytes, expected {cls.size()}")
        fields = unpack(IDENTIFY_LAYOUT, payload)
        if fields.magic != MAGIC:
            magic = fields.magic.to_bytes(4, "little")
            raise ProtocolError(f"IDENTIFY magic is {magic!r}, expected b'QMMC'")
        if fields.version != PROTOCOL_VERSION:
            raise ProtocolError(
                f"the device speaks protocol version {fields.version}; this driver speaks "
                f"{PROTOCOL_VERSION} (rebuild the bitstream or update the driver)"
            )
        plain = {
            f.name: getattr(fields, f.name)
            for f in dataclasses.fields(cls)
            if f.name not in ("weight_modes", "spx_programmable", "networks", "latencies")
        }
        return cls(
            **plain,
            weight_modes=tuple(m for m in WEIGHT_MODES if getattr(fields.weight_modes, m)),
            spx_programmable=bool(fields.features.spx_table),
            networks=bool(fields.features.networks),
            latencies=Latencies(
                **{f.name: getattr(fields.latency, f.name) for f in dataclasses.fields(Latencies)}
            ),
        )

    @classmethod
    def size(cls) -> int:
        return layout_bytes(IDENTIFY_LAYOUT)


# ---- LOAD_LAYER ------------------------------------------------------------------------

LAYER_FLAGS = data.StructLayout({"requant": 1, "relu": 1, "unused": 6})
# `mode` holds a `WeightMode`, as a plain byte (the device refuses other values itself).
LAYER_HEADER = data.StructLayout({"mode": 8, "flags": LAYER_FLAGS, "out_bits": 8, "k": 16, "n": 16})


def acc_bytes(acc_bits: int) -> int:
    return -(-acc_bits // 8)


def requant_record_layout(acc_bits: int) -> data.StructLayout:
    """One output channel's requantization: multiplier (u16, < 2**15), shift (u8, <= 63),
    bias (signed, in the device's accumulator width rounded up to bytes)."""
    return data.StructLayout(
        {"multiplier": 16, "shift": 8, "bias": signed(8 * acc_bytes(acc_bits))}
    )


def check_layer(spec: LayerSpec, k: int, n: int, info: DeviceInfo) -> None:
    """Raise ``ValueError`` naming the first thing that keeps the device from loading this
    layer. The one check of both the device path and ``ref``, so they refuse alike."""
    info.core_params().check_spec(spec, n, k)
    if k > info.k_max or n > info.channels:
        raise ValueError(
            f"a {k} x {n} layer exceeds the device's buffers (K <= {info.k_max}, "
            f"N <= {info.channels})"
        )
    check_depth(k, spec)
    size = layer_payload_bytes(spec, k, n, info)
    if size > MAX_PAYLOAD:
        raise ValueError(
            f"a {k} x {n} layer takes {size} bytes, more than one LOAD_LAYER frame "
            f"carries ({MAX_PAYLOAD}); split it by output channels"
        )


def layer_payload_bytes(spec: LayerSpec, k: int, n: int, info: DeviceInfo) -> int:
    """Bytes of the LOAD_LAYER payload of a K x N layer on this device."""
    params = info.core_params()
    table = (1 << params.weight_bits) * table_entry_bytes(params) if uses_table(params) else 0
    records = n * layout_bytes(requant_record_layout(info.acc_bits)) if spec.requant else 0
    return layout_bytes(LAYER_HEADER) + table + records + k * n


def encode_layer(spec: LayerSpec, codes: np.ndarray, info: DeviceInfo) -> bytes:
    """LOAD_LAYER payload: header, decode table, requantization records, codes."""
    k, n = codes.shape
    check_layer(spec, k, n, info)
    params = info.core_params()
    requant = spec.requant
    header = {
        "mode": WeightMode.of(spec.weight_mode),
        "flags": {"requant": requant is not None, "relu": bool(requant and requant.relu)},
        "out_bits": requant.out_bits if requant else 0,
        "k": k,
        "n": n,
    }
    payload = bytearray(pack(LAYER_HEADER, header))
    if uses_table(params):
        width = table_entry_bytes(params)
        for entry in decode_table_entries(spec, params):
            payload += entry.to_bytes(width, "little")
    if requant:
        record = requant_record_layout(info.acc_bits)
        bias = requant.bias or (0,) * n
        for channel in range(n):
            fields = {
                "multiplier": requant.multiplier[channel],
                "shift": requant.shift[channel],
                "bias": bias[channel],
            }
            payload += pack(record, fields)
    payload += hardware_codes(codes, spec, params).astype(np.uint8).tobytes()
    return bytes(payload)


# ---- RUN -------------------------------------------------------------------------------

# `layer` is the tag of the LOAD_LAYER frame that loaded the layer this RUN expects: a
# device holding another layer answers WRONG_LAYER instead of computing with it.
RUN_HEADER = data.StructLayout({"m": 16, "layer": 8})


def encode_run(x: np.ndarray, layer: int) -> bytes:
    """RUN payload: M and the layer's tag, then the activations as signed bytes, row-major."""
    header = pack(RUN_HEADER, {"m": x.shape[0], "layer": layer})
    return header + np.ascontiguousarray(x, dtype=np.int8).tobytes()


# ---- RUN_NETWORK -----------------------------------------------------------------------

# The device keeps the last `layer_banks` layers it loaded: the weights, decode tables
# and requantization tables have a bank per layer (a load fills the oldest one's). A
# RUN_NETWORK runs the last `layers` of them in load order on M rows. Each layer's
# requantized results but the last are written back into the activation buffer
# (`hdl.writeback`), so only the input rows cross the link in and only the last layer's
# results come back. `first` and `last` are the tags of the first and last layers'
# LOAD_LAYER frames: a device holding other layers answers WRONG_LAYER. Every layer but
# the last must requantize to at most the activations' bits, and its N be the next
# one's K (else BAD_PARAM). A load attempt gives up the oldest layer (its bank is being
# overwritten) even when the load fails.
NETWORK_HEADER = data.StructLayout({"m": 16, "first": 8, "last": 8, "layers": 8})


def network_problem(layers, info: DeviceInfo) -> str | None:
    """Why the chain ``[(spec, codes), ...]`` cannot run whole on this device (None if it
    can): the checks a RUN_NETWORK's device makes, and that each layer loads in one go."""
    if not info.networks:
        return "the device was built without RUN_NETWORK (TopParams.networks)"
    if not 1 <= len(layers) <= info.layer_banks:
        return f"{len(layers)} layers (the device holds {info.layer_banks})"
    for index, (spec, codes) in enumerate(layers):
        try:
            check_layer(spec, *np.shape(codes), info)
        except ValueError as error:
            return f"layer {index}: {error}"
    for index, ((spec, _), (after, _)) in enumerate(zip(layers, layers[1:], strict=False)):
        out_bits = spec.requant.out_bits if spec.requant else None
        if out_bits is None or out_bits > min(info.act_bits, after.act_bits):
            return (
                f"layer {index} gives {out_bits or 'raw'}-bit results; the next one takes "
                f"{after.act_bits}-bit activations"
            )
    return None


def encode_network_run(x: np.ndarray, first: int, last: int, layers: int) -> bytes:
    """RUN_NETWORK payload: M, the first and last layers' tags and the number of layers,
    then the first layer's activations."""
    fields = {"m": x.shape[0], "first": first, "last": last, "layers": layers}
    header = pack(NETWORK_HEADER, fields)
    return header + np.ascontiguousarray(x, dtype=np.int8).tobytes()


# ---- REPEAT ----------------------------------------------------------------------------

# REPEAT runs the device's last RUN (its rows, still in the activation buffer, through the
# same layer) `count` more times back to back, dropping the results: a current meter then
# sees the array compute, not the UART. Its run_cycles counter covers every repeat.
REPEAT_HEADER = data.StructLayout({"count": 16})
REPEAT_COUNT_RANGE = (1, (1 << 16) - 1)


def encode_repeat(count: int) -> bytes:
    """REPEAT payload: how many times to run the last RUN again (1..65535)."""
    low, high = REPEAT_COUNT_RANGE
    if not isinstance(count, int) or not low <= count <= high:
        raise ValueError(f"repeat count={count!r} must be an int in {low}..{high}")
    return pack(REPEAT_HEADER, {"count": count})


def result_bytes(out_bits: int | None, acc_bits: int) -> int:
    """Bytes per result on the wire: 1 or 2 when requantized, else the accumulator's."""
    if out_bits is None:
        return acc_bytes(acc_bits)
    return 1 if out_bits <= 8 else 2


def layer_result_bytes(spec: LayerSpec, info: DeviceInfo) -> int:
    return result_bytes(spec.requant.out_bits if spec.requant else None, info.acc_bits)


def pack_signed(values: np.ndarray, width_bytes: int) -> bytes:
    """Little-endian two's complement, ``width_bytes`` (1..8) per value."""
    values = np.asarray(values, dtype=np.int64).ravel()
    lo, hi = -(1 << (8 * width_bytes - 1)), (1 << (8 * width_bytes - 1)) - 1
    if values.size and (values.min() < lo or values.max() > hi):
        raise ValueError(f"a value does not fit {width_bytes} signed bytes")
    raw = values.astype("<i8").view(np.uint8).reshape(-1, 8)[:, :width_bytes]
    return raw.tobytes()


def unpack_signed(raw: bytes, width_bytes: int) -> np.ndarray:
    """Little-endian two's complement values of ``width_bytes`` (1..8) each -> int64."""
    if len(raw) % width_bytes:
        raise ProtocolError(f"{len(raw)} bytes is not a whole number of {width_bytes}-byte values")
    columns = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width_bytes)
    wide = np.zeros((columns.shape[0], 8), dtype=np.uint8)
    wide[:, :width_bytes] = columns
    wide[columns[:, -1] >= 0x80, width_bytes:] = 0xFF  # sign extension
    return wide.view("<i8").ravel().astype(np.int64)


def decode_results(payload: bytes, m: int, n: int, width: int, info: DeviceInfo) -> np.ndarray:
    """RUN response payload (tile order, ``width`` bytes each) -> (M, N) results."""
    values = unpack_signed(payload, width)
    if values.size != m * n:
        raise ProtocolError(f"RUN returned {values.size} results, expected {m} x {n} = {m * n}")
    rows, cols = result_order(m, n, info.rows, info.cols)
    y = np.empty((m, n), dtype=np.int64)
    y[rows, cols] = values
    return y


# ---- COUNTERS ----------------------------------------------------------------------------

# Two 32-bit cycle registers, then 16-bit event counters (in a RAM on the device): runs,
# frames answered OK, and one per error status, in `Status` order, named after it. The
# device counts an error of status s in event counter `ERROR_COUNTER_BASE + s`.
CYCLE_COUNTERS = ("run_cycles", "stall_cycles")
EVENT_COUNTERS = ("runs", "frames_ok") + tuple(s.name.lower() for s in Status if s != Status.OK)
ERROR_COUNTER_BASE = EVENT_COUNTERS.index("bad_crc") - Status.BAD_CRC


class _CounterMethods:
    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def decode(cls, payload: bytes):
        count = len(dataclasses.fields(cls))
        if len(payload) != 4 * count:
            raise ProtocolError(f"COUNTERS payload has {len(payload)} bytes, expected {4 * count}")
        return cls(*np.frombuffer(payload, dtype="<u4").tolist())

    @property
    def errors(self) -> int:
        return sum(getattr(self, name) for name in EVENT_COUNTERS[2:])


# run_cycles: the last RUN, from its first operand issued to its last result out of the
# core; stall_cycles: cycles of that RUN a result waited on the link; then the events
# (bad_sync counts stray bytes, every other error counts frames).
Counters = dataclasses.make_dataclass(
    "Counters",
    [(name, int) for name in CYCLE_COUNTERS + EVENT_COUNTERS],
    bases=(_CounterMethods,),
    frozen=True,
)
Counters.__doc__ = "What COUNTERS returns: u32 each, in this order."
Counters.__module__ = __name__
