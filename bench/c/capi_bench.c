/*
 * capi_bench.c - drives libaof through its C ABI, so the cost of the FFI boundary shows
 * next to the Rust numbers of the same workload. The Rust harness (bench/) runs it and
 * merges what it prints into its table; it can also be run by hand:
 *
 *   capi_bench append  DIR SIZE COUNT POLICY SAMPLE_EVERY
 *       Opens a fresh log in DIR with POLICY (sync | async | batchedN | periodicNms), appends COUNT
 *       records of SIZE bytes from one thread, then aof_flush. Prints one line
 *       "RESULT {json}": records, payload bytes, seconds from the first append until the
 *       flush returned, and the latency of the aof_append calls (one call in SAMPLE_EVERY
 *       timed, chosen at random; nanoseconds).
 *   capi_bench readers DIR SIZE COUNT REPS READS
 *       Fills a fresh log with COUNT records (async, flushed, untimed), then REPS+1 times
 *       (the first is a warm-up) scans it with a cursor and reads READS random ids with
 *       aof_read into a caller buffer. Prints "RESULT {json}" per scan and per read pass,
 *       with "kind" and "rep".
 *
 * Built by `make bench` against the release static library.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aof.h"

static void check(int32_t status, const char *what) {
    if (status != AOF_OK) {
        fprintf(stderr, "capi_bench: %s: %s (%d): %s\n", what, aof_errstr(status), (int)status,
                aof_last_error_message());
        exit(1);
    }
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Keeps what the loops read observable. */
static volatile uint64_t sink;

/* xorshift64* */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng_next(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}
static uint64_t rng_below(uint64_t n) {
    return (rng_next() >> 11) % n; /* high bits; the modulo bias is negligible here */
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Latency samples of one pass. */
typedef struct {
    uint64_t *v;
    size_t n, cap;
} samples_t;

static void samples_init(samples_t *s, size_t cap) {
    s->v = malloc((cap ? cap : 1) * sizeof(uint64_t));
    if (!s->v) {
        fprintf(stderr, "capi_bench: out of memory\n");
        exit(1);
    }
    s->n = 0;
    s->cap = cap;
}

static void samples_add(samples_t *s, uint64_t ns) {
    if (s->n < s->cap) s->v[s->n++] = ns;
}

static uint64_t quantile(const samples_t *s, double q) {
    if (s->n == 0) return 0;
    size_t i = (size_t)(q * (double)(s->n - 1) + 0.5);
    return s->v[i];
}

static void print_result(const char *kind, int rep, uint64_t records, uint64_t bytes,
                         double secs, samples_t *s) {
    printf("RESULT {\"kind\":\"%s\",\"rep\":%d,\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
           ",\"secs\":%.9f",
           kind, rep, records, bytes, secs);
    if (s && s->n > 0) {
        qsort(s->v, s->n, sizeof(uint64_t), cmp_u64);
        printf(",\"lat\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64
               ",\"max\":%" PRIu64 ",\"samples\":%zu}",
               quantile(s, 0.5), quantile(s, 0.99), quantile(s, 0.999), s->v[s->n - 1], s->n);
    } else {
        printf(",\"lat\":null");
    }
    printf("}\n");
    fflush(stdout);
}

static uint8_t *payload(size_t size, uint64_t seed) {
    uint8_t *p = malloc(size ? size : 1);
    if (!p) exit(1);
    rng_state = (rng_state ^ (seed * 0xbf58476d1ce4e5b9ull)) | 1; /* never 0 */
    for (size_t i = 0; i < size; i++) p[i] = (uint8_t)rng_next();
    return p;
}

static aof_log_t *open_log(const char *dir, const char *policy) {
    aof_options_t *opts = NULL;
    check(aof_options_new(&opts), "aof_options_new");
    if (strcmp(policy, "sync") == 0) {
        check(aof_options_set_flush_policy(opts, AOF_FLUSH_SYNC, 0, 0), "set policy");
    } else if (strcmp(policy, "async") == 0) {
        check(aof_options_set_flush_policy(opts, AOF_FLUSH_ASYNC, 0, 0), "set policy");
    } else if (strncmp(policy, "periodic", 8) == 0) {
        uint32_t ms = (uint32_t)strtoul(policy + 8, NULL, 10);
        check(aof_options_set_flush_policy(opts, AOF_FLUSH_PERIODIC, 0, ms), "set policy");
    } else if (strncmp(policy, "batched", 7) == 0) {
        uint32_t n = (uint32_t)strtoul(policy + 7, NULL, 10);
        check(aof_options_set_flush_policy(opts, AOF_FLUSH_BATCHED, n, 0), "set policy");
    } else {
        fprintf(stderr, "capi_bench: unknown policy %s\n", policy);
        exit(2);
    }
    aof_log_t *log = NULL;
    check(aof_open(dir, opts, &log), "aof_open");
    aof_options_free(opts);
    return log;
}

static int run_append(const char *dir, size_t size, uint64_t count, const char *policy,
                      uint64_t every) {
    aof_log_t *log = open_log(dir, policy);
    uint8_t *data = payload(size, 1);
    samples_t s;
    samples_init(&s, (size_t)(count / (every ? every : 1) * 2 + 1024));
    uint64_t id = 0;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        if (every <= 1 || rng_below(every) == 0) {
            uint64_t t0 = now_ns();
            int32_t st = aof_append(log, data, size, &id);
            samples_add(&s, now_ns() - t0);
            check(st, "aof_append");
        } else {
            check(aof_append(log, data, size, &id), "aof_append");
        }
    }
    check(aof_flush(log), "aof_flush");
    double secs = (double)(now_ns() - start) / 1e9;
    print_result("append", 0, count, count * size, secs, &s);
    check(aof_close(log), "aof_close");
    free(s.v);
    free(data);
    return 0;
}

