/*
 * Timers: a hierarchical timing wheel (the Linux/Tokio design).
 *
 * Six levels of 64 slots; a level-L slot spans 64^L one-millisecond ticks,
 * so the wheel covers 2^36 ms (about 795 days; later deadlines are parked in
 * the farthest slot and re-filed when it comes round). A timer is filed at
 * the level of the highest 6-bit digit in which its deadline tick differs
 * from `elapsed` (the last tick processed), hence:
 *  - arm and cancel are O(1): a list append and an unlink, whatever the
 *    number of live timers (most timeouts are cancelled, not fired);
 *  - every timer on a lower level is due before any on a higher level, so
 *    the next event is found by scanning at most six 64-bit bitmaps;
 *  - when time reaches a higher-level slot, its timers are re-filed
 *    ("cascade") to lower levels; each timer cascades at most five times.
 * Deadlines are kept in nanoseconds and rounded UP to ticks, so a timer
 * never fires early. Timers due in the same tick fire in deadline order,
 * and equal deadlines in the order they were armed (stable sort; slots
 * are FIFO lists and cascading preserves their order).
 */
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEVELS CORIO__WHEEL_LEVELS
#define SLOTS CORIO__WHEEL_SLOTS
#define MAX_SPAN ((1LL << (6 * LEVELS)) - 1)

__thread int64_t *corio__tls_sim_clock __attribute__((tls_model("initial-exec")));

