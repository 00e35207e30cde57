/* Asynchronous appends from C: aof_append_async, completion queues polled through their
 * eventfd with epoll (200,000 appends, up to 4,096 in flight, one thread) and shared by two
 * logs (one of a manager, one opened alone), a callback queue (its dispatcher thread,
 * 100,000 appends, close then free), the in-flight bound (AOF_ERR_WOULD_BLOCK at once, or
 * a wait that asks for a sync), close with appends pending, and bad input (NULLs, freed
 * and stray queue handles, a log handle as a queue and the other way round, polling a
 * callback queue, appending without a queue, a callback freeing its own queue). Every
 * completion is checked exactly once, in id order, with its status, user_data and log.
 * Under valgrind (AOFT_SCALE_DIV) the counts shrink; every case still runs. */
#include "aoft.h"

#include <stdatomic.h>
#include <sys/epoll.h>

#define SENTINEL 0x5A5A5A5A5A5A5A5Aull
#define HOUR_MS 3600000u

enum { PAYLOAD = 24, BATCH = 512 };

/* Appends record `id` (a payload derived from it) with `user_data`; checks its id. */
static void append_async(aof_log_t *log, uint64_t id, void *user_data) {
    uint8_t buf[PAYLOAD];
    aoft_fill(buf, sizeof buf, id);
    uint64_t got = 0;
    CHECK_OK(aof_append_async(log, buf, sizeof buf, user_data, &got));
    CHECK_EQ_U64(got, id);
}

static aof_log_t *open_with(aoft_dir *d, int32_t policy, uint32_t interval_ms,
                            int64_t wait_ms, uint64_t max_records) {
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_OK(aof_options_set_segment_size(o, 4u << 20));
    CHECK_OK(aof_options_set_zero_ahead(o, 0));
    CHECK_OK(aof_options_set_flush_policy(o, policy, 1, interval_ms));
    CHECK_OK(aof_options_set_async_limits(o, max_records, AOF_ASYNC_DEFAULT_MAX_BYTES, wait_ms));
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(d->log, o, &log));
    aof_options_free(o);
    return log;
}

static aof_completion_queue_t *new_queue(void) {
    aof_completion_queue_t *cq = NULL;
    CHECK_OK(aof_completion_queue_new(&cq));
    CHECK(cq != NULL);
    return cq;
}

static void metrics(aof_log_t *log, aof_metrics_t *m) {
    CHECK_OK(aof_metrics(log, m, sizeof *m));
}

/* (1) One thread, up to 4,096 appends in flight, woken by epoll on the queue's eventfd and
 * draining it on each wake-up. */