static int run_readers(const char *dir, size_t size, uint64_t count, int reps, uint64_t reads) {
    aof_log_t *log = open_log(dir, "async");
    uint8_t *data = payload(size, 2);
    uint64_t id = 0;
    for (uint64_t i = 0; i < count; i++) check(aof_append(log, data, size, &id), "aof_append");
    check(aof_flush(log), "aof_flush");
    uint8_t *buf = malloc(size ? size : 1);
    samples_t s;
    samples_init(&s, (size_t)(reads / 8 + 1024));
    for (int rep = 0; rep <= reps; rep++) {
        /* Scan: no per-call timing (a call is tens of ns; the clock would dominate). */
        aof_cursor_t *c = NULL;
        check(aof_cursor_open(log, AOF_START_OLDEST, &c), "aof_cursor_open");
        aof_record_t r;
        uint64_t n = 0, bytes = 0, sum = 0;
        uint64_t t0 = now_ns();
        int32_t st;
        while ((st = aof_cursor_next(c, &r)) == AOF_OK) {
            n++;
            bytes += r.len;
            sum += r.len ? r.data[r.len - 1] : 0;
        }
        double secs = (double)(now_ns() - t0) / 1e9;
        if (st != AOF_END) check(st, "aof_cursor_next");
        aof_cursor_free(c);
        if (n != count) {
            fprintf(stderr, "capi_bench: scanned %" PRIu64 " of %" PRIu64 "\n", n, count);
            return 1;
        }
        sink += sum;
        print_result("scan", rep, n, bytes, secs, NULL);

        /* Random reads by id: throughput untimed per call, then a sampled latency pass. */
        uint64_t got = 0;
        t0 = now_ns();
        for (uint64_t i = 0; i < reads; i++) {
            size_t len = 0;
            check(aof_read(log, 1 + rng_below(count), buf, size, &len, NULL), "aof_read");
            got += len;
        }
        sink += got;
        secs = (double)(now_ns() - t0) / 1e9;
        s.n = 0;
        for (uint64_t i = 0; i < reads / 8; i++) {
            size_t len = 0;
            uint64_t want = 1 + rng_below(count);
            uint64_t t1 = now_ns();
            int32_t rs = aof_read(log, want, buf, size, &len, NULL);
            samples_add(&s, now_ns() - t1);
            check(rs, "aof_read");
        }
        print_result("read", rep, reads, got, secs, &s);
    }
    check(aof_close(log), "aof_close");
    free(s.v);
    free(buf);
    free(data);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 7 && strcmp(argv[1], "append") == 0) {
        return run_append(argv[2], (size_t)strtoull(argv[3], NULL, 10),
                          strtoull(argv[4], NULL, 10), argv[5], strtoull(argv[6], NULL, 10));
    }
    if (argc >= 7 && strcmp(argv[1], "readers") == 0) {
        return run_readers(argv[2], (size_t)strtoull(argv[3], NULL, 10),
                           strtoull(argv[4], NULL, 10), atoi(argv[5]),
                           strtoull(argv[6], NULL, 10));
    }
    fprintf(stderr,
            "usage: capi_bench append DIR SIZE COUNT POLICY SAMPLE_EVERY\n"
            "       capi_bench readers DIR SIZE COUNT REPS READS\n");
    return 2;
}
