/* Retention and truncation from C: aof_options_set_retention, aof_truncate_before,
 * aof_bounds and AOF_ERR_TRUNCATED from reads and cursors, bad inputs included. */
#include "aoft.h"

enum { LEN = 200 };

static aof_log_t *open_small(aoft_dir *d, uint64_t max_segments) {
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_OK(aof_options_set_segment_size(o, 4096));
    CHECK_OK(aof_options_set_preallocate_threshold(o, 0));
    CHECK_OK(aof_options_set_retention(o, 0, max_segments, 0));
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(d->log, o, &log));
    aof_options_free(o);
    return log;
}

static void fill(aof_log_t *log, uint64_t first, uint64_t last) {
    for (uint64_t id = first; id <= last; id++) {
        aoft_append_filled(log, LEN, id);
    }
}

static void test_truncate_before_and_bounds(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = open_small(&d, 0);
    uint64_t first = 0, last = 0;
    CHECK_OK(aof_bounds(log, &first, &last));
    CHECK_EQ_U64(first, 1);
    CHECK_EQ_U64(last, 0);
    fill(log, 1, 300);
    CHECK_OK(aof_bounds(log, &first, &last));
    CHECK_EQ_U64(first, 1);
    CHECK_EQ_U64(last, 300);

    CHECK_OK(aof_truncate_before(log, 150));
    CHECK_OK(aof_bounds(log, &first, &last));
    CHECK(first > 1 && first <= 150);
    CHECK_EQ_U64(last, 300);

    /* Below the first kept id: AOF_ERR_TRUNCATED naming the oldest available id. */
    uint8_t buf[LEN];
    size_t len = 0;
    uint64_t ts = 0;
    CHECK_STATUS(aof_read(log, 1, buf, sizeof buf, &len, &ts), AOF_ERR_TRUNCATED);
    char want[64];
    snprintf(want, sizeof want, "oldest available id is %llu", (unsigned long long)first);
    CHECK(strstr(aof_last_error_message(), want) != NULL);
    aof_cursor_t *c = NULL;
    CHECK_STATUS(aof_cursor_open(log, first - 1, &c), AOF_ERR_TRUNCATED);
    CHECK(c == NULL);
    /* The oldest start is the first kept id. */
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    aof_record_t r;
    CHECK_OK(aof_cursor_next(c, &r));
    CHECK_EQ_U64(r.id, first);
    CHECK(aoft_matches(r.data, r.len, first));
    aof_cursor_free(c);
    CHECK_OK(aof_read(log, first, buf, sizeof buf, &len, &ts));
    CHECK(aoft_matches(buf, len, first));

    aof_metrics_t m;
    CHECK_OK(aof_metrics(log, &m, sizeof m));
    CHECK(m.segments_deleted > 0);
    CHECK_EQ_U64(m.first_id, first);

    /* Bad values, then NULLs and closed handles. */
    CHECK_STATUS(aof_truncate_before(log, 0), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_truncate_before(log, 302), AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_truncate_before(log, 301)); /* one past the last: every sealed segment */
    CHECK_STATUS(aof_truncate_before(NULL, 1), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_bounds(NULL, &first, &last), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_bounds(log, NULL, &last), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_bounds(log, &first, NULL), AOF_ERR_NULL_ARG);
    CHECK_OK(aof_close(log));
    CHECK_STATUS(aof_truncate_before(log, 1), AOF_ERR_CLOSED);
    first = 77;
    CHECK_STATUS(aof_bounds(log, &first, &last), AOF_ERR_CLOSED);
    CHECK_EQ_U64(first, 77); /* untouched on failure */
    aoft_rmdir(&d);
}

static void test_retention_in_the_background(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = open_small(&d, 3);
    fill(log, 1, 400);
    /* The task runs after each roll: wait for it to catch up with the last one. */
    aof_metrics_t m;
    for (int i = 0; i < 6000; i++) {
        CHECK_OK(aof_metrics(log, &m, sizeof m));
        if (m.segment_count <= 3) break;
        aoft_sleep_ms(5);
    }
    CHECK_EQ_U64(m.segment_count, 3);
    uint64_t first = 0, last = 0;
    CHECK_OK(aof_bounds(log, &first, &last));
    CHECK_EQ_U64(last, 400);
    for (uint64_t id = first; id <= last; id++) {
        uint8_t buf[LEN];
        size_t len = 0;
        uint64_t ts = 0;
        CHECK_OK(aof_read(log, id, buf, sizeof buf, &len, &ts));
        CHECK(aoft_matches(buf, len, id));
    }
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_retention_options(void) {
    CHECK_STATUS(aof_options_set_retention(NULL, 1, 1, 1), AOF_ERR_NULL_ARG);
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_OK(aof_options_set_segment_size(o, 1 << 20));
    /* Below one segment: refused when the log opens. */
    CHECK_OK(aof_options_set_retention(o, 4096, 0, 0));
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = NULL;
    CHECK_STATUS(aof_open(d.log, o, &log), AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "max_bytes") != NULL);
    CHECK(log == NULL);
    CHECK_OK(aof_options_set_retention(o, 0, 0, 0)); /* keep everything */
    CHECK_OK(aof_open(d.log, o, &log));
    CHECK_OK(aof_close(log));
    aof_options_free(o);
    aoft_rmdir(&d);
}

int main(void) {
    RUN(test_truncate_before_and_bounds);
    RUN(test_retention_in_the_background);
    RUN(test_retention_options);
    return 0;
}
