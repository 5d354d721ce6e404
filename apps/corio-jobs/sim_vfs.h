/*
 * A SQLite VFS on corio's simulated disk (sim_vfs.c): the SQLite store in
 * a deterministic simulation. Open the store with jobs_store_opts.vfs =
 * JOBS_SIM_VFS while a disk is attached (corio_sim_disk_attach).
 */
#ifndef CORIO_JOBS_SIM_VFS_H
#define CORIO_JOBS_SIM_VFS_H

#include <sqlite3.h>

#define JOBS_SIM_VFS "corio-sim"

/* Registers the VFS (not as the default); idempotent. 0 or -ENOMEM. Call
 * once, from one thread, before the first store opens on it. */
int jobs_sim_vfs_register(void);
/* A crash of the simulated process: its WAL indexes and locks (memory of
 * the process) are forgotten; the restarted process rebuilds them. */
void jobs_sim_vfs_reset(void);

#endif
