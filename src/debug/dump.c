/*
 * Task dumps: the structured iterator (corio_debug_tasks), the human dump
 * (corio_dump), and dumps on a signal.
 *
 * A dump reads every task's saved context, so it must run where no task
 * can move: on the loop's own thread (from a task, a callback, or between
 * runs). The signal variant respects that: its handler only bumps a
 * generation counter and writes the loop's wake-up eventfd (both
 * async-signal-safe); the loop notices the new generation at its next
 * iteration and prints the dump there.
 */
#include "debug/debug.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

FILE *corio__report_file(corio_loop *loop)
{
    return loop && loop->report ? loop->report : stderr;
}

static void fill_info(corio_loop *loop, corio_task *t, uintptr_t self_fp,
                      corio_task_info *in, char *namebuf, size_t nlen)
{
    corio_task *owner = NULL;
    void *frames[CORIO__MAX_FRAMES];
    int i, n;
    memset(in, 0, sizeof *in);
    in->task = t;
    in->id = t->id;
    in->name = corio__task_label(t, namebuf, nlen);
    in->parent_id = corio__task_parent_id(t);
    in->state = corio_task_state(t);
    in->wait_kind = t->state == CORIO_TASK_SUSPENDED && t->b->wait_type ? t->b->wait_type->kind : 0;
    in->wait_obj = t->state == CORIO_TASK_SUSPENDED ? t->b->wait_obj : NULL;
    corio__debug_describe_wait(t, in->wait_desc, sizeof in->wait_desc, &owner);
    in->blocked_on_id = owner ? owner->id : 0;
    if (t->state == CORIO_TASK_SUSPENDED && t->b->park_ns) {
        int64_t now = corio__clock_ns();
        in->suspended_for = now > t->b->park_ns ? (double)(now - t->b->park_ns) / 1e9 : 0;
    }
    in->spawn_site = t->spawn_site;
    n = corio__bt_task(loop, t, self_fp, frames, CORIO__MAX_FRAMES);
    for (i = 0; i < n && i < CORIO_DEBUG_MAX_FRAMES; i++)
        in->frames[i] = frames[i];
    in->nframes = i;
}

static int tasks_impl(corio_loop *loop, uintptr_t self_fp,
                      int (*fn)(const corio_task_info *, void *), void *arg)
{
    corio__task_iter it;
    corio_task *t;
    corio_task_info *in;
    char nb[32];
    int rc = 0;
    if (!loop)
        return -EPERM;
    /* The info is ~500 bytes: keep it off a possibly small task stack. */
    in = malloc(sizeof *in);
    if (!in)
        return -ENOMEM;
    for (t = corio__task_iter_first(loop, &it); t; t = corio__task_iter_next(&it)) {
        fill_info(loop, t, self_fp, in, nb, sizeof nb);
        rc = fn(in, arg);
        if (rc)
            break;
    }
    corio__task_iter_end(&it);
    free(in);
    return rc;
}

CORIO__NOINLINE int corio_debug_tasks(corio_loop *loop,
                                      int (*fn)(const corio_task_info *, void *),
                                      void *arg)
{
    if (!fn)
        return -EINVAL;
    return tasks_impl(corio__loop_or_current(loop),
                      (uintptr_t)__builtin_frame_address(0), fn, arg);
}

/* ---- the human dump --------------------------------------------------------*/

typedef struct dump_ctx {
    FILE *f;
    corio_loop *loop;
    corio__sym *sym;
    int n;
} dump_ctx;

static void print_info(dump_ctx *d, const corio_task_info *in)
{
    char origin[300], group[32] = "";
    char site[256];
    void *frames[CORIO_DEBUG_MAX_FRAMES];
    int i;
    if (in->group_id)
        snprintf(group, sizeof group, ", group %llu",
                 (unsigned long long)in->group_id);
    fprintf(d->f, "task #%llu '%s' %s", (unsigned long long)in->id, in->name,
            in->state == CORIO_TASK_SUSPENDED ? "suspended" : corio__task_state_name(in->task));
    if (in->state == CORIO_TASK_SUSPENDED)
        fprintf(d->f, " for %.3fs", in->suspended_for);
    if (in->parent_id)
        fprintf(d->f, " (parent #%llu%s)", (unsigned long long)in->parent_id, group);
    else if (group[0])
        fprintf(d->f, " (%s)", group + 2);
    fputc('\n', d->f);
    if (in->wait_desc[0])
        fprintf(d->f, "    waits on: %s: %s\n", corio__wait_name(in->task),
                in->wait_desc);
    if (in->spawn_site)
        corio__sym_format(d->sym, in->spawn_site, 1, site, sizeof site);
    else
        snprintf(site, sizeof site, "?");
    snprintf(origin, sizeof origin, "    spawned at %s", site);
    fprintf(d->f, "%s\n", origin);
    if (in->nframes) {
        for (i = 0; i < in->nframes; i++)
            frames[i] = (void *)in->frames[i];
        corio__sym_print_frames(d->sym, d->f, frames, in->nframes, "      ");
    } else if (in->state == CORIO_TASK_CREATED) {
        fprintf(d->f, "      (not started yet)\n");
    }
}

static int dump_one(const corio_task_info *in, void *arg)
{
    dump_ctx *d = arg;
    print_info(d, in);
    d->n++;
    return 0;
}

void corio__dump_task(corio__sym *s, FILE *f, corio_loop *loop, corio_task *t)
{
    corio_task_info *in = malloc(sizeof *in);
    dump_ctx d;
    char nb[32];
    if (!in)
        return;
    d.f = f;
    d.loop = loop;
    d.sym = s;
    d.n = 0;
    fill_info(loop, t, 0, in, nb, sizeof nb);
    print_info(&d, in);
    free(in);
}

