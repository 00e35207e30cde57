/*
 * event_store.c - libaof as an event store: producers append events, a consumer tails the
 * log and keeps its own position, so that after a restart it resumes where it stopped.
 *
 *   ./event_store [DIR]        (DIR defaults to ./event-store-data)
 *
 * The producer thread appends events (AOF_FLUSH_BATCHED: records become durable in groups
 * of 64, or at the producer's final aof_flush). The consumer thread opens a cursor at the
 * id after the last one it processed (saved in DIR/consumer.offset), waits at the tail with
 * aof_cursor_wait, processes each event and saves its offset every 100 events, durably
 * (write to a temporary file, fsync, rename): a crash replays at most the events since the
 * last save, never skips one. Run it twice: the second run's consumer starts at the
 * events the second producer appends, having processed the first run's.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aof.h"

enum { EVENTS = 1000, SAVE_EVERY = 100 };

static void check(int32_t status, const char *what) {
    if (status != AOF_OK) {
        fprintf(stderr, "error: %s: %s (%d)\n  detail: %s\n", what, aof_errstr(status),
                (int)status, aof_last_error_message());
        exit(1);
    }
}

static char offset_path[4096];

/* The id after the last event processed (1 when nothing was: ids start at 1). */
static uint64_t load_offset(void) {
    FILE *f = fopen(offset_path, "r");
    if (f == NULL) {
        return 1;
    }
    uint64_t next = 1;
    if (fscanf(f, "%" SCNu64, &next) != 1) {
        next = 1;
    }
    fclose(f);
    return next;
}

/* Saves the consumer's position durably: temporary file, fsync, rename over the old one. */
static void save_offset(uint64_t next) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", offset_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open offset");
        exit(1);
    }
    char line[32];
    int n = snprintf(line, sizeof line, "%" PRIu64 "\n", next);
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0 || close(fd) != 0 ||
        rename(tmp, offset_path) != 0) {
        perror("save offset");
        exit(1);
    }
}

struct consumer {
    aof_log_t *log;
    uint64_t until; /* stop after processing this id */
    uint64_t processed;
    uint64_t checksum;
};

static void *consume(void *arg) {
    struct consumer *c = (struct consumer *)arg;
    uint64_t next = load_offset();
    aof_cursor_t *cursor = NULL;
    check(aof_cursor_open(c->log, next, &cursor), "aof_cursor_open");
    while (next <= c->until) {
        aof_record_t rec;
        int32_t s = aof_cursor_next(cursor, &rec);
        if (s == AOF_END) {
            /* At the tail: sleep until the producer appends (or 10 s pass). */
            s = aof_cursor_wait(cursor, 10000);
            if (s == AOF_TIMED_OUT) {
                fprintf(stderr, "consumer: no event for 10 s\n");
                exit(1);
            }
            check(s, "aof_cursor_wait");
            continue;
        }
        check(s, "aof_cursor_next");
        /* "Process" the event: rec.data is borrowed until the next cursor call. */
        for (size_t i = 0; i < rec.len; i++) {
            c->checksum = c->checksum * 31 + rec.data[i];
        }
        c->processed++;
        next = rec.id + 1;
        if (next % SAVE_EVERY == 0) {
            save_offset(next);
        }
    }
    save_offset(next);
    aof_cursor_free(cursor);
    return NULL;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./event-store-data";
    snprintf(offset_path, sizeof offset_path, "%s/consumer.offset", dir);

    aof_options_t *opts = NULL;
    check(aof_options_new(&opts), "aof_options_new");
    check(aof_options_set_flush_policy(opts, AOF_FLUSH_BATCHED, 64, 0), "flush policy");
    aof_log_t *log = NULL;
    check(aof_open(dir, opts, &log), "aof_open");
    aof_options_free(opts);

    uint64_t last = 0;
    check(aof_last_id(log, &last), "aof_last_id");
    uint64_t start = load_offset();
    printf("event store in %s: %" PRIu64 " events so far, consumer resumes at id %" PRIu64
           "\n",
           dir, last, start);

    struct consumer c = {log, last + EVENTS, 0, 0};
    pthread_t consumer;
    if (pthread_create(&consumer, NULL, consume, &c) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 1;
    }
    /* The producer: this thread. */
    for (int i = 0; i < EVENTS; i++) {
        char event[96];
        int n = snprintf(event, sizeof event,
                         "{\"type\":\"order_placed\",\"order\":%d,\"amount_cents\":%d}", i,
                         (i * 7919) % 100000);
        check(aof_append(log, (const uint8_t *)event, (size_t)n, NULL), "aof_append");
    }
    check(aof_flush(log), "aof_flush");
    pthread_join(consumer, NULL);

    check(aof_last_id(log, &last), "aof_last_id");
    printf("appended %d events (last id %" PRIu64 "); the consumer processed %" PRIu64
           " (checksum %016" PRIx64 ") and saved its offset %" PRIu64 "\n",
           EVENTS, last, c.processed, c.checksum, load_offset());
    if (load_offset() != last + 1) {
        fprintf(stderr, "the consumer did not reach the end\n");
        return 1;
    }
    check(aof_close(log), "aof_close");
    return 0;
}
