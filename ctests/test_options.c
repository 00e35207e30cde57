/* Options: creation, every setter's range checks, defaults (the maximum record size derived
 * from the segment size), and that aof_open copies them. */
#include "aoft.h"

#define MAX_SEGMENT 4294963200ull /* 4 GiB - 4 KiB */

static void test_new_and_free(void) {
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK(o != NULL);
    aof_options_free(o);
    aof_options_free(NULL);
    CHECK_STATUS(aof_options_new(NULL), AOF_ERR_NULL_ARG);
}

static void test_segment_size_range(void) {
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_STATUS(aof_options_set_segment_size(o, 0), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_segment_size(o, 4095), AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_options_set_segment_size(o, 4096));
    CHECK_OK(aof_options_set_segment_size(o, MAX_SEGMENT));
    CHECK_STATUS(aof_options_set_segment_size(o, MAX_SEGMENT + 1), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_segment_size(o, UINT64_MAX), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_segment_size(NULL, 4096), AOF_ERR_NULL_ARG);
    aof_options_free(o);
}

static void test_max_record_size_range(void) {
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_STATUS(aof_options_set_max_record_size(o, 0), AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_options_set_max_record_size(o, 1));
    CHECK_OK(aof_options_set_max_record_size(o, UINT32_MAX));
    CHECK_STATUS(aof_options_set_max_record_size(o, (uint64_t)UINT32_MAX + 1),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_max_record_size(NULL, 1), AOF_ERR_NULL_ARG);
    aof_options_free(o);
}

static void test_flush_policy_params(void) {
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    /* Parameters a policy does not use are ignored, whatever their value. */
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_SYNC, 0, 0));
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_ASYNC, 0, 0));
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED, 1, 0));
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_PERIODIC, 0, 1));
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED_OR_PERIODIC, 1, 1));
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED, UINT32_MAX, UINT32_MAX));
    /* Parameters it uses must be at least 1. */
    CHECK_STATUS(aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED, 0, 10),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_flush_policy(o, AOF_FLUSH_PERIODIC, 10, 0),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED_OR_PERIODIC, 0, 10),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED_OR_PERIODIC, 10, 0),
                 AOF_ERR_INVALID_ARG);
    /* Unknown policies. */
    CHECK_STATUS(aof_options_set_flush_policy(o, -1, 1, 1), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_flush_policy(o, 5, 1, 1), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_flush_policy(NULL, AOF_FLUSH_SYNC, 0, 0), AOF_ERR_NULL_ARG);
    aof_options_free(o);
}

static void test_preallocate_and_visibility_ranges(void) {
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_OK(aof_options_set_preallocate_threshold(o, 0));
    CHECK_OK(aof_options_set_preallocate_threshold(o, 1));
    CHECK_OK(aof_options_set_preallocate_threshold(o, 100));
    CHECK_STATUS(aof_options_set_preallocate_threshold(o, 101), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_preallocate_threshold(o, 256), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_preallocate_threshold(o, UINT32_MAX), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_preallocate_threshold(NULL, 50), AOF_ERR_NULL_ARG);

    CHECK_OK(aof_options_set_zero_ahead(o, 0));
    CHECK_OK(aof_options_set_zero_ahead(o, 1));
    CHECK_OK(aof_options_set_zero_ahead(o, (uint64_t)1 << 30));
    CHECK_STATUS(aof_options_set_zero_ahead(o, ((uint64_t)1 << 30) + 1), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_zero_ahead(o, UINT64_MAX), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_zero_ahead(NULL, 0), AOF_ERR_NULL_ARG);

    CHECK_OK(aof_options_set_visibility(o, AOF_VISIBILITY_WRITTEN));
    CHECK_OK(aof_options_set_visibility(o, AOF_VISIBILITY_DURABLE));
    CHECK_STATUS(aof_options_set_visibility(o, 2), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_visibility(o, -1), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_visibility(NULL, 0), AOF_ERR_NULL_ARG);
    aof_options_free(o);
}

