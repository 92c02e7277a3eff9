// libedit through its readline-compatible API (readline, add_history, read_history, write_history).
// Ctrl-C is not handled here: the process's one interrupt flag lives in CKernels (interrupt.c,
// Kernels' `Interrupt`), so the REPL, the generator and the forward pass read the same variable.
#ifndef HAYAI_CLIBEDIT_SHIM_H
#define HAYAI_CLIBEDIT_SHIM_H
#include <stdio.h>
#include <editline/readline.h>
#endif
