// Behavioural model of the ECP5 MULT18X18D, as qmatmul configures it (hdl/multiplier.py):
// signed or unsigned 18 x 18 -> 36-bit product with optional input and output registers
// on CLK0, CE0 and a synchronous RST0. Only the ports that qmatmul connects are modelled
// (the cascade, SOURCE and C inputs are tied off by it). Written for Verilator, from
// the primitive's documented behaviour; not vendor code.
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
module MULT18X18D #(
    parameter REG_INPUTA_CLK = "NONE",
    parameter REG_INPUTB_CLK = "NONE",
    parameter REG_OUTPUT_CLK = "NONE"
) (
    input  wire CLK0, input wire CE0, input wire RST0,
    input  wire SIGNEDA, input wire SIGNEDB, input wire SOURCEA, input wire SOURCEB,
    input  wire A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17,
    input  wire B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17,
    input  wire C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17,
    output wire P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17,
    output wire P18, P19, P20, P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33,
    output wire P34, P35
);
    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    reg [17:0] a_reg = 18'd0, b_reg = 18'd0;
    reg sa_reg = 1'b0, sb_reg = 1'b0;
    always @(posedge CLK0) begin
        if (RST0) begin
            a_reg <= 18'd0; b_reg <= 18'd0; sa_reg <= 1'b0; sb_reg <= 1'b0;
        end else if (CE0) begin
            a_reg <= a; b_reg <= b; sa_reg <= SIGNEDA; sb_reg <= SIGNEDB;
        end
    end
    wire [17:0] a_in = (REG_INPUTA_CLK == "NONE") ? a : a_reg;
    wire [17:0] b_in = (REG_INPUTB_CLK == "NONE") ? b : b_reg;
    wire sa = (REG_INPUTA_CLK == "NONE") ? SIGNEDA : sa_reg;
    wire sb = (REG_INPUTB_CLK == "NONE") ? SIGNEDB : sb_reg;
    // Each operand extended to 36 bits by its own signedness, then a 36-bit product.
    wire [35:0] a_wide = {{18{sa & a_in[17]}}, a_in};
    wire [35:0] b_wide = {{18{sb & b_in[17]}}, b_in};
    wire [35:0] product = a_wide * b_wide;
    reg [35:0] p_reg = 36'd0;
    always @(posedge CLK0) begin
        if (RST0) p_reg <= 36'd0;
        else if (CE0) p_reg <= product;
    end
    wire [35:0] p = (REG_OUTPUT_CLK == "NONE") ? product : p_reg;
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19,
            P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1,
            P0} = p;
endmodule
