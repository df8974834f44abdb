// The simulated board: runs the Verilated device top and bridges its byte streams
// to a pseudo-terminal, so the host driver reaches it through pyserial exactly as it
// reaches a board's UART. Prints the terminal's path on stdout, then runs until
// SIGTERM, SIGINT or the death of its parent.
//
// Options: --stall=P holds the device's output back (tx ready low) on a random
// fraction P of cycles, as a slow link would; --seed=S seeds that choice.
//
// The clock runs while the device has work (a frame part way in, a run, bytes to
// send); when it is idle the harness sleeps on the terminal instead of spinning.
#include "Vtop.h"
#include "verilated.h"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <random>
#include <string>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t stopping = 0;
static void on_signal(int) { stopping = 1; }

// Verilator spells the double underscore of Amaranth's port names ("rx__valid") as ___05F.
#define PORT(stream, member) stream##___05F##member

// How often (in cycles) to look at the terminal while the device is busy.
static const uint64_t POLL_INTERVAL = 256;

int main(int argc, char** argv) {
    double stall = 0.0;
    unsigned seed = 1;
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        if (arg.rfind("--stall=", 0) == 0) stall = std::stod(arg.substr(8));
        else if (arg.rfind("--seed=", 0) == 0) seed = std::stoul(arg.substr(7));
    }
    if (stall < 0.0 || stall >= 1.0) {
        fprintf(stderr, "pty_harness: --stall must be in [0, 1)\n");
        return 2;
    }
    std::mt19937 random(seed);
    std::bernoulli_distribution stalled(stall);
    Verilated::commandArgs(argc, argv);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        perror("pty_harness: cannot open a pseudo-terminal");
        return 2;
    }
    const char* slave_name = ptsname(master);
    // Keep a descriptor on the slave side: its raw settings then persist, and reads
    // on the master never fail with EIO between host connections.
    int slave = open(slave_name, O_RDWR | O_NOCTTY);
    if (slave < 0) {
        perror("pty_harness: cannot open the terminal's slave side");
        return 2;
    }
    struct termios settings;
    tcgetattr(slave, &settings);
    cfmakeraw(&settings);
    tcsetattr(slave, TCSANOW, &settings);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    printf("%s\n", slave_name);
    fflush(stdout);

    Vtop* top = new Vtop;
    top->clk = 0;
    top->rst = 1;
    for (int i = 0; i < 4; i++) {
        top->clk = !top->clk;
        top->eval();
    }
    top->rst = 0;

    std::deque<uint8_t> rx, tx;
    uint8_t buffer[4096];
    uint64_t cycle = 0;
    while (!stopping) {
        if (rx.empty() && cycle % POLL_INTERVAL == 0) {
            ssize_t n = read(master, buffer, sizeof buffer);
            for (ssize_t i = 0; i < n; i++) rx.push_back(buffer[i]);
        }

        top->PORT(rx, valid) = !rx.empty();
        top->PORT(rx, payload) = rx.empty() ? 0 : rx.front();
        top->PORT(tx, ready) = stall > 0.0 ? !stalled(random) : 1;
        top->clk = 0;
        top->eval();
        bool received = top->PORT(rx, valid) && top->PORT(rx, ready);
        bool sent = top->PORT(tx, valid) && top->PORT(tx, ready);
        uint8_t sent_byte = top->PORT(tx, payload);
        top->clk = 1;
        top->eval();
        cycle++;
        if (received) rx.pop_front();
        if (sent) tx.push_back(sent_byte);

        bool idle = top->idle && rx.empty();
        if (!tx.empty() && (idle || tx.size() >= sizeof buffer || cycle % POLL_INTERVAL == 0)) {
            size_t n = 0;
            while (!tx.empty() && n < sizeof buffer) {
                buffer[n++] = tx.front();
                tx.pop_front();
            }
            size_t done = 0;
            while (done < n && !stopping) {
                ssize_t w = write(master, buffer + done, n - done);
                if (w > 0) {
                    done += w;
                } else if (errno == EAGAIN) {
                    struct pollfd out = {master, POLLOUT, 0};
                    poll(&out, 1, 10);
                } else {
                    perror("pty_harness: write");
                    stopping = 1;
                }
            }
        }
        if (idle && tx.empty()) {
            struct pollfd in = {master, POLLIN, 0};
            poll(&in, 1, 20);
            ssize_t n = read(master, buffer, sizeof buffer);
            for (ssize_t i = 0; i < n; i++) rx.push_back(buffer[i]);
        }
    }
    top->final();
    delete top;
    close(slave);
    close(master);
    return 0;
}
