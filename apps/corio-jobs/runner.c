/*
 * The runner: a dispatcher task takes jobs off the run queue while a
 * worker slot is free (a semaphore of --workers units) and starts one task
 * per job; the task records "running", does the job's work, records how it
 * ended and gives the slot back.
 *
 * The work of each job type (jobs__execute) is in execute.c.
 *
 * Cancellation. DELETE cancels the job's task (corio_cancel): a sleep ends
 * at once; hashing runs on the thread pool and cannot be interrupted by
 * cancelling a task, so the canceller also raises the entry's stop flag,
 * which the hash loop polls every MiB. Drain does the same after its grace
 * period, marking the job interrupted rather than cancelled.
 */
#include "ext.h"
#include "service_int.h"

#include <corio_jobs.h> /* CORIO_JOB_NORETRY */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- job tasks ------------------------------------------------------------------ */

/* A failed attempt with attempts left, on a store this process owns: its
 * scheduled state committed (shielded, like jobs__finish), the entry
 * waits on the scheduled list. A DELETE that came meanwhile (it waits on
 * e->done) cancels it. Returns 1 if e is to go on the scheduled list. */
static int reschedule(entry *e, const char *result, const char *error)
{
    jobs_service *s = e->svc;
    jobs_job *j = e->job;
    e->state = E_FINISHING;
    j->prev_status = j->status;
    j->status = JOBS_SCHEDULED;
    jobs_job_set_result(j, result);
    jobs_job_set_error(j, error);
    j->has_progress = 0;
    free(j->progress_msg);
    j->progress_msg = NULL;
    corio_scope sc;
    corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
    int rc = jobs_committer_submit(s->commit, JOBS_W_UPDATE, j, 1);
    corio_scope_exit(&sc);
    if (rc < 0) {
        /* Not recorded: the store still says running, which a restart
         * turns into interrupted (or requeued). Give up here alike, from
         * what the store holds (the fence compares with it). */
        j->status = j->prev_status;
        jobs__finish(e, JOBS_FAILED, result, error);
    } else if (e->done || e->cancel) {
        e->cancel = 1;
        jobs__finish(e, JOBS_CANCELLED, NULL,
                     "cancelled by DELETE while waiting to be retried");
    } else {
        return 1; /* the caller puts it on the scheduled list, once it is
                     off the running list (the same links) */
    }
    return 0;
}

