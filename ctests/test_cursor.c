/* Cursors: scans from every start position across segment rolls, polling, tailing from a
 * second thread woken by appends (sleeping, and busy-polling with aof_cursor_set_spin),
 * durable visibility, and cursors of a closed log. */
#include "aoft.h"

static size_t len_of(uint64_t id) { return (size_t)(id * 131 % 2500); }

static void append_range(aof_log_t *log, uint64_t first, uint64_t last) {
    for (uint64_t id = first; id <= last; id++) {
        aoft_append_filled(log, len_of(id), id);
    }
}

/* Reads records from `c` until AOF_END, checking ids from `first`; returns the count. */
static uint64_t scan(aof_cursor_t *c, uint64_t first) {
    uint64_t n = 0;
    aof_record_t r;
    int32_t s;
    while ((s = aof_cursor_next(c, &r)) == AOF_OK) {
        CHECK_EQ_U64(r.id, first + n);
        CHECK_EQ_U64(r.len, len_of(r.id));
        CHECK(r.data != NULL); /* never NULL, even for empty records */
        CHECK(aoft_matches(r.data, r.len, r.id));
        CHECK(r.timestamp_us > 0);
        n++;
    }
    CHECK_STATUS(s, AOF_END);
    return n;
}

static void test_empty_log(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    const uint64_t starts[] = {AOF_START_OLDEST, AOF_START_NEWEST, AOF_START_END, 1};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        aof_cursor_t *c = NULL;
        CHECK_OK(aof_cursor_open(log, starts[i], &c));
        aof_record_t r;
        memset(&r, 0x5A, sizeof r);
        CHECK_STATUS(aof_cursor_next(c, &r), AOF_END);
        CHECK_EQ_U64(r.id, 0x5A5A5A5A5A5A5A5Aull); /* untouched on AOF_END */
        CHECK_STATUS(aof_cursor_wait(c, 0), AOF_TIMED_OUT);
        CHECK_STATUS(aof_cursor_wait(c, 10), AOF_TIMED_OUT);
        aof_cursor_free(c);
    }
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_scans_from_every_start(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    append_range(log, 1, 200); /* ~250 KB: several 64 KiB segments; id 2500k has len 0 */

    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    CHECK_EQ_U64(scan(c, 1), 200);
    CHECK_STATUS(aof_cursor_next(c, &(aof_record_t){0}), AOF_END); /* stays at the end */
    aof_cursor_free(c);

    CHECK_OK(aof_cursor_open(log, 1, &c));
    CHECK_EQ_U64(scan(c, 1), 200);
    aof_cursor_free(c);

    CHECK_OK(aof_cursor_open(log, 150, &c));
    CHECK_EQ_U64(scan(c, 150), 51);
    aof_cursor_free(c);

    CHECK_OK(aof_cursor_open(log, AOF_START_NEWEST, &c));
    CHECK_EQ_U64(scan(c, 200), 1);
    aof_cursor_free(c);

    CHECK_OK(aof_cursor_open(log, 201, &c)); /* one past the newest */
    CHECK_EQ_U64(scan(c, 201), 0);
    aof_cursor_free(c);

    c = NULL;
    CHECK_STATUS(aof_cursor_open(log, 202, &c), AOF_ERR_NOT_FOUND);
    CHECK(c == NULL);

    /* AOF_START_END sees only what comes later. */
    CHECK_OK(aof_cursor_open(log, AOF_START_END, &c));
    CHECK_EQ_U64(scan(c, 201), 0);
    append_range(log, 201, 210);
    CHECK_OK(aof_cursor_wait(c, 0));
    CHECK_EQ_U64(scan(c, 201), 10);
    aof_cursor_free(c);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_empty_records_have_non_null_data(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    CHECK_OK(aof_append(log, NULL, 0, NULL));
    CHECK_OK(aof_append(log, (const uint8_t *)"ab", 2, NULL));
    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    aof_record_t r;
    CHECK_OK(aof_cursor_next(c, &r));
    CHECK_EQ_U64(r.id, 1);
    CHECK_EQ_U64(r.len, 0);
    CHECK(r.data != NULL);
    CHECK_OK(aof_cursor_next(c, &r));
    CHECK_EQ_U64(r.len, 2);
    CHECK(memcmp(r.data, "ab", 2) == 0);
    aof_cursor_free(c);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

enum { TAIL_RECORDS = 300 };

struct tail {
    aof_cursor_t *cursor; /* opened by the main thread, used only by the tail thread */
    uint64_t first;
    uint64_t received;
    int32_t failure; /* status of the first unexpected result, or AOF_OK */
};

/* Follows the log: waits (bounded) for records and checks each one. */
static void *tail_thread(void *arg) {
    struct tail *t = (struct tail *)arg;
    while (t->received < TAIL_RECORDS) {
        int32_t s = aof_cursor_wait(t->cursor, 5000);
        if (s != AOF_OK) {
            fprintf(stderr, "tail: aof_cursor_wait: %s (%s)\n", aof_errstr(s),
                    aof_last_error_message());
            t->failure = s == AOF_OK ? AOF_ERR_INTERNAL : s;
            return NULL;
        }
        aof_record_t r;
        while ((s = aof_cursor_next(t->cursor, &r)) == AOF_OK) {
            uint64_t want = t->first + t->received;
            if (r.id != want || r.len != len_of(want) || !aoft_matches(r.data, r.len, want)) {
                fprintf(stderr, "tail: record %" PRIu64 " is wrong (wanted %" PRIu64 ")\n",
                        r.id, want);
                t->failure = AOF_ERR_INTERNAL;
                return NULL;
            }
            t->received++;
        }
        if (s != AOF_END) {
            t->failure = s;
            return NULL;
        }
    }
    return NULL;
}

/* A second thread tails the log while the main thread appends, with pauses so that the
 * tail really waits, across segment rolls, under the given flush policy; the tail
 * busy-polls for `spin_us` before it sleeps. */
static void tail_while_appending(int32_t policy, uint32_t batch, uint32_t interval_ms,
                                 uint32_t spin_us) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, policy, batch, interval_ms);
    append_range(log, 1, 5);
    struct tail t = {NULL, 6, 0, AOF_OK};
    CHECK_OK(aof_cursor_open(log, AOF_START_END, &t.cursor));
    CHECK_OK(aof_cursor_set_spin(t.cursor, spin_us));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, tail_thread, &t) == 0);
    for (uint64_t id = 6; id < 6 + TAIL_RECORDS; id++) {
        aoft_append_filled(log, len_of(id), id);
        if (id % 50 == 0) {
            aoft_sleep_ms(20); /* let the tail catch up and block in aof_cursor_wait */
        }
    }
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(t.failure, AOF_OK);
    CHECK_EQ_U64(t.received, TAIL_RECORDS);
    aof_cursor_free(t.cursor);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_tail_from_a_second_thread(void) {
    tail_while_appending(AOF_FLUSH_SYNC, 0, 0, 0);
    tail_while_appending(AOF_FLUSH_ASYNC, 0, 0, 0);
    tail_while_appending(AOF_FLUSH_BATCHED_OR_PERIODIC, 8, 5, 0);
}