static void test_epoll(void) {
    const uint64_t n = aoft_scaled(200000);
    const uint64_t window = 4096;
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = open_with(&d, AOF_FLUSH_SYNC, 0, AOF_ASYNC_DEFAULT_WAIT_MS,
                               AOF_ASYNC_DEFAULT_MAX_RECORDS);
    aof_completion_queue_t *cq = new_queue();
    CHECK_OK(aof_log_set_completion_queue(log, cq));
    int fd = -1;
    CHECK_OK(aof_cq_fd(cq, &fd));
    CHECK(fd >= 0);
    int ep = epoll_create1(0);
    CHECK(ep >= 0);
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);

    char *marks = (char *)malloc(n); /* user_data: &marks[id - 1], never dereferenced */
    CHECK(marks != NULL);
    aof_completion_t *batch = (aof_completion_t *)malloc(BATCH * sizeof *batch);
    CHECK(batch != NULL);

    /* The record is appended and visible when the call returns. */
    append_async(log, 1, marks);
    uint64_t last = 0;
    CHECK_OK(aof_last_id(log, &last));
    CHECK_EQ_U64(last, 1);
    uint8_t buf[PAYLOAD];
    size_t len = 0;
    CHECK_OK(aof_read(log, 1, buf, sizeof buf, &len, NULL));
    CHECK(len == PAYLOAD && aoft_matches(buf, len, 1));

    uint64_t appended = 1, completed = 0, wakes = 0;
    while (completed < n) {
        while (appended < n && appended - completed < window) {
            appended++;
            append_async(log, appended, marks + appended - 1);
        }
        struct epoll_event got;
        int r = epoll_wait(ep, &got, 1, 30000);
        CHECK(r == 1 && (got.events & EPOLLIN));
        wakes++;
        for (;;) {
            size_t count = SENTINEL;
            int32_t s = aof_cq_poll(cq, batch, BATCH, 0, &count);
            if (s == AOF_TIMED_OUT) {
                CHECK_EQ_U64(count, 0);
                break;
            }
            CHECK_OK(s);
            CHECK(count >= 1 && count <= BATCH);
            for (size_t i = 0; i < count; i++) {
                const aof_completion_t *c = &batch[i];
                CHECK_EQ_U64(c->id, completed + 1);
                CHECK_STATUS(c->status, AOF_OK);
                CHECK(c->user_data == (void *)(marks + c->id - 1));
                CHECK(c->log == log);
                CHECK_EQ_U64(c->reserved, 0);
                completed++;
            }
        }
        CHECK(completed <= appended);
    }
    CHECK_EQ_U64(appended, n);
    /* Drained: the eventfd is not readable and nothing is left. */
    struct epoll_event got;
    CHECK(epoll_wait(ep, &got, 1, 0) == 0);
    size_t count = 1;
    CHECK_STATUS(aof_cq_poll(cq, batch, BATCH, 0, &count), AOF_TIMED_OUT);
    CHECK_EQ_U64(count, 0);
    CHECK_STATUS(aof_cq_poll(cq, batch, BATCH, 20, &count), AOF_TIMED_OUT);

    aof_metrics_t m;
    metrics(log, &m);
    CHECK_EQ_U64(m.async_appends, n);
    CHECK_EQ_U64(m.async_completed, n);
    CHECK_EQ_U64(m.async_in_flight, 0);
    CHECK_EQ_U64(m.durable_id, n);
    fprintf(stderr, "    %" PRIu64 " completions over %" PRIu64 " wake-ups, %" PRIu64
                    " syncs\n", n, wakes, m.syncs);

    CHECK_STATUS(aof_completion_queue_free(cq), AOF_ERR_BUSY);
    CHECK_OK(aof_close(log));
    CHECK_OK(aof_completion_queue_free(cq));
    close(ep);
    free(batch);
    free(marks);
    aoft_rmdir(&d);
}

/* (2) Two logs share one queue: one of a manager, one opened alone, with different flush
 * policies. Each log's completions arrive in id order, named by its handle. */
static void test_shared_queue(void) {
    const uint64_t n = aoft_scaled(20000);
    aoft_dir d, d2;
    aoft_mkdir(&d);
    aoft_mkdir(&d2);
    char root[600];
    int w = snprintf(root, sizeof root, "%s/mgr", d.root);
    CHECK(w > 0 && (size_t)w < sizeof root);
    aof_manager_t *mgr = NULL;
    CHECK_OK(aof_manager_open(root, NULL, &mgr));
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_ASYNC, 0, 0));
    aof_log_t *logs[2] = {NULL, NULL};
    CHECK_OK(aof_manager_open_log(mgr, "orders", o, &logs[0]));
    aof_options_free(o);
    logs[1] = open_with(&d2, AOF_FLUSH_SYNC, 0, AOF_ASYNC_DEFAULT_WAIT_MS,
                        AOF_ASYNC_DEFAULT_MAX_RECORDS);

    aof_completion_queue_t *cq = new_queue();
    CHECK_OK(aof_log_set_completion_queue(logs[0], cq));
    CHECK_OK(aof_log_set_completion_queue(logs[1], cq));
    char tags[2];
    for (uint64_t id = 1; id <= n; id++) {
        append_async(logs[0], id, &tags[0]);
        append_async(logs[1], id, &tags[1]);
    }
    uint64_t next[2] = {1, 1};
    aof_completion_t batch[BATCH];
    while (next[0] <= n || next[1] <= n) {
        size_t count = 0;
        CHECK_OK(aof_cq_poll(cq, batch, BATCH, 30000, &count));
        for (size_t i = 0; i < count; i++) {
            int which = batch[i].log == logs[0] ? 0 : 1;
            CHECK(batch[i].log == logs[which]);
            CHECK(batch[i].user_data == (void *)&tags[which]);
            CHECK_STATUS(batch[i].status, AOF_OK);
            CHECK_EQ_U64(batch[i].id, next[which]);
            next[which]++;
        }
    }
    size_t count = 0;
    CHECK_STATUS(aof_cq_poll(cq, batch, BATCH, 0, &count), AOF_TIMED_OUT);

    /* The queue goes once neither log holds it. */
    CHECK_STATUS(aof_completion_queue_free(cq), AOF_ERR_BUSY);
    CHECK_OK(aof_close(logs[1]));
    CHECK_STATUS(aof_completion_queue_free(cq), AOF_ERR_BUSY);
    CHECK_OK(aof_manager_close(mgr)); /* closes "orders", which detaches it */
    CHECK_OK(aof_completion_queue_free(cq));
    CHECK_OK(aof_close(logs[0]));
    aoft_rmdir(&d);
    aoft_rmdir(&d2);
}

