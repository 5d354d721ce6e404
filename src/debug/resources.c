/*
 * Debug mode's register of open resources (fds, sockets, streams...), for
 * the "never closed" part of the leak report at loop close.
 *
 * The modules that own resources call corio__obs_resource_open/_close
 * (core/hooks.h) when they create and destroy one; those are one test of
 * loop->obs_events unless the loop is in debug mode. Each open resource then costs a small
 * heap node holding where it was opened (a few frames of the opener's
 * stack), so the report can say who forgot to close it.
 */
#include "debug/debug.h"

#include <stdlib.h>

#define RES_FRAMES 8

typedef struct resource {
    struct resource *next;
    const void *obj;
    const char *kind;       /* static string: "socket", "fd", "stream"... */
    int fd;                 /* or -1 */
    uint64_t task_id;       /* the task that opened it; 0: none */
    int nframes;
    void *frames[RES_FRAMES];
} resource;

/* The list head is loop->dbg->resources (a void * there, so debug.h need
 * not know the node type). */
static resource **head_of(corio_loop *loop)
{
    return (resource **)&loop->dbg->resources;
}

void corio__debug_resource_open(corio_loop *loop, const void *obj,
                                const char *kind, int fd)
{
    resource *r;
    if (!loop->dbg || !(loop->dbg_flags & CORIO__DBG_MODE))
        return;
    r = malloc(sizeof *r);
    if (!r)
        return;
    r->obj = obj;
    r->kind = kind ? kind : "resource";
    r->fd = fd;
    r->task_id = loop->current ? loop->current->id : 0;
    r->nframes = corio__bt_here(loop, 0, r->frames, RES_FRAMES);
    r->next = *head_of(loop);
    *head_of(loop) = r;
    if (!(loop->dbg_flags & CORIO__DBG_RESOURCES))
        corio__debug_set_flag(loop, CORIO__DBG_RESOURCES, 1);
}

void corio__debug_resource_close(corio_loop *loop, const void *obj)
{
    resource **pp, *r;
    if (!loop->dbg)
        return;
    for (pp = head_of(loop); (r = *pp) != NULL; pp = &r->next)
        if (r->obj == obj) {
            *pp = r->next;
            free(r);
            return;
        }
}

/* Reports and frees what is still open; called at loop close. */
void corio__debug_report_resources(corio_loop *loop)
{
    resource *r, *next;
    corio__sym *s = NULL;
    FILE *f = corio__report_file(loop);
    if (!loop->dbg)
        return;
    for (r = *head_of(loop); r; r = next) {
        next = r->next;
        if (!s)
            s = corio__sym_open();
        if (r->fd >= 0)
            fprintf(f, "corio: %s (fd %d) was never closed", r->kind, r->fd);
        else
            fprintf(f, "corio: %s %p was never closed", r->kind, r->obj);
        if (r->task_id)
            fprintf(f, "; opened by task #%llu at:\n", (unsigned long long)r->task_id);
        else
            fprintf(f, "; opened at:\n");
        corio__sym_print_frames(s, f, r->frames, r->nframes, "      ");
        free(r);
    }
    *head_of(loop) = NULL;
    corio__debug_set_flag(loop, CORIO__DBG_RESOURCES, 0);
    corio__sym_close(s);
}
