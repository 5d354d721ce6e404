/*
 * A simulated disk (include/corio_sim.h, "The simulated disk"): an
 * in-memory filesystem that remembers, per file, what is durable (made so
 * by a successful fsync) and what is not, and loses the latter in a crash.
 *
 * Model.
 *  - A flat namespace: a path is a name (no directories are created or
 *    listed; opening any path with O_DIRECTORY gives a directory handle).
 *  - Files are inodes with two contents: live (what reads see) and durable
 *    (what a crash leaves). fsync(file) copies live to durable. Every write
 *    or truncate since the last fsync is also kept as a pending record, so
 *    that a crash can persist a prefix of it (a torn write).
 *  - Names: create, rename and unlink change the live namespace at once;
 *    they become durable when a directory handle is fsynced (as on Linux,
 *    where a new file's name survives a power cut only after an fsync of
 *    its directory). fsync of a file does not commit names.
 *  - A crash: the live namespace becomes the durable one, every inode's
 *    content its durable content (plus, with faults.torn_write, a prefix of
 *    some of its pending writes), every open handle goes stale (its calls
 *    fail with -EIO, or -EBADF once freed) and inodes no durable name holds
 *    are freed.
 *
 * Determinism: the faults draw from the disk's own generator, seeded at
 * corio_sim_disk_new; the same calls in the same order make the same
 * choices. Not thread-safe: one thread (a simulation's) uses a disk.
 *
 * Allocation: corio_sim_disk_new allocates the disk; corio_sim_disk_free
 * frees it with every inode and handle.
 */
#include <corio_sim.h>

#include "sim/disk.h"
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

typedef struct sd_pend {  /* a write (or, len 0 and trunc, a truncate) */
    int64_t off;
    size_t len;
    int trunc;
    unsigned char *data;
} sd_pend;

typedef struct sd_inode {
    unsigned char *data;   /* live */
    size_t size, cap;
    unsigned char *dur;    /* durable */
    size_t dur_size, dur_cap;
    sd_pend *pend;
    size_t npend, cappend;
    int mark;              /* crash: still named */
    struct sd_inode *next; /* every inode of the disk */
} sd_inode;

typedef struct sd_name {
    char *path;
    sd_inode *ino;
} sd_name;

typedef struct sd_dir {
    sd_name *v;
    size_t n, cap;
} sd_dir;

typedef struct sd_handle {
    sd_inode *ino;  /* NULL: a directory */
    int flags;
} sd_handle;

struct corio_sim_disk {
    uint64_t rng;
    corio_sim_disk_faults faults;
    uint64_t ops;           /* mutating calls since set_faults */
    int crashing;           /* in corio_sim_disk_crash's on_crash hook */
    sd_dir live, dur;
    sd_inode *inodes;
    sd_handle **h;          /* by handle number; numbers are never reused */
    size_t nh, caph;
    corio_sim_disk_stats st;
};

static __thread corio_sim_disk *tls_disk;