/* What the callback of test (3) counts; `expected`, `log`, `marks` and `main` are set
 * before the queue is attached. */
typedef struct counter {
    atomic_uint_fast64_t seen;
    atomic_uint_fast64_t calls;
    atomic_int bad;
    atomic_int on_main;
    uint64_t next; /* the dispatcher's own: only the callback touches it */
    aof_log_t *log;
    char *marks;
    pthread_t main;
} counter;

static void count_completions(void *ctx, const aof_completion_t *completions, size_t count) {
    counter *c = (counter *)ctx;
    if (pthread_equal(pthread_self(), c->main)) {
        atomic_store(&c->on_main, 1);
    }
    if (count == 0 || count > 256) {
        atomic_store(&c->bad, 1);
    }
    for (size_t i = 0; i < count; i++) {
        const aof_completion_t *x = &completions[i];
        if (x->id != c->next + 1 || x->status != AOF_OK || x->log != c->log ||
            x->user_data != (void *)(c->marks + x->id - 1)) {
            atomic_store(&c->bad, 1);
        }
        c->next = x->id;
    }
    atomic_fetch_add(&c->seen, count);
    atomic_fetch_add(&c->calls, 1);
}

/* (3) A callback queue: the callback runs on the dispatcher thread; after aof_close and
 * aof_completion_queue_free every completion was seen exactly once, in order. */
static void test_callback(void) {
    const uint64_t n = aoft_scaled(100000);
    aoft_dir d;
    aoft_mkdir(&d);
    counter c;
    atomic_init(&c.seen, 0);
    atomic_init(&c.calls, 0);
    atomic_init(&c.bad, 0);
    atomic_init(&c.on_main, 0);
    c.next = 0;
    c.main = pthread_self();
    c.marks = (char *)malloc(n);
    CHECK(c.marks != NULL);
    aof_completion_queue_t *cq = NULL;
    CHECK_OK(aof_completion_queue_new_callback(count_completions, &c, &cq));
    c.log = open_with(&d, AOF_FLUSH_SYNC, 0, AOF_ASYNC_DEFAULT_WAIT_MS,
                      AOF_ASYNC_DEFAULT_MAX_RECORDS);
    CHECK_OK(aof_log_set_completion_queue(c.log, cq));
    for (uint64_t id = 1; id <= n; id++) {
        append_async(c.log, id, c.marks + id - 1);
    }
    CHECK_OK(aof_close(c.log));
    CHECK_OK(aof_completion_queue_free(cq)); /* delivers the rest, joins the dispatcher */
    CHECK_EQ_U64(atomic_load(&c.seen), n);
    CHECK_EQ_U64(c.next, n);
    CHECK(atomic_load(&c.bad) == 0);
    CHECK(atomic_load(&c.on_main) == 0);
    fprintf(stderr, "    %" PRIu64 " completions in %" PRIu64 " callbacks\n", n,
            (uint64_t)atomic_load(&c.calls));
    free(c.marks);
    aoft_rmdir(&d);
}

/* Polls exactly `n` completions of `log` with ids first.., in order, status AOF_OK. */
static void expect_completions(aof_completion_queue_t *cq, aof_log_t *log, uint64_t first,
                               uint64_t n) {
    aof_completion_t batch[BATCH];
    uint64_t next = first;
    while (next < first + n) {
        size_t count = 0;
        CHECK_OK(aof_cq_poll(cq, batch, BATCH, 30000, &count));
        for (size_t i = 0; i < count; i++) {
            CHECK_EQ_U64(batch[i].id, next);
            CHECK_STATUS(batch[i].status, AOF_OK);
            CHECK(batch[i].log == log);
            next++;
        }
        CHECK(next <= first + n);
    }
}

