"""The board-independent device: a command decoder on one byte stream in and one out.

    rx bytes ─► frame receiver ─► weight / activation buffers ─► sequencer ─► MatmulCore
                     │                                                            │
                     └────────────► responder ◄──── result serializer ◄───────────┘ ─► tx bytes

The wire format is `sw.driver.protocol` (documented in docs/protocol.md). The
receiver checks every frame as it arrives and acts only on a whole, valid one:
a layer is loaded into the shadow bank (weights, decode table, requantization
table) and becomes active only when its CRC checks out, so a bad frame never
disturbs the layer in use. Activations of a RUN go to the activation buffer; the
run starts after the CRC, and its results stream back in tile order.

On a board a UART PHY wraps ``rx``/``tx`` (`boards`); in simulation a
pseudo-terminal does (`sim/pty_harness.cpp`).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Array, Cat, Const, Module, Mux, ResetInserter, Signal, signed, unsigned
from amaranth.lib import crc, stream, wiring
from amaranth.lib.wiring import In, Out

from sw.driver.protocol import (
    HOST_SYNC,
    LAYER_HEADER,
    PROTOCOL_VERSION,
    REQUANT_RECORD_HEAD,
    RUN_HEADER,
    Counters,
    DeviceInfo,
    Op,
    Status,
    acc_bytes,
    table_bytes,
)
from sw.kernel.spec import OUT_BITS_RANGE, WEIGHT_MODES

from .buffer import READ_LATENCY, BankedRAM
from .core import MatmulCore
from .counters import CounterFile
from .decode import table_entry_bits, uses_table
from .multiplier import RegisteredMultiplier, times_constant
from .params import CoreParams
from .responder import Responder, ResultSerializer
from .sequencer import Sequencer, n_tiles
from .skid import SkidBuffer

PROTOCOL_LIMIT = 4096  # K, N and M travel as 16-bit fields; the device keeps them below this


@dataclass(frozen=True)
class TopParams:
    core: CoreParams
    k_max: int = 256  # deepest layer (weight buffer rows per column tile)
    m_max: int = 64  # activation rows per RUN (activation buffer)
    clock_hz: int = 12_000_000  # reported by IDENTIFY
    timeout_cycles: int = 1 << 22  # a frame that stops arriving part way is dropped

    def __post_init__(self):
        for name in ("k_max", "m_max"):
            value = getattr(self, name)
            if not 1 <= value <= PROTOCOL_LIMIT:
                raise ValueError(
                    f"{name}={value} is out of range; allowed range is [1, {PROTOCOL_LIMIT}]"
                )
        if self.core.channels > PROTOCOL_LIMIT:
            raise ValueError(f"channels={self.core.channels} exceeds the limit {PROTOCOL_LIMIT}")

    def device_info(self) -> DeviceInfo:
        c = self.core
        return DeviceInfo(
            version=PROTOCOL_VERSION,
            rows=c.rows,
            cols=c.cols,
            act_bits=c.act_bits,
            weight_bits=c.weight_bits,
            acc_bits=c.acc_bits,
            weight_modes=c.weight_modes,
            spx_terms=c.spx_terms,
            max_shift=c.max_shift,
            channels=c.channels,
            k_max=self.k_max,
            m_max=self.m_max,
            clock_hz=self.clock_hz,
        )


def _address_bits(depth: int) -> int:
    return max(1, (depth - 1).bit_length())


class _Layer:
    """The registers describing one layer (the active one, or the one being loaded)."""

    def __init__(self, name: str, tp: TopParams):
        p = tp.core
        self.mode = Signal(range(len(WEIGHT_MODES)), name=f"{name}_mode")
        self.requant = Signal(name=f"{name}_requant")
        self.relu = Signal(name=f"{name}_relu")
        self.out_bits = Signal(range(OUT_BITS_RANGE[1] + 1), name=f"{name}_out_bits")
        self.k = Signal(range(tp.k_max + 1), name=f"{name}_k")
        self.n = Signal(range(p.channels + 1), name=f"{name}_n")
        self.result_bytes = Signal(range(acc_bytes(p.acc_bits) + 1), name=f"{name}_result_bytes")
        self.row_bytes = Signal(16, name=f"{name}_row_bytes")  # N * result_bytes

    def eq(self, other: _Layer):
        return [getattr(self, f).eq(getattr(other, f)) for f in vars(self)]


class Top(wiring.Component):
    def __init__(self, params: TopParams):
        self.params = params
        super().__init__(
            {
                "rx": In(stream.Signature(8)),
                "tx": Out(stream.Signature(8)),
                "idle": Out(1),  # nothing received part way, running or being sent
            }
        )

    def elaborate(self, platform):
        tp = self.params
        p = tp.core
        m = Module()
        R, C = p.rows, p.cols
        weight_half = tp.k_max * n_tiles(p, p.channels)  # weight words per bank
        act_depth = -(-tp.m_max // R) * tp.k_max  # words per activation bank

        # ---- datapath: sequencer -> core -> serializer -> responder ----------------------
        # A RESET frame resets the core and the sequencer a cycle after the decision,
        # from a register: the reset reaches every flip-flop of the array, so it must
        # not start at the end of the receiver's logic.
        reset_requested = Signal()
        soft_reset = Signal()
        m.d.sync += soft_reset.eq(reset_requested)
        m.submodules.core = core = ResetInserter(soft_reset)(MatmulCore(p))
        m.submodules.sequencer = sequencer = ResetInserter(soft_reset)(
            Sequencer(
                p,
                read_latency=READ_LATENCY,
                k_max=tp.k_max,
                m_max=tp.m_max,
                n_max=p.channels,
                act_addr_width=_address_bits(act_depth),
                weight_addr_width=_address_bits(2 * weight_half),
            )
        )
        m.submodules.serializer = serializer = ResultSerializer(p.acc_bits, acc_bytes(p.acc_bits))
        m.submodules.responder = responder = Responder()
        wiring.connect(m, sequencer.operands, core.operands)
        m.d.comb += [
            serializer.values.payload.eq(core.results.payload.value),
            serializer.values.valid.eq(core.results.valid),
            core.results.ready.eq(serializer.values.ready),
        ]
        m.submodules.tx_stage = tx_stage = SkidBuffer(8)
        wiring.connect(m, responder.tx, tx_stage.i)
        wiring.connect(m, tx_stage.o, wiring.flipped(self.tx))

        # ---- buffers: weights in two banks (active / loading), activations in R banks -----
        # Writes into the buffers go through registers (a cycle late; nothing reads a
        # buffer while it is being loaded), keeping the receiver's decisions and the
        # RAMs' inputs in separate cycles. Reads take `READ_LATENCY` cycles.
        m.submodules.weights = weights = BankedRAM(
            unsigned(C * p.weight_bits), 2 * weight_half, granularity=p.weight_bits
        )
        m.d.sync += weights.write_enable.eq(0)
        m.d.comb += [
            weights.read_address.eq(sequencer.weight_addr),
            sequencer.weight_data.eq(weights.read_data),
        ]
        act_writes = []
        for r in range(R):
            bank = BankedRAM(signed(p.act_bits), act_depth)
            m.submodules[f"activations_{r}"] = bank
            act_writes.append(bank)
            m.d.sync += bank.write_enable.eq(0)
            m.d.comb += [
                bank.read_address.eq(sequencer.act_addr),
                sequencer.act_data[r].eq(bank.read_data),
            ]

        # ---- layers: the active one drives the core; a load fills the other ---------------
        active, loading = _Layer("active", tp), _Layer("loading", tp)
        layer_valid = Signal()
        active_bank = Signal()
        loading_bank = ~active_bank
        m.d.comb += [
            core.control.mode.eq(active.mode),
            core.control.bank.eq(active_bank),
            core.control.requant.enable.eq(active.requant),
            core.control.requant.relu.eq(active.relu),
            core.control.requant.out_bits.eq(active.out_bits),
            serializer.width.eq(active.result_bytes),
            sequencer.run.k.eq(active.k),
            sequencer.run.n.eq(active.n),
            sequencer.run.weight_base.eq(Mux(active_bank, weight_half, 0)),
        ]

        # ---- counters (COUNTERS returns them in `Counters` order) -------------------------
        # The two cycle counters are 32-bit registers; the event counters, 16 bits each,
        # live in a `CounterFile` RAM. All stop at their maximum instead of wrapping.
        counter_names = Counters.names()
        run_cycles, stall_cycles = Signal(32), Signal(32)
        event_names = counter_names[2:]
        assert counter_names[:2] == ["run_cycles", "stall_cycles"]
        m.submodules.events = events = CounterFile(len(event_names))

        def bump(name):  # at most one event per cycle (the receiver's states ensure it)
            m.d.comb += [events.increment.eq(1), events.index.eq(event_names.index(name))]

        status_counter = {
            Status.BAD_CRC: "bad_crc",
            Status.BAD_HEADER: "bad_header",
            Status.UNKNOWN_OPCODE: "unknown_opcode",
            Status.BAD_LENGTH: "bad_length",
            Status.TOO_LARGE: "too_large",
            Status.NO_LAYER: "no_layer",
            Status.TIMEOUT: "timeouts",
            Status.BAD_PARAM: "bad_param",
            Status.BAD_VALUE: "bad_value",
        }
        run_active = Signal()  # from the first buffer read to the last result out of the core
        with m.If(run_active):
            with m.If(~run_cycles.all()):
                m.d.sync += run_cycles.eq(run_cycles + 1)
            with m.If(core.results.valid & ~core.results.ready & ~stall_cycles.all()):
                m.d.sync += stall_cycles.eq(stall_cycles + 1)
            with m.If(~sequencer.busy & ~core.busy):
                m.d.sync += run_active.eq(0)
        # A RUN starts a cycle after DECIDE, from a register: the sequencer's loop
        # counters are far from the receiver's logic. The run is counted then, a cycle
        # after frames_ok (one event per cycle).
        start_run = Signal()
        m.d.sync += start_run.eq(0)
        with m.If(start_run):
            bump("runs")
            m.d.sync += [run_active.eq(1), run_cycles.eq(0), stall_cycles.eq(0)]

        # ---- responses ----------------------------------------------------------------
        NO_PAYLOAD, IDENTIFY_BYTES, COUNTER_BYTES, RESULT_BYTES = range(4)
        source = Signal(range(4))

        # A response is asked for through registers (a pulse on `send`), which keeps the
        # receiver's decisions and the responder's FSM in separate clock cycles.
        send = Signal()
        send_op, send_status, send_length = Signal(8), Signal(8), Signal(16)
        m.d.sync += send.eq(0)
        m.d.comb += [
            responder.start.eq(send),
            responder.op.eq(send_op),
            responder.status.eq(send_status),
            responder.length.eq(send_length),
        ]

        def respond(op_value, status, length_value=0, source_value=NO_PAYLOAD):
            m.d.sync += [
                send.eq(1),
                send_op.eq(op_value),
                send_status.eq(status),
                send_length.eq(length_value),
                source.eq(source_value),
            ]

        # IDENTIFY and COUNTERS payloads are read byte by byte, the counters live: none
        # of them changes while a response is being sent.
        identify = Array(Const(b, 8) for b in tp.device_info().encode())
        payload_index = Signal(range(max(len(identify), 4 * len(counter_names)) + 1))
        taken = responder.payload.valid & responder.payload.ready
        with m.If(responder.start):
            m.d.sync += payload_index.eq(0)
        with m.Elif(taken):
            m.d.sync += payload_index.eq(payload_index + 1)
        # Counter bytes: little-endian u32 per counter. Event counters are 16 bits, so
        # only bytes 0 and 1 of their words come from the RAM, which is read for the
        # word of the byte after this one: ready in time, whatever the link does.
        m.d.comb += events.read_index.eq(((payload_index + 1) >> 2) - 2)
        counter_byte = Signal(8)
        word, byte_in_word = payload_index >> 2, payload_index[:2]
        with m.Switch(word):
            with m.Case(0):
                m.d.comb += counter_byte.eq(run_cycles.word_select(byte_in_word, 8))
            with m.Case(1):
                m.d.comb += counter_byte.eq(stall_cycles.word_select(byte_in_word, 8))
            with m.Default():
                event_bytes = Cat(events.read_data, Const(0, 16))
                m.d.comb += counter_byte.eq(event_bytes.word_select(byte_in_word, 8))
        with m.Switch(source):
            with m.Case(IDENTIFY_BYTES):
                m.d.comb += [
                    responder.payload.payload.eq(identify[payload_index]),
                    responder.payload.valid.eq(1),
                ]
            with m.Case(COUNTER_BYTES):
                m.d.comb += [
                    responder.payload.payload.eq(counter_byte),
                    responder.payload.valid.eq(1),
                ]
            with m.Case(RESULT_BYTES):
                wiring.connect(m, serializer.bytes, responder.payload)

        # ---- receiver ----------------------------------------------------------------
        m.submodules.header_crc = header_crc = crc.catalog.CRC8_SMBUS(8).create()
        m.submodules.frame_crc = frame_crc = crc.catalog.CRC16_CCITT_FALSE(8).create()
        # Received bytes pass through a skid buffer before the receiver looks at them:
        # nothing the receiver decides hangs off the input FIFO's RAM read, and the
        # FIFO's read enable is a register, not the end of the receiver's logic.
        m.submodules.rx_stage = rx_stage = SkidBuffer(8)
        wiring.connect(m, wiring.flipped(self.rx), rx_stage.i)
        byte = rx_stage.o.payload
        byte_ready = rx_stage.o.valid  # `byte` holds a byte not yet taken
        taking = Signal()  # the receiver's state takes a byte this cycle
        got = byte_ready & taking
        m.d.comb += [
            rx_stage.o.ready.eq(taking),
            header_crc.data.eq(byte),
            frame_crc.data.eq(byte),
        ]

        op = Signal(8)
        length = Signal(16)
        remaining = Signal(16)  # payload bytes still to come
        payload_over = Signal()  # remaining == 0, kept as a register for speed
        error = Signal(8)  # the first error found in this frame (0: none yet)
        garbage_reported = Signal()  # one BAD_SYNC per run of stray bytes
        silent = Signal(range(tp.timeout_cycles + 1))  # cycles since the last byte

        def fail(status):
            with m.If(error == 0):
                m.d.sync += error.eq(status)

        # Payload parsing: records arrive little-endian into `recent` (newest byte on top).
        record_bytes = REQUANT_RECORD_HEAD.size + acc_bytes(p.acc_bits)
        entry_bytes = table_bytes(table_entry_bits(p)) if uses_table(p) else 0
        table_entries = (1 << p.weight_bits) if uses_table(p) else 0
        recent = Signal(8 * max(LAYER_HEADER.size, record_bytes, RUN_HEADER.size))
        with_byte = Signal.like(recent)
        m.d.comb += with_byte.eq(Cat(recent[8:], byte))
        field = Signal(range(len(recent) // 8 + 1))  # byte index inside the current record
        count = Signal(16)  # table entry or requantization channel being written
        k = Signal(range(tp.k_max + 1))
        lane = Signal(range(max(R, C) + 1))  # weight lane n % C, or activation bank m % R
        base = Signal(_address_bits(2 * weight_half) + 1)  # tile * K, or block * K
        run_m = Signal(range(tp.m_max + 1))
        # Result bytes of the RUN, M * row_bytes: on a registered multiplier (a DSP block
        # on the FPGAs), valid two cycles after `run_m` is set, long before the CRC's two
        # bytes have arrived and DECIDE reads it. Operands get a 0 on top: unsigned.
        response_length = Signal(2 * 18)
        m.submodules.response_length = RegisteredMultiplier(
            Cat(run_m, 0).as_signed(), Cat(active.row_bytes, 0).as_signed(), response_length
        )
        # More than the 16-bit length field holds; a register a cycle behind the product,
        # still in time: DECIDE comes at least four cycles after `run_m` is set.
        response_too_long = Signal()
        m.d.sync += response_too_long.eq(response_length[16:].any())
        supported = Const(
            sum(1 << i for i, mode in enumerate(WEIGHT_MODES) if mode in p.weight_modes), 8
        )

        PHASES = (
            "DISCARD",
            "DONE",
            "LAYER_HEAD",
            "LAYER_CHECK",
            "LAYER_START",
            "TABLE",
            "PARAMS",
            "CODES",
            "RUN_HEAD",
            "RUN_CHECK",
            "ACTIVATIONS",
        )
        P = {name: i for i, name in enumerate(PHASES)}
        phase = Signal(range(len(PHASES)))
        # Phases that work on what has arrived, in a cycle of their own (no byte taken).
        needs_idle_cycle = (
            (phase == P["LAYER_CHECK"]) | (phase == P["LAYER_START"]) | (phase == P["RUN_CHECK"])
        )

        # Loops over payload rows count down to zero: a zero test on a register is
        # quicker than comparing a count with a limit in the same cycle.
        row_left = Signal(16)  # items of this row still to come after the current one
        rows_left = Signal(16)  # rows still to come after the current one
        row_reload = Signal(16)

        def start_rows(phase_name, row_length, rows):
            m.d.sync += [
                phase.eq(P[phase_name]),
                row_left.eq(row_length - 1),
                row_reload.eq(row_length - 1),
                rows_left.eq(rows - 1),
                count.eq(0),
                k.eq(0),
                lane.eq(0),
                base.eq(0),
            ]

        def start_codes():
            start_rows("CODES", loading.n, loading.k)

        def after_table():
            with m.If(loading.requant):
                start_rows("PARAMS", loading.n, 1)
                m.d.sync += field.eq(0)
            with m.Else():
                start_codes()

        def discard(status):
            fail(status)
            m.d.sync += phase.eq(P["DISCARD"])

        def layer_head_byte():
            m.d.sync += field.eq(field + 1)
            with m.If(field == LAYER_HEADER.size - 1):
                m.d.sync += phase.eq(P["LAYER_CHECK"])

        def layer_check():  # a cycle without a byte: the 7 header bytes are in `recent`
            head = recent[-8 * LAYER_HEADER.size :]
            mode, flags, out_bits = head[:8], head[8:16], head[16:24]
            k_value, n_value = head[24:40], head[40:56]
            m.d.sync += [
                loading.mode.eq(mode),
                loading.requant.eq(flags[0]),
                loading.relu.eq(flags[1]),
                loading.out_bits.eq(out_bits),
                loading.k.eq(k_value),
                loading.n.eq(n_value),
                phase.eq(P["LAYER_START"]),  # next cycle, with these registers set
            ]
            # Checked on the raw bytes, before the registers truncate them.
            mode_ok = (mode < len(WEIGHT_MODES)) & supported.bit_select(mode[:3], 1)
            out_ok = ~flags[0] | ((out_bits >= OUT_BITS_RANGE[0]) & (out_bits <= OUT_BITS_RANGE[1]))
            with m.If(~mode_ok | ~out_ok | (flags[2:] != 0) | (k_value == 0) | (n_value == 0)):
                discard(Status.BAD_PARAM)
            with m.Elif((k_value > tp.k_max) | (n_value > p.channels)):
                discard(Status.TOO_LARGE)

        # Derived layer values, recomputed every cycle from the loading registers (they
        # are needed only at the RUN, long after the header), which keeps the FSM's
        # decisions out of their logic. By cases rather than a multiply, which would take
        # a DSP block.
        with m.If(~loading.requant):
            m.d.sync += [
                loading.result_bytes.eq(acc_bytes(p.acc_bits)),
                loading.row_bytes.eq(times_constant(loading.n, acc_bytes(p.acc_bits))),
            ]
        with m.Elif(loading.out_bits <= 8):
            m.d.sync += [loading.result_bytes.eq(1), loading.row_bytes.eq(loading.n)]
        with m.Else():
            m.d.sync += [loading.result_bytes.eq(2), loading.row_bytes.eq(loading.n << 1)]

        def after_header():
            if table_entries:
                m.d.sync += [phase.eq(P["TABLE"]), count.eq(0), field.eq(0)]
            else:
                after_table()

        def table_byte():
            with m.If(field == entry_bytes - 1):
                m.d.comb += [
                    core.control.table_write_enable.eq(1),
                    core.control.table_write_bank.eq(loading_bank),
                    core.control.table_write_address.eq(count),
                    core.control.table_write_data.eq(with_byte[-8 * entry_bytes :]),
                ]
                m.d.sync += [field.eq(0), count.eq(count + 1)]
                with m.If(count == table_entries - 1):
                    after_table()
            with m.Else():
                m.d.sync += field.eq(field + 1)

        def params_byte():  # multiplier (2), shift (1), bias (acc_bytes) per channel
            with m.If(field == record_bytes - 1):
                record = with_byte[-8 * record_bytes :]
                multiplier, shift, bias = record[:16], record[16:24], record[24:].as_signed()
                bias_top = bias >> (p.acc_bits - 1)  # all sign bits when it fits acc_bits
                with m.If(multiplier[15] | (shift > 63) | ((bias_top != 0) & (bias_top != -1))):
                    fail(Status.BAD_VALUE)
                rq = core.control.requant
                m.d.comb += [
                    rq.write_enable.eq(1),
                    rq.write_bank.eq(loading_bank),
                    rq.write_channel.eq(count),
                    rq.write_data.multiplier.eq(multiplier),
                    rq.write_data.shift.eq(shift),
                    rq.write_data.bias.eq(bias),
                ]
                m.d.sync += [field.eq(0), count.eq(count + 1), row_left.eq(row_left - 1)]
                with m.If(row_left == 0):
                    start_codes()
            with m.Else():
                m.d.sync += field.eq(field + 1)

        def code_byte():  # byte (k, n) of row-major codes -> word tile * K + k, lane n % C
            with m.If(byte >> p.weight_bits != 0):
                fail(Status.BAD_VALUE)
            m.d.sync += [
                weights.write_address.eq(Mux(loading_bank, weight_half, 0) + base + k),
                weights.write_data.eq(Cat(*[byte[: p.weight_bits]] * C)),
                weights.write_enable.eq(1 << lane),
            ]
            m.d.sync += row_left.eq(row_left - 1)
            with m.If(row_left == 0):  # end of a row of codes
                m.d.sync += [
                    row_left.eq(row_reload),
                    lane.eq(0),
                    base.eq(0),
                    k.eq(k + 1),
                    rows_left.eq(rows_left - 1),
                ]
                with m.If(rows_left == 0):
                    m.d.sync += phase.eq(P["DONE"])
            with m.Elif(lane == C - 1):
                m.d.sync += [lane.eq(0), base.eq(base + loading.k)]
            with m.Else():
                m.d.sync += lane.eq(lane + 1)

        def run_check():  # a cycle without a byte: M is in
            m_value = recent[-16:]
            with m.If(~layer_valid):
                discard(Status.NO_LAYER)
            with m.Elif(m_value == 0):
                discard(Status.BAD_PARAM)
            with m.Elif(m_value > tp.m_max):
                discard(Status.TOO_LARGE)
            with m.Else():
                start_rows("ACTIVATIONS", active.k, m_value)
                m.d.sync += run_m.eq(m_value)

        def activation_byte():  # byte (m, k) of row-major x -> bank m % R, (m // R) * K + k
            value = byte.as_signed()
            value_top = value >> (p.act_bits - 1)  # all sign bits when it fits act_bits
            with m.If((value_top != 0) & (value_top != -1)):
                fail(Status.BAD_VALUE)
            for r, write in enumerate(act_writes):
                m.d.sync += [
                    write.write_address.eq(base + k),
                    write.write_data.eq(value),
                    write.write_enable.eq(lane == r),
                ]
            with m.If(row_left == 0):  # end of a row
                m.d.sync += [k.eq(0), row_left.eq(row_reload), rows_left.eq(rows_left - 1)]
                with m.If(lane == R - 1):
                    m.d.sync += [lane.eq(0), base.eq(base + active.k)]
                with m.Else():
                    m.d.sync += lane.eq(lane + 1)
                with m.If(rows_left == 0):
                    m.d.sync += phase.eq(P["DONE"])
            with m.Else():
                m.d.sync += [k.eq(k + 1), row_left.eq(row_left - 1)]

        def watch_silence():
            """Inside a frame: drop it if no byte came for `timeout_cycles`."""
            with m.If(got):
                m.d.sync += silent.eq(0)
            with m.Elif(silent == tp.timeout_cycles - 1):
                m.d.sync += [silent.eq(0), garbage_reported.eq(1)]
                bump("timeouts")
                respond(Op.NONE, Status.TIMEOUT)
                m.next = "RESPOND"
            with m.Else():
                m.d.sync += silent.eq(silent + 1)

        with m.FSM() as receiver:
            with m.State("HUNT"):
                m.d.sync += silent.eq(0)
                m.d.comb += taking.eq(1)
                with m.If(got & (byte == HOST_SYNC)):
                    m.next = "OP"
                with m.Elif(got):
                    bump("bad_sync")
                    with m.If(~garbage_reported):
                        m.d.sync += garbage_reported.eq(1)
                        respond(Op.NONE, Status.BAD_SYNC)
                        m.next = "RESPOND"

            for state, target, next_state in (
                ("OP", op, "LENGTH_LOW"),
                ("LENGTH_LOW", length[:8], "LENGTH_HIGH"),
                ("LENGTH_HIGH", length[8:], "HEADER_CHECK"),
            ):
                with m.State(state):
                    m.d.comb += [
                        taking.eq(1),
                        header_crc.valid.eq(got),
                        frame_crc.valid.eq(got),
                    ]
                    if state == "OP":
                        m.d.comb += [header_crc.start.eq(1), frame_crc.start.eq(1)]
                    watch_silence()
                    with m.If(got):
                        m.d.sync += target.eq(byte)
                        m.next = next_state

            with m.State("HEADER_CHECK"):
                m.d.comb += [taking.eq(1), frame_crc.valid.eq(got)]
                watch_silence()
                with m.If(got & (byte != header_crc.crc)):
                    m.d.sync += garbage_reported.eq(1)  # the rest of it is stray bytes
                    bump("bad_header")
                    respond(Op.NONE, Status.BAD_HEADER)
                    m.next = "RESPOND"
                with m.Elif(got):
                    m.d.sync += [
                        remaining.eq(length),
                        payload_over.eq(length == 0),
                        error.eq(0),
                        garbage_reported.eq(0),
                        field.eq(0),
                        count.eq(0),
                    ]
                    with m.Switch(op):
                        with m.Case(Op.IDENTIFY, Op.COUNTERS, Op.RESET):
                            m.d.sync += phase.eq(P["DONE"])
                        with m.Case(Op.LOAD_LAYER):
                            m.d.sync += phase.eq(P["LAYER_HEAD"])
                        with m.Case(Op.RUN):
                            m.d.sync += phase.eq(P["RUN_HEAD"])
                        with m.Default():
                            m.d.sync += [phase.eq(P["DISCARD"]), error.eq(Status.UNKNOWN_OPCODE)]
                    m.next = "PAYLOAD"

            with m.State("PAYLOAD"):
                watch_silence()
                with m.If(payload_over):
                    with m.If((phase != P["DONE"]) & (phase != P["DISCARD"])):
                        fail(Status.BAD_LENGTH)  # the payload ended early
                    m.next = "CHECK_HIGH"
                with m.Elif(needs_idle_cycle):
                    with m.If(phase == P["LAYER_CHECK"]):
                        layer_check()
                    with m.Elif(phase == P["LAYER_START"]):
                        after_header()
                    with m.Else():
                        run_check()
                with m.Else():
                    m.d.comb += [taking.eq(1), frame_crc.valid.eq(got)]
                    with m.If(got):
                        m.d.sync += [
                            remaining.eq(remaining - 1),
                            payload_over.eq(remaining == 1),
                            recent.eq(with_byte),
                        ]
                        with m.Switch(phase):
                            with m.Case(P["DONE"]):
                                discard(Status.BAD_LENGTH)  # more payload than it takes
                            with m.Case(P["LAYER_HEAD"]):
                                layer_head_byte()
                            if table_entries:  # only a core with a decode table has one
                                with m.Case(P["TABLE"]):
                                    table_byte()
                            with m.Case(P["PARAMS"]):
                                params_byte()
                            with m.Case(P["CODES"]):
                                code_byte()
                            with m.Case(P["RUN_HEAD"]):
                                m.d.sync += field.eq(field + 1)
                                with m.If(field == RUN_HEADER.size - 1):
                                    m.d.sync += phase.eq(P["RUN_CHECK"])
                            with m.Case(P["ACTIVATIONS"]):
                                activation_byte()

            for state, next_state in (("CHECK_HIGH", "CHECK_LOW"), ("CHECK_LOW", "DECIDE")):
                with m.State(state):
                    m.d.comb += [taking.eq(1), frame_crc.valid.eq(got)]
                    watch_silence()
                    with m.If(got):
                        m.next = next_state

            with m.State("DECIDE"):
                with m.If(~frame_crc.match_detected):
                    bump("bad_crc")
                    respond(op, Status.BAD_CRC)
                with m.Elif(error != 0):
                    for status, name in status_counter.items():
                        with m.If(error == status):
                            bump(name)
                    respond(op, error)
                with m.Elif((op == Op.RUN) & response_too_long):
                    bump("too_large")
                    respond(op, Status.TOO_LARGE)
                with m.Else():
                    bump("frames_ok")
                    with m.Switch(op):
                        with m.Case(Op.IDENTIFY):
                            respond(op, Status.OK, DeviceInfo.size(), IDENTIFY_BYTES)
                        with m.Case(Op.COUNTERS):
                            respond(op, Status.OK, 4 * len(counter_names), COUNTER_BYTES)
                        with m.Case(Op.RESET):
                            m.d.comb += [reset_requested.eq(1), events.clear.eq(1)]
                            m.d.sync += [
                                layer_valid.eq(0),
                                run_active.eq(0),
                                run_cycles.eq(0),
                                stall_cycles.eq(0),
                            ]
                            respond(op, Status.OK)
                        with m.Case(Op.LOAD_LAYER):
                            m.d.sync += active.eq(loading)
                            m.d.sync += [layer_valid.eq(1), active_bank.eq(loading_bank)]
                            respond(op, Status.OK)
                        with m.Case(Op.RUN):
                            m.d.sync += start_run.eq(1)
                            respond(op, Status.OK, response_length[:16], RESULT_BYTES)
                m.next = "RESPOND"

            with m.State("RESPOND"):
                with m.If(~responder.busy & ~responder.start):
                    m.next = "HUNT"

        m.d.comb += [
            sequencer.run.start.eq(start_run),
            sequencer.run.m.eq(run_m),
            self.idle.eq(receiver.ongoing("HUNT") & ~responder.busy & ~run_active),
        ]
        return m