/* splitmix64, as sim.c */
static uint64_t rnd(corio_sim_disk *d)
{
    uint64_t z = (d->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int chance(corio_sim_disk *d, double p)
{
    if (!(p > 0))
        return 0;
    return (double)(rnd(d) >> 11) * (1.0 / 9007199254740992.0) < p;
}

/* ---- the disk ---------------------------------------------------------------*/

int corio_sim_disk_new(corio_sim_disk **out, uint64_t seed)
{
    corio_sim_disk *d;
    if (!out)
        return -EINVAL;
    *out = NULL;
    d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->rng = seed ^ 0xD15Cu;
    d->nh = 3; /* handle numbers start at 3, like fds after stdio */
    *out = d;
    return 0;
}

static void inode_free(sd_inode *i)
{
    size_t k;
    for (k = 0; k < i->npend; k++)
        free(i->pend[k].data);
    free(i->pend);
    free(i->data);
    free(i->dur);
    free(i);
}

static void dir_clear(sd_dir *dir)
{
    size_t k;
    for (k = 0; k < dir->n; k++)
        free(dir->v[k].path);
    dir->n = 0;
}

static void handles_free(corio_sim_disk *d)
{
    size_t k;
    for (k = 0; k < d->caph; k++) {
        free(d->h[k]);
        d->h[k] = NULL;
    }
}

void corio_sim_disk_free(corio_sim_disk *d)
{
    sd_inode *i, *next;
    if (!d)
        return;
    if (tls_disk == d)
        tls_disk = NULL;
    for (i = d->inodes; i; i = next) {
        next = i->next;
        inode_free(i);
    }
    dir_clear(&d->live);
    dir_clear(&d->dur);
    free(d->live.v);
    free(d->dur.v);
    handles_free(d);
    free(d->h);
    free(d);
}

corio_sim_disk *corio_sim_disk_attach(corio_sim_disk *d)
{
    corio_sim_disk *prev = tls_disk;
    tls_disk = d;
    return prev;
}

corio_sim_disk *corio_sim_disk_current(void) { return tls_disk; }

corio_sim_disk *corio__sim_disk_for_files(uint64_t *fence)
{
    corio_loop *l = corio__tls_loop;
    corio_sim_disk *hd;
    *fence = 0;
    if (!l || !l->sim)
        return NULL;
    hd = corio__simnet_task_disk(corio_current(), fence);
    return hd ? hd : tls_disk;
}

/* A task of a crashed simulated host calls: every call but close fails
 * with -EIO (the disk is gone for it). */
static int fenced(void)
{
    corio_loop *l = corio__tls_loop;
    return l && l->sim && l->current && corio__simnet_doomed_current();
}

void corio_sim_disk_set_faults(corio_sim_disk *d, const corio_sim_disk_faults *f)
{
    if (f)
        d->faults = *f;
    else
        memset(&d->faults, 0, sizeof d->faults);
    d->ops = 0;
}

void corio_sim_disk_stats_get(const corio_sim_disk *d, corio_sim_disk_stats *out)
{
    *out = d->st;
}

/* ---- names ------------------------------------------------------------------*/

static sd_name *dir_find(sd_dir *dir, const char *path)
{
    size_t k;
    for (k = 0; k < dir->n; k++)
        if (strcmp(dir->v[k].path, path) == 0)
            return &dir->v[k];
    return NULL;
}

static int dir_set(sd_dir *dir, const char *path, sd_inode *ino)
{
    sd_name *n = dir_find(dir, path);
    char *p;
    if (n) {
        n->ino = ino;
        return 0;
    }
    if (dir->n == dir->cap) {
        size_t cap = dir->cap ? 2 * dir->cap : 8;
        sd_name *v = realloc(dir->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        dir->v = v;
        dir->cap = cap;
    }
    if (!(p = strdup(path)))
        return -ENOMEM;
    dir->v[dir->n].path = p;
    dir->v[dir->n].ino = ino;
    dir->n++;
    return 0;
}

static void dir_del(sd_dir *dir, sd_name *n)
{
    free(n->path);
    *n = dir->v[--dir->n];
}

/* dst := a copy of src. */
static int dir_copy(sd_dir *dst, const sd_dir *src)
{
    size_t k;
    dir_clear(dst);
    for (k = 0; k < src->n; k++)
        if (dir_set(dst, src->v[k].path, src->v[k].ino) < 0)
            return -ENOMEM;
    return 0;
}

/* ---- crash ------------------------------------------------------------------*/

/* Grows *buf (capacity *cap) to size bytes, zero-filling from *size. */
static int grow(unsigned char **buf, size_t *size, size_t *cap, size_t size_to)
{
    if (size_to > *cap) {
        size_t c = *cap ? *cap : 4096;
        unsigned char *nb;
        while (c < size_to)
            c *= 2;
        if (!(nb = realloc(*buf, c)))
            return -ENOMEM;
        *buf = nb;
        *cap = c;
    }
    if (size_to > *size)
        memset(*buf + *size, 0, size_to - *size);
    *size = size_to;
    return 0;
}

/* Applies len bytes of p (a truncate: all of it) to a content. */
static int apply(unsigned char **buf, size_t *size, size_t *cap, const sd_pend *p, size_t len)
{
    if (p->trunc) {
        if ((size_t)p->off < *size) {
            *size = (size_t)p->off;
            return 0;
        }
        return grow(buf, size, cap, (size_t)p->off);
    }
    if (len == 0)
        return 0; /* nothing of this write reached the platter */
    if ((size_t)p->off + len > *size && grow(buf, size, cap, (size_t)p->off + len) < 0)
        return -ENOMEM;
    memcpy(*buf + p->off, p->data, len);
    return 0;
}

void corio_sim_disk_crash(corio_sim_disk *d)
{
    sd_inode **pp, *i;
    size_t k;
    d->st.crashes++;
    /* Every handle of the crashed programs goes: their numbers now answer
     * -EBADF. */
    handles_free(d);
    if (dir_copy(&d->live, &d->dur) < 0)
        dir_clear(&d->live);
    for (k = 0; k < d->dur.n; k++)
        d->dur.v[k].ino->mark = 1;
    for (pp = &d->inodes; (i = *pp);) {
        if (!i->mark) {
            *pp = i->next;
            inode_free(i);
            continue;
        }
        i->mark = 0;
        /* Live := durable, then maybe some pending writes, torn. */
        free(i->data);
        i->data = NULL;
        i->size = i->cap = 0;
        if (i->dur_size && (i->data = malloc(i->dur_size))) {
            memcpy(i->data, i->dur, i->dur_size);
            i->size = i->cap = i->dur_size;
        }
        if (!i->data)
            i->size = 0;
        for (k = 0; k < i->npend; k++) {
            sd_pend *p = &i->pend[k];
            if (chance(d, d->faults.torn_write)) {
                size_t len = p->trunc ? 0 : (size_t)(rnd(d) % (p->len + 1));
                apply(&i->data, &i->size, &i->cap, p, len);
                d->st.torn_writes++;
            }
            free(p->data);
        }
        i->npend = 0;
        /* What survived is what is on the platter: durable again. */
        free(i->dur);
        i->dur = NULL;
        i->dur_size = i->dur_cap = 0;
        if (i->size && (i->dur = malloc(i->size))) {
            memcpy(i->dur, i->data, i->size);
            i->dur_size = i->dur_cap = i->size;
        }
        pp = &i->next;
    }
    if (d->faults.on_crash) {
        d->crashing++;
        d->faults.on_crash(d->faults.on_crash_arg);
        d->crashing--;
    }
}

int corio__sim_disk_crashing(const corio_sim_disk *d) { return d->crashing > 0; }

/* A mutating call: counts it, and crashes the disk on the configured one.
 * Returns 1 if this call is the one that crashes (it then fails -EIO). */
static int mutation(corio_sim_disk *d)
{
    d->ops++;
    if (d->faults.crash_at_op && d->ops == d->faults.crash_at_op) {
        d->faults.crash_at_op = 0;
        return 1;
    }
    return 0;
}

/* ---- files ------------------------------------------------------------------*/

static sd_handle *handle(corio_sim_disk *d, int h)
{
    if (!d || h < 0 || (size_t)h >= d->caph)
        return NULL;
    return d->h[h];
}

static int handle_new(corio_sim_disk *d, sd_inode *ino, int flags)
{
    sd_handle *x;
    if (d->nh >= d->caph) {
        size_t cap = d->caph ? 2 * d->caph : 64, k;
        sd_handle **v;
        if (cap > (size_t)INT32_MAX)
            return -EMFILE;
        v = realloc(d->h, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        for (k = d->caph; k < cap; k++)
            v[k] = NULL;
        d->h = v;
        d->caph = cap;
    }
    if (!(x = calloc(1, sizeof *x)))
        return -ENOMEM;
    x->ino = ino;
    x->flags = flags;
    d->h[d->nh] = x;
    return (int)d->nh++;
}

static int truncate_live(sd_inode *i, size_t size)
{
    if (size > i->cap) {
        size_t cap = i->cap ? i->cap : 4096;
        unsigned char *nb;
        while (cap < size)
            cap *= 2;
        if (!(nb = realloc(i->data, cap)))
            return -ENOMEM;
        i->data = nb;
        i->cap = cap;
    }
    if (size > i->size)
        memset(i->data + i->size, 0, size - i->size);
    i->size = size;
    return 0;
}

static int pend_add(sd_inode *i, int64_t off, const void *buf, size_t len, int trunc)
{
    sd_pend *p;
    if (i->npend == i->cappend) {
        size_t cap = i->cappend ? 2 * i->cappend : 16;
        sd_pend *v = realloc(i->pend, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        i->pend = v;
        i->cappend = cap;
    }
    p = &i->pend[i->npend];
    p->off = off;
    p->len = len;
    p->trunc = trunc;
    p->data = NULL;
    if (len && !(p->data = malloc(len)))
        return -ENOMEM;
    if (len)
        memcpy(p->data, buf, len);
    i->npend++;
    return 0;
}

int corio_sim_disk_open(corio_sim_disk *d, const char *path, int flags, int mode)
{
    sd_name *n;
    sd_inode *i;
    int rc;
    (void)mode;
    if (fenced())
        return -EIO;
    if (!d || !path || !*path)
        return -EINVAL;
    if (flags & O_DIRECTORY)
        return handle_new(d, NULL, flags);
    n = dir_find(&d->live, path);
    if (n && (flags & O_CREAT) && (flags & O_EXCL))
        return -EEXIST;
    if (!n && !(flags & O_CREAT))
        return -ENOENT;
    if (!n || (flags & O_TRUNC)) {
        if (mutation(d)) {
            corio_sim_disk_crash(d);
            return -EIO;
        }
    }
    if (n) {
        i = n->ino;
        if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY && i->size) {
            if ((rc = pend_add(i, 0, NULL, 0, 1)) < 0)
                return rc;
            truncate_live(i, 0);
        }
    } else {
        if (!(i = calloc(1, sizeof *i)))
            return -ENOMEM;
        if ((rc = dir_set(&d->live, path, i)) < 0) {
            free(i);
            return rc;
        }
        i->next = d->inodes;
        d->inodes = i;
    }
    return handle_new(d, i, flags);
}

int corio_sim_disk_close(corio_sim_disk *d, int h)
{
    sd_handle *x = handle(d, h);
    if (!x)
        return -EBADF;
    free(x);
    d->h[h] = NULL;
    return 0;
}

ssize_t corio_sim_disk_pread(corio_sim_disk *d, int h, void *buf, size_t len, int64_t off)
{
    sd_handle *x = handle(d, h);
    sd_inode *i;
    size_t n;
    if (fenced())
        return -EIO;
    if (!x)
        return -EBADF;
    if (!(i = x->ino))
        return -EISDIR;
    if ((x->flags & O_ACCMODE) == O_WRONLY)
        return -EBADF;
    if (off < 0)
        return -EINVAL;
    d->st.reads++;
    if ((uint64_t)off >= i->size)
        return 0;
    n = i->size - (size_t)off;
    if (n > len)
        n = len;
    memcpy(buf, i->data + off, n);
    return (ssize_t)n;
}

ssize_t corio_sim_disk_pwrite(corio_sim_disk *d, int h, const void *buf, size_t len, int64_t off)
{
    sd_handle *x = handle(d, h);
    sd_inode *i;
    int rc;
    if (fenced())
        return -EIO;
    if (!x)
        return -EBADF;
    if (!(i = x->ino))
        return -EISDIR;
    if ((x->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (off < 0 || (x->flags & O_APPEND))
        off = (int64_t)i->size;
    if ((uint64_t)off + len > ((size_t)1 << 40))
        return -EFBIG;
    if (len == 0)
        return 0;
    if ((rc = pend_add(i, off, buf, len, 0)) < 0)
        return rc;
    if (mutation(d)) {
        /* The power fails during this write: it is pending, so a torn
         * prefix of it may survive, and the caller never hears back. */
        corio_sim_disk_crash(d);
        return -EIO;
    }
    if ((size_t)off + len > i->size && (rc = truncate_live(i, (size_t)off + len)) < 0) {
        i->npend--;
        free(i->pend[i->npend].data);
        return rc;
    }
    memcpy(i->data + off, buf, len);
    d->st.writes++;
    return (ssize_t)len;
}

int corio_sim_disk_truncate(corio_sim_disk *d, int h, int64_t size)
{
    sd_handle *x = handle(d, h);
    sd_inode *i;
    int rc;
    if (fenced())
        return -EIO;
    if (!x)
        return -EBADF;
    if (!(i = x->ino))
        return -EISDIR;
    if (size < 0 || (uint64_t)size > ((size_t)1 << 40))
        return -EINVAL;
    if ((x->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (mutation(d)) {
        corio_sim_disk_crash(d);
        return -EIO;
    }
    if ((rc = pend_add(i, size, NULL, 0, 1)) < 0)
        return rc;
    return truncate_live(i, (size_t)size);
}

int64_t corio_sim_disk_size(corio_sim_disk *d, int h)
{
    sd_handle *x = handle(d, h);
    if (!x)
        return -EBADF;
    return x->ino ? (int64_t)x->ino->size : 0;
}

int corio_sim_disk_fsync(corio_sim_disk *d, int h)
{
    sd_handle *x = handle(d, h);
    sd_inode *i;
    size_t k;
    if (fenced())
        return -EIO;
    if (!x)
        return -EBADF;
    if (mutation(d)) {
        corio_sim_disk_crash(d);
        return -EIO;
    }
    d->st.fsyncs++;
    if (chance(d, d->faults.fsync_fail)) {
        /* Nothing was made durable; the data stays pending (a later fsync
         * may still persist it, a crash loses it). */
        d->st.fsync_failures++;
        return -EIO;
    }
    if (!(i = x->ino))
        return dir_copy(&d->dur, &d->live);
    /* Durable := live, by replaying what is pending (live is durable plus
     * every pending record, in order): O(bytes written), not O(file). */
    for (k = 0; k < i->npend; k++)
        if (apply(&i->dur, &i->dur_size, &i->dur_cap, &i->pend[k], i->pend[k].len) < 0)
            break;
    if (k < i->npend) { /* out of memory: keep the rest pending */
        size_t done = k;
        for (k = 0; k < done; k++)
            free(i->pend[k].data);
        k = done;
        memmove(i->pend, i->pend + k, (i->npend - k) * sizeof *i->pend);
        i->npend -= k;
        return -ENOMEM;
    }
    for (k = 0; k < i->npend; k++)
        free(i->pend[k].data);
    i->npend = 0;
    return 0;
}

int corio_sim_disk_stat(corio_sim_disk *d, const char *path, int64_t *size)
{
    sd_name *n;
    if (fenced())
        return -EIO;
    if (!d || !path)
        return -EINVAL;
    if (!(n = dir_find(&d->live, path)))
        return -ENOENT;
    if (size)
        *size = (int64_t)n->ino->size;
    return 0;
}

int corio_sim_disk_rename(corio_sim_disk *d, const char *from, const char *to)
{
    sd_name *n;
    sd_inode *i;
    int rc;
    if (fenced())
        return -EIO;
    if (!d || !from || !to || !*to)
        return -EINVAL;
    if (!(n = dir_find(&d->live, from)))
        return -ENOENT;
    if (strcmp(from, to) == 0)
        return 0;
    if (mutation(d)) {
        corio_sim_disk_crash(d);
        return -EIO;
    }
    i = n->ino;
    dir_del(&d->live, n);
    if ((rc = dir_set(&d->live, to, i)) < 0)
        return rc;
    return 0;
}

int corio_sim_disk_unlink(corio_sim_disk *d, const char *path)
{
    sd_name *n;
    if (fenced())
        return -EIO;
    if (!d || !path)
        return -EINVAL;
    if (!(n = dir_find(&d->live, path)))
        return -ENOENT;
    if (mutation(d)) {
        corio_sim_disk_crash(d);
        return -EIO;
    }
    /* The inode stays until a crash (or the disk's end) frees it: open
     * handles keep working on it, as on a real filesystem. */
    dir_del(&d->live, n);
    return 0;
}
