"""`RunLoader`: a RUN or RUN_NETWORK payload, byte by byte, into the activation buffer.

    header (`RUN_HEADER`: M, layer tag) ─► check ─► M x K activations ─► done
    (`NETWORK_HEADER`: M, first and last layer tags, layers)

Row ``m`` goes to bank ``m % R`` at ``(m // R) * K + k`` (the sequencer's layout).
The header is checked against the loaded layer: none loaded is NO_LAYER, another
layer than the one the host names is WRONG_LAYER (so a host that lost track of a
load can never compute with the wrong weights), M of zero is BAD_PARAM, M beyond
the buffer TOO_LARGE; an activation outside ``act_bits`` is BAD_VALUE and bytes
beyond M x K are BAD_LENGTH. A RUN_NETWORK (`network`) names L resident layers, the
last L loaded: ``layer`` is then the first (the top looks it up from `header_layers`),
``last_layer`` the active one. With networks the header's last byte is followed by a
`lookup` cycle in which the top looks that layer up among its banks into registers
(a multiplexer over the banks and the tag check in one cycle missed the ECP5's
clock); ``layer`` and ``layer_tag`` are read the cycle after. L outside 2..layer_banks
is BAD_PARAM, more layers than are held (`resident`) NO_LAYER, either tag wrong
WRONG_LAYER, and layers that do not chain (`chained`: the top's count of the older
layers whose N is the next one's K and whose results fit the activations) BAD_PARAM.
`response_length` is the RUN's result bytes, M times the last layer's row bytes,
worked out on a registered multiplier long before the frame ends; `response_too_long`
says it does not fit one response frame.
"""

from __future__ import annotations

from contextlib import contextmanager

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from sw.device.params import TopParams
from sw.device.payloads import NETWORK_HEADER, RUN_HEADER
from sw.device.protocol import Status, layout_bytes

from .loader import address_bits, layer_layout
from .multiplier import RegisteredMultiplier


