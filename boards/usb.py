"""The device behind a native full-speed USB port: LUNA's CDC-ACM serial device.

The host sees a USB serial port (``/dev/ttyACM0``; `sw.driver.SerialLink` opens it as
it opens a UART bridge) and the device the same byte stream as behind a UART:

    USB ─► LUNA USBSerialDevice ─► AsyncFIFO ─► hdl.top.Top ─► AsyncFIFO ─► USBSerialDevice ─► USB
           (``usb`` domain, 12 MHz)  (core clock, ``sync``)               (``usb``)

Unlike a UART, USB holds the host back when the device's FIFOs are full (the OUT
endpoint NAKs), so no byte is lost. An answer goes out in packets of up to 64 bytes;
the last byte waiting ends a packet, so a short answer leaves at once instead of
waiting for a packet to fill.

On a board, ``bus`` is the USB pins (LUNA's gateware PHY, which also needs a 48 MHz
``usb_io`` domain in phase with ``usb``: `boards.clocks.usb_domains`); in simulation
it is a UTMI interface that the cocotb host (sim/test_usb_link.py) drives packet by
packet (`USBLinkModel`).
"""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from hdl.top import Top
from sw.device.configs import USB_PRODUCT_ID, USB_VENDOR_ID
from sw.device.params import TopParams

# Verilator warnings LUNA's gateware raises, and why they do no harm (waived for the
# USB designs only, in their simulation model and their lint).
LUNA_VERILATOR_WAIVERS = {
    "CASEOVERLAP": "casez items overlap; Verilog takes the first that matches, as Amaranth means",
    "VARHIDDEN": "a submodule instance is named like a signal of its parent",
    "SYNCASYNCNET": "the usb_io reset is both a synchronizer's asynchronous reset and a "
    "synchronous one",
}
# Bytes buffered each way between the USB and core clock domains (block RAM).
CROSSING_FIFO_DEPTH = 128


class USBLink(wiring.Component):
    """LUNA's USB serial device on ``bus`` (USB pins or a UTMI interface) -> `Top`."""

    def __init__(self, params: TopParams, bus, *, product: str = "qmatmul"):
        self.params, self.bus, self.product = params, bus, product
        # busy: the device is receiving, computing or answering (for an LED).
        super().__init__({"busy": Out(1)})

    def elaborate(self, platform):
        # Imported here: LUNA is needed only by the USB builds and their simulation.
        from luna.full_devices import USBSerialDevice

        m = Module()
        m.submodules.serial = serial = USBSerialDevice(
            bus=self.bus,
            idVendor=USB_VENDOR_ID,
            idProduct=USB_PRODUCT_ID,
            manufacturer_string="qmatmul",
            product_string=self.product,
        )
        m.d.comb += serial.connect.eq(1)
        m.submodules.device = device = Top(self.params)
        m.submodules.to_device = to_device = fifo.AsyncFIFO(
            width=8, depth=CROSSING_FIFO_DEPTH, w_domain="usb", r_domain="sync"
        )
        m.submodules.to_host = to_host = fifo.AsyncFIFOBuffered(
            width=8, depth=CROSSING_FIFO_DEPTH, w_domain="sync", r_domain="usb"
        )
        # LUNA's streams are its own (valid/ready/payload/first/last): bridged by hand.
        m.d.comb += [
            to_device.w_data.eq(serial.rx.payload),
            to_device.w_en.eq(serial.rx.valid),
            serial.rx.ready.eq(to_device.w_rdy),
            serial.tx.payload.eq(to_host.r_data),
            serial.tx.valid.eq(to_host.r_rdy),
            # The only byte waiting ends the packet: the host gets it now.
            serial.tx.last.eq(to_host.r_level == 1),
            to_host.r_en.eq(serial.tx.ready),
        ]
        wiring.connect(m, to_device.r_stream, device.rx)
        wiring.connect(m, device.tx, to_host.w_stream)
        m.d.comb += self.busy.eq(~device.idle)
        return m


# UTMI signals the simulated host drives (In) and reads (Out), as LUNA names them.
UTMI_FROM_HOST = {
    "rx_data": 8,
    "rx_active": 1,
    "rx_valid": 1,
    "tx_ready": 1,
    "line_state": 2,
    "vbus_valid": 1,
    "session_valid": 1,
}
UTMI_TO_HOST = {"tx_data": 8, "tx_valid": 1, "op_mode": 2, "term_select": 1, "xcvr_select": 2}


class USBLinkModel(wiring.Component):
    """`USBLink` with its UTMI interface as ports, for a Verilator model: the ``usb``
    domain is the model's ``usb_clk``/``usb_rst``, the core's ``clk``/``rst``."""

    def __init__(self, params: TopParams):
        self.params = params
        ports = {name: In(width) for name, width in UTMI_FROM_HOST.items()}
        ports |= {name: Out(width) for name, width in UTMI_TO_HOST.items()}
        super().__init__(ports | {"busy": Out(1)})

    def elaborate(self, platform):
        from luna.gateware.interface.utmi import UTMIInterface

        m = Module()
        utmi = UTMIInterface()
        m.submodules.link = link = USBLink(self.params, utmi)
        for name in UTMI_FROM_HOST:
            m.d.comb += getattr(utmi, name).eq(getattr(self, name))
        for name in UTMI_TO_HOST:
            m.d.comb += getattr(self, name).eq(getattr(utmi, name))
        m.d.comb += self.busy.eq(link.busy)
        return m
