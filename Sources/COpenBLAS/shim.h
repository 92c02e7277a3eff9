#include <cblas.h>
// OpenBLAS extension: the thread count its own pool uses.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