int64_t corio__clock_ns(void)
{
    struct timespec ts;
    const int64_t *v = corio__tls_sim_clock;
    if (CORIO__UNLIKELY(v != NULL))
        return *v;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t corio__seconds_to_ns(double s)
{
    if (isnan(s) || s >= 9.2e9)
        return CORIO__NEVER;
    if (s <= -9.2e9)
        return -CORIO__NEVER;
    return (int64_t)(s * 1e9);
}

double corio_now(void) { return (double)corio__clock_ns() / 1e9; }

/* The deadline `seconds` from now, in ns, saturating at CORIO__NEVER (a huge
 * or infinite delay must not wrap around into the past). Non-positive and
 * NaN delays mean now. Integer arithmetic from the clock on: no round trip
 * through floating-point seconds on the arm path. */
static int64_t deadline_after(double seconds)
{
    int64_t now = corio__clock_ns(), d, dl;
    if (!(seconds > 0))
        return now;
    d = corio__seconds_to_ns(seconds);
    if (d == CORIO__NEVER || __builtin_add_overflow(now, d, &dl))
        return CORIO__NEVER;
    return dl;
}
int64_t corio_now_ns(void) { return corio__clock_ns(); }

static inline int64_t tick_of(int64_t ns)
{
    if (ns <= 0)
        return 0;
    return ns / CORIO__NS_PER_MS + (ns % CORIO__NS_PER_MS != 0);
}

void corio__wheel_init(corio__wheel *w, int64_t now_ns)
{
    int l, s;
    w->elapsed = now_ns / CORIO__NS_PER_MS;
    w->count = w->count_user = 0;
    for (l = 0; l < LEVELS; l++) {
        w->occupied[l] = 0;
        for (s = 0; s < SLOTS; s++)
            w->head[l][s] = w->tail[l][s] = NULL;
    }
}

static void file_timer(corio__wheel *w, corio_timer *t)
{
    int64_t tick = tick_of(t->corio__deadline);
    uint64_t diff;
    int level, slot;

    if (tick <= w->elapsed)
        tick = w->elapsed + 1;
    diff = ((uint64_t)(tick ^ w->elapsed)) | (SLOTS - 1);
    level = (63 - __builtin_clzll(diff)) / 6;
    if (level >= LEVELS || tick - w->elapsed > MAX_SPAN) {
        /* Beyond the wheel: the farthest slot; re-filed when reached. */
        level = LEVELS - 1;
        slot = (int)((((uint64_t)w->elapsed >> (6 * level)) + SLOTS - 1) & (SLOTS - 1));
    } else {
        slot = (int)(((uint64_t)tick >> (6 * level)) & (SLOTS - 1));
    }
    t->corio__slot = (uint32_t)(level * SLOTS + slot);
    t->corio__next = NULL;
    t->corio__prev = w->tail[level][slot];
    if (t->corio__prev)
        t->corio__prev->corio__next = t;
    else
        w->head[level][slot] = t;
    w->tail[level][slot] = t;
    w->occupied[level] |= 1ULL << slot;
}

static void unfile_timer(corio__wheel *w, corio_timer *t)
{
    int level = (int)(t->corio__slot / SLOTS), slot = (int)(t->corio__slot % SLOTS);
    if (t->corio__prev)
        t->corio__prev->corio__next = t->corio__next;
    else
        w->head[level][slot] = t->corio__next;
    if (t->corio__next)
        t->corio__next->corio__prev = t->corio__prev;
    else
        w->tail[level][slot] = t->corio__prev;
    if (!w->head[level][slot])
        w->occupied[level] &= ~(1ULL << slot);
    t->corio__slot = CORIO__TIMER_IDLE;
    t->corio__next = t->corio__prev = NULL;
}

void corio__timer_arm(corio_loop *loop, corio_timer *t, int64_t deadline_ns,
                      uint32_t kind, corio_cb cb, void *arg)
{
    corio__wheel *w = &loop->wheel;
    CORIO__ASSERT(cb != NULL);
    CORIO__ASSERT_LOOP_THREAD(loop);
    if (t->corio__slot != CORIO__TIMER_IDLE)
        corio__timer_disarm(t);
    t->corio__deadline = deadline_ns;
    t->corio__kind = kind;
    t->corio__cb = cb;
    t->corio__arg = arg;
    t->corio__loop = loop;
    file_timer(w, t);
    w->count++;
    if (kind != CORIO__TIMER_TASK)
        w->count_user++;
}

int corio__timer_disarm(corio_timer *t)
{
    corio__wheel *w;
    if (t->corio__slot == CORIO__TIMER_IDLE)
        return 0;
    w = &t->corio__loop->wheel;
    unfile_timer(w, t);
    w->count--;
    if (t->corio__kind != CORIO__TIMER_TASK)
        w->count_user--;
    return 1;
}

/* The next slot that needs attention (level and slot out) and its start tick,
 * or -1 when the wheel is empty. */
static int64_t next_event(const corio__wheel *w, int *levelp, int *slotp)
{
    int level;
    for (level = 0; level < LEVELS; level++) {
        uint64_t occ = w->occupied[level], mask;
        int shift = 6 * level, cur, s;
        int64_t base;
        if (!occ)
            continue;
        cur = (int)(((uint64_t)w->elapsed >> shift) & (SLOTS - 1));
        base = (int64_t)((uint64_t)w->elapsed & ~((1ULL << (shift + 6)) - 1));
        mask = cur == SLOTS - 1 ? 0 : occ & (~0ULL << (cur + 1));
        if (mask) {
            s = __builtin_ctzll(mask);
        } else {
            s = __builtin_ctzll(occ); /* wrapped: next revolution */
            base += 1LL << (shift + 6);
        }
        *levelp = level;
        *slotp = s;
        return base + ((int64_t)s << shift);
    }
    return -1;
}

/* Stable merge sort of a slot list by deadline (ties keep FIFO order). */
static corio_timer *sort_by_deadline(corio_timer *h)
{
    corio_timer *a, *b, **tail, *p;
    size_t n = 0, i;
    if (!h || !h->corio__next)
        return h;
    for (p = h; p; p = p->corio__next)
        n++;
    /* Split in halves. */
    p = h;
    for (i = 1; i < n / 2; i++)
        p = p->corio__next;
    b = p->corio__next;
    p->corio__next = NULL;
    a = sort_by_deadline(h);
    b = sort_by_deadline(b);
    h = NULL;
    tail = &h;
    while (a && b) {
        if (b->corio__deadline < a->corio__deadline) {
            *tail = b;
            b = b->corio__next;
        } else {
            *tail = a;
            a = a->corio__next;
        }
        tail = &(*tail)->corio__next;
    }
    *tail = a ? a : b;
    return h;
}

static void sort_slot(corio__wheel *w, int slot)
{
    corio_timer *h = w->head[0][slot], *p, *prev = NULL;
    int sorted = 1;
    for (p = h; p && p->corio__next; p = p->corio__next)
        if (p->corio__next->corio__deadline < p->corio__deadline) {
            sorted = 0;
            break;
        }
    if (sorted)
        return;
    h = sort_by_deadline(h);
    w->head[0][slot] = h;
    for (p = h; p; p = p->corio__next) {
        p->corio__prev = prev;
        prev = p;
    }
    w->tail[0][slot] = prev;
}

size_t corio__wheel_run(corio_loop *loop, int64_t now_ns)
{
    corio__wheel *w = &loop->wheel;
    int64_t now_tick = now_ns / CORIO__NS_PER_MS;
    size_t fired = 0;
    int level, slot;

    while (w->count) {
        int64_t at = next_event(w, &level, &slot);
        corio_timer *t;
        if (at < 0 || at > now_tick)
            break;
        w->elapsed = at;
        if (level > 0) {
            /* Cascade: take the whole slot and file each timer again. A
             * timer due at `at` itself goes to level 0's slot for `at`
             * (empty: it lies in the window already processed) and fires
             * below, now; file_timer would push it to at + 1, 1 ms late
             * (visible in virtual time, where nothing else is late). */
            int s0 = (int)((uint64_t)at & (SLOTS - 1));
            t = w->head[level][slot];
            w->head[level][slot] = w->tail[level][slot] = NULL;
            w->occupied[level] &= ~(1ULL << slot);
            while (t) {
                corio_timer *next = t->corio__next;
                if (tick_of(t->corio__deadline) <= at) {
                    t->corio__slot = (uint32_t)s0;
                    t->corio__next = NULL;
                    t->corio__prev = w->tail[0][s0];
                    if (t->corio__prev)
                        t->corio__prev->corio__next = t;
                    else
                        w->head[0][s0] = t;
                    w->tail[0][s0] = t;
                    w->occupied[0] |= 1ULL << s0;
                } else {
                    file_timer(w, t);
                }
                t = next;
            }
            if (!w->head[0][s0])
                continue;
            slot = s0;
        }
        sort_slot(w, slot);
        /* Fire from the head: a callback may stop any timer (it unlinks
         * itself from this list) or arm new ones (filed in later slots). */
        while ((t = w->head[0][slot]) != NULL) {
            corio_cb cb = t->corio__cb;
            void *arg = t->corio__arg;
            if (tick_of(t->corio__deadline) > at) {
                /* Parked beyond the wheel's range: not due yet. */
                unfile_timer(w, t);
                file_timer(w, t);
                continue;
            }
            corio__timer_disarm(t);
            fired++;
            if (t->corio__kind == CORIO__TIMER_ONESHOT)
                free(t);
            cb(arg);
        }
    }
    if (now_tick > w->elapsed)
        w->elapsed = now_tick;
    return fired;
}

int64_t corio__wheel_next_ns(const corio__wheel *w, int64_t now_ns)
{
    int level, slot;
    int64_t at, d;
    if (!w->count)
        return -1;
    at = next_event(w, &level, &slot);
    if (at < 0)
        return -1;
    d = at * CORIO__NS_PER_MS - now_ns;
    return d > 0 ? d : 0;
}

/* ---- public timers ----------------------------------------------------------*/

static int timer_start_ns(corio_loop *loop, corio_timer *t, int64_t deadline,
                          corio_cb cb, void *arg)
{
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (!cb)
        return -EINVAL;
    CORIO__CHECK_LOOP_THREAD(loop);
    /* The caller need not initialise t: a timer that is not (or is no
     * longer) ours is treated as idle. */
    if (t->corio__loop != loop)
        t->corio__slot = CORIO__TIMER_IDLE;
    corio__timer_arm(loop, t, deadline, CORIO__TIMER_USER, cb, arg);
    return 0;
}

void corio_timer_init(corio_timer *t)
{
    memset(t, 0, sizeof *t);
    t->corio__slot = CORIO__TIMER_IDLE;
}

int corio_timer_start_at(corio_loop *loop, corio_timer *t, double when,
                         corio_cb cb, void *arg)
{
    return timer_start_ns(loop, t, corio__seconds_to_ns(when), cb, arg);
}

int corio_timer_start(corio_loop *loop, corio_timer *t, double delay,
                      corio_cb cb, void *arg)
{
    return timer_start_ns(loop, t, deadline_after(delay), cb, arg);
}

int corio_timer_stop(corio_timer *t)
{
    if (!t->corio__loop)
        return 0;
    CORIO__CHECK_LOOP_THREAD(t->corio__loop);
    return corio__timer_disarm(t);
}

int corio_timer_active(const corio_timer *t)
{
    return t->corio__loop && t->corio__slot != CORIO__TIMER_IDLE;
}

int corio_call_at(corio_loop *loop, double when, corio_cb cb, void *arg)
{
    corio_timer *t;
    loop = corio__loop_or_current(loop);
    if (!loop)
        return -EPERM;
    if (!cb)
        return -EINVAL;
    t = malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    t->corio__slot = CORIO__TIMER_IDLE;
    corio__timer_arm(loop, t, corio__seconds_to_ns(when), CORIO__TIMER_ONESHOT,
                     cb, arg);
    return 0;
}

int corio_call_later(corio_loop *loop, double delay, corio_cb cb, void *arg)
{
    return corio_call_at(loop, (double)corio__clock_ns() / 1e9 + (delay > 0 ? delay : 0),
                         cb, arg);
}

/* ---- sleeping -------------------------------------------------------------------*/

static void describe_sleep(const corio_task *t, const void *obj, char *buf,
                           size_t len, corio_task **owner)
{
    (void)obj;
    (void)owner;
    if (t->b->sleep_deadline != CORIO__NEVER)
        snprintf(buf, len, "sleep, wakes in %.3fs",
                 (double)(t->b->sleep_deadline - corio__clock_ns()) / 1e9);
    else
        snprintf(buf, len, "sleep");
}

const corio__waitable corio__wait_sleep = {"sleep", CORIO_WAIT_SLEEP,
                                           describe_sleep};

static int sleep_until_ns(int64_t deadline)
{
    corio_task *t = corio_current();
    int rc;
    if (!t)
        return -EPERM;
    t->b->sleep_deadline = deadline;
    rc = corio__park(t, &corio__wait_sleep, NULL);
    t->b->sleep_deadline = CORIO__NEVER;
    return rc;
}

int corio_sleep(double seconds)
{
    if (!corio_current())
        return -EPERM;
    if (!(seconds > 0))
        return corio_yield();
    return sleep_until_ns(deadline_after(seconds));
}

int corio_sleep_until(double when)
{
    int64_t dl = corio__seconds_to_ns(when);
    if (!corio_current())
        return -EPERM;
    if (dl <= corio__clock_ns())
        return corio_yield();
    return sleep_until_ns(dl);
}
