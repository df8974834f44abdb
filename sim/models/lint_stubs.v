// Port-list stubs of the vendor primitives a board top instantiates (pads, PLLs), so that
// `verilator --lint-only -Wall` can check a whole board top (tests/test_lint.py). They
// are for lint only: a board is simulated without its pads and PLL (boards.top.BoardLink).
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
/* verilator lint_off UNDRIVEN */
module SB_IO #(
    parameter IO_STANDARD = "SB_LVCMOS", parameter [5:0] PIN_TYPE = 6'h0, parameter PULLUP = 0
) (
    inout wire PACKAGE_PIN, input wire D_OUT_0, input wire OUTPUT_ENABLE, output wire D_IN_0
);
endmodule
module SB_PLL40_PAD #(
    parameter [31:0] DIVF = 0, parameter [31:0] DIVQ = 0, parameter [31:0] DIVR = 0,
    parameter FEEDBACK_PATH = "SIMPLE", parameter [31:0] FILTER_RANGE = 0
) (
    inout wire PACKAGEPIN, input wire BYPASS, input wire RESETB,
    output wire PLLOUTGLOBAL, output wire LOCK
);
endmodule
module EHXPLLL #(
    parameter [31:0] CLKFB_DIV = 1, parameter [31:0] CLKI_DIV = 1, parameter [31:0] CLKOP_CPHASE = 0,
    parameter [31:0] CLKOP_DIV = 1, parameter CLKOP_ENABLE = "ENABLED", parameter [31:0] CLKOP_FPHASE = 0,
    parameter DPHASE_SOURCE = "DISABLED", parameter FEEDBK_PATH = "CLKOP",
    parameter INTFB_WAKE = "DISABLED", parameter OUTDIVIDER_MUXA = "DIVA",
    parameter PLLRST_ENA = "DISABLED", parameter STDBY_ENABLE = "DISABLED",
    // The secondary outputs (boards.clocks.usb_domains).
    parameter OUTDIVIDER_MUXB = "DIVB", parameter OUTDIVIDER_MUXC = "DIVC",
    parameter CLKOS_ENABLE = "DISABLED", parameter [31:0] CLKOS_DIV = 1,
    parameter [31:0] CLKOS_CPHASE = 0, parameter [31:0] CLKOS_FPHASE = 0,
    parameter CLKOS2_ENABLE = "DISABLED", parameter [31:0] CLKOS2_DIV = 1,
    parameter [31:0] CLKOS2_CPHASE = 0, parameter [31:0] CLKOS2_FPHASE = 0
) (
    input wire CLKI, input wire CLKFB, input wire ENCLKOP, input wire PHASEDIR,
    input wire PHASELOADREG, input wire PHASESEL0, input wire PHASESEL1, input wire PHASESTEP,
    input wire PLLWAKESYNC, input wire RST, input wire STDBY,
    output wire CLKOP, output wire CLKOS, output wire CLKOS2, output wire LOCK
);
endmodule
module IB (input wire I, output wire O);
endmodule
module SB_PLL40_2F_PAD #(
    parameter [31:0] DIVF = 0, parameter [31:0] DIVQ = 0, parameter [31:0] DIVR = 0,
    parameter FEEDBACK_PATH = "SIMPLE", parameter [31:0] FILTER_RANGE = 0,
    parameter PLLOUT_SELECT_PORTA = "GENCLK", parameter PLLOUT_SELECT_PORTB = "GENCLK"
) (
    inout wire PACKAGEPIN, input wire BYPASS, input wire RESETB,
    output wire PLLOUTGLOBALA, output wire PLLOUTGLOBALB, output wire LOCK
);
endmodule
// Gowin (boards/gowin.py): the pads Amaranth's Gowin platform uses, and the rPLL.
module IBUF (input wire I, output wire O);
endmodule
module TBUF (input wire I, input wire OEN, output wire O);
endmodule
module rPLL #(
    parameter CLKFB_SEL = "internal", parameter DYN_FBDIV_SEL = "false",
    parameter DYN_IDIV_SEL = "false", parameter DYN_ODIV_SEL = "false",
    parameter [31:0] FBDIV_SEL = 0, parameter FCLKIN = "100.0", parameter [31:0] IDIV_SEL = 0,
    parameter [31:0] ODIV_SEL = 8
) (
    input wire CLKIN, input wire CLKFB, input wire RESET, input wire RESET_P,
    input wire [5:0] FBDSEL, input wire [5:0] IDSEL, input wire [5:0] ODSEL,
    input wire [3:0] PSDA, input wire [3:0] DUTYDA, input wire [3:0] FDLY,
    output wire CLKOUT, output wire LOCK
);
endmodule
module OBZ (input wire I, input wire T, output wire O);
endmodule
// ECP5 bidirectional pad (the USB lines of boards.usb).
module BB (input wire I, input wire T, output wire O, inout wire B);
endmodule
