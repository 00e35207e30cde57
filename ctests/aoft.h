/*
 * aoft.h - the tiny test kit shared by the C tests: checks that print file:line and exit
 * non-zero, fresh temporary directories, deterministic payloads and threads helpers.
 * Include it first: it selects the POSIX features the tests use.
 */
#ifndef AOFT_H
#define AOFT_H

#define _XOPEN_SOURCE 700

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aof.h"

/* Fails the test unless `cond` holds. */
#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* Fails the test unless `expr` returns the status `want`; prints both and the last error. */
#define CHECK_STATUS(expr, want)                                                        \
    do {                                                                                \
        int32_t got_ = (expr);                                                          \
        int32_t want_ = (want);                                                         \
        if (got_ != want_) {                                                            \
            fprintf(stderr, "%s:%d: %s\n  returned %d (%s), expected %s = %d\n"       \
                            "  last error: %s\n",                                       \
                    __FILE__, __LINE__, #expr, (int)got_, aof_errstr(got_), #want,      \
                    (int)want_, aof_last_error_message());                              \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, AOF_OK)

/* Fails the test unless two unsigned integers are equal; prints both. */
#define CHECK_EQ_U64(a, b)                                                              \
    do {                                                                                \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                \
        if (a_ != b_) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %" PRIu64 ", %s == %" PRIu64 \
                            "\n", __FILE__, __LINE__, #a, a_, #b, b_);                  \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* Runs one test function and says so. */
#define RUN(test)                                                                       \
    do {                                                                                \
        fprintf(stderr, "  %s ...\n", #test);                                           \
        test();                                                                         \
        fprintf(stderr, "  %s ok\n", #test);                                            \
    } while (0)

/* A fresh directory under $TMPDIR (or /tmp), removed by aoft_rmdir. */
typedef struct aoft_dir {
    char root[512]; /* the mkdtemp directory */
    char log[600];  /* root/log: not created, aof_open creates it */
} aoft_dir;

static inline void aoft_mkdir(aoft_dir *d) {
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0') {
        tmp = "/tmp";
    }
    int n = snprintf(d->root, sizeof d->root, "%s/aof-ctest-XXXXXX", tmp);
    CHECK(n > 0 && (size_t)n < sizeof d->root);
    CHECK(mkdtemp(d->root) != NULL);
    n = snprintf(d->log, sizeof d->log, "%s/log", d->root);
    CHECK(n > 0 && (size_t)n < sizeof d->log);
}

static inline int aoft_rm_entry(const char *path, const struct stat *sb, int flag,
                                struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void aoft_rmdir(aoft_dir *d) {
    CHECK(nftw(d->root, aoft_rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* Deterministic payload of record `id`: `len` bytes derived from the id. */
static inline void aoft_fill(uint8_t *buf, size_t len, uint64_t id) {
    uint64_t x = id * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

/* True if `data` is the payload aoft_fill makes for `id`. */
static inline int aoft_matches(const uint8_t *data, size_t len, uint64_t id) {
    uint8_t *want = (uint8_t *)malloc(len ? len : 1);
    CHECK(want != NULL);
    aoft_fill(want, len, id);
    int same = len == 0 || memcmp(want, data, len) == 0;
    free(want);
    return same;
}

/* Appends a record of `len` aoft_fill bytes for the id it is expected to get. */
static inline uint64_t aoft_append_filled(aof_log_t *log, size_t len, uint64_t expected_id) {
    uint8_t *buf = (uint8_t *)malloc(len ? len : 1);
    CHECK(buf != NULL);
    aoft_fill(buf, len, expected_id);
    uint64_t id = 0;
    CHECK_OK(aof_append(log, buf, len, &id));
    CHECK_EQ_U64(id, expected_id);
    free(buf);
    return id;
}

/* Options with small segments so that tests roll across several segment files. */
static inline aof_options_t *aoft_small_options(void) {
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK(o != NULL);
    CHECK_OK(aof_options_set_segment_size(o, 64 * 1024));
    CHECK_OK(aof_options_set_max_record_size(o, 16 * 1024));
    return o;
}

/* Opens a log in d->log with small segments and the given flush policy. */
static inline aof_log_t *aoft_open_small(aoft_dir *d, int32_t policy, uint32_t batch,
                                         uint32_t interval_ms) {
    aof_options_t *o = aoft_small_options();
    CHECK_OK(aof_options_set_flush_policy(o, policy, batch, interval_ms));
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(d->log, o, &log));
    CHECK(log != NULL);
    aof_options_free(o);
    return log;
}

/* `n` divided by $AOFT_SCALE_DIV (default 1, never below 1): `make valgrind` sets it so that
 * the loop counts of the longer tests fit valgrind's 20-50x slowdown; every test still
 * runs every case. */
static inline uint64_t aoft_scaled(uint64_t n) {
    const char *s = getenv("AOFT_SCALE_DIV");
    uint64_t div = 1;
    if (s != NULL && s[0] != '\0') {
        char *end = NULL;
        unsigned long long v = strtoull(s, &end, 10);
        CHECK(end != NULL && *end == '\0' && v >= 1);
        div = (uint64_t)v;
    }
    uint64_t m = n / div;
    return m > 0 ? m : 1;
}

static inline void aoft_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Microseconds since the Unix epoch (the clock record timestamps use). */
static inline uint64_t aoft_now_us(void) {
    struct timespec ts;
    CHECK(clock_gettime(CLOCK_REALTIME, &ts) == 0);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif /* AOFT_H */