static void *job_main(void *arg)
{
    entry *e = arg;
    jobs_service *s = e->svc;
    jobs_job *j = e->job;

    int rc = 0;
    if (e->prestart) {
        e->prestart = 0; /* its insert recorded the start */
    } else if (!s->shared) {
        int was = j->status;
        j->prev_status = was;
        j->status = JOBS_RUNNING;
        j->started_ms = jobs_now_ms();
        j->attempts++;
        /* Durably "running" before any effect, so that after a crash the
         * job is known to have (maybe) started. A shared store's claim has
         * already recorded all of this.
         * Shielded: a DELETE that comes meanwhile must not let this task
         * write the job's outcome while its start is still queued. The
         * two committers' transactions commit in either order, so the
         * start could land after the outcome ("cancelled" overwritten by
         * "running", the job run again at the next start after its DELETE
         * answered "cancelled"); each change of a job is made only after
         * the previous one has committed (commit.c). The DELETE waits one
         * commit longer. */
        corio_scope sc;
        int seq = !(jobs_mutant & JOBS_MUTANT_UNSEQUENCED_START);
        if (seq)
            corio_scope_enter(&sc, -1, CORIO_SCOPE_SHIELD);
        rc = jobs_committer_submit(s->commit, JOBS_W_UPDATE, j, 1);
        if (seq)
            corio_scope_exit(&sc);
        if (rc < 0 && rc != -ECANCELED) {
            /* Not recorded: the store still holds the job as it was, which
             * is what its outcome's fence (jobs.h) must compare with. */
            j->status = was;
            j->attempts--;
            j->started_ms = 0;
            e->noretry = 1; /* a store that cannot record starts: no loop */
        }
    }
    char *result = NULL, *error = NULL;
    int timed_out = 0;
    if (rc == 0) {
        /* The attempt's timeout is a scope around the work: its suspending
         * calls fail with -ETIMEDOUT when it passes (corio's own
         * cancellation); pool work (hashing) sees the stop flag, which the
         * hash watcher raises at the deadline. The attempt may run on
         * another loop (multi.c); this task waits for it either way. */
        rc = jobs__run_attempt(e, &result, &error, &timed_out);
        if (timed_out && !e->cancel && !e->interrupt && !e->lost) {
            free(error);
            error = jobs__dupf("timed out after %g s", j->timeout);
            rc = -ETIMEDOUT;
            atomic_store(&e->stop, 0);
        }
    } else if (rc != -ECANCELED)
        error = jobs__dupf("could not record the start: %s", jobs_strerror(rc));

    int status;
    const char *why = error;
    if (e->lost) {
        status = JOBS_INTERRUPTED; /* not recorded: the fence drops it */
        why = "this process lost the job's lease to another";
    } else if (e->interrupt && s->shared) {
        /* Shared queue: a process that shuts down (a rolling restart)
         * hands its unfinished jobs back, to run again elsewhere. */
        status = JOBS_CREATED;
        why = NULL;
        free(result);
        result = NULL;
    } else if (e->interrupt) {
        status = JOBS_INTERRUPTED;
        why = "the server shut down before the job finished";
    } else if (e->cancel || rc == -ECANCELED) {
        status = JOBS_CANCELLED;
        why = "cancelled by DELETE /jobs/<id>";
    } else if (rc == 0) {
        status = JOBS_SUCCEEDED;
    } else {
        status = JOBS_FAILED;
        if (!why)
            why = corio_strerror(rc);
        /* Every failed attempt is in the history; one with attempts left
         * waits its backoff, durably, as scheduled. */
        int64_t now = jobs_now_ms();
        jobs_job_add_error(j, why, now);
        if (!e->noretry && j->attempts < j->max_attempts) {
            status = JOBS_SCHEDULED;
            j->run_at_ms = now + jobs_backoff_ms(j->retry_backoff,
                                                 j->attempts);
        }
    }
    /* The work is over: its worker slot goes to the next job now, not
     * after the outcome's commit, so that the next job's first write (its
     * "running", or on a shared store its claim) shares a commit with
     * this outcome instead of waiting a commit behind it. Each job then
     * keeps its slot through one commit, not two: with sleep-0 jobs that
     * doubles what a fixed number of workers can finish per commit
     * latency. A crash before the outcome commits leaves the job
     * "running" in the store, the same as a crash during its work.
     * Outcomes waiting for their commit are bounded (rq->finishing, as
     * many as the queue has workers): past that the job keeps its slot
     * until its commit, as before, so a slow store slows the claims
     * instead of growing its batches without limit (a batch of
     * thousands of outcomes outlasted the store's operation timeout). */
    int early = corio_sem_try_acquire(e->rq->finishing) == 0;
    if (early)
        corio_sem_release(e->rq->slots);
    /* A failed fetch or command keeps its result too (per-URL outcomes,
     * output): it says what went wrong. */
    int sched = 0;
    if (status == JOBS_SCHEDULED && !s->shared)
        sched = reschedule(e, result, why);
    else /* a shared store's claims take the scheduled job when due */
        jobs__finish(e, status, result, why);
    free(result);
    free(error);

    jobs__list_remove(e);
    if (sched)
        jobs__sched_add(s, e);
    if (--s->nrunning == 0)
        corio_event_set(s->idle);
    corio_sem_release(early ? e->rq->finishing : e->rq->slots);
    jobs__entry_unref(e);
    return NULL;
}

/* ---- the dispatcher -------------------------------------------------------------- */

/* Spawns e's task: 0, or an error with e as it was. */
static int spawn_job(entry *e)
{
    corio_spawn_opts so = {.name = "job"};
    int state = e->state;
    e->state = E_RUNNING;
    e->refs++; /* the task's */
    /* The handle is kept for corio_cancel; detached, the loop frees the
     * task when it ends, and it ends only after leaving the running list,
     * so a handle reached through the list is always valid. */
    int rc = corio_spawn_ex(&e->task, job_main, e, &so);
    if (rc < 0) {
        e->refs--;
        e->state = state;
    }
    return rc;
}

int jobs__runner_launch(jobs_service *s, entry *e)
{
    int rc = spawn_job(e);
    if (rc < 0) {
        corio_sem_release(e->rq->slots);
        jobs__finish(e, JOBS_FAILED, NULL, "could not start a task");
        return rc;
    }
    corio_detach(e->task);
    jobs__list_push(&s->running, e);
    s->nrunning++;
    corio_event_clear(s->idle);
    return 0;
}

/* ---- starting a job at its insert's commit --------------------------------- */

/* A job submitted to an idle queue used to wait for two commits before
 * it ran: its insert, then its "running". Now, when its run queue is
 * empty and a worker slot is free, the insert itself records it as
 * running (attempt 1): one commit, half the enqueue-to-start latency of
 * an idle server. The promises are those of a job started by the
 * dispatcher: it runs only once its record (and its start) is durable,
 * and a crash after that commit finds it running (interrupted at the
 * next start, or requeued with --requeue-interrupted), as it would a
 * job that had just recorded its start. Only on a store this process
 * owns, with no rate limit and nothing queued ahead of it (no job is
 * overtaken); its slot is held from the submission, so the queue's limit
 * holds. */
