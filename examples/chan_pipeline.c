/*
 * Channels: a three-stage pipeline (generate -> square -> print) connected
 * by channels, closed from the front so every stage ends by itself, then a
 * select that waits on two channels and a deadline at once.
 */
#include <corio.h>

#include <stdint.h>
#include <stdio.h>

#define V(i) ((void *)(intptr_t)(i))

static void *generate(void *arg)
{
    corio_chan *out = arg;
    for (intptr_t i = 1; i <= 5; i++)
        corio_chan_send(out, V(i));
    corio_chan_close(out); /* "no more values": receivers drain, then stop */
    return NULL;
}

typedef struct { corio_chan *in, *out; } stage;

static void *square(void *arg)
{
    stage *s = arg;
    void *v;
    while (corio_chan_recv(s->in, &v) == 0)
        corio_chan_send(s->out, V((intptr_t)v * (intptr_t)v));
    corio_chan_close(s->out);
    return NULL;
}

static void *late_sender(void *arg)
{
    corio_sleep(0.05);
    corio_chan_send(arg, V(42));
    return NULL;
}

static void *main_task(void *arg)
{
    corio_chan *nums, *squares, *a, *b;
    static stage st; /* shared with another task: not on this stack */
    corio_task *t1, *t2, *t3;
    void *v;
    (void)arg;

    corio_chan_create(&nums, 0);    /* unbuffered: a rendezvous */
    corio_chan_create(&squares, 2); /* buffered */
    st.in = nums;
    st.out = squares;
    t1 = corio_spawn(generate, nums);
    t2 = corio_spawn(square, &st);
    while (corio_chan_recv(squares, &v) == 0)
        printf("square: %ld\n", (long)(intptr_t)v);
    corio_await(t1, NULL);
    corio_await(t2, NULL);

    /* select: whichever of a, b delivers first, or give up after 0.2 s. */
    corio_chan_create(&a, 0);
    corio_chan_create(&b, 0);
    t3 = corio_spawn(late_sender, b);
    corio_chan_case cs[2] = {
        {.chan = a, .op = CORIO_CHAN_RECV},
        {.chan = b, .op = CORIO_CHAN_RECV},
    };
    int k = corio_chan_select(cs, 2, 0.2);
    if (k >= 0)
        printf("select: case %d delivered %ld\n", k, (long)(intptr_t)cs[k].value);
    else
        printf("select: %s\n", corio_strerror(k));
    k = corio_chan_select(cs, 2, 0.02);
    printf("select again: %s\n", k < 0 ? corio_strerror(k) : "a value?");
    corio_await(t3, NULL);
    corio_chan_destroy(nums);
    corio_chan_destroy(squares);
    corio_chan_destroy(a);
    corio_chan_destroy(b);
    return NULL;
}

int main(void)
{
    return corio_run(main_task, NULL, NULL) < 0;
}
