// The simulated board of sim/pty_harness.cpp, for a model built with Verilator's
// --coverage-toggle: the same harness, which also writes the toggle counts when it
// stops (SIGTERM), to the file given as +coverage_file=PATH (default coverage.dat).
//
// The counters live inside the model, so they must be written before the harness
// deletes it: its one call of `top->final()` is followed by the write (the macro below).
#include "Vtop.h"
#include "verilated.h"
#include "verilated_cov.h"

#include <string>

static void write_toggle_counts() {
    VerilatedContext* context = Verilated::threadContextp();
    std::string path = context->commandArgsPlusMatch("coverage_file=");
    path = path.empty() ? "coverage.dat" : path.substr(std::string("+coverage_file=").size());
    context->coveragep()->write(path);
}

#define final() final(); write_toggle_counts()
#include "../../sim/pty_harness.cpp"
#undef final
