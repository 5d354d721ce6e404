/*
 * The simulated disk's seam into corio_file_* (src/os/file.c).
 */
#ifndef CORIO_SIM_DISK_H
#define CORIO_SIM_DISK_H

#include <corio_sim.h>

/* For a corio_file_* call of the running task: the disk it uses if the
 * thread's loop is simulated (its host's, corio_sim_host_set_disk, else the
 * thread's attached one), else NULL: the real filesystem. *fence (not
 * NULL) gets the task's host and incarnation, for corio__sim_disk_fenced
 * when the operation runs (0: never fenced). */
corio_sim_disk *corio__sim_disk_for_files(uint64_t *fence);
/* 1 if the host of fence crashed since: the operation must not touch the
 * disk (fail it with -EIO). src/sim/crash.c. */
int corio__sim_disk_fenced(uint64_t fence);
/* 1 while d's on_crash hook runs (a host crash it calls must not crash d
 * again). */
int corio__sim_disk_crashing(const corio_sim_disk *d);

/* src/sim/crash.c: the disk of t's host (NULL: none of its own) and t's
 * fence; 1 if the running task belongs to a crashed host. */
corio_sim_disk *corio__simnet_task_disk(const corio_task *t, uint64_t *fence);
int corio__simnet_doomed_current(void);

#endif