/* The same with a tail that busy-polls: 1 ms (mostly polling when records land, sleeping
 * through the 20 ms pauses) and 50 ms (polling through the pauses too). */
static void test_tail_with_spin(void) {
    tail_while_appending(AOF_FLUSH_SYNC, 0, 0, 1000);
    tail_while_appending(AOF_FLUSH_ASYNC, 0, 0, 50000);
}

struct one_wait {
    aof_cursor_t *cursor;
    int32_t status;
};

static void *wait_once(void *arg) {
    struct one_wait *w = (struct one_wait *)arg;
    w->status = aof_cursor_wait(w->cursor, 10000);
    return NULL;
}

/* A thread blocked in aof_cursor_wait is woken by a single append from another thread. */
static void test_blocked_wait_is_woken_by_an_append(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    struct one_wait w = {NULL, 99};
    CHECK_OK(aof_cursor_open(log, AOF_START_END, &w.cursor));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, wait_once, &w) == 0);
    aoft_sleep_ms(50);
    aoft_append_filled(log, 10, 1);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(w.status, AOF_OK);
    aof_record_t r;
    CHECK_OK(aof_cursor_next(w.cursor, &r));
    CHECK_EQ_U64(r.id, 1);
    aof_cursor_free(w.cursor);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

/* With AOF_VISIBILITY_DURABLE a waiting cursor is woken by the sync, not the append. */
static void test_durable_visibility_wakes_on_sync(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_options_t *o = aoft_small_options();
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED, 1000000, 0));
    CHECK_OK(aof_options_set_visibility(o, AOF_VISIBILITY_DURABLE));
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(d.log, o, &log));
    aof_options_free(o);
    struct one_wait w = {NULL, 99};
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &w.cursor));
    append_range(log, 1, 1);
    CHECK_STATUS(aof_cursor_wait(w.cursor, 20), AOF_TIMED_OUT); /* written, not durable */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, wait_once, &w) == 0);
    aoft_sleep_ms(50);
    CHECK_OK(aof_flush(log));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(w.status, AOF_OK);
    CHECK_EQ_U64(scan(w.cursor, 1), 1);
    aof_cursor_free(w.cursor);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

