// Compiled as C++17 with -Wpedantic -Werror: C++ users include corio.h too.
#include <corio.h>
#include <corio_sim.h>
int corio_header_cxx_ok() { return corio_strerror(-1) != nullptr; }
