/*
 * Turning code addresses into "function+0x1c (file.c:42)".
 *
 * With elfutils' libdw (found by the build: CORIO_HAVE_LIBDW) a session
 * reports the process's modules once (from /proc/self/maps) and then reads
 * each module's symbol table and DWARF line table: static functions and
 * file:line come out as addr2line would print them. Without it, dladdr
 * knows only exported symbols (build with -rdynamic to export an
 * executable's), and otherwise we print module+offset, which
 * `addr2line -f -e module offset` resolves offline.
 *
 * Sessions are opened per report, never kept: reports are rare, and a
 * cached session would pin memory and miss libraries loaded later.
 */
#include "debug/debug.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CORIO_HAVE_LIBDW
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#endif

struct corio__sym {
#ifdef CORIO_HAVE_LIBDW
    Dwfl *dwfl;
#endif
    int unused;
};

corio__sym *corio__sym_open(void)
{
#ifdef CORIO_HAVE_LIBDW
    static const Dwfl_Callbacks cbs = {
        .find_elf = dwfl_linux_proc_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
    };
    corio__sym *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->dwfl = dwfl_begin(&cbs);
    if (!s->dwfl) {
        free(s);
        return NULL;
    }
    if (dwfl_linux_proc_report(s->dwfl, getpid()) != 0 ||
        dwfl_report_end(s->dwfl, NULL, NULL) != 0) {
        dwfl_end(s->dwfl);
        free(s);
        return NULL;
    }
    return s;
#else
    return NULL;
#endif
}

void corio__sym_close(corio__sym *s)
{
    if (!s)
        return;
#ifdef CORIO_HAVE_LIBDW
    dwfl_end(s->dwfl);
#endif
    free(s);
}

static const char *base_name(const char *p)
{
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

#ifdef CORIO_HAVE_LIBDW
/* dwfl_module_getsrc finds the compilation unit through .debug_aranges;
 * when that table is partial (clang does not emit it, but a linked-in
 * object may), units it does not list are never found. Scan them all. */
static void line_by_cu_scan(Dwfl_Module *m, Dwarf_Addr addr, const char **file,
                            int *line)
{
    Dwarf_Die *cu = NULL;
    Dwarf_Addr bias = 0;
    while ((cu = dwfl_module_nextcu(m, cu, &bias)) != NULL) {
        Dwarf_Line *dl;
        int ln = 0;
        const char *f;
        if (dwarf_haspc(cu, addr - bias) <= 0)
            continue;
        dl = dwarf_getsrc_die(cu, addr - bias);
        if (!dl)
            return;
        f = dwarf_linesrc(dl, NULL, NULL);
        if (f && dwarf_lineno(dl, &ln) == 0) {
            *file = f;
            *line = ln;
        }
        return;
    }
}
#endif

#ifdef CORIO_HAVE_LIBDW
/* When addr lies in code inlined into its function, the line table gives
 * the inlined function's line, which alone reads as if the enclosing
 * function had that line. Writes ", in NAME inlined at FILE:LINE" (the
 * innermost inlined function, and where the outermost inline call sits in
 * the real function) into buf, or leaves it empty. */
static void inline_info(Dwfl_Module *m, Dwarf_Addr addr, const char *func,
                        char *buf, size_t len)
{
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(m, addr, &bias);
    Dwarf_Die *scopes = NULL;
    Dwarf_Files *files;
    const char *inner = NULL, *cfile = NULL;
    Dwarf_Word cline = 0;
    int i, n;
    buf[0] = 0;
    if (!cu)
        return;
    n = dwarf_getscopes(cu, addr - bias, &scopes);
    for (i = 0; i < n; i++) {
        Dwarf_Attribute at;
        Dwarf_Word fidx;
        if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine)
            continue;
        if (!inner)
            inner = dwarf_diename(&scopes[i]);
        /* Keep going: the outermost one's call site is in the function. */
        if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &at), &cline) != 0)
            cline = 0;
        cfile = NULL;
        if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &at), &fidx) == 0 &&
            dwarf_getsrcfiles(cu, &files, NULL) == 0)
            cfile = dwarf_filesrc(files, fidx, NULL, NULL);
    }
    /* GCC's partial inlining can list a function inlined into its own
     * out-of-line part (f into f.part.0): nothing worth saying. */
    if (inner && func && !strncmp(func, inner, strlen(inner)) &&
        (func[strlen(inner)] == 0 || func[strlen(inner)] == '.'))
        inner = NULL;
    if (inner && cfile && cline)
        snprintf(buf, len, ", in %s inlined at %s:%lu", inner, base_name(cfile),
                 (unsigned long)cline);
    free(scopes);
}
#endif

/* Looks addr up; name/off/file/line are set as far as known, and inl gets
 * the inline note (see inline_info; "" if none). */
