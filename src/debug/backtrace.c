/*
 * Backtraces by frame-pointer walking: of a suspended task from its saved
 * context, of the caller, and (stall.c) of an interrupted thread from a
 * signal's ucontext.
 *
 * Why frame pointers: the library and its examples are built with
 * -fno-omit-frame-pointer, every suspended task's context holds its frame
 * pointer (ctx_<cpu>.S pushes it), and a walk is a few loads per frame
 * that is safe in a signal handler, unlike DWARF unwinding. A frame record
 * is [fp] = caller's fp, [fp + 8] = return address on both x86-64 and
 * aarch64. The walk is bounded to the stack it started on and requires the
 * chain to grow upwards, so a frame compiled without a frame pointer ends
 * the trace early instead of sending the walk into the weeds.
 */
#include "debug/debug.h"

#include <pthread.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(CORIO__ASAN)
#define NO_ASAN __attribute__((no_sanitize_address))
#else
#define NO_ASAN
#endif

/* Reads the word at a, which lies in [lo, hi - 8]: from the copy of that
 * range when there is one (compact mode's saved stack). */
static NO_ASAN uintptr_t read_word(uintptr_t a, uintptr_t lo, const char *copy)
{
    uintptr_t v;
    if (copy)
        memcpy(&v, copy + (a - lo), sizeof v);
    else
        v = *(const volatile uintptr_t *)a;
    return v;
}

NO_ASAN int corio__bt_walk(uintptr_t pc, uintptr_t fp, uintptr_t lo,
                           uintptr_t hi, const char *copy, void **frames,
                           int max)
{
    int n = 0;
    if (max <= 0)
        return 0;
    if (pc)
        frames[n++] = (void *)pc;
    while (n < max) {
        uintptr_t next, ret;
        if (fp < lo || fp > hi - 2 * sizeof(uintptr_t) ||
            (fp & (sizeof(uintptr_t) - 1)))
            break;
        next = read_word(fp, lo, copy);
        ret = read_word(fp + sizeof(uintptr_t), lo, copy);
        if (!ret)
            break;
        frames[n++] = (void *)ret;
        if (next <= fp) /* the chain must go up the stack: else it's junk */
            break;
        fp = next;
    }
    return n;
}

/* The saved frame of a suspended context (see ctx_<cpu>.S): the resume
 * address and the frame pointer at the time of the switch. */
static NO_ASAN int saved_regs(uintptr_t sp, uintptr_t lo, const char *copy,
                              uintptr_t *pc, uintptr_t *fp)
{
#if defined(__x86_64__) && !defined(CORIO_CTX_UCONTEXT)
    *fp = read_word(sp + 48, lo, copy);
    *pc = read_word(sp + 56, lo, copy);
    return 0;
#elif defined(__aarch64__) && !defined(CORIO_CTX_UCONTEXT)
    *fp = read_word(sp + 80, lo, copy);
    *pc = read_word(sp + 88, lo, copy);
    return 0;
#else
    (void)sp, (void)lo, (void)copy, (void)pc, (void)fp;
    return -1; /* ucontext: the registers live in the uc, see below */
#endif
}

int corio__bt_here(corio_loop *loop, uintptr_t fp, void **frames, int max)
{
    uintptr_t lo, hi;
    corio_task *cur = loop ? loop->current : NULL;
    if (cur && corio__task_body_of(cur)) {
        lo = (uintptr_t)cur->b->stack->lo;
        hi = lo + corio__stack_size(cur->b->stack);
    } else {
        pthread_attr_t a;
        void *base;
        size_t sz;
        if (pthread_getattr_np(pthread_self(), &a) != 0)
            return 0;
        pthread_attr_getstack(&a, &base, &sz);
        pthread_attr_destroy(&a);
        lo = (uintptr_t)base;
        hi = lo + sz;
    }
    if (!fp) /* start at our caller's frame */
        fp = (uintptr_t)__builtin_frame_address(0);
    return corio__bt_walk(0, fp, lo, hi, NULL, frames, max);
}

int corio__bt_task(corio_loop *loop, corio_task *t, uintptr_t self_fp,
                   void **frames, int max)
{
    uintptr_t lo, hi, sp, pc, fp;
    const char *copy = NULL;

    if (t == loop->current && corio__tls_loop == loop)
        return corio__bt_here(loop, self_fp, frames, max);
    if (!(t->flags & CORIO__TF_STARTED) || t->state == CORIO_TASK_DONE ||
        t->state == CORIO_TASK_RUNNING || !corio__task_body_of(t))
        return 0;
    sp = (uintptr_t)t->b->ctx.sp;
#ifdef CORIO_CTX_UCONTEXT
    (void)copy;
    lo = (uintptr_t)t->b->stack->lo;
    hi = lo + corio__stack_size(t->b->stack);
#if defined(__x86_64__)
    pc = (uintptr_t)t->b->ctx.uc.uc_mcontext.gregs[REG_RIP];
    fp = (uintptr_t)t->b->ctx.uc.uc_mcontext.gregs[REG_RBP];
#elif defined(__aarch64__)
    pc = (uintptr_t)t->b->ctx.uc.uc_mcontext.pc;
    fp = (uintptr_t)t->b->ctx.uc.uc_mcontext.regs[29];
#else
    return 0;
#endif
    (void)sp;
    return corio__bt_walk(pc, fp, lo, hi, NULL, frames, max);
#else
    if (loop->compact) {
        /* The shared stack's top part [top - saved_len, top) is t's, either
         * still in place (t is resident) or copied into t->b->saved. */
        hi = (uintptr_t)loop->shared_lo + loop->shared_size;
        if (loop->resident == t) {
            lo = (uintptr_t)loop->shared_lo;
        } else {
            if (!t->b->saved || !t->b->saved_len)
                return 0;
            lo = hi - t->b->saved_len;
            copy = t->b->saved;
        }
    } else {
        lo = (uintptr_t)t->b->stack->lo;
        hi = lo + corio__stack_size(t->b->stack);
    }
    if (sp < lo || sp + 64 > hi)
        return 0;
    if (saved_regs(sp, lo, copy, &pc, &fp) < 0)
        return 0;
    return corio__bt_walk(pc, fp, lo, hi, copy, frames, max);
#endif
}