/* (4) The in-flight bound under a policy that never syncs on its own (one hour): past 8
 * appends in flight, the 9th fails at once and appends nothing (wait_ms -1); with a wait,
 * it asks for a sync and goes through. */
static void test_queue_full(void) {
    aoft_dir d, d2;
    aoft_mkdir(&d);
    aoft_mkdir(&d2);
    aof_completion_queue_t *cq = new_queue();

    aof_log_t *log = open_with(&d, AOF_FLUSH_PERIODIC, HOUR_MS, -1, 8);
    CHECK_OK(aof_log_set_completion_queue(log, cq));
    for (uint64_t id = 1; id <= 8; id++) {
        append_async(log, id, NULL);
    }
    uint64_t id = SENTINEL;
    uint8_t buf[PAYLOAD] = {0};
    CHECK_STATUS(aof_append_async(log, buf, sizeof buf, NULL, &id), AOF_ERR_WOULD_BLOCK);
    CHECK_EQ_U64(id, SENTINEL);
    uint64_t last = 0;
    CHECK_OK(aof_last_id(log, &last));
    CHECK_EQ_U64(last, 8); /* nothing appended */
    aof_metrics_t m;
    metrics(log, &m);
    CHECK_EQ_U64(m.async_in_flight, 8);
    CHECK_EQ_U64(m.async_full, 1);
    CHECK_EQ_U64(m.durable_id, 0);
    size_t count = 1;
    aof_completion_t one;
    CHECK_STATUS(aof_cq_poll(cq, &one, 1, 0, &count), AOF_TIMED_OUT);
    /* A sync completes them and makes room. */
    CHECK_OK(aof_flush(log));
    expect_completions(cq, log, 1, 8);
    append_async(log, 9, NULL);
    CHECK_OK(aof_close(log));
    expect_completions(cq, log, 9, 1);

    aof_log_t *waits = open_with(&d2, AOF_FLUSH_PERIODIC, HOUR_MS, 5000, 8);
    CHECK_OK(aof_log_set_completion_queue(waits, cq));
    for (uint64_t i = 1; i <= 8; i++) {
        append_async(waits, i, NULL);
    }
    uint64_t t0 = aoft_now_us();
    append_async(waits, 9, NULL); /* waits for the sync it asked for */
    CHECK(aoft_now_us() - t0 < 5000000u);
    metrics(waits, &m);
    CHECK(m.durable_id >= 8);
    CHECK_EQ_U64(m.async_full, 1);
    expect_completions(cq, waits, 1, 8);
    CHECK_OK(aof_close(waits));
    expect_completions(cq, waits, 9, 1);
    CHECK_OK(aof_completion_queue_free(cq));
    aoft_rmdir(&d);
    aoft_rmdir(&d2);
}

/* (5) Close with appends pending (no sync on its way): after aof_close every completion is
 * in the queue, durable; the queue cannot be freed or changed before. */
static void test_close_pending(void) {
    const uint64_t n = 1000;
    aoft_dir d;
    aoft_mkdir(&d);
    aof_completion_queue_t *cq = new_queue();
    aof_log_t *log = open_with(&d, AOF_FLUSH_PERIODIC, HOUR_MS, AOF_ASYNC_DEFAULT_WAIT_MS,
                               AOF_ASYNC_DEFAULT_MAX_RECORDS);
    CHECK_OK(aof_log_set_completion_queue(log, cq));
    for (uint64_t id = 1; id <= n; id++) {
        append_async(log, id, NULL);
    }
    size_t count = 7;
    aof_completion_t batch[BATCH];
    CHECK_STATUS(aof_cq_poll(cq, batch, BATCH, 0, &count), AOF_TIMED_OUT);
    CHECK_EQ_U64(count, 0);
    CHECK_STATUS(aof_completion_queue_free(cq), AOF_ERR_BUSY);
    /* The queue does not change while appends are in flight. */
    CHECK_STATUS(aof_log_set_completion_queue(log, NULL), AOF_ERR_INVALID_ARG);
    aof_completion_queue_t *other = new_queue();
    CHECK_STATUS(aof_log_set_completion_queue(log, other), AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_completion_queue_free(other));
    CHECK_OK(aof_close(log));
    /* Everything is posted by the close: no wait needed. */
    uint64_t next = 1;
    while (next <= n) {
        CHECK_OK(aof_cq_poll(cq, batch, BATCH, 0, &count));
        for (size_t i = 0; i < count; i++) {
            CHECK_EQ_U64(batch[i].id, next);
            CHECK_STATUS(batch[i].status, AOF_OK);
            CHECK(batch[i].log == log);
            next++;
        }
    }
    CHECK_STATUS(aof_cq_poll(cq, batch, BATCH, 0, &count), AOF_TIMED_OUT);
    CHECK_OK(aof_completion_queue_free(cq));
    aoft_rmdir(&d);
}

