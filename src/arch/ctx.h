/*
 * The context-switch contract. One implementation per CPU (ctx_x86_64.S,
 * ctx_aarch64.S) and a portable ucontext one (ctx_ucontext.c), chosen by the
 * build (CORIO_CONTEXT).
 *
 * A corio__ctx is the saved state of a suspended execution context. The
 * assembly versions keep everything on the context's own stack and store
 * only the stack pointer here: the callee-saved registers the ABI requires
 * (x86-64: rbx rbp r12-r15, MXCSR and the x87 control word; aarch64:
 * x19-x30, d8-d15, FPCR) are pushed before the switch and popped after it.
 */
#ifndef CORIO_CTX_H
#define CORIO_CTX_H

#include <stddef.h>

#ifdef CORIO_CTX_UCONTEXT
#include <ucontext.h>
typedef struct corio__ctx {
    void *sp;      /* unused by ucontext; kept so code may read it */
    ucontext_t uc; /* the whole saved context */
} corio__ctx;
#else
typedef struct corio__ctx {
    void *sp; /* saved stack pointer; NULL before init */
} corio__ctx;
#endif

/* Prepares ctx so that switching to it calls entry(arg) at the top of the
 * stack [stack_lo, stack_lo + size). entry must never return: a finished
 * context switches away for good. */
void corio__ctx_init(corio__ctx *ctx, void *stack_lo, size_t size,
                     void (*entry)(void *), void *arg);

/* Saves the running context into from and resumes to. Returns when some
 * other context switches back to from. */
void corio__ctx_switch(corio__ctx *from, corio__ctx *to);

#endif
