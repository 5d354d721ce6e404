/*
 * Portable fallback: POSIX ucontext. Slower (swapcontext saves and restores
 * the signal mask with a system call) but runs on any CPU glibc supports.
 */
#include "arch/ctx.h"

#include <stdint.h>
#include <stdlib.h>

/* makecontext passes int arguments only, so the pointers travel split in
 * two 32-bit halves. */
static void uc_entry(unsigned eh, unsigned el, unsigned ah, unsigned al)
{
    void (*entry)(void *) =
        (void (*)(void *))(((uintptr_t)eh << 32) | (uintptr_t)el);
    void *arg = (void *)(((uintptr_t)ah << 32) | (uintptr_t)al);
    entry(arg);
    abort(); /* entry never returns */
}

void corio__ctx_init(corio__ctx *ctx, void *stack_lo, size_t size,
                     void (*entry)(void *), void *arg)
{
    uintptr_t e = (uintptr_t)entry, a = (uintptr_t)arg;
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = stack_lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))uc_entry, 4,
                (unsigned)((uint64_t)e >> 32), (unsigned)(e & 0xffffffffu),
                (unsigned)((uint64_t)a >> 32), (unsigned)(a & 0xffffffffu));
    ctx->sp = stack_lo;
}

void corio__ctx_switch(corio__ctx *from, corio__ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}
