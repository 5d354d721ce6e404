/*
 * Builds the first frame of a context that has never run, in the layout the
 * assembly switch of this CPU pops (see ctx_<cpu>.S). Switching to it then
 * "returns" into corio__ctx_trampoline, which calls entry(arg).
 */
#include "arch/ctx.h"

#include <stdint.h>
#include <string.h>

void corio__ctx_trampoline(void);

void corio__ctx_init(corio__ctx *ctx, void *stack_lo, size_t size,
                     void (*entry)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
    uint64_t *f = (uint64_t *)(top - 80); /* 8 slots + 16 B: aligned call */
    uint32_t mxcsr = 0x1F80;   /* all exceptions masked, round to nearest */
    uint16_t fpucw = 0x037F;   /* x87 default */
    memset(f, 0, 80);
    memcpy((char *)f, &mxcsr, 4);
    memcpy((char *)f + 4, &fpucw, 2);
    f[1] = 0;                              /* r15 */
    f[2] = 0;                              /* r14 */
    f[3] = (uint64_t)(uintptr_t)entry;     /* r13 */
    f[4] = (uint64_t)(uintptr_t)arg;       /* r12 */
    f[5] = 0;                              /* rbx */
    f[6] = 0;                              /* rbp: ends frame-pointer walks */
    f[7] = (uint64_t)(uintptr_t)corio__ctx_trampoline;
    ctx->sp = f;
#elif defined(__aarch64__)
    uint64_t *f = (uint64_t *)(top - 176);
    memset(f, 0, 176);
    f[0] = (uint64_t)(uintptr_t)entry;     /* x19 */
    f[1] = (uint64_t)(uintptr_t)arg;       /* x20 */
    f[10] = 0;                             /* x29 */
    f[11] = (uint64_t)(uintptr_t)corio__ctx_trampoline; /* x30 */
    ctx->sp = f;
#else
#error "no assembly context switch for this CPU: configure with -DCORIO_CONTEXT=ucontext"
#endif
}
