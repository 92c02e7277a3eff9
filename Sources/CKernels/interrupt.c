// The process's one interrupt flag (Ctrl-C, SIGINT). Defined here, once: a `static` variable in a
// header would give every Swift file that imports the module its own copy, and the handler would set
// one while the generation loop polls another. The handler only stores to a sig_atomic_t
// (async-signal-safe); Swift reads the flag through Kernels' `Interrupt`.
#include <signal.h>
#include <string.h>
#include "CKernels.h"

static volatile sig_atomic_t hayai_interrupt_flag = 0;

static void hayai_interrupt_handler(int signo) {
    (void)signo;
    hayai_interrupt_flag = 1;
}

int hayai_interrupt_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hayai_interrupt_handler;
    sigemptyset(&sa.sa_mask);
    // No SA_RESTART: a blocking read (readline at the prompt) returns EINTR and sees the flag.
    sa.sa_flags = 0;
    return sigaction(SIGINT, &sa, NULL);
}

int hayai_interrupt_requested(void) { return hayai_interrupt_flag != 0; }

void hayai_interrupt_set(void) { hayai_interrupt_flag = 1; }

void hayai_interrupt_clear(void) { hayai_interrupt_flag = 0; }
