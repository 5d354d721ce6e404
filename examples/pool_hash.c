/*
 * Hashes a large file on the thread pool while an echo server on the same
 * loop keeps answering, and shows the server's latency during the hash.
 *
 *   ./pool_hash [FILE]     (default: a 256 MiB temporary file)
 *
 * The hash (64-bit FNV-1a) runs chunk by chunk in corio_to_thread: the
 * loop thread only hands chunks over, so the echo round trips measured by
 * the client task stay fast.
 */
#include <corio.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (4u << 20)

typedef struct hash_job {
    int fd;
    char *buf;
    uint64_t h;
    ssize_t got;
} hash_job;

/* Runs on a worker thread: read one chunk and fold it into the hash. */
static void *hash_chunk(void *arg)
{
    hash_job *j = arg;
    ssize_t i;
    j->got = read(j->fd, j->buf, CHUNK);
    for (i = 0; i < j->got; i++) {
        j->h ^= (unsigned char)j->buf[i];
        j->h *= 0x100000001b3ULL;
    }
    return NULL;
}

static void echo_handler(corio_stream *s, void *arg)
{
    char buf[512];
    ssize_t n;
    (void)arg;
    while ((n = corio_stream_read(s, buf, sizeof buf)) > 0)
        if (corio_stream_write(s, buf, (size_t)n) < 0)
            break;
}

typedef struct client_ctx {
    int port;
    int stop;
    long rounds;
    double worst;
} client_ctx;

static void *client(void *arg)
{
    client_ctx *c = arg;
    corio_stream *s;
    char buf[8];
    if (corio_stream_connect_tcp(&s, "127.0.0.1", c->port) < 0)
        return NULL;
    while (!c->stop) {
        double t0 = corio_now(), dt;
        if (corio_stream_write(s, "ping\n", 5) < 0 ||
            corio_stream_readexactly(s, buf, 5, NULL) < 0)
            break;
        dt = corio_now() - t0;
        if (dt > c->worst)
            c->worst = dt;
        c->rounds++;
        corio_sleep(0.005);
    }
    corio_stream_close(s);
    return NULL;
}

static void *main_task(void *arg)
{
    const char *path = arg;
    char tmp[] = "/tmp/corio-pool-hash-XXXXXX";
    hash_job *j = calloc(1, sizeof *j);
    corio_server *srv;
    client_ctx cc = {0};
    corio_task *cl;
    double t0;
    long long total = 0;

    if (!path) {
        /* Make a 256 MiB file (on the pool too). */
        int fd = mkstemp(tmp);
        char *blk = calloc(1, 1 << 20);
        corio_file *f;
        int i;
        close(fd);
        corio_file_open(&f, tmp, O_WRONLY | O_TRUNC, 0);
        for (i = 0; i < 256; i++) {
            blk[0] = (char)i;
            corio_file_write(f, blk, 1 << 20);
        }
        corio_file_close(f);
        free(blk);
        path = tmp;
    }
    if (corio_server_start(&srv, "127.0.0.1", 0, echo_handler, NULL, NULL) < 0) {
        fprintf(stderr, "cannot start the server\n");
        return NULL;
    }
    cc.port = corio_server_port(srv);
    cl = corio_spawn(client, &cc);

    j->fd = open(path, O_RDONLY | O_CLOEXEC);
    j->buf = malloc(CHUNK);
    j->h = 0xcbf29ce484222325ULL;
    t0 = corio_now();
    do {
        corio_to_thread(hash_chunk, j, NULL);
        total += j->got > 0 ? j->got : 0;
    } while (j->got > 0);
    printf("%s: %lld bytes, fnv1a64 %016llx, %.2f s\n", path, total,
           (unsigned long long)j->h, corio_now() - t0);
    printf("meanwhile the echo server answered %ld round trips, worst %.2f ms\n",
           cc.rounds, cc.worst * 1e3);

    cc.stop = 1;
    corio_await(cl, NULL);
    corio_server_close(srv, 1.0);
    close(j->fd);
    free(j->buf);
    free(j);
    if (path == tmp)
        unlink(tmp);
    return NULL;
}

int main(int argc, char **argv)
{
    return corio_run(main_task, argc > 1 ? argv[1] : NULL, NULL) == 0 ? 0 : 1;
}