int jobs__prestart(jobs_service *s, entry *e)
{
    jobs_job *j = e->job;
    if (s->shared || s->draining || j->status != JOBS_CREATED ||
        j->run_at_ms)
        return 0;
    jobs_runq *q = jobs__runq_of(s, j->queue);
    if (!q->slots || q->rate || q->n || corio_sem_try_acquire(q->slots) < 0)
        return 0;
    e->rq = q;
    e->prestart = 1;
    s->nprestart++;
    j->status = JOBS_RUNNING;
    j->started_ms = jobs_now_ms();
    j->attempts++;
    return 1;
}

void jobs__prestart_commit(jobs_service *s, entry *e, int status)
{
    s->nprestart--;
    jobs_job *j = e->job;
    if (status == 0 && spawn_job(e) == 0) {
        corio_detach(e->task);
        jobs__list_push(&s->running, e);
        s->nrunning++;
        corio_event_clear(s->idle);
        return;
    }
    e->prestart = 0;
    corio_sem_release(e->rq->slots);
    j->attempts--;
    if (status == 0) {
        /* No task (no memory; this is the committer's hook, which must
         * not wait for a commit): it waits its turn on the queue, whose
         * dispatcher records its start again, as attempt 1. */
        jobs__enqueue(s, e);
    } else { /* not recorded: as it was */
        j->status = JOBS_CREATED;
        j->started_ms = 0;
    }
}

static void *dispatcher_main(void *arg)
{
    jobs_runq *q = arg;
    jobs_service *s = q->svc;
    for (;;) {
        if (q->head->next == q->head) {
            if (corio_chan_recv(q->bell, NULL) < 0)
                break; /* cancelled: drain */
            continue;
        }
        if (q->rate && jobs__rate_take(q, 1) < 0)
            break; /* ratelimit.c */
        if (corio_sem_acquire(q->slots) < 0)
            break;
        if (q->head->next == q->head) { /* cancelled while we waited */
            corio_sem_release(q->slots);
            continue;
        }
        entry *e = q->head->next;
        jobs__dequeue(s, e);
        jobs__rate_note(q, 1);
        jobs__runner_launch(s, e);
    }
    return NULL;
}

jobs_runq *jobs__runq_of(jobs_service *s, const char *queue)
{
    for (size_t i = 1; queue && i < s->nrqs; i++)
        if (strcmp(s->rqs[i].name, queue) == 0)
            return &s->rqs[i];
    return &s->rqs[0];
}

/* a runs before b: higher priority, then older (smaller id). */
static int before(const jobs_job *a, const jobs_job *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return strcmp(a->id, b->id) < 0;
}

void jobs__enqueue(jobs_service *s, entry *e)
{
    jobs_runq *q = jobs__runq_of(s, e->job->queue);
    e->rq = q;
    e->state = E_QUEUED;
    /* From the tail: a new job of the usual priority goes last at once. */
    entry *p = q->head->prev;
    while (p != q->head && before(e->job, p->job))
        p = p->prev;
    e->prev = p;
    e->next = p->next;
    p->next->prev = e;
    p->next = e;
    q->n++;
    s->nqueued++;
    if (q->bell)
        corio_chan_try_send(q->bell, NULL);
}

void jobs__dequeue(jobs_service *s, entry *e)
{
    jobs__list_remove(e);
    e->rq->n--;
    s->nqueued--;
}

/* ---- the scheduler (a store this process owns) ---------------------------------- */

void jobs__sched_add(jobs_service *s, entry *e)
{
    e->state = E_SCHEDULED;
    jobs__list_push(&s->sched, e);
    s->nsched++;
    if (s->sched_bell)
        corio_event_set(s->sched_bell);
}

/* Sleeps until the earliest run_at (or a change of the list), then moves
 * every due job to the run queue. A linear scan per wake: the list holds
 * the jobs waiting for a retry, few next to the queue. */