/* Closing the log ends a blocked wait with AOF_ERR_CLOSED; the cursor is still freeable. */
static void test_close_ends_waits_and_cursors(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    append_range(log, 1, 3);
    aof_cursor_t *reader = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &reader));
    aof_record_t r;
    CHECK_OK(aof_cursor_next(reader, &r));

    struct one_wait w = {NULL, 99};
    CHECK_OK(aof_cursor_open(log, AOF_START_END, &w.cursor));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, wait_once, &w) == 0);
    aoft_sleep_ms(50);
    CHECK_OK(aof_close(log));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(w.status, AOF_ERR_CLOSED);

    memset(&r, 0x5A, sizeof r);
    CHECK_STATUS(aof_cursor_next(reader, &r), AOF_ERR_CLOSED);
    CHECK_EQ_U64(r.id, 0x5A5A5A5A5A5A5A5Aull);
    CHECK_STATUS(aof_cursor_wait(reader, 0), AOF_ERR_CLOSED);
    aof_cursor_free(reader);
    aof_cursor_free(w.cursor);
    aof_cursor_free(NULL);
    aoft_rmdir(&d);
}

/* The documented lifetime of aof_record_t.data: until the next call on that cursor or its
 * free, even if the log is closed meanwhile (the cursor keeps the segment files mapped).
 * Checked for a record of a sealed segment and one of the active segment; the next call
 * on each cursor then returns AOF_ERR_CLOSED. */
static void test_record_data_outlives_close(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_ASYNC, 0, 0);
    append_range(log, 1, 200); /* several 64 KiB segments */
    CHECK_OK(aof_flush(log));
    aof_metrics_t m;
    CHECK_OK(aof_metrics(log, &m, sizeof m));
    CHECK(m.segment_count >= 3);

    aof_cursor_t *early = NULL, *late = NULL;
    aof_record_t first, last;
    CHECK_OK(aof_cursor_open(log, 3, &early)); /* in the first, sealed segment */
    CHECK_OK(aof_cursor_next(early, &first));
    CHECK_EQ_U64(first.id, 3);
    CHECK_OK(aof_cursor_open(log, AOF_START_NEWEST, &late)); /* in the active segment */
    CHECK_OK(aof_cursor_next(late, &last));
    CHECK_EQ_U64(last.id, 200);
    CHECK(last.len > 0 && first.len > 0);

    CHECK_OK(aof_close(log));

    /* Still readable, and still the same bytes. */
    CHECK_EQ_U64(first.len, len_of(3));
    CHECK(aoft_matches(first.data, first.len, 3));
    CHECK_EQ_U64(last.len, len_of(200));
    CHECK(aoft_matches(last.data, last.len, 200));

    aof_record_t r;
    memset(&r, 0x5A, sizeof r);
    CHECK_STATUS(aof_cursor_next(late, &r), AOF_ERR_CLOSED);
    CHECK_EQ_U64(r.id, 0x5A5A5A5A5A5A5A5Aull); /* untouched */
    CHECK_STATUS(aof_cursor_next(early, &r), AOF_ERR_CLOSED);
    aof_cursor_free(early);
    aof_cursor_free(late);
    aoft_rmdir(&d);
}

/* aof_cursor_set_spin: NULL, the range (the spin is unchanged by a rejected value), a
 * spinning wait bounded by its timeout, and AOF_ERR_CLOSED after close. */