/* A dump in two steps: the walks on the caller's thread (its own stack is
 * one of those walked), the symbolizing and printing off the task stacks
 * (corio__debug_offstack). */
typedef struct dump_job {
    corio_loop *loop;
    FILE *f;
    size_t n, cap;
    corio_task_info *infos;
    int failed;
} dump_job;

static int collect(const corio_task_info *in, void *arg)
{
    dump_job *j = arg;
    corio_task_info *c;
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 16;
        corio_task_info *p = realloc(j->infos, cap * sizeof *p);
        if (!p) {
            j->failed = 1;
            return 1;
        }
        j->infos = p;
        j->cap = cap;
    }
    c = &j->infos[j->n];
    *c = *in;
    c->name = strdup(in->name ? in->name : "?");
    if (!c->name) {
        j->failed = 1;
        return 1;
    }
    j->n++;
    return 0;
}

static void print_dump(void *arg)
{
    dump_job *j = arg;
    dump_ctx d;
    size_t i;
    d.f = j->f;
    d.loop = j->loop;
    d.sym = corio__sym_open();
    d.n = 0;
    fprintf(d.f, "corio: dump of loop %p: %zu task%s (%zu unfinished), "
                 "%llu iterations\n",
            (void *)j->loop, j->loop->ntasks, j->loop->ntasks == 1 ? "" : "s",
            j->loop->nlive, (unsigned long long)j->loop->n_iterations);
    for (i = 0; i < j->n; i++)
        dump_one(&j->infos[i], &d);
    if (j->failed)
        fprintf(d.f, "  (out of memory: dump incomplete)\n");
    corio__sym_close(d.sym);
    fflush(d.f);
}

static int dump_impl(corio_loop *loop, FILE *f, uintptr_t self_fp)
{
    dump_job j;
    size_t i;
    int rc;
    if (!loop)
        return -EPERM;
    memset(&j, 0, sizeof j);
    j.loop = loop;
    j.f = f ? f : corio__report_file(loop);
    rc = tasks_impl(loop, self_fp, collect, &j);
    if (rc >= 0)
        corio__debug_offstack(print_dump, &j);
    for (i = 0; i < j.n; i++)
        free((char *)j.infos[i].name);
    free(j.infos);
    return rc < 0 ? rc : (int)j.n;
}

CORIO__NOINLINE int corio_dump_loop(corio_loop *loop, FILE *f)
{
    return dump_impl(corio__loop_or_current(loop), f,
                     (uintptr_t)__builtin_frame_address(0));
}

CORIO__NOINLINE int corio_dump(FILE *f)
{
    return dump_impl(corio__tls_loop, f, (uintptr_t)__builtin_frame_address(0));
}

/* ---- dump on signal -----------------------------------------------------------*/

#define SIG_SLOTS 16

/* Registered loops' wake-up fds (-1: free slot) and the signals in use.
 * The handler reads only these atomics. */
static atomic_int sig_fds[SIG_SLOTS] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
static atomic_uint sig_gen;
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char sig_installed[65];

static void dump_signal_handler(int signo)
{
    int i, saved = errno;
    uint64_t one = 1;
    (void)signo;
    atomic_fetch_add(&sig_gen, 1);
    for (i = 0; i < SIG_SLOTS; i++) {
        int fd = atomic_load(&sig_fds[i]);
        if (fd >= 0) {
            ssize_t r = write(fd, &one, sizeof one);
            (void)r;
        }
    }
    errno = saved;
}

int corio_debug_dump_on_signal(corio_loop *loop, int signo)
{
    corio__loop_dbg *d;
    int i;
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (signo < 0 || signo > 64 || signo == SIGKILL || signo == SIGSTOP ||
        signo == SIGSEGV || signo == SIGBUS)
        return -EINVAL;
    if (signo == 0) {
        corio__sigdump_unregister(loop);
        return 0;
    }
    d = corio__debug_state(loop);
    if (!d)
        return -ENOMEM;
    pthread_mutex_lock(&sig_lock);
    if (d->sig_slot < 0) {
        for (i = 0; i < SIG_SLOTS; i++) {
            int expect = -1;
            if (atomic_compare_exchange_strong(&sig_fds[i], &expect,
                                               loop->wake_wfd))
                break;
        }
        if (i == SIG_SLOTS) {
            pthread_mutex_unlock(&sig_lock);
            return -ENOSPC;
        }
        d->sig_slot = i;
    }
    d->sig_seen = atomic_load(&sig_gen);
    if (!sig_installed[signo]) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = dump_signal_handler;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(signo, &sa, NULL) < 0) {
            pthread_mutex_unlock(&sig_lock);
            return -EINVAL;
        }
        sig_installed[signo] = 1;
    }
    pthread_mutex_unlock(&sig_lock);
    corio__debug_set_flag(loop, CORIO__DBG_SIGDUMP, 1);
    return 0;
}

void corio__sigdump_unregister(corio_loop *loop)
{
    corio__loop_dbg *d = loop->dbg;
    if (!d || d->sig_slot < 0)
        return;
    pthread_mutex_lock(&sig_lock);
    atomic_store(&sig_fds[d->sig_slot], -1);
    d->sig_slot = -1;
    pthread_mutex_unlock(&sig_lock);
    corio__debug_set_flag(loop, CORIO__DBG_SIGDUMP, 0);
}

/* Called each iteration while registered: dumps if a signal came. */
void corio__sigdump_poll(corio_loop *loop)
{
    corio__loop_dbg *d = loop->dbg;
    unsigned g = atomic_load_explicit(&sig_gen, memory_order_relaxed);
    if (g == d->sig_seen)
        return;
    d->sig_seen = g;
    fprintf(corio__report_file(loop), "corio: dump requested by signal\n");
    dump_impl(loop, NULL, 0);
}