/* Each setter accepted values one by one, but the combination is checked by aof_open. */
static void test_open_rejects_inconsistent_options(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_OK(aof_options_set_segment_size(o, 4096));
    CHECK_OK(aof_options_set_max_record_size(o, 4096));
    aof_log_t *sentinel = (aof_log_t *)&d; /* any recognisable value */
    aof_log_t *log = sentinel;
    CHECK_STATUS(aof_open(d.log, o, &log), AOF_ERR_INVALID_ARG);
    CHECK(log == sentinel); /* untouched on failure */
    CHECK(strstr(aof_last_error_message(), "segment_size - 160") != NULL);
    /* One byte over segment size - 160 is still too large; the rule itself fits. */
    CHECK_OK(aof_options_set_max_record_size(o, 4096 - 159));
    CHECK_STATUS(aof_open(d.log, o, &log), AOF_ERR_INVALID_ARG);
    CHECK(log == sentinel);
    CHECK_OK(aof_options_set_max_record_size(o, 4096 - 160));
    CHECK_OK(aof_open(d.log, o, &log));
    CHECK(log != sentinel && log != NULL);
    CHECK_OK(aof_close(log));
    aof_options_free(o);
    aoft_rmdir(&d);
}

/* Unset, the maximum record size is derived from the segment size: min(16 MiB, segment
 * size - 160). A 1 MiB segment opens without lowering it by hand, takes a record of exactly
 * the limit and rejects one byte more; an explicit maximum that does not fit is an error
 * that names the rule. */
static void test_small_segment_derives_the_record_limit(void) {
    const uint64_t segment = 1024 * 1024;
    const size_t limit = (size_t)(segment - 160);
    aoft_dir d;
    aoft_mkdir(&d);
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_OK(aof_options_set_segment_size(o, segment));
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(d.log, o, &log));
    uint8_t *buf = (uint8_t *)malloc(limit + 1);
    CHECK(buf != NULL);
    aoft_fill(buf, limit + 1, 1);
    uint64_t id = 0;
    CHECK_OK(aof_append(log, buf, limit, &id));
    CHECK_EQ_U64(id, 1);
    id = 0;
    CHECK_STATUS(aof_append(log, buf, limit + 1, &id), AOF_ERR_TOO_LARGE);
    CHECK_EQ_U64(id, 0);
    const uint8_t *datas[2] = {buf, buf};
    size_t lens[2] = {10, limit + 1};
    CHECK_STATUS(aof_append_batch(log, datas, lens, 2, &id), AOF_ERR_TOO_LARGE);
    CHECK_OK(aof_append(log, buf, limit, &id)); /* rolls to a second segment */
    CHECK_EQ_U64(id, 2);
    size_t len = 0;
    CHECK_STATUS(aof_read(log, 2, NULL, 0, &len, NULL), AOF_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U64(len, limit);
    uint64_t checked = 0;
    CHECK_OK(aof_flush(log));
    CHECK_OK(aof_verify(log, &checked));
    CHECK_EQ_U64(checked, 2);
    CHECK_OK(aof_close(log));

    /* Set explicitly: checked against the same rule. */
    const uint64_t too_large[3] = {segment - 159, segment, 16u * 1024 * 1024};
    for (size_t i = 0; i < 3; i++) {
        CHECK_OK(aof_options_set_max_record_size(o, too_large[i]));
        log = NULL;
        CHECK_STATUS(aof_open(d.log, o, &log), AOF_ERR_INVALID_ARG);
        CHECK(log == NULL);
        CHECK(strstr(aof_last_error_message(), "at most segment_size - 160") != NULL);
    }
    CHECK_OK(aof_options_set_max_record_size(o, segment - 160));
    CHECK_OK(aof_open(d.log, o, &log));
    CHECK_OK(aof_append(log, buf, limit, &id));
    CHECK_EQ_U64(id, 3);
    CHECK_OK(aof_close(log));
    free(buf);
    aof_options_free(o);
    aoft_rmdir(&d);
}

/* aof_open copies the options: freeing or changing them later has no effect on the log. */
static void test_open_copies_options(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_options_t *o = aoft_small_options();
    CHECK_OK(aof_options_set_max_record_size(o, 2000));
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(d.log, o, &log));
    CHECK_OK(aof_options_set_max_record_size(o, 10)); /* too late to matter */
    uint8_t buf[2001];
    memset(buf, 7, sizeof buf);
    CHECK_OK(aof_append(log, buf, 2000, NULL));
    CHECK_STATUS(aof_append(log, buf, 2001, NULL), AOF_ERR_TOO_LARGE);
    aof_options_free(o); /* the log keeps working */
    CHECK_OK(aof_append(log, buf, 100, NULL));
    uint64_t last = 0;
    CHECK_OK(aof_last_id(log, &last));
    CHECK_EQ_U64(last, 2);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

/* NULL options mean the defaults: 16 MiB records fit, 16 MiB + 1 do not. */
static void test_open_with_default_options(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(d.log, NULL, &log));
    size_t max = 16u << 20;
    uint8_t *big = (uint8_t *)calloc(1, max + 1);
    CHECK(big != NULL);
    uint64_t id = 0;
    CHECK_OK(aof_append(log, big, max, &id));
    CHECK_EQ_U64(id, 1);
    CHECK_STATUS(aof_append(log, big, max + 1, NULL), AOF_ERR_TOO_LARGE);
    size_t len = 0;
    CHECK_OK(aof_read(log, 1, big, max + 1, &len, NULL));
    CHECK_EQ_U64(len, max);
    free(big);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

