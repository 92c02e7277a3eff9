// Sequentially consistent atomics for the thread pool: Swift's Synchronization module needs a newer
// macOS than the package's floor, and these four are all the pool uses.
#include "CKernels.h"

long hayai_atomic_load(const long *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
void hayai_atomic_store(long *p, long v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
long hayai_atomic_fetch_add(long *p, long v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }

void hayai_cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}
