/*
 * A SQLite VFS on corio's simulated disk (corio_sim.h, "The simulated
 * disk"), so that the SQLite store runs, unchanged, in a deterministic
 * simulation with fsync failures, torn writes and crashes.
 *
 * It lives with corio-jobs, not in the library: it needs sqlite3.h, and
 * the core library depends on no SQL engine.
 *
 * Files are the disk's files (the disk attached to the calling thread at
 * xOpen). The store keeps its production settings, WAL with
 * synchronous=FULL and several connections (one writer, readers), so the
 * VFS provides what WAL needs:
 *  - xShmMap & co: the WAL index is shared memory, here plain memory shared
 *    by the connections to one file. Like a real -shm mapping it is
 *    volatile: a crash (jobs_sim_vfs_reset) forgets it, and the restarted
 *    process rebuilds it from the WAL (SQLite's WAL recovery).
 *  - xLock: the SHARED/RESERVED/PENDING/EXCLUSIVE levels between the
 *    connections of the one simulated process, as the unix VFS keeps them
 *    between connections of one process.
 * Time (xCurrentTime) is the simulation's virtual clock and randomness
 * comes from its seed. xSleep does not sleep: every connection runs on the
 * simulation's thread, so a lock held by another connection is never freed
 * by waiting.
 *
 * Durability: xSync is the disk's fsync; the first xSync of a file this
 * VFS created also syncs the directory (as the unix VFS does for journals
 * and WAL files), so its name survives a crash.
 *
 * Allocation: the sqlite3_vfs is static; a node (locks and shared memory
 * of one database path) is allocated by the first xOpen of the path and
 * freed when its last file closes; jobs_sim_vfs_reset() orphans every
 * node (files of a crashed process keep theirs; they are never closed).
 */
#include "sim_vfs.h"

#include <corio.h>
#include <corio_sim.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"

typedef struct sfile sfile;

/* Locks and shared memory of one database path. */
typedef struct node {
    struct node *next;
    char *path;
    int refs;               /* files open on it */
    int nshared;            /* files at SHARED or above */
    sfile *reserved, *pending, *exclusive;
    void **regions;         /* the WAL index */
    int nregions, shm_refs;
    int shm_shared[SQLITE_SHM_NLOCK];
    sfile *shm_excl[SQLITE_SHM_NLOCK];
} node;

struct sfile {
    sqlite3_file base;
    corio_sim_disk *d;
    int h;
    int lock;
    int dirsync;            /* created here: sync the directory once */
    int delete_on_close;
    char *path;
    node *n;                /* main databases only */
    int shm_mapped;
    unsigned shm_sh, shm_ex; /* bit i: this file holds slot i */
};

static node *nodes;

void jobs_sim_vfs_reset(void)
{
    nodes = NULL; /* the crashed process's files keep (and leak) theirs */
}

static node *node_get(const char *path)
{
    node *n;
    for (n = nodes; n; n = n->next)
        if (strcmp(n->path, path) == 0) {
            n->refs++;
            return n;
        }
    if (!(n = calloc(1, sizeof *n)) || !(n->path = strdup(path))) {
        free(n);
        return NULL;
    }
    n->refs = 1;
    n->next = nodes;
    nodes = n;
    return n;
}

static void shm_free(node *n)
{
    for (int i = 0; i < n->nregions; i++)
        free(n->regions[i]);
    free(n->regions);
    n->regions = NULL;
    n->nregions = 0;
}

static void node_put(node *n)
{
    if (--n->refs > 0)
        return;
    for (node **pp = &nodes; *pp; pp = &(*pp)->next)
        if (*pp == n) {
            *pp = n->next;
            break;
        }
    shm_free(n);
    free(n->path);
    free(n);
}

static int dir_sync(corio_sim_disk *d)
{
    int h = corio_sim_disk_open(d, ".", O_RDONLY | O_DIRECTORY, 0);
    if (h < 0)
        return h;
    int rc = corio_sim_disk_fsync(d, h);
    corio_sim_disk_close(d, h);
    return rc;
}