static int lookup(corio__sym *s, uintptr_t addr, const char **name,
                  uintptr_t *off, const char **file, int *line,
                  const char **module, uintptr_t *modoff, char *inl, size_t inl_len)
{
    Dl_info di;
    inl[0] = 0;
    *name = NULL;
    *file = NULL;
    *line = 0;
    *module = NULL;
    *off = *modoff = 0;
#ifdef CORIO_HAVE_LIBDW
    if (s) {
        Dwfl_Module *m = dwfl_addrmodule(s->dwfl, (Dwarf_Addr)addr);
        if (m) {
            GElf_Off o = 0;
            GElf_Sym sym;
            Dwarf_Addr start = 0;
            Dwfl_Line *l;
            const char *n = dwfl_module_addrinfo(m, (GElf_Addr)addr, &o, &sym,
                                                 NULL, NULL, NULL);
            *module = dwfl_module_info(m, NULL, &start, NULL, NULL, NULL,
                                       NULL, NULL);
            *modoff = addr - (uintptr_t)start;
            if (n) {
                *name = n;
                *off = (uintptr_t)o;
            }
            l = dwfl_module_getsrc(m, (Dwarf_Addr)addr);
            if (l) {
                int ln = 0;
                const char *f = dwfl_lineinfo(l, NULL, &ln, NULL, NULL, NULL);
                if (f) {
                    *file = f;
                    *line = ln;
                }
            } else {
                line_by_cu_scan(m, (Dwarf_Addr)addr, file, line);
            }
            if (*file)
                inline_info(m, (Dwarf_Addr)addr, *name, inl, inl_len);
            if (*name)
                return 1;
        }
    }
#else
    (void)s;
#endif
    if (dladdr((void *)addr, &di)) {
        if (!*module && di.dli_fname) {
            *module = di.dli_fname;
            *modoff = addr - (uintptr_t)di.dli_fbase;
        }
        if (di.dli_sname && di.dli_saddr) {
            *name = di.dli_sname;
            *off = addr - (uintptr_t)di.dli_saddr;
            return 1;
        }
    }
    return 0;
}

int corio__sym_format(corio__sym *s, const void *addr, int ret, char *buf,
                      size_t len)
{
    const char *name, *file, *module;
    uintptr_t off, modoff, a = (uintptr_t)addr;
    int line, found;
    char inl[256];
    /* A return address points after the call: its line is the call's. */
    uintptr_t q = ret && a ? a - 1 : a;

    found = lookup(s, q, &name, &off, &file, &line, &module, &modoff, inl,
                   sizeof inl);
    if (ret && a)
        off++, modoff++; /* print the offset of the address itself */
    if (name && file)
        snprintf(buf, len, "%s+0x%lx (%s:%d%s)", name, (unsigned long)off,
                 base_name(file), line, inl);
    else if (name)
        snprintf(buf, len, "%s+0x%lx (%s)", name, (unsigned long)off,
                 module && *module ? base_name(module) : "?");
    else if (module && *module)
        snprintf(buf, len, "%s+0x%lx", base_name(module), (unsigned long)modoff);
    else
        snprintf(buf, len, "%p", addr);
    return found;
}

const char *corio__sym_func(corio__sym *s, const void *addr, int ret,
                            char *buf, size_t len)
{
    const char *name, *file, *module;
    uintptr_t off, modoff, a = (uintptr_t)addr;
    int line;
    char inl[8]; /* not wanted here: a tiny buffer truncates it */
    lookup(s, ret && a ? a - 1 : a, &name, &off, &file, &line, &module, &modoff,
           inl, sizeof inl);
    snprintf(buf, len, "%s", name ? name : "");
    return buf;
}

/* The runtime's own frames, hidden at the top of a suspended task's trace:
 * they say "it parked", which the wait line already says. */
static int internal_top(const char *fn)
{
    return !strncmp(fn, "corio__", 7) || !strcmp(fn, "suspend") ||
           !strcmp(fn, "suspend_switch");
}

static int internal_bottom(const char *fn)
{
    return !strcmp(fn, "task_entry") || !strcmp(fn, "corio__ctx_trampoline");
}

void corio__sym_print_frames(corio__sym *s, FILE *f, void *const *frames,
                             int n, const char *indent)
{
    int i, first = 0, last = n;
    char fn[128], line[512];

    while (first < n && internal_top(corio__sym_func(s, frames[first], 1, fn,
                                                     sizeof fn)))
        first++;
    if (first == n)
        first = 0; /* all internal: show them rather than nothing */
    while (last > first && internal_bottom(corio__sym_func(s, frames[last - 1],
                                                           1, fn, sizeof fn)))
        last--;
    for (i = first; i < last; i++) {
        corio__sym_format(s, frames[i], 1, line, sizeof line);
        fprintf(f, "%s#%d %s\n", indent, i - first, line);
    }
    if (last == first)
        fprintf(f, "%s(no frames)\n", indent);
}

typedef struct offstack_call {
    void (*fn)(void *);
    void *arg;
} offstack_call;

static void *offstack_main(void *p)
{
    offstack_call *c = p;
    c->fn(c->arg);
    return NULL;
}

void corio__debug_offstack(void (*fn)(void *), void *arg)
{
    corio_loop *loop = corio__tls_loop;
    if (loop && loop->current) {
        offstack_call c;
        pthread_t th;
        c.fn = fn;
        c.arg = arg;
        if (pthread_create(&th, NULL, offstack_main, &c) == 0) {
            pthread_join(th, NULL);
            return;
        }
    }
    fn(arg); /* not in a task, or no thread to be had */
}

typedef struct symbolize_call {
    const void *addr;
    char tmp[512];
    int found;
} symbolize_call;

static void symbolize_one(void *p)
{
    symbolize_call *c = p;
    corio__sym *s = corio__sym_open();
    c->found = corio__sym_format(s, c->addr, 0, c->tmp, sizeof c->tmp);
    corio__sym_close(s);
}

int corio_debug_symbolize(const void *addr, char *buf, size_t len)
{
    symbolize_call c;
    int found;
    char *tmp = c.tmp;
    size_t n;
    if (!buf || !len)
        return -EINVAL;
    c.addr = addr;
    corio__debug_offstack(symbolize_one, &c);
    found = c.found;
    if (!found && tmp[0] == '0' && tmp[1] == 'x') {
        buf[0] = 0;
        return -ENOENT;
    }
    n = strlen(tmp);
    if (n >= len)
        n = len - 1;
    memcpy(buf, tmp, n);
    buf[n] = 0;
    return (int)n;
}