/* Every flush policy opens, appends, flushes and reads back, across segment rolls. */
static void test_every_flush_policy_works(void) {
    const int32_t policies[] = {AOF_FLUSH_SYNC, AOF_FLUSH_ASYNC, AOF_FLUSH_BATCHED,
                                AOF_FLUSH_PERIODIC, AOF_FLUSH_BATCHED_OR_PERIODIC};
    const uint32_t prealloc[] = {0, 1, 50, 100, 90};
    for (size_t p = 0; p < sizeof policies / sizeof policies[0]; p++) {
        aoft_dir d;
        aoft_mkdir(&d);
        aof_options_t *o = aoft_small_options();
        CHECK_OK(aof_options_set_flush_policy(o, policies[p], 16, 20));
        CHECK_OK(aof_options_set_preallocate_threshold(o, prealloc[p]));
        aof_log_t *log = NULL;
        CHECK_OK(aof_open(d.log, o, &log));
        aof_options_free(o);
        for (uint64_t id = 1; id <= 100; id++) {
            aoft_append_filled(log, 1500, id);
        }
        CHECK_OK(aof_flush(log));
        uint64_t durable = 0;
        CHECK_OK(aof_durable_id(log, &durable));
        CHECK_EQ_U64(durable, 100);
        uint8_t buf[1500];
        for (uint64_t id = 1; id <= 100; id++) {
            size_t len = 0;
            CHECK_OK(aof_read(log, id, buf, sizeof buf, &len, NULL));
            CHECK_EQ_U64(len, 1500);
            CHECK(aoft_matches(buf, len, id));
        }
        aof_metrics_t m;
        CHECK_OK(aof_metrics(log, &m, sizeof m));
        CHECK(m.segment_count > 1);
        CHECK_OK(aof_close(log));
        aoft_rmdir(&d);
    }
}

/* With AOF_VISIBILITY_DURABLE readers see a record only once it is synced. */
static void test_durable_visibility_hides_unsynced_records(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_options_t *o = aoft_small_options();
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED, 1000000, 0));
    CHECK_OK(aof_options_set_visibility(o, AOF_VISIBILITY_DURABLE));
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(d.log, o, &log));
    aof_options_free(o);

    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    uint8_t rec[3] = {1, 2, 3};
    uint64_t id = 0;
    CHECK_OK(aof_append(log, rec, sizeof rec, &id));
    uint64_t last = 0, durable = 99;
    CHECK_OK(aof_last_id(log, &last));
    CHECK_OK(aof_durable_id(log, &durable));
    CHECK_EQ_U64(last, id);
    CHECK_EQ_U64(durable, 0);

    uint8_t buf[8];
    size_t len = 0;
    CHECK_STATUS(aof_read(log, id, buf, sizeof buf, &len, NULL), AOF_ERR_NOT_FOUND);
    aof_record_t r;
    CHECK_STATUS(aof_cursor_next(c, &r), AOF_END);
    CHECK_STATUS(aof_cursor_wait(c, 0), AOF_TIMED_OUT);
    CHECK_STATUS(aof_sync_until(log, id, 0), AOF_TIMED_OUT);

    CHECK_OK(aof_flush(log));
    CHECK_OK(aof_sync_until(log, id, 0));
    CHECK_OK(aof_cursor_wait(c, 0));
    CHECK_OK(aof_cursor_next(c, &r));
    CHECK_EQ_U64(r.id, id);
    CHECK_EQ_U64(r.len, 3);
    CHECK(memcmp(r.data, rec, 3) == 0);
    CHECK_OK(aof_read(log, id, buf, sizeof buf, &len, NULL));
    CHECK_EQ_U64(len, 3);
    aof_cursor_free(c);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

int main(void) {
    RUN(test_new_and_free);
    RUN(test_segment_size_range);
    RUN(test_max_record_size_range);
    RUN(test_flush_policy_params);
    RUN(test_preallocate_and_visibility_ranges);
    RUN(test_open_rejects_inconsistent_options);
    RUN(test_small_segment_derives_the_record_limit);
    RUN(test_open_copies_options);
    RUN(test_open_with_default_options);
    RUN(test_every_flush_policy_works);
    RUN(test_durable_visibility_hides_unsynced_records);
    return 0;
}
