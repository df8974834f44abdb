"""The board-independent device: a command decoder on one byte stream in and one out.

    rx ─► FrameReceiver ─┬─► LayerLoader ─► weight buffer, decode and requant tables (shadow bank)
                         └─► RunLoader ───► activation buffer ◄──────────────────┐
                                              │                                  │
          Sequencer ◄── buffers               ▼                            ResultWriter
              └──► MatmulCore ──► (LaneSerializer) ─┬──────────────────────────────┘
                                                    └─► ResultSerializer ──► Responder ─► tx

The wire format is `sw.device.protocol` and `sw.device.payloads` (docs/protocol.md).
The receiver checks the framing and hands each frame's payload to the loader its op
names; this module decides, when a frame has ended, what to answer and what to do:
a layer becomes active only when its frame's CRC checks out and the loader found
nothing wrong (so a bad frame never disturbs the layer in use); a RUN starts only
then too, and its results stream back in tile order while the core computes.

The weight buffer and the core's tables have `layer_banks` banks, holding the last
layers loaded. A RUN_NETWORK runs the last L of them, one pass each: every pass but
the last writes its results into the other region of the activation buffer
(`ResultWriter`), and the next pass reads them there; the last one's go back over
the link. The cycle counter pauses between passes, so it counts one RUN per layer.

On a board a UART PHY wraps ``rx``/``tx`` (`boards.top`); in simulation a
pseudo-terminal does (`sim/pty_harness.cpp`).
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, ResetInserter, Signal, signed, unsigned
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from sw.device.params import TopParams
from sw.device.payloads import (
    CYCLE_COUNTERS,
    ERROR_COUNTER_BASE,
    EVENT_COUNTERS,
    REPEAT_HEADER,
    DeviceInfo,
    acc_bytes,
)
from sw.device.protocol import NO_TAG, RESPONSE_HEADER, Op, Status, layout_bytes

from .buffer import BankedRAM
from .core import MatmulCore
from .counters import CounterFile
from .loader import LayerLoader, address_bits, layer_layout, weight_bank_words
from .receiver import FrameReceiver
from .responder import LaneSerializer, Responder, ResultSerializer
from .run_loader import RunLoader, activation_bank_words
from .sequencer import Sequencer
from .skid import SkidBuffer
from .writeback import ResultWriter


class PayloadSink(enum.Enum, shape=2):
    """The block a frame's payload bytes go to. Other ops have no payload: any bytes
    they bring are taken and the frame answered BAD_LENGTH (UNKNOWN_OPCODE first)."""

    NONE = 0
    LAYER_LOADER = 1
    RUN_LOADER = 2
    REPEAT_COUNT = 3


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
        weight_half = weight_bank_words(tp)  # weight words per bank
        # Each activation bank has a RUN's rows; with networks, a second region: a network's
        # passes read one region and write their results, the next pass's rows, to the other.
        act_region = activation_bank_words(tp)
        act_depth = 2 * act_region if tp.networks else act_region
        # The ops whose payload is activation rows (RUN_NETWORK only with networks).
        run_ops = (Op.RUN, Op.RUN_NETWORK) if tp.networks else (Op.RUN,)

        # ---- datapath: sequencer -> core -> serializer -> responder ----------------------
        # A RESET frame resets the core and the sequencer a cycle after the decision,
        # from a register: the reset reaches every flip-flop of the array, so it must
        # not start at the end of the decision logic.
        reset_requested = Signal()
        soft_reset = Signal()
        m.d.sync += soft_reset.eq(reset_requested)
        m.submodules.core = core = ResetInserter(soft_reset)(MatmulCore(p))
        m.submodules.sequencer = sequencer = ResetInserter(soft_reset)(
            Sequencer(
                p,
                read_latency=BankedRAM.READ_LATENCY,
                k_max=tp.k_max,
                m_max=tp.m_max,
                n_max=p.channels,
                act_addr_width=address_bits(act_depth),
                weight_addr_width=address_bits(p.layer_banks * weight_half),
            )
        )
        m.submodules.serializer = serializer = ResultSerializer(p.acc_bits, acc_bytes(p.acc_bits))
        m.submodules.responder = responder = Responder()
        wiring.connect(m, sequencer.operands, core.operands)
        # The core's results beats (a value per drain lane) go on one value at a time;
        # a REPEAT drops them as they leave the core, so it runs at the core's own pace.
        results = core.results
        repeating = Signal()
        value = Signal(signed(p.acc_bits))  # one result at a time, a stream
        value_valid, value_ready = Signal(), Signal()
        if p.drain_lanes > 1:
            m.submodules.lane_serializer = lane_serializer = ResetInserter(soft_reset)(
                LaneSerializer(p.acc_bits, p.drain_lanes)
            )
            beats = lane_serializer.beats
            m.d.comb += [
                beats.payload.values.eq(results.payload.values),
                beats.payload.count.eq(results.payload.count),
                beats.valid.eq(results.valid & ~repeating),
                results.ready.eq(beats.ready | repeating),
                value.eq(lane_serializer.values.payload),
                value_valid.eq(lane_serializer.values.valid),
                lane_serializer.values.ready.eq(value_ready),
            ]
        else:
            m.d.comb += [
                value.eq(results.payload.values[0]),
                value_valid.eq(results.valid & ~repeating),
                results.ready.eq(value_ready | repeating),
            ]
        # A network's first pass (the older layer, `first_pass`) writes its results back
        # into the activation buffer; anything else goes to the link. (Without networks
        # `first_pass` is never driven: a constant 0.)
        first_pass = Signal()
        m.d.comb += [
            serializer.values.payload.eq(value),
            serializer.values.valid.eq(value_valid & ~first_pass),
            value_ready.eq(serializer.values.ready),
        ]
        if tp.networks:
            m.submodules.result_writer = writer = ResultWriter(tp, address_bits(act_depth))
            m.d.comb += [
                writer.values.payload.eq(value),
                writer.values.valid.eq(value_valid & first_pass),
            ]
            with m.If(first_pass):
                m.d.comb += value_ready.eq(writer.values.ready)
        m.submodules.tx_stage = tx_stage = SkidBuffer(8)
        wiring.connect(m, responder.tx, tx_stage.i)
        wiring.connect(m, tx_stage.o, wiring.flipped(self.tx))

        # ---- receiver and the two payload loaders ----------------------------------------
        # Received bytes pass through a skid buffer first: nothing the receiver decides
        # hangs off the input FIFO's RAM read, and the FIFO's read enable is a register.
        m.submodules.rx_stage = rx_stage = SkidBuffer(8)
        m.submodules.receiver = receiver = FrameReceiver(tp.timeout_cycles)
        m.submodules.layer_loader = layer_loader = LayerLoader(tp)
        m.submodules.run_loader = run_loader = RunLoader(tp)
        wiring.connect(m, wiring.flipped(self.rx), rx_stage.i)
        wiring.connect(m, rx_stage.o, receiver.rx)
        op = receiver.header.op
        m.d.comb += [
            layer_loader.start.eq(receiver.frame_start & (op == Op.LOAD_LAYER)),
            run_loader.start.eq(receiver.frame_start & op.matches(*run_ops)),
        ]
        extra_bytes = Signal()  # a payload for an op without one: BAD_LENGTH
        # REPEAT's payload is its count, little-endian: the bytes shift in from the top.
        repeat_bytes = Signal(range(layout_bytes(REPEAT_HEADER) + 2))
        repeat_header = Signal(REPEAT_HEADER)
        # Who takes the payload, decided from the op as the frame starts (the header is
        # in then, the payload not yet): a register, so the op's decode is not on the
        # path from each received byte to the loaders' state (the iCE40's slowest).
        sink = Signal(PayloadSink)
        with m.If(receiver.frame_start):
            m.d.sync += [extra_bytes.eq(0), repeat_bytes.eq(0)]
            with m.Switch(op):
                with m.Case(Op.LOAD_LAYER):
                    m.d.sync += sink.eq(PayloadSink.LAYER_LOADER)
                with m.Case(*run_ops):
                    m.d.sync += sink.eq(PayloadSink.RUN_LOADER)
                with m.Case(Op.REPEAT):
                    m.d.sync += sink.eq(PayloadSink.REPEAT_COUNT)
                with m.Default():
                    m.d.sync += sink.eq(PayloadSink.NONE)
        with m.Switch(sink):
            with m.Case(PayloadSink.LAYER_LOADER):
                wiring.connect(m, receiver.payload, layer_loader.payload)
            with m.Case(PayloadSink.RUN_LOADER):
                wiring.connect(m, receiver.payload, run_loader.payload)
            with m.Case(PayloadSink.REPEAT_COUNT):
                m.d.comb += receiver.payload.ready.eq(1)
                with m.If(receiver.payload.valid):
                    m.d.sync += [
                        repeat_header.eq(
                            Cat(repeat_header.as_value()[8:], receiver.payload.payload)
                        ),
                        repeat_bytes.eq(Mux(repeat_bytes.all(), repeat_bytes, repeat_bytes + 1)),
                    ]
            with m.Default():
                m.d.comb += receiver.payload.ready.eq(1)
                with m.If(receiver.payload.valid):
                    m.d.sync += extra_bytes.eq(1)

        # ---- buffers: weights in two banks (active / loading), activations in R banks -----
        # The loaders write through registers (nothing reads a buffer while it is being
        # loaded). Reads take `BankedRAM.READ_LATENCY` cycles.
        m.submodules.weights = weights = BankedRAM(
            unsigned(C * p.weight_bits), p.layer_banks * weight_half, granularity=p.weight_bits
        )
        m.d.comb += [
            weights.write_address.eq(layer_loader.weight_address),
            weights.write_data.eq(layer_loader.weight_data),
            weights.write_enable.eq(layer_loader.weight_enable),
            weights.read_address.eq(sequencer.weight_addr),
            sequencer.weight_data.eq(weights.read_data),
        ]
        # The run loader (while a frame arrives) and the result writer (while a network's
        # first layer drains) never write at the same time: the receiver waits for the
        # answer, which ends after the network's last result.
        for r in range(R):
            bank = m.submodules[f"activations_{r}"] = BankedRAM(signed(p.act_bits), act_depth)
            m.d.comb += [
                bank.write_address.eq(run_loader.act_address),
                bank.write_data.eq(run_loader.act_data),
                bank.write_enable.eq(run_loader.act_enable[r]),
                bank.read_address.eq(sequencer.act_addr),
                sequencer.act_data[r].eq(bank.read_data),
            ]
            if tp.networks:
                with m.If(first_pass):
                    m.d.comb += [
                        bank.write_address.eq(writer.act_address),
                        bank.write_data.eq(writer.act_data),
                        bank.write_enable.eq(writer.act_enable[r]),
                    ]

        # ---- layers: `layer_banks` banks, the last layers loaded, one in each ------------
        # A load fills the bank after the active one (the oldest layer's), and the new
        # layer becomes active. `active` is a copy of the active bank's registers (the RUN
        # paths read a register, not a multiplexer over the banks).
        B = p.layer_banks
        bank_layers = Array(Signal(layer_layout(tp), name=f"bank_layer_{b}") for b in range(B))
        bank_tags = Array(Signal(8, name=f"bank_tag_{b}") for b in range(B))
        active = Signal(layer_layout(tp))
        active_tag = Signal(8)  # the tag of the LOAD_LAYER frame that loaded it
        layer_valid = Signal()
        active_bank = Signal(range(B))
        load_bank = Signal(range(B))
        m.d.comb += load_bank.eq(active_bank + 1)  # wraps: B is a power of 2
        # Layers held, the active one and those loaded before it with no failed load
        # between (`resident`), and how many of those before it chain into the next one
        # without a break (`chained`: its N is the next one's K, its results requantized
        # to at most act_bits). A RUN_NETWORK of L layers needs L <= resident, L-1 <= chained.
        resident = Signal(range(B + 1))
        chained = Signal(range(B))
        with m.If(layer_loader.start):  # the load overwrites the oldest layer's bank
            with m.If(resident == B):
                m.d.sync += resident.eq(B - 1)
            with m.If(chained == B - 1):
                m.d.sync += chained.eq(B - 2)
        new_layer = layer_loader.layer
        chains_on = (
            layer_valid
            & (active.n == new_layer.k)
            & active.requant
            & (active.out_bits <= p.act_bits)
        )  # fmt: skip

        # The layer the core computes now, and the bank it is in. Without networks it is
        # always the active one; with them, a register set as each run or pass starts.
        running = Signal(layer_layout(tp))
        running_bank = Signal(range(B))
        # A network's passes: the ones after the current one, and the activation region
        # the current one reads (it writes its results to the other).
        passes_left = Signal(range(B))
        read_region = Signal()
        network_frame = Const(0)
        # A RUN_NETWORK's first layer, its tag and its bank: looked up from the header's
        # layer count in the run loader's `lookup` cycle, into registers that the loader's
        # check and the decision at the frame's end read (only a frame's own look-up
        # changes them, and no load comes between).
        first_layer, first_tag = Signal(layer_layout(tp)), Signal(8)
        first_bank = Signal(range(B))
        # The layer loaded after the running one: a register, the next pass's layer.
        following_layer = Signal(layer_layout(tp))
        if tp.networks:
            network_frame = op == Op.RUN_NETWORK
            with m.If(run_loader.lookup):
                bank = (active_bank - (run_loader.header_layers - 1))[: len(first_bank)]
                m.d.sync += [
                    first_layer.eq(bank_layers[bank]),
                    first_tag.eq(bank_tags[bank]),
                    first_bank.eq(bank),
                ]
            m.d.sync += following_layer.eq(bank_layers[(running_bank + 1)[: len(running_bank)]])
        else:
            m.d.comb += [running.eq(active), running_bank.eq(active_bank)]
        m.d.comb += [
            layer_loader.bank.eq(load_bank),
            run_loader.network.eq(network_frame),
            run_loader.layer.eq(Mux(network_frame, first_layer, active)),
            run_loader.layer_tag.eq(Mux(network_frame, first_tag, active_tag)),
            run_loader.layer_valid.eq(layer_valid),
            run_loader.last_layer.eq(active),
            run_loader.last_tag.eq(active_tag),
            run_loader.resident.eq(resident),
            run_loader.chained.eq(chained),
            core.control.mode.eq(running.mode),
            core.control.bank.eq(running_bank),
            core.control.requant.enable.eq(running.requant),
            core.control.requant.relu.eq(running.relu),
            core.control.requant.out_bits.eq(running.out_bits),
            serializer.width.eq(active.result_bytes),
            sequencer.run.k.eq(running.k),
            sequencer.run.n.eq(running.n),
            sequencer.run.m.eq(run_loader.m),
            sequencer.run.weight_base.eq(
                Array(Const(b * weight_half) for b in range(B))[running_bank]
            ),
            sequencer.run.act_base.eq(Mux(read_region, act_region, 0)),
        ]
        if tp.networks:
            m.d.comb += [
                writer.m.eq(run_loader.m),
                writer.n.eq(running.n),
                writer.base.eq(Mux(read_region, 0, act_region)),
            ]
        # The loader drives the core's table write ports (into the shadow bank).
        for name in ("table_write_enable", "table_write_bank", "table_write_address",
                     "table_write_data"):  # fmt: skip
            if hasattr(core.control, name):
                m.d.comb += getattr(core.control, name).eq(getattr(layer_loader.tables, name))
        rq, loader_rq = core.control.requant, layer_loader.tables.requant
        m.d.comb += [
            getattr(rq, name).eq(getattr(loader_rq, name))
            for name in ("write_enable", "write_bank", "write_channel", "write_data")
        ]

        # ---- counters (COUNTERS returns them in `Counters` order) -------------------------
        # The two cycle counters are 32-bit registers; the event counters, 16 bits each,
        # live in a `CounterFile` RAM. All stop at their maximum instead of wrapping.
        run_cycles, stall_cycles = Signal(32), Signal(32)
        m.submodules.events = events = CounterFile(len(EVENT_COUNTERS))

        def bump(index):  # at most one event per cycle (the receiver's states ensure it)
            m.d.comb += [events.increment.eq(1), events.index.eq(index)]

        def bump_status(status):
            bump(status + ERROR_COUNTER_BASE)

        with m.If(receiver.stray_byte):
            bump_status(Status.BAD_SYNC)
        with m.If(receiver.header_error):
            bump_status(Status.BAD_HEADER)
        with m.If(receiver.timed_out):
            bump_status(Status.TIMEOUT)

        run_active = Signal()  # from the first buffer read to the last result out of the core
        run_done = Signal()
        with m.If(run_active):
            with m.If(~run_cycles.all()):
                m.d.sync += run_cycles.eq(run_cycles + 1)
            with m.If(core.results.valid & ~core.results.ready & ~stall_cycles.all()):
                m.d.sync += stall_cycles.eq(stall_cycles + 1)
            with m.If(~sequencer.busy & ~core.busy):
                m.d.sync += run_active.eq(0)
                m.d.comb += run_done.eq(1)
        # A RUN starts a cycle after the decision, from a register: the sequencer's loop
        # counters are far from the decision logic. The run is counted then, a cycle
        # after frames_ok (one event per cycle).
        start_run = Signal()
        m.d.sync += start_run.eq(0)
        with m.If(start_run):
            bump(EVENT_COUNTERS.index("runs"))
            m.d.sync += [run_active.eq(1), run_cycles.eq(0), stall_cycles.eq(0)]
        # REPEAT: the last RUN again, `repeats_left` times. Each one starts the cycle after
        # the one before has ended, like a RUN after its decision, so the counter grows by
        # exactly one RUN's count per repeat; the results are dropped (`repeating`).
        ran = Signal()  # a RUN of the loaded layer has filled the activation buffer
        repeats_left = Signal(16)
        next_repeat = Signal()
        repeat_tag = Signal(8)
        m.d.sync += next_repeat.eq(0)
        with m.If(next_repeat):
            m.d.sync += [run_active.eq(1), repeats_left.eq(repeats_left - 1)]
        with m.If(repeating & run_done):
            with m.If(repeats_left == 0):
                m.d.sync += repeating.eq(0)
            with m.Else():
                m.d.sync += next_repeat.eq(1)
        # RUN_NETWORK: the second pass starts once the first one's last result is written
        # back and its run has ended; the counter resumes as for a repeat.
        next_pass = Signal()
        written = Signal()  # the pass writing back has written its last result
        if tp.networks:
            m.d.sync += next_pass.eq(0)
            with m.If(writer.done):
                m.d.sync += written.eq(1)
            # (`following_layer` has caught up with `running_bank` long before: a pass
            # lasts many cycles.)
            with m.If(first_pass & written & ~run_active & ~start_run):
                m.d.sync += [
                    next_pass.eq(1),
                    written.eq(0),
                    first_pass.eq(passes_left != 1),  # the last pass sends its results
                    passes_left.eq(passes_left - 1),
                    running.eq(following_layer),
                    running_bank.eq(running_bank + 1),
                    read_region.eq(~read_region),
                ]
            with m.If(next_pass):
                m.d.sync += run_active.eq(1)
            m.d.comb += writer.start.eq(start_run | next_pass)
        m.d.comb += sequencer.run.start.eq(start_run | next_repeat | next_pass)
        # What a REPEAT frame's payload says, as registers like the loaders' outputs (the
        # frame's CRC bytes come after it): the decision at the frame's end reads no
        # compare of the count (that path missed the ULX3S 85F's clock).
        count_bytes = layout_bytes(REPEAT_HEADER)
        repeat_error = Signal(Status)
        repeat_complete = Signal()
        m.d.sync += [
            repeat_complete.eq(repeat_bytes == count_bytes),
            repeat_error.eq(
                Mux(
                    repeat_bytes > count_bytes,
                    Status.BAD_LENGTH,
                    Mux(
                        repeat_bytes != count_bytes,
                        Status.OK,
                        Mux(
                            repeat_header.count == 0,
                            Status.BAD_PARAM,
                            Mux(ran, Status.OK, Status.NO_LAYER),
                        ),
                    ),
                )
            ),
        ]

        # ---- responses ----------------------------------------------------------------
        NO_PAYLOAD, IDENTIFY_BYTES, COUNTER_BYTES, RESULT_BYTES = range(4)
        source = Signal(range(4))

        # A response is asked for through registers (a pulse on `send`), which keeps the
        # decisions and the responder's FSM in separate clock cycles.
        send = Signal()
        send_header = Signal(RESPONSE_HEADER)
        m.d.sync += send.eq(0)
        m.d.comb += [responder.start.eq(send), responder.header.eq(send_header)]

        def respond(op_value, tag, status, length=0, source_value=NO_PAYLOAD):
            m.d.sync += [
                send.eq(1),
                send_header.op.eq(op_value),
                send_header.tag.eq(tag),
                send_header.status.eq(status),
                send_header.length.eq(length),
                source.eq(source_value),
            ]

        # IDENTIFY and COUNTERS payloads are read byte by byte, the counters live: none
        # of them changes while a response is being sent.
        identify = Array(Const(b, 8) for b in DeviceInfo.of(tp).encode())
        counter_count = len(CYCLE_COUNTERS) + len(EVENT_COUNTERS)
        payload_index = Signal(range(max(len(identify), 4 * counter_count) + 1))
        taken = responder.payload.valid & responder.payload.ready
        with m.If(responder.start):
            m.d.sync += payload_index.eq(0)
        with m.Elif(taken):
            m.d.sync += payload_index.eq(payload_index + 1)
        # Counter bytes: little-endian u32 per counter. Event counters are 16 bits, so
        # only bytes 0 and 1 of their words come from the RAM, which is read for the
        # word of the byte after this one: ready in time, whatever the link does.
        m.d.comb += events.read_index.eq(((payload_index + 1) >> 2) - len(CYCLE_COUNTERS))
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

        # ---- decisions: framing errors at once, a frame's answer when it has ended ---------
        tag = receiver.header.tag
        with m.If(receiver.unframed):
            respond(Op.NONE, NO_TAG, receiver.unframed_status)
        with m.If(receiver.frame_end):
            loader_error = Signal(Status)
            loader_complete = Signal()
            with m.Switch(op):
                with m.Case(Op.LOAD_LAYER):
                    m.d.comb += [
                        loader_error.eq(layer_loader.error),
                        loader_complete.eq(layer_loader.complete),
                    ]
                with m.Case(*run_ops):
                    m.d.comb += [
                        loader_error.eq(run_loader.error),
                        loader_complete.eq(run_loader.complete),
                    ]
                with m.Case(Op.IDENTIFY, Op.COUNTERS, Op.RESET):
                    m.d.comb += [
                        loader_error.eq(Mux(extra_bytes, Status.BAD_LENGTH, Status.OK)),
                        loader_complete.eq(1),
                    ]
                with m.Case(Op.REPEAT):
                    m.d.comb += [
                        loader_error.eq(repeat_error),
                        loader_complete.eq(repeat_complete),
                    ]
                with m.Default():
                    m.d.comb += [loader_error.eq(Status.UNKNOWN_OPCODE), loader_complete.eq(1)]
            with m.If(~receiver.crc_ok):
                bump_status(Status.BAD_CRC)
                respond(op, tag, Status.BAD_CRC)
            with m.Elif(loader_error != Status.OK):
                bump_status(loader_error)
                respond(op, tag, loader_error)
            with m.Elif(~loader_complete):  # the payload ended early
                bump_status(Status.BAD_LENGTH)
                respond(op, tag, Status.BAD_LENGTH)
            with m.Elif(op.matches(*run_ops) & run_loader.response_too_long):
                bump_status(Status.TOO_LARGE)
                respond(op, tag, Status.TOO_LARGE)
            with m.Else():
                bump(EVENT_COUNTERS.index("frames_ok"))
                with m.Switch(op):
                    with m.Case(Op.IDENTIFY):
                        respond(op, tag, Status.OK, len(identify), IDENTIFY_BYTES)
                    with m.Case(Op.COUNTERS):
                        respond(op, tag, Status.OK, 4 * counter_count, COUNTER_BYTES)
                    with m.Case(Op.RESET):
                        m.d.comb += [reset_requested.eq(1), events.clear.eq(1)]
                        if tp.networks:
                            m.d.sync += [first_pass.eq(0), read_region.eq(0)]
                        m.d.sync += [
                            layer_valid.eq(0),
                            resident.eq(0),
                            chained.eq(0),
                            ran.eq(0),
                            run_active.eq(0),
                            run_cycles.eq(0),
                            stall_cycles.eq(0),
                        ]
                        respond(op, tag, Status.OK)
                    with m.Case(Op.LOAD_LAYER):
                        m.d.sync += [
                            bank_layers[load_bank].eq(new_layer),
                            bank_tags[load_bank].eq(tag),
                            active.eq(new_layer),
                            active_tag.eq(tag),
                            layer_valid.eq(1),
                            ran.eq(0),
                            active_bank.eq(load_bank),
                            resident.eq(resident + 1),
                            chained.eq(Mux(chains_on, chained + 1, 0)),
                        ]
                        respond(op, tag, Status.OK)
                    with m.Case(Op.RUN):
                        m.d.sync += [start_run.eq(1), ran.eq(1)]
                        if tp.networks:
                            m.d.sync += [
                                running.eq(active),
                                running_bank.eq(active_bank),
                                read_region.eq(0),
                            ]
                        respond(op, tag, Status.OK, run_loader.response_length[:16], RESULT_BYTES)
                    if tp.networks:
                        with m.Case(Op.RUN_NETWORK):
                            # REPEAT repeats a RUN of the loaded layer; the rows in the
                            # buffer are the first layer's.
                            m.d.sync += [
                                start_run.eq(1),
                                ran.eq(0),
                                first_pass.eq(1),
                                written.eq(0),
                                passes_left.eq(run_loader.layers - 1),
                                running.eq(first_layer),
                                running_bank.eq(first_bank),
                                read_region.eq(0),
                            ]
                            respond(
                                op, tag, Status.OK, run_loader.response_length[:16], RESULT_BYTES
                            )
                    with m.Case(Op.REPEAT):
                        # The first repeat starts like a RUN but keeps no result source;
                        # the answer goes out when the last one has ended.
                        m.d.sync += [
                            start_run.eq(1),
                            repeating.eq(1),
                            repeats_left.eq(repeat_header.count - 1),
                            repeat_tag.eq(tag),
                            source.eq(NO_PAYLOAD),
                        ]
        with m.If(repeating & run_done & (repeats_left == 0)):
            respond(Op.REPEAT, repeat_tag, Status.OK)

        # The receiver hunts for the next frame once the answer has gone out.
        m.d.comb += [
            receiver.resume.eq(~responder.busy & ~send & ~repeating),
            self.idle.eq(~receiver.busy & ~responder.busy & ~run_active),
        ]
        return m