static void *sched_main(void *arg)
{
    jobs_service *s = arg;
    for (;;) {
        corio_event_clear(s->sched_bell);
        int64_t now = jobs_now_ms(), next = INT64_MAX;
        for (entry *e = s->sched.next, *nx; e != &s->sched; e = nx) {
            nx = e->next;
            if (e->job->run_at_ms <= now) {
                jobs__list_remove(e);
                s->nsched--;
                jobs__enqueue(s, e);
            } else if (e->job->run_at_ms < next) {
                next = e->job->run_at_ms;
            }
        }
        corio_scope sc;
        corio_scope_enter(&sc, next == INT64_MAX ? -1
                                                 : (double)(next - now) / 1e3,
                          0);
        int rc = corio_event_wait(s->sched_bell);
        corio_scope_exit(&sc);
        if (rc == -ECANCELED && corio_cancelled())
            break; /* drain */
    }
    return NULL;
}

void jobs__runner_kick(jobs_service *s)
{
    for (size_t i = 0; s->rqs && i < s->nrqs; i++)
        if (s->rqs[i].bell)
            corio_chan_try_send(s->rqs[i].bell, NULL);
}

int jobs__runner_start(jobs_service *s)
{
    int rc = corio_event_create(&s->idle);
    if (rc == 0)
        corio_event_set(s->idle);
    for (size_t i = 0; rc == 0 && i < s->nrqs; i++) {
        jobs_runq *q = &s->rqs[i];
        rc = corio_sem_create(&q->slots, (size_t)q->limit);
        if (rc == 0)
            rc = corio_sem_create(&q->finishing, (size_t)q->limit);
        if (rc == 0)
            rc = corio_chan_create(&q->bell, 1);
        corio_spawn_opts so = {.name = "jobs-dispatcher"};
        if (rc == 0)
            rc = corio_spawn_ex(&q->dispatcher,
                                s->shared ? jobs__shared_dispatcher
                                          : dispatcher_main,
                                q, &so);
    }
    corio_spawn_opts lo = {.name = "jobs-leases"};
    if (rc == 0 && s->shared)
        rc = corio_spawn_ex(&s->lease_task, jobs__lease_main, s, &lo);
    if (rc == 0 && !s->shared)
        rc = corio_event_create(&s->sched_bell);
    corio_spawn_opts sco = {.name = "jobs-scheduler"};
    if (rc == 0 && !s->shared)
        rc = corio_spawn_ex(&s->sched_task, sched_main, s, &sco);
    if (rc == 0)
        jobs__runner_kick(s);
    return rc;
}

int jobs__runner_stop(jobs_service *s, double grace)
{
    corio_scope shield;
    corio_scope_enter(&shield, -1, CORIO_SCOPE_SHIELD);
    for (size_t i = 0; s->rqs && i < s->nrqs; i++) {
        jobs_runq *q = &s->rqs[i];
        if (q->dispatcher) {
            corio_cancel(q->dispatcher);
            corio_await(q->dispatcher, NULL);
            q->dispatcher = NULL;
        }
    }
    /* Jobs whose insert (recording their start) is still in flight start
     * when it commits: wait for that (a commit's time; new submissions
     * are refused by now), so that they run, and are interrupted after
     * the grace period, like the others. */
    while (s->nprestart)
        corio_sleep(0.001);
    if (s->sched_task) { /* scheduled jobs stay so, for the next start */
        corio_cancel(s->sched_task);
        corio_await(s->sched_task, NULL);
        s->sched_task = NULL;
    }
    int interrupted = 0;
    if (s->idle && s->nrunning) {
        corio_scope sc;
        corio_scope_enter(&sc, grace, 0);
        corio_event_wait(s->idle);
        corio_scope_exit(&sc);
        for (entry *e = s->running.next; e != &s->running; e = e->next) {
            if (e->state == E_RUNNING && !e->interrupt && !e->cancel) {
                e->interrupt = 1;
                atomic_store(&e->stop, 1);
                corio_cancel(e->task);
                interrupted++;
            }
        }
        while (s->nrunning)
            corio_event_wait(s->idle);
    }
    /* Leases are renewed until the last job has ended and recorded it. */
    if (s->lease_task) {
        corio_cancel(s->lease_task);
        corio_await(s->lease_task, NULL);
        s->lease_task = NULL;
    }
    corio_scope_exit(&shield);
    for (size_t i = 0; s->rqs && i < s->nrqs; i++) {
        jobs_runq *q = &s->rqs[i];
        if (q->bell) {
            corio_chan_destroy(q->bell);
            q->bell = NULL;
        }
        if (q->slots) {
            corio_sem_destroy(q->slots);
            q->slots = NULL;
        }
        if (q->finishing) {
            corio_sem_destroy(q->finishing);
            q->finishing = NULL;
        }
    }
    if (s->idle) {
        corio_event_destroy(s->idle);
        s->idle = NULL;
    }
    if (s->sched_bell) {
        corio_event_destroy(s->sched_bell);
        s->sched_bell = NULL;
    }
    return interrupted;
}
