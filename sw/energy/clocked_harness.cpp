// Clocks a small Verilated design (ports clk and rst only as inputs) for +cycles=N
// rising edges after one cycle of reset, then writes its toggle counts to
// +coverage_file=PATH. Used to check the toggle counter on hand-countable circuits.
#include "Vtop.h"
#include "verilated.h"
#include "verilated_cov.h"

#include <cstdlib>
#include <string>

static std::string plusarg(VerilatedContext* context, const char* name) {
    std::string match = context->commandArgsPlusMatch(name);
    return match.empty() ? "" : match.substr(std::string(name).size() + 1);
}

int main(int argc, char** argv) {
    VerilatedContext context;
    context.commandArgs(argc, argv);
    std::string cycles_text = plusarg(&context, "cycles=");
    std::string path = plusarg(&context, "coverage_file=");
    if (cycles_text.empty() || path.empty()) {
        fprintf(stderr, "usage: Vtop +cycles=N +coverage_file=PATH\n");
        return 2;
    }
    long cycles = std::strtol(cycles_text.c_str(), nullptr, 10);
    Vtop top(&context);
    top.rst = 1;
    top.clk = 0;
    top.eval();
    top.clk = 1;
    top.eval();
    top.rst = 0;
    for (long i = 0; i < cycles; i++) {
        top.clk = 0;
        top.eval();
        top.clk = 1;
        top.eval();
    }
    top.final();
    context.coveragep()->write(path);
    return 0;
}