/* ---- files ------------------------------------------------------------------*/

static int x_unlock(sqlite3_file *pf, int level);
static int x_shm_unmap(sqlite3_file *pf, int del);

static int x_close(sqlite3_file *pf)
{
    sfile *f = (sfile *)pf;
    if (f->n) {
        x_unlock(pf, SQLITE_LOCK_NONE);
        if (f->shm_mapped)
            x_shm_unmap(pf, 0);
        node_put(f->n);
    }
    corio_sim_disk_close(f->d, f->h);
    if (f->delete_on_close)
        corio_sim_disk_unlink(f->d, f->path);
    free(f->path);
    return SQLITE_OK;
}

static int x_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off)
{
    sfile *f = (sfile *)pf;
    ssize_t r = corio_sim_disk_pread(f->d, f->h, buf, (size_t)amt, off);
    if (r < 0)
        return SQLITE_IOERR_READ;
    if (r < amt) {
        memset((char *)buf + r, 0, (size_t)(amt - r));
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

static int x_write(sqlite3_file *pf, const void *buf, int amt, sqlite3_int64 off)
{
    sfile *f = (sfile *)pf;
    ssize_t r = corio_sim_disk_pwrite(f->d, f->h, buf, (size_t)amt, off);
    if (r == -ENOSPC)
        return SQLITE_FULL;
    return r == amt ? SQLITE_OK : SQLITE_IOERR_WRITE;
}

static int x_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    sfile *f = (sfile *)pf;
    return corio_sim_disk_truncate(f->d, f->h, size) < 0 ? SQLITE_IOERR_TRUNCATE : SQLITE_OK;
}

static int x_sync(sqlite3_file *pf, int flags)
{
    sfile *f = (sfile *)pf;
    (void)flags;
    if (corio_sim_disk_fsync(f->d, f->h) < 0)
        return SQLITE_IOERR_FSYNC;
    if (f->dirsync) {
        if (dir_sync(f->d) < 0)
            return SQLITE_IOERR_DIR_FSYNC;
        f->dirsync = 0;
    }
    return SQLITE_OK;
}

static int x_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
    sfile *f = (sfile *)pf;
    int64_t n = corio_sim_disk_size(f->d, f->h);
    if (n < 0)
        return SQLITE_IOERR_FSTAT;
    *size = n;
    return SQLITE_OK;
}

/* The unix VFS's levels between connections of one process. */
static int x_lock(sqlite3_file *pf, int level)
{
    sfile *f = (sfile *)pf;
    node *n = f->n;
    if (!n || f->lock >= level)
        return SQLITE_OK;
    switch (level) {
    case SQLITE_LOCK_SHARED:
        if (n->pending || n->exclusive)
            return SQLITE_BUSY;
        n->nshared++;
        break;
    case SQLITE_LOCK_RESERVED:
        if (n->reserved)
            return SQLITE_BUSY;
        n->reserved = f;
        break;
    default: /* EXCLUSIVE (through PENDING) */
        if (n->pending && n->pending != f)
            return SQLITE_BUSY;
        n->pending = f;
        if (n->nshared > 1) {
            f->lock = SQLITE_LOCK_PENDING;
            return SQLITE_BUSY;
        }
        n->exclusive = f;
        level = SQLITE_LOCK_EXCLUSIVE;
        break;
    }
    f->lock = level;
    return SQLITE_OK;
}

static int x_unlock(sqlite3_file *pf, int level)
{
    sfile *f = (sfile *)pf;
    node *n = f->n;
    if (!n || f->lock <= level)
        return SQLITE_OK;
    if (n->reserved == f)
        n->reserved = NULL;
    if (n->pending == f)
        n->pending = NULL;
    if (n->exclusive == f)
        n->exclusive = NULL;
    if (level == SQLITE_LOCK_NONE)
        n->nshared--;
    f->lock = level;
    return SQLITE_OK;
}