def activation_bank_words(tp: TopParams) -> int:
    """Words of each of the R activation banks: K of every R-th row."""
    return -(-tp.m_max // tp.core.rows) * tp.k_max


class RunLoader(wiring.Component):
    def __init__(self, tp: TopParams):
        self.tp = tp
        p = tp.core
        super().__init__(
            {
                "start": In(1),  # pulse: a RUN frame begins
                "payload": In(stream.Signature(8)),
                "layer_valid": In(1),  # a layer is loaded
                "layer_tag": In(8),  # the tag of the frame that loaded it
                "layer": In(layer_layout(tp)),  # the loaded layer (a network's first)
                # RUN_NETWORK: the second layer (the one loaded last) and its tag.
                "network": In(1),
                "last_tag": In(8),
                "last_layer": In(layer_layout(tp)),
                "resident": In(range(p.layer_banks + 1)),
                "chained": In(range(p.layer_banks)),
                "header_layers": Out(8),  # L as the header arrives (valid in `lookup`)
                "lookup": Out(1),  # the header is in: look up `layer` (networks only)
                "layers": Out(range(p.layer_banks + 1)),  # L of the accepted frame
                "m": Out(range(tp.m_max + 1)),
                "complete": Out(1),
                "error": Out(Status),
                "response_length": Out(2 * 18),
                "response_too_long": Out(1),
                # Activation buffer write ports, one bank per array row (registered).
                "act_address": Out(address_bits(activation_bank_words(tp))),
                "act_data": Out(signed(p.act_bits)),
                "act_enable": Out(p.rows),
            }
        )

    def elaborate(self, platform):
        tp, p = self.tp, self.tp.core
        m = Module()
        R = p.rows
        byte = self.payload.payload
        got = self.payload.valid & self.payload.ready
        header_bytes = Mux(self.network, layout_bytes(NETWORK_HEADER), layout_bytes(RUN_HEADER))
        recent = Signal(NETWORK_HEADER.size)  # the header's bytes, newest on top
        with m.If(got):
            m.d.sync += recent.eq(Cat(recent[8:], byte))
        field = Signal(range(layout_bytes(NETWORK_HEADER) + 1))
        # The header as it stands once its last byte is in (a RUN's is shorter).
        run_head = RUN_HEADER(recent[-RUN_HEADER.size :])
        network_head = NETWORK_HEADER(recent)
        m.d.comb += self.header_layers.eq(network_head.layers)
        k = Signal(range(tp.k_max + 1))
        lane = Signal(range(R + 1))  # activation bank m % R
        base = Signal(len(self.act_address) + 1)  # (m // R) * K
        # Activations of this row still to come after this one (K - 1 at most, reloaded
        # from a register) and rows after this one (M - 1 at most).
        row_left = Signal(range(max(tp.k_max, 2)))
        row_reload = Signal.like(row_left)
        # K, kept from the check: a network's first layer is looked up from the header,
        # whose bytes have moved on by the time the rows arrive.
        row_k = Signal(range(tp.k_max + 1))
        rows_left = Signal(range(max(tp.m_max, 2)))

        def fail(status):
            with m.If(self.error == Status.OK):
                m.d.sync += self.error.eq(status)

        with m.If(self.start):
            m.d.sync += self.error.eq(Status.OK)

        # The result bytes, M * row_bytes, on a registered multiplier (a DSP block on the
        # FPGAs): ready two cycles after `m` is set, long before the CRC's two bytes have
        # come and the top reads it. Operands get a 0 on top: unsigned.
        last_layer = Signal(layer_layout(tp))
        m.d.comb += last_layer.eq(Mux(self.network, self.last_layer, self.layer))
        m.submodules.response_length = RegisteredMultiplier(
            Cat(self.m, 0).as_signed(), Cat(last_layer.row_bytes, 0).as_signed(),
            self.response_length,
        )  # fmt: skip
        # More than the 16-bit length field holds; a register a cycle behind the product.
        m.d.sync += self.response_too_long.eq(self.response_length[16:].any())
        m.d.sync += self.act_enable.eq(0)  # writes go through registers

        # The header's checks, in the order their statuses are given (the first tag's
        # waits for the top's look-up). With networks they are registers set in the
        # `lookup` cycle (the header is in, and nothing changes it or the layers held
        # before the check): the check then reads flags, not compares (an ECP5 path).
        head_m = Mux(self.network, network_head.m, run_head.m)
        first_tag = Mux(self.network, network_head.first, run_head.layer)
        layers = network_head.layers
        check = {
            "layer_count_bad": self.network & ((layers < 2) | (layers > p.layer_banks)),
            "layers_missing": ~self.layer_valid | (self.network & (layers > self.resident)),
            "last_tag_wrong": self.network & (network_head.last != self.last_tag),
            "m_zero_or_unchained": (head_m == 0) | (self.network & (layers - 1 > self.chained)),
            "m_too_large": head_m > tp.m_max,
        }
        if tp.networks:
            flags = {name: Signal(name=name) for name in check}
            with m.If(self.lookup):
                m.d.sync += [flags[name].eq(value) for name, value in check.items()]
            check = flags

        @contextmanager
        def state(name):
            """A state of the FSM below; a new frame restarts it from any of them."""
            with m.State(name):
                yield
                with m.If(self.start):
                    m.d.sync += field.eq(0)
                    m.next = "HEADER"

        with m.FSM():
            with state("IDLE"):
                pass

            with state("HEADER"):
                m.d.comb += self.payload.ready.eq(1)
                with m.If(got):
                    m.d.sync += field.eq(field + 1)
                    with m.If(field == header_bytes - 1):
                        m.next = "LOOKUP" if tp.networks else "HEADER_CHECK"

            if tp.networks:
                with state("LOOKUP"):  # a cycle without a byte for the top's look-up
                    m.d.comb += self.lookup.eq(1)
                    m.next = "HEADER_CHECK"

            with state("HEADER_CHECK"):  # a cycle without a byte: M and the layer are in
                with m.If(check["layer_count_bad"]):
                    fail(Status.BAD_PARAM)
                    m.next = "DISCARD"
                with m.Elif(check["layers_missing"]):
                    fail(Status.NO_LAYER)
                    m.next = "DISCARD"
                with m.Elif((first_tag != self.layer_tag) | check["last_tag_wrong"]):
                    fail(Status.WRONG_LAYER)
                    m.next = "DISCARD"
                with m.Elif(check["m_zero_or_unchained"]):
                    fail(Status.BAD_PARAM)
                    m.next = "DISCARD"
                with m.Elif(check["m_too_large"]):
                    fail(Status.TOO_LARGE)
                    m.next = "DISCARD"
                with m.Else():
                    m.d.sync += [
                        self.m.eq(head_m),
                        self.layers.eq(layers),
                        row_left.eq(self.layer.k - 1),
                        row_reload.eq(self.layer.k - 1),
                        row_k.eq(self.layer.k),
                        rows_left.eq(head_m - 1),
                        k.eq(0),
                        lane.eq(0),
                        base.eq(0),
                    ]
                    m.next = "ACTIVATIONS"

            with state("ACTIVATIONS"):  # byte (m, k), row-major
                m.d.comb += self.payload.ready.eq(1)
                with m.If(got):
                    value = byte.as_signed()
                    value_top = value >> (p.act_bits - 1)  # all sign bits when it fits
                    with m.If((value_top != 0) & (value_top != -1)):
                        fail(Status.BAD_VALUE)
                    m.d.sync += [
                        self.act_address.eq(base + k),
                        self.act_data.eq(value),
                        self.act_enable.eq(1 << lane),
                    ]
                    with m.If(row_left == 0):  # end of a row
                        m.d.sync += [k.eq(0), row_left.eq(row_reload)]
                        m.d.sync += rows_left.eq(rows_left - 1)
                        with m.If(lane == R - 1):
                            m.d.sync += [lane.eq(0), base.eq(base + row_k)]
                        with m.Else():
                            m.d.sync += lane.eq(lane + 1)
                        with m.If(rows_left == 0):
                            m.next = "DONE"
                    with m.Else():
                        m.d.sync += [k.eq(k + 1), row_left.eq(row_left - 1)]

            with state("DONE"):
                m.d.comb += [self.complete.eq(1), self.payload.ready.eq(1)]
                with m.If(got):
                    fail(Status.BAD_LENGTH)
                    m.next = "DISCARD"

            with state("DISCARD"):
                m.d.comb += [self.complete.eq(1), self.payload.ready.eq(1)]
        return m
