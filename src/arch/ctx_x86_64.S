/*
 * x86-64 System V context switch. Saves exactly what the ABI says a callee
 * must preserve: rbx, rbp, r12-r15, the MXCSR control bits and the x87
 * control word; everything else is caller-saved and already spilled by the
 * compiler around the call. The return address is the resume point.
 *
 * Frame left on the suspended stack, from the saved sp upwards:
 *   +0  mxcsr (4) | x87 cw (2) | pad (2)
 *   +8  r15  +16 r14  +24 r13  +32 r12  +40 rbx  +48 rbp  +56 return address
 * ctx_asm.c builds the same frame for a context that has never run.
 */
    .text
    .globl corio__ctx_switch
    .type corio__ctx_switch, @function
    .p2align 4
corio__ctx_switch:           /* rdi = from, rsi = to */
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size corio__ctx_switch, .-corio__ctx_switch

/* First code a new context runs: entry(arg) with r13 = entry, r12 = arg.
 * The stack is 16-byte aligned here, as the call needs. entry never
 * returns; ud2 traps if it does. The CFI marks the outermost frame so
 * debuggers and unwinders stop here. */
    .globl corio__ctx_trampoline
    .type corio__ctx_trampoline, @function
    .p2align 4
corio__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %r12, %rdi
    callq *%r13
    ud2
    .cfi_endproc
    .size corio__ctx_trampoline, .-corio__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