/* What the callback of test (6) shares with the test: its own queue, and what freeing it
 * from the callback returned. */
typedef struct self_free {
    aof_completion_queue_t *cq; /* set before any completion can be posted */
    atomic_int status;
    atomic_int calls;
} self_free;

static void free_own_queue(void *ctx, const aof_completion_t *completions, size_t count) {
    (void)completions;
    (void)count;
    self_free *s = (self_free *)ctx;
    if (atomic_fetch_add(&s->calls, 1) == 0) {
        atomic_store(&s->status, aof_completion_queue_free(s->cq));
    }
}

static void ignore(void *ctx, const aof_completion_t *completions, size_t count) {
    (void)ctx;
    (void)completions;
    (void)count;
}

/* (6) Bad input: NULLs first, then the handle (freed: AOF_ERR_CLOSED; never a queue:
 * AOF_ERR_INVALID_ARG), then values; out-params untouched. */
static void test_bad_input(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = open_with(&d, AOF_FLUSH_SYNC, 0, AOF_ASYNC_DEFAULT_WAIT_MS,
                               AOF_ASYNC_DEFAULT_MAX_RECORDS);
    aof_completion_queue_t *cq = new_queue();
    uint64_t id = SENTINEL;
    size_t count = 77;
    int fd = -5;
    aof_completion_t out[2];
    memset(out, 0x5A, sizeof out);
    uint8_t byte = 1;

    /* NULLs. */
    CHECK_STATUS(aof_completion_queue_new(NULL), AOF_ERR_NULL_ARG);
    aof_completion_queue_t *none = NULL;
    CHECK_STATUS(aof_completion_queue_new_callback(NULL, NULL, &none), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_completion_queue_new_callback(free_own_queue, NULL, NULL),
                 AOF_ERR_NULL_ARG);
    CHECK(none == NULL);
    CHECK_OK(aof_completion_queue_free(NULL));
    CHECK_STATUS(aof_cq_poll(NULL, out, 2, 0, &count), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_cq_poll(cq, NULL, 2, 0, &count), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_cq_poll(cq, out, 2, 0, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_cq_fd(NULL, &fd), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_cq_fd(cq, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_log_set_completion_queue(NULL, cq), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_append_async(NULL, &byte, 1, NULL, &id), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_append_async(log, NULL, 1, NULL, &id), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_options_set_async_limits(NULL, 1, 1, 0), AOF_ERR_NULL_ARG);

    /* Values. */
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_STATUS(aof_options_set_async_limits(o, 0, 1, 0), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_async_limits(o, 1, 0, 0), AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_options_set_async_limits(o, 1, 1, INT64_MIN));
    CHECK_OK(aof_options_set_async_limits(o, UINT64_MAX, UINT64_MAX, INT64_MAX));
    aof_options_free(o);
    CHECK_STATUS(aof_cq_poll(cq, out, 0, 0, &count), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_cq_poll(cq, NULL, 0, 0, &count), AOF_ERR_INVALID_ARG);
    /* No queue attached yet. */
    CHECK_STATUS(aof_append_async(log, &byte, 1, NULL, &id), AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "no completion queue") != NULL);
    uint64_t last = SENTINEL;
    CHECK_OK(aof_last_id(log, &last));
    CHECK_EQ_U64(last, 0);

    /* A log handle is no queue handle, and a queue handle no log handle. */
    aof_completion_queue_t *log_as_queue = (aof_completion_queue_t *)(void *)log;
    aof_log_t *queue_as_log = (aof_log_t *)(void *)cq;
    CHECK_STATUS(aof_cq_poll(log_as_queue, out, 2, 0, &count), AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "not a completion queue handle") != NULL);
    CHECK_STATUS(aof_cq_fd(log_as_queue, &fd), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_completion_queue_free(log_as_queue), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_log_set_completion_queue(log, log_as_queue), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_flush(queue_as_log), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_append_async(queue_as_log, &byte, 1, NULL, &id), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_log_set_completion_queue(queue_as_log, cq), AOF_ERR_INVALID_ARG);

    /* Stray values: small integers, an address, random numbers. */
    uint64_t x = aoft_now_us() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
    for (uintptr_t i = 1; i <= 1000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        aof_completion_queue_t *strays[3] = {(aof_completion_queue_t *)i,
                                             (aof_completion_queue_t *)(uintptr_t)x,
                                             (aof_completion_queue_t *)(void *)&byte};
        for (size_t j = 0; j < 3; j++) {
            CHECK_STATUS(aof_cq_fd(strays[j], &fd), AOF_ERR_INVALID_ARG);
        }
    }

    /* A callback queue has nothing to poll and no eventfd. */
    aof_completion_queue_t *cb = NULL;
    CHECK_OK(aof_completion_queue_new_callback(ignore, NULL, &cb));
    CHECK_STATUS(aof_cq_poll(cb, out, 2, 0, &count), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_cq_poll(cb, out, 2, UINT32_MAX, &count), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_cq_fd(cb, &fd), AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_completion_queue_free(cb));

    /* A freed queue: closed, before any value is looked at. */
    aof_completion_queue_t *freed = new_queue();
    CHECK_OK(aof_completion_queue_free(freed));
    CHECK_STATUS(aof_completion_queue_free(freed), AOF_ERR_CLOSED);
    CHECK(strstr(aof_last_error_message(), "closed") != NULL);
    CHECK_STATUS(aof_cq_poll(freed, out, 2, UINT32_MAX, &count), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_cq_poll(freed, NULL, 0, 0, &count), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_cq_fd(freed, &fd), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_log_set_completion_queue(log, freed), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_append_async(log, &byte, 1, NULL, &id), AOF_ERR_INVALID_ARG);

    CHECK_EQ_U64(id, SENTINEL);
    CHECK_EQ_U64(count, 77);
    CHECK(fd == -5);
    CHECK_EQ_U64(out[0].id, SENTINEL);

    /* A callback that frees its own queue gets AOF_ERR_MISUSE; the queue lives on. */
    self_free sf;
    sf.cq = NULL;
    atomic_init(&sf.status, 1);
    atomic_init(&sf.calls, 0);
    CHECK_OK(aof_completion_queue_new_callback(free_own_queue, &sf, &sf.cq));
    CHECK_OK(aof_log_set_completion_queue(log, sf.cq));
    CHECK_OK(aof_append_async(log, &byte, 1, NULL, &id));
    CHECK_EQ_U64(id, 1);
    for (int i = 0; i < 30000 && atomic_load(&sf.calls) == 0; i++) {
        aoft_sleep_ms(1);
    }
    CHECK(atomic_load(&sf.calls) == 1);
    CHECK_STATUS(atomic_load(&sf.status), AOF_ERR_MISUSE);

    /* A closed log: its queue is detached, its handle closed. */
    CHECK_OK(aof_close(log));
    CHECK_STATUS(aof_append_async(log, &byte, 1, NULL, &id), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_append_async(log, &byte, SIZE_MAX, NULL, &id), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_log_set_completion_queue(log, cq), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_log_set_completion_queue(log, NULL), AOF_ERR_CLOSED);
    CHECK_OK(aof_completion_queue_free(sf.cq));
    CHECK_OK(aof_completion_queue_free(cq));
    aoft_rmdir(&d);
}

int main(void) {
    RUN(test_epoll);
    RUN(test_shared_queue);
    RUN(test_callback);
    RUN(test_queue_full);
    RUN(test_close_pending);
    RUN(test_bad_input);
    return 0;
}
