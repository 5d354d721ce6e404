/* Compiled with -std=c11 -Wpedantic -Werror: the public headers are C11. */
#include <corio.h>
#include <corio_sim.h>
int corio_header_c11_ok(void);
int corio_header_c11_ok(void) { return CORIO_VERSION_MAJOR >= 0; }
