/*
 * The simulated disk's seam into corio_file_* (src/os/file.c).
 */
#ifndef CORIO_SIM_DISK_H
#define CORIO_SIM_DISK_H

#include <corio_sim.h>

/* The disk attached to this thread (corio_sim_disk_attach) if the thread's
 * loop is simulated, else NULL: corio_file_* then use the real filesystem. */
corio_sim_disk *corio__sim_disk_for_files(void);

#endif
