/*
 * quickstart.c - a tour of libaof's C API.
 *
 *   ./quickstart [DIR]        (DIR defaults to ./quickstart-data)
 *
 * Opens (or creates) a log in DIR with the default options, appends records, reads them
 * back by id, scans them with a cursor, tails the log from a second thread that sleeps in
 * aof_cursor_wait until appends wake it, and prints the log's metrics. Run it again: the
 * log keeps its records and new ids continue where the last run stopped.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aof.h"

/* Exits with a readable message unless `status` is AOF_OK. */
static void check(int32_t status, const char *what) {
    if (status != AOF_OK) {
        fprintf(stderr, "error: %s: %s (%d)\n  detail: %s\n", what, aof_errstr(status),
                (int)status, aof_last_error_message());
        exit(1);
    }
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Formats a record's timestamp (microseconds since the Unix epoch) as ISO 8601 in UTC with
 * microseconds, e.g. "2026-11-26T19:14:03.123456Z", into buf; returns buf. */
static const char *format_time(uint64_t timestamp_us, char *buf, size_t len) {
    time_t secs = (time_t)(timestamp_us / 1000000u);
    struct tm tm;
    size_t n = 0;
    if (gmtime_r(&secs, &tm) != NULL) {
        n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    }
    if (n == 0) { /* out of struct tm's range, or buf too small: the raw value */
        snprintf(buf, len, "%" PRIu64 " us since the epoch", timestamp_us);
        return buf;
    }
    snprintf(buf + n, len - n, ".%06uZ", (unsigned)(timestamp_us % 1000000u));
    return buf;
}

enum { TAIL_COUNT = 5 };

/* The tailing thread: owns the cursor it is given (one thread at a time per cursor). */
static void *tail(void *arg) {
    aof_cursor_t *cursor = (aof_cursor_t *)arg;
    int seen = 0;
    while (seen < TAIL_COUNT) {
        /* Sleeps until an append makes a record visible (or 5 s pass). */
        int32_t s = aof_cursor_wait(cursor, 5000);
        if (s == AOF_TIMED_OUT) {
            fprintf(stderr, "  [tail] no record within 5 s, giving up\n");
            break;
        }
        check(s, "aof_cursor_wait");
        aof_record_t rec;
        while ((s = aof_cursor_next(cursor, &rec)) == AOF_OK) {
            /* rec.data is borrowed: valid until the next call on this cursor. */
            printf("  [tail] woke up: record #%" PRIu64 " \"%.*s\"\n", rec.id, (int)rec.len,
                   (const char *)rec.data);
            fflush(stdout);
            seen++;
        }
        if (s != AOF_END) {
            check(s, "aof_cursor_next");
        }
    }
    aof_cursor_free(cursor);
    return NULL;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./quickstart-data";
    printf("libaof %s (header %s)\n\n", aof_version(), AOF_VERSION_STRING);

    /* 1. Open the log with the default options (NULL): 64 MiB segments, every append
     *    synced before it returns (AOF_FLUSH_SYNC). */
    aof_log_t *log = NULL;
    check(aof_open(dir, NULL, &log), "aof_open");
    uint64_t existing = 0;
    check(aof_last_id(log, &existing), "aof_last_id");
    printf("1. opened %s: %" PRIu64 " records from earlier runs\n", dir, existing);

    /* 2. Append a few records. Each gets the next id; ids are dense and start at 1. */
    const char *greetings[] = {"hello", "append-only", "world"};
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        check(aof_append(log, (const uint8_t *)greetings[i], strlen(greetings[i]), &ids[i]),
              "aof_append");
        printf("2. appended record #%" PRIu64 " \"%s\"\n", ids[i], greetings[i]);
    }
    /* A batch: one call, consecutive ids. */
    const uint8_t *datas[2] = {(const uint8_t *)"batch-a", (const uint8_t *)"batch-b"};
    size_t lens[2] = {7, 7};
    uint64_t first = 0;
    check(aof_append_batch(log, datas, lens, 2, &first), "aof_append_batch");
    printf("2. appended a batch of 2 starting at #%" PRIu64 "\n", first);

    /* 3. Read records back by id into a caller-owned buffer. */
    for (int i = 0; i < 3; i++) {
        char buf[64];
        size_t len = 0;
        uint64_t ts = 0;
        check(aof_read(log, ids[i], (uint8_t *)buf, sizeof buf - 1, &len, &ts), "aof_read");
        buf[len] = '\0';
        char when[48];
        printf("3. read #%" PRIu64 ": \"%s\" (%zu bytes, appended at %s)\n", ids[i], buf, len,
               format_time(ts, when, sizeof when));
    }

    /* 4. Scan this run's records with a cursor, starting at the first new id. */
    aof_cursor_t *scan = NULL;
    check(aof_cursor_open(log, ids[0], &scan), "aof_cursor_open");
    aof_record_t rec;
    int32_t s;
    printf("4. scan:");
    while ((s = aof_cursor_next(scan, &rec)) == AOF_OK) {
        printf(" #%" PRIu64 "=\"%.*s\"", rec.id, (int)rec.len, (const char *)rec.data);
    }
    printf("\n");
    if (s != AOF_END) {
        check(s, "aof_cursor_next");
    }
    aof_cursor_free(scan);

    /* 5. Tail from a second thread. The cursor starts at AOF_START_END: it sees only
     *    records appended from now on, and sleeps in aof_cursor_wait until they come. */
    aof_cursor_t *tail_cursor = NULL;
    check(aof_cursor_open(log, AOF_START_END, &tail_cursor), "aof_cursor_open");
    pthread_t tail_thread;
    if (pthread_create(&tail_thread, NULL, tail, tail_cursor) != 0) {
        fprintf(stderr, "error: pthread_create failed\n");
        return 1;
    }
    printf("5. tailing from a second thread; appending %d events 100 ms apart\n", TAIL_COUNT);
    for (int i = 1; i <= TAIL_COUNT; i++) {
        sleep_ms(100);
        char event[32];
        int n = snprintf(event, sizeof event, "event %d", i);
        printf("  [main] appending \"%s\"\n", event);
        fflush(stdout);
        check(aof_append(log, (const uint8_t *)event, (size_t)n, NULL), "aof_append");
    }
    pthread_join(tail_thread, NULL);

    /* 6. Metrics. Pass sizeof: the struct only grows in later versions. */
    aof_metrics_t m;
    check(aof_metrics(log, &m, sizeof m), "aof_metrics");
    printf("6. metrics: appends=%" PRIu64 " append_bytes=%" PRIu64 " batches=%" PRIu64
           " syncs=%" PRIu64 " reads=%" PRIu64 "\n"
           "            last_id=%" PRIu64 " durable_id=%" PRIu64 " segments=%" PRIu64
           " clean_shutdown_before_open=%" PRIu64 "\n",
           m.appends, m.append_bytes, m.batches, m.syncs, m.reads, m.last_id, m.durable_id,
           m.segment_count, m.recovery_clean_shutdown);

    /* 7. Close: syncs everything and marks a clean shutdown. The handle is dead afterwards;
     *    using it again returns AOF_ERR_CLOSED instead of crashing. */
    check(aof_close(log), "aof_close");
    printf("7. closed; a call on the closed handle says: %s\n", aof_errstr(aof_flush(log)));
    return 0;
}