static int x_check_reserved(sqlite3_file *pf, int *out)
{
    sfile *f = (sfile *)pf;
    *out = f->n && (f->n->reserved || f->n->pending || f->n->exclusive);
    return SQLITE_OK;
}

static int x_file_control(sqlite3_file *pf, int op, void *arg)
{
    (void)pf;
    (void)op;
    (void)arg;
    return SQLITE_NOTFOUND;
}

static int x_sector_size(sqlite3_file *pf)
{
    (void)pf;
    return 4096;
}

static int x_device(sqlite3_file *pf)
{
    (void)pf;
    return SQLITE_IOCAP_POWERSAFE_OVERWRITE; /* as the unix VFS's default */
}

/* ---- the WAL index ------------------------------------------------------------*/

static int x_shm_map(sqlite3_file *pf, int region, int size, int extend, void volatile **pp)
{
    sfile *f = (sfile *)pf;
    node *n = f->n;
    *pp = NULL;
    if (!n)
        return SQLITE_IOERR_SHMMAP;
    if (!f->shm_mapped) {
        f->shm_mapped = 1;
        n->shm_refs++;
    }
    if (region >= n->nregions) {
        if (!extend)
            return SQLITE_OK;
        void **v = realloc(n->regions, (size_t)(region + 1) * sizeof *v);
        if (!v)
            return SQLITE_NOMEM;
        n->regions = v;
        for (; n->nregions <= region; n->nregions++)
            if (!(v[n->nregions] = calloc(1, (size_t)size)))
                return SQLITE_NOMEM;
    }
    *pp = n->regions[region];
    return SQLITE_OK;
}

static int x_shm_lock(sqlite3_file *pf, int ofs, int cnt, int flags)
{
    sfile *f = (sfile *)pf;
    node *n = f->n;
    int i;
    if (!n || ofs < 0 || cnt < 1 || ofs + cnt > SQLITE_SHM_NLOCK)
        return SQLITE_IOERR_SHMLOCK;
    if (flags & SQLITE_SHM_UNLOCK) {
        for (i = ofs; i < ofs + cnt; i++) {
            if (f->shm_sh & (1u << i)) {
                n->shm_shared[i]--;
                f->shm_sh &= ~(1u << i);
            }
            if (f->shm_ex & (1u << i)) {
                n->shm_excl[i] = NULL;
                f->shm_ex &= ~(1u << i);
            }
        }
        return SQLITE_OK;
    }
    for (i = ofs; i < ofs + cnt; i++) {
        int mine = (f->shm_sh >> i) & 1;
        if (n->shm_excl[i] && n->shm_excl[i] != f)
            return SQLITE_BUSY;
        if ((flags & SQLITE_SHM_EXCLUSIVE) && n->shm_shared[i] - mine > 0)
            return SQLITE_BUSY;
    }
    for (i = ofs; i < ofs + cnt; i++) {
        if (flags & SQLITE_SHM_EXCLUSIVE) {
            n->shm_excl[i] = f;
            f->shm_ex |= 1u << i;
        } else if (!(f->shm_sh & (1u << i))) {
            n->shm_shared[i]++;
            f->shm_sh |= 1u << i;
        }
    }
    return SQLITE_OK;
}

static void x_shm_barrier(sqlite3_file *pf)
{
    (void)pf; /* one thread */
}

static int x_shm_unmap(sqlite3_file *pf, int del)
{
    sfile *f = (sfile *)pf;
    node *n = f->n;
    (void)del;
    if (!n || !f->shm_mapped)
        return SQLITE_OK;
    x_shm_lock(pf, 0, SQLITE_SHM_NLOCK, SQLITE_SHM_UNLOCK | SQLITE_SHM_SHARED);
    f->shm_mapped = 0;
    if (--n->shm_refs == 0)
        shm_free(n); /* the next opener recovers it from the WAL */
    return SQLITE_OK;
}

static const sqlite3_io_methods io_methods = {
    2, x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock,
    x_check_reserved, x_file_control, x_sector_size, x_device, x_shm_map, x_shm_lock,
    x_shm_barrier, x_shm_unmap, NULL, NULL,
};