static void test_spin_arguments(void) {
    CHECK_STATUS(aof_cursor_set_spin(NULL, 0), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_cursor_set_spin(NULL, AOF_CURSOR_MAX_SPIN_US + 1), AOF_ERR_NULL_ARG);

    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_END, &c));
    CHECK_STATUS(aof_cursor_set_spin(c, AOF_CURSOR_MAX_SPIN_US + 1), AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "aof_cursor_set_spin") != NULL);
    CHECK_STATUS(aof_cursor_set_spin(c, UINT32_MAX), AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_cursor_set_spin(c, 0));
    CHECK_OK(aof_cursor_set_spin(c, AOF_CURSOR_MAX_SPIN_US));

    /* A 1 s spin does not outlast a 20 ms timeout. */
    struct timespec t0, t1;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &t0) == 0);
    CHECK_STATUS(aof_cursor_wait(c, 20), AOF_TIMED_OUT);
    CHECK(clock_gettime(CLOCK_MONOTONIC, &t1) == 0);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms >= 19.0 && ms < 600.0);
    CHECK_STATUS(aof_cursor_wait(c, 0), AOF_TIMED_OUT);

    /* A spinning wait finds a record that is there. */
    append_range(log, 1, 1);
    CHECK_OK(aof_cursor_wait(c, 1000));
    CHECK_EQ_U64(scan(c, 1), 1);

    CHECK_OK(aof_close(log));
    CHECK_STATUS(aof_cursor_set_spin(c, 10), AOF_ERR_CLOSED);
    aof_cursor_free(c);
    aoft_rmdir(&d);
}

/* Closing the log ends a wait that is still spinning (1 s spin, closed after 50 ms). */
static void test_close_ends_a_spinning_wait(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    struct one_wait w = {NULL, 99};
    CHECK_OK(aof_cursor_open(log, AOF_START_END, &w.cursor));
    CHECK_OK(aof_cursor_set_spin(w.cursor, AOF_CURSOR_MAX_SPIN_US));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, wait_once, &w) == 0);
    aoft_sleep_ms(50);
    CHECK_OK(aof_close(log));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(w.status, AOF_ERR_CLOSED);
    aof_cursor_free(w.cursor);
    aoft_rmdir(&d);
}

/* Read-your-writes: an id aof_append returned is readable at once by aof_read and by a
 * cursor opened afterwards under every flush policy, though no sync ran. */
static void test_read_your_writes_under_every_policy(void) {
    const int32_t policies[] = {AOF_FLUSH_SYNC, AOF_FLUSH_ASYNC, AOF_FLUSH_BATCHED,
                                AOF_FLUSH_PERIODIC, AOF_FLUSH_BATCHED_OR_PERIODIC};
    for (size_t p = 0; p < sizeof policies / sizeof policies[0]; p++) {
        aoft_dir d;
        aoft_mkdir(&d);
        /* A batch that is never reached and an hour-long period: nothing syncs by itself. */
        aof_log_t *log = aoft_open_small(&d, policies[p], 1000000, 3600 * 1000);
        uint8_t buf[2500];
        for (uint64_t id = 1; id <= aoft_scaled(300); id++) {
            aoft_append_filled(log, len_of(id), id);
            size_t len = 0;
            uint64_t ts = 0;
            CHECK_OK(aof_read(log, id, buf, sizeof buf, &len, &ts));
            CHECK_EQ_U64(len, len_of(id));
            CHECK(aoft_matches(buf, len, id));
            aof_cursor_t *c = NULL;
            CHECK_OK(aof_cursor_open(log, id, &c));
            aof_record_t r;
            CHECK_OK(aof_cursor_next(c, &r));
            CHECK_EQ_U64(r.id, id);
            CHECK(aoft_matches(r.data, r.len, id));
            aof_cursor_free(c);
        }
        CHECK_OK(aof_close(log));
        aoft_rmdir(&d);
    }
}

int main(void) {
    RUN(test_empty_log);
    RUN(test_scans_from_every_start);
    RUN(test_read_your_writes_under_every_policy);
    RUN(test_empty_records_have_non_null_data);
    RUN(test_tail_from_a_second_thread);
    RUN(test_tail_with_spin);
    RUN(test_spin_arguments);
    RUN(test_blocked_wait_is_woken_by_an_append);
    RUN(test_durable_visibility_wakes_on_sync);
    RUN(test_close_ends_waits_and_cursors);
    RUN(test_close_ends_a_spinning_wait);
    RUN(test_record_data_outlives_close);
    return 0;
}
