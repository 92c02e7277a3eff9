// libedit through its readline-compatible API (readline, add_history, read_history, write_history),
// plus a SIGINT flag for the chat REPL: Ctrl-C stops a generation or, at the prompt, interrupts
// readline. The handler only sets a flag (async-signal-safe); Swift polls it. The flag is static:
// call these from one Swift file only (hayai/Chat/LineInput.swift), or each object file has its own.
#ifndef HAYAI_CLIBEDIT_SHIM_H
#define HAYAI_CLIBEDIT_SHIM_H
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <editline/readline.h>

static volatile sig_atomic_t hayai_sigint_received = 0;

static void hayai_sigint_handler(int signo) {
    (void)signo;
    hayai_sigint_received = 1;
}

/// Installs the handler without SA_RESTART, so a blocking read returns EINTR.
static inline int hayai_install_sigint_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hayai_sigint_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    return sigaction(SIGINT, &sa, NULL);
}

/// Whether Ctrl-C was pressed since the last call; clears the flag.
static inline int hayai_take_sigint(void) {
    int was = hayai_sigint_received;
    hayai_sigint_received = 0;
    return was;
}

static inline int hayai_sigint_pending(void) { return hayai_sigint_received; }
#endif