/* ---- the VFS ------------------------------------------------------------------*/

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *out_flags)
{
    sfile *f = (sfile *)pf;
    static unsigned tmp_n;
    char tmp[64];
    int64_t size;
    (void)vfs;
    memset(f, 0, sizeof *f);
    f->d = corio_sim_disk_current();
    if (!f->d)
        return SQLITE_CANTOPEN;
    if (!name) {
        snprintf(tmp, sizeof tmp, "/sqlite-tmp-%u", ++tmp_n);
        name = tmp;
    }
    int of = (flags & SQLITE_OPEN_READWRITE) ? O_RDWR : O_RDONLY;
    if (flags & SQLITE_OPEN_CREATE)
        of |= O_CREAT;
    if (flags & SQLITE_OPEN_EXCLUSIVE)
        of |= O_EXCL;
    int existed = corio_sim_disk_stat(f->d, name, &size) == 0;
    f->h = corio_sim_disk_open(f->d, name, of, 0644);
    if (f->h < 0)
        return SQLITE_CANTOPEN;
    if (!(f->path = strdup(name))) {
        corio_sim_disk_close(f->d, f->h);
        return SQLITE_NOMEM;
    }
    f->dirsync = !existed;
    f->delete_on_close = (flags & SQLITE_OPEN_DELETEONCLOSE) != 0;
    if ((flags & SQLITE_OPEN_MAIN_DB) && !(f->n = node_get(name))) {
        corio_sim_disk_close(f->d, f->h);
        free(f->path);
        return SQLITE_NOMEM;
    }
    if (out_flags)
        *out_flags = flags;
    f->base.pMethods = &io_methods;
    return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    corio_sim_disk *d = corio_sim_disk_current();
    (void)vfs;
    if (!d)
        return SQLITE_IOERR_DELETE;
    int rc = corio_sim_disk_unlink(d, name);
    if (rc == -ENOENT)
        return SQLITE_IOERR_DELETE_NOENT;
    if (rc < 0)
        return SQLITE_IOERR_DELETE;
    if (sync_dir && dir_sync(d) < 0)
        return SQLITE_IOERR_DIR_FSYNC;
    return SQLITE_OK;
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    corio_sim_disk *d = corio_sim_disk_current();
    int64_t size = 0;
    (void)vfs;
    *out = 0;
    if (d && corio_sim_disk_stat(d, name, &size) == 0)
        *out = flags == SQLITE_ACCESS_EXISTS ? size > 0 : 1;
    return SQLITE_OK;
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    if (snprintf(out, (size_t)n, "%s%s", name[0] == '/' ? "" : "/", name) >= n)
        return SQLITE_CANTOPEN;
    return SQLITE_OK;
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    for (int i = 0; i < n; i++)
        out[i] = (char)corio_sim_random();
    return n;
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return us;
}

static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    /* Julian day in ms: Unix epoch is 2440587.5 days. */
    *out = (sqlite3_int64)210866760000000LL + jobs_now_ms();
    return SQLITE_OK;
}

static int v_time(sqlite3_vfs *vfs, double *out)
{
    sqlite3_int64 ms;
    v_time64(vfs, &ms);
    *out = (double)ms / 86400000.0;
    return SQLITE_OK;
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    if (n > 0)
        out[0] = '\0';
    return 0;
}

static sqlite3_vfs sim_vfs = {
    2, (int)sizeof(sfile), 512, NULL, JOBS_SIM_VFS, NULL,
    v_open, v_delete, v_access, v_full_pathname,
    NULL, NULL, NULL, NULL, /* no extensions */
    v_randomness, v_sleep, v_time, v_last_error, v_time64,
    NULL, NULL, NULL,
};

int jobs_sim_vfs_register(void)
{
    if (sqlite3_vfs_find(JOBS_SIM_VFS))
        return 0;
    return sqlite3_vfs_register(&sim_vfs, 0) == SQLITE_OK ? 0 : -ENOMEM;
}
