/* Bad input for every export: NULL pointers, NULL data with and without a length, empty
 * batches, too-large records, small buffers, unknown and closed log handles, stray values
 * (small integers, addresses, random numbers) passed as log handles (and small integers
 * as completion queue handles; test_async.c has the rest of the queue's bad input). Each gives
 * its documented status and leaves out-params untouched (aof_read's out_len on
 * AOF_ERR_BUFFER_TOO_SMALL being the one documented exception). */
#include "aoft.h"

#define SENTINEL 0x5A5A5A5A5A5A5A5Aull

static void test_null_handles_and_out_params(void) {
    aof_log_t *const no_log = NULL;
    uint64_t u = SENTINEL;
    size_t len = 77;
    aof_metrics_t m;
    aof_record_t r;
    uint8_t byte = 1;

    /* NULL options. */
    CHECK_STATUS(aof_options_new(NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_options_set_segment_size(NULL, 4096), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_options_set_max_record_size(NULL, 10), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_options_set_flush_policy(NULL, AOF_FLUSH_SYNC, 0, 0), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_options_set_preallocate_threshold(NULL, 0), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_options_set_zero_ahead(NULL, 0), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_options_set_visibility(NULL, 0), AOF_ERR_NULL_ARG);
    aof_options_free(NULL);

    /* NULL log handle. */
    CHECK_OK(aof_close(NULL)); /* like free(NULL) */
    CHECK_STATUS(aof_append(no_log, &byte, 1, &u), AOF_ERR_NULL_ARG);
    const uint8_t *datas[1] = {&byte};
    size_t lens[1] = {1};
    CHECK_STATUS(aof_append_batch(no_log, datas, lens, 1, &u), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_flush(no_log), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_sync_until(no_log, 1, 0), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_durable_id(no_log, &u), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_last_id(no_log, &u), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_read(no_log, 1, &byte, 1, &len, &u), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_verify(no_log, &u), AOF_ERR_NULL_ARG);
    aof_cursor_t *c = NULL;
    CHECK_STATUS(aof_cursor_open(no_log, AOF_START_OLDEST, &c), AOF_ERR_NULL_ARG);
    CHECK(c == NULL);
    CHECK_STATUS(aof_metrics(no_log, &m, sizeof m), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_append_async(no_log, &byte, 1, NULL, &u), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_log_set_completion_queue(no_log, NULL), AOF_ERR_NULL_ARG);
    CHECK_EQ_U64(u, SENTINEL);
    CHECK_EQ_U64(len, 77);

    /* NULL completion queue. */
    aof_completion_t comp;
    int fd = -5;
    CHECK_STATUS(aof_options_set_async_limits(NULL, 1, 1, 0), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_completion_queue_new(NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_completion_queue_new_callback(NULL, NULL, NULL), AOF_ERR_NULL_ARG);
    CHECK_OK(aof_completion_queue_free(NULL)); /* like free(NULL) */
    CHECK_STATUS(aof_cq_poll(NULL, &comp, 1, 0, &len), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_cq_fd(NULL, &fd), AOF_ERR_NULL_ARG);
    CHECK_EQ_U64(len, 77);
    CHECK(fd == -5);

    /* NULL cursor. */
    CHECK_STATUS(aof_cursor_next(NULL, &r), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_cursor_wait(NULL, 0), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_cursor_set_spin(NULL, 0), AOF_ERR_NULL_ARG);
    aof_cursor_free(NULL);

    /* NULL path / out_log. */
    aof_log_t *log = NULL;
    CHECK_STATUS(aof_open(NULL, NULL, &log), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_open("/tmp/never-created-by-aof", NULL, NULL), AOF_ERR_NULL_ARG);
    CHECK(log == NULL);

    /* Functions that cannot fail still behave with odd input. */
    CHECK(aof_errstr(12345) != NULL);
    CHECK_EQ_U64(aof_last_error_copy(NULL, 0), strlen(aof_last_error_message()));
    CHECK_EQ_U64(aof_last_error_copy(NULL, 10), strlen(aof_last_error_message()));
    CHECK(aof_version() != NULL && aof_version_number() == AOF_VERSION_NUMBER);
}

static void test_bad_paths(void) {
    aof_log_t *log = NULL;
    CHECK_STATUS(aof_open("", NULL, &log), AOF_ERR_INVALID_ARG);
    CHECK(log == NULL);

    /* A regular file where the log directory should be. */
    aoft_dir d;
    aoft_mkdir(&d);
    FILE *f = fopen(d.log, "w");
    CHECK(f != NULL);
    fclose(f);
    CHECK_STATUS(aof_open(d.log, NULL, &log), AOF_ERR_IO);
    CHECK(log == NULL);
    CHECK(strstr(aof_last_error_message(), "aof_open") != NULL);
    aoft_rmdir(&d);
}

static void test_bad_appends(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_options_t *o = aoft_small_options();
    CHECK_OK(aof_options_set_max_record_size(o, 1000));
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(d.log, o, &log));
    aof_options_free(o);

    uint64_t id = SENTINEL;
    uint8_t rec[1001];
    memset(rec, 3, sizeof rec);
    /* Nonzero length with NULL data. */
    CHECK_STATUS(aof_append(log, NULL, 5, &id), AOF_ERR_NULL_ARG);
    CHECK_EQ_U64(id, SENTINEL);
    /* Zero length with NULL data: an empty record. */
    CHECK_OK(aof_append(log, NULL, 0, &id));
    CHECK_EQ_U64(id, 1);
    /* Too large: nothing written. */
    id = SENTINEL;
    CHECK_STATUS(aof_append(log, rec, 1001, &id), AOF_ERR_TOO_LARGE);
    CHECK_EQ_U64(id, SENTINEL);
    CHECK_OK(aof_append(log, rec, 1000, &id)); /* the maximum fits */
    CHECK_EQ_U64(id, 2);
    /* Lengths no buffer can have: invalid, rejected before anything is read. */
    id = SENTINEL;
    CHECK_STATUS(aof_append(log, rec, SIZE_MAX, &id), AOF_ERR_INVALID_ARG);
    const uint8_t *one[1] = {rec};
    size_t huge[1] = {SIZE_MAX};
    CHECK_STATUS(aof_append_batch(log, one, huge, 1, &id), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_append_batch(log, one, huge, SIZE_MAX, &id), AOF_ERR_INVALID_ARG);
    CHECK_EQ_U64(id, SENTINEL);

    /* Batches. */
    const uint8_t *datas[3] = {rec, NULL, rec};
    size_t lens[3] = {10, 3, 10};
    uint64_t first = SENTINEL;
    CHECK_STATUS(aof_append_batch(log, NULL, NULL, 0, &first), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_append_batch(log, datas, lens, 0, &first), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_append_batch(log, NULL, lens, 2, &first), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_append_batch(log, datas, NULL, 2, &first), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_append_batch(log, datas, lens, 3, &first), AOF_ERR_NULL_ARG);
    CHECK(strstr(aof_last_error_message(), "datas[1]") != NULL);
    lens[1] = 1001;
    datas[1] = rec;
    CHECK_STATUS(aof_append_batch(log, datas, lens, 3, &first), AOF_ERR_TOO_LARGE);
    CHECK_EQ_U64(first, SENTINEL);
    uint64_t last = 0;
    CHECK_OK(aof_last_id(log, &last));
    CHECK_EQ_U64(last, 2); /* no failed call wrote anything */
    lens[1] = 0;
    datas[1] = NULL;
    CHECK_OK(aof_append_batch(log, datas, lens, 3, &first));
    CHECK_EQ_U64(first, 3);

    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_bad_reads_and_waits(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aoft_append_filled(log, 100, 1);
    aoft_append_filled(log, 100, 2);

    uint8_t buf[100];
    size_t len = 77;
    uint64_t ts = SENTINEL;
    CHECK_STATUS(aof_read(log, 1, buf, sizeof buf, NULL, &ts), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_read(log, 1, NULL, 10, &len, &ts), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_read(log, 0, buf, sizeof buf, &len, &ts), AOF_ERR_NOT_FOUND);
    CHECK_STATUS(aof_read(log, 3, buf, sizeof buf, &len, &ts), AOF_ERR_NOT_FOUND);
    CHECK_STATUS(aof_read(log, UINT64_MAX, buf, sizeof buf, &len, &ts), AOF_ERR_NOT_FOUND);
    CHECK_EQ_U64(len, 77);
    CHECK_EQ_U64(ts, SENTINEL);
    CHECK_STATUS(aof_read(log, 1, buf, 99, &len, &ts), AOF_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U64(len, 100); /* the documented exception */
    CHECK_EQ_U64(ts, SENTINEL);

    CHECK_STATUS(aof_durable_id(log, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_last_id(log, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_sync_until(log, 3, 0), AOF_ERR_INVALID_ARG); /* never appended */
    CHECK_STATUS(aof_sync_until(log, UINT64_MAX, UINT32_MAX), AOF_ERR_INVALID_ARG);

    aof_cursor_t *c = NULL;
    CHECK_STATUS(aof_cursor_open(log, AOF_START_OLDEST, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_cursor_open(log, 4, &c), AOF_ERR_NOT_FOUND); /* past last + 1 */
    CHECK(c == NULL);
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    CHECK_STATUS(aof_cursor_next(c, NULL), AOF_ERR_NULL_ARG);
    aof_record_t r;
    CHECK_OK(aof_cursor_next(c, &r)); /* the failed call did not move the cursor */
    CHECK_EQ_U64(r.id, 1);
    aof_cursor_free(c);

    aof_metrics_t m;
    CHECK_STATUS(aof_metrics(log, &m, 0), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_metrics(log, NULL, sizeof m), AOF_ERR_NULL_ARG);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

/* After aof_close the handle is a dead token: every call says AOF_ERR_CLOSED, and nothing
 * reads the memory it once named (ASan would report it). */
static void test_closed_handle(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aoft_append_filled(log, 100, 1);
    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    CHECK_OK(aof_close(log));

    uint64_t u = SENTINEL;
    size_t len = 77;
    uint8_t buf[100];
    aof_metrics_t m;
    aof_record_t r;
    memset(&r, 0x5A, sizeof r);
    const uint8_t *datas[1] = {buf};
    size_t lens[1] = {1};
    CHECK_STATUS(aof_append(log, buf, 1, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_append_batch(log, datas, lens, 1, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_flush(log), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_sync_until(log, 1, 0), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_durable_id(log, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_last_id(log, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_read(log, 1, buf, sizeof buf, &len, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_verify(log, &u), AOF_ERR_CLOSED);
    aof_cursor_t *c2 = NULL;
    CHECK_STATUS(aof_cursor_open(log, AOF_START_OLDEST, &c2), AOF_ERR_CLOSED);
    CHECK(c2 == NULL);
    CHECK_STATUS(aof_metrics(log, &m, sizeof m), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_append_async(log, buf, 1, NULL, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_log_set_completion_queue(log, NULL), AOF_ERR_CLOSED);
    /* NULLs, then the handle, then values: a closed handle with bad values is CLOSED. */
    size_t huge[1] = {SIZE_MAX};
    CHECK_STATUS(aof_append(log, buf, SIZE_MAX, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_append_batch(log, datas, huge, 1, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_append_batch(log, datas, huge, SIZE_MAX, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_append_batch(log, datas, lens, 0, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_sync_until(log, UINT64_MAX, 0), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_read(log, 0, buf, sizeof buf, &len, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_cursor_open(log, 12345, &c2), AOF_ERR_CLOSED);
    CHECK(c2 == NULL);
    CHECK_STATUS(aof_metrics(log, &m, 0), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_append(log, NULL, SIZE_MAX, &u), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_metrics(log, NULL, 0), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_close(log), AOF_ERR_CLOSED); /* a second close is detected */
    CHECK(strstr(aof_last_error_message(), "closed") != NULL);
    CHECK_EQ_U64(u, SENTINEL);
    CHECK_EQ_U64(len, 77);

    /* The cursor of the closed log fails cleanly and can still be freed. */
    CHECK_STATUS(aof_cursor_next(c, &r), AOF_ERR_CLOSED);
    CHECK_EQ_U64(r.id, SENTINEL);
    CHECK_STATUS(aof_cursor_wait(c, 0), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_cursor_set_spin(c, 0), AOF_ERR_CLOSED);
    aof_cursor_free(c);

    /* A new log gets a new handle: the closed one stays closed. */
    aof_log_t *again = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    CHECK(again != log);
    CHECK_STATUS(aof_flush(log), AOF_ERR_CLOSED);
    CHECK_OK(aof_flush(again));
    CHECK_OK(aof_close(again));
    aoft_rmdir(&d);
}

/* A pointer that aof_open never returned is rejected without being dereferenced. */
static void test_unknown_handle(void) {
    aof_log_t *bogus = (aof_log_t *)(uintptr_t)0x7ff0deadbeef0ull;
    uint64_t u = SENTINEL;
    CHECK_STATUS(aof_flush(bogus), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_last_id(bogus, &u), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_close(bogus), AOF_ERR_INVALID_ARG);
    CHECK_EQ_U64(u, SENTINEL);
    CHECK(strstr(aof_last_error_message(), "not a log handle") != NULL);
}

/* Handles are scrambled tokens: small integers, addresses of memory and random values are
 * never live logs (AOF_ERR_INVALID_ARG), while live logs exist and after they close. */
static void test_stray_values_are_not_handles(void) {
    aoft_dir d, d2;
    aoft_mkdir(&d);
    aoft_mkdir(&d2);
    aof_log_t *live = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aof_log_t *closed = aoft_open_small(&d2, AOF_FLUSH_SYNC, 0, 0);
    CHECK_OK(aof_close(closed));
    aoft_append_filled(live, 10, 1);

    uint64_t u = SENTINEL;
    for (uintptr_t small = 1; small <= 1000; small++) {
        aof_log_t *h = (aof_log_t *)small;
        int fd = -1;
        CHECK_STATUS(aof_cq_fd((aof_completion_queue_t *)small, &fd), AOF_ERR_INVALID_ARG);
        CHECK_STATUS(aof_append_async(h, NULL, 0, NULL, &u), AOF_ERR_INVALID_ARG);
        CHECK_STATUS(aof_last_id(h, &u), AOF_ERR_INVALID_ARG);
        CHECK_STATUS(aof_flush(h), AOF_ERR_INVALID_ARG);
        CHECK_STATUS(aof_append(h, NULL, 0, &u), AOF_ERR_INVALID_ARG);
    }
    CHECK(strstr(aof_last_error_message(), "not a log handle") != NULL);

    /* Addresses of memory: a local, a heap block, an options handle passed by mistake. */
    uint64_t local = 0;
    void *heap = malloc(64);
    CHECK(heap != NULL);
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    aof_log_t *addrs[3] = {(aof_log_t *)(void *)&local, (aof_log_t *)heap, (aof_log_t *)o};
    for (size_t i = 0; i < 3; i++) {
        CHECK_STATUS(aof_last_id(addrs[i], &u), AOF_ERR_INVALID_ARG);
        CHECK_STATUS(aof_close(addrs[i]), AOF_ERR_INVALID_ARG);
    }
    aof_options_free(o);
    free(heap);

    /* Random values (xorshift64 seeded from the clock and the pid), and the neighbours of
     * the live and the closed handle. */
    uint64_t x = aoft_now_us() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 1000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        CHECK_STATUS(aof_last_id((aof_log_t *)(uintptr_t)x, &u), AOF_ERR_INVALID_ARG);
    }
    const aof_log_t *known[2] = {live, closed};
    for (size_t i = 0; i < 2; i++) {
        uintptr_t a = (uintptr_t)known[i];
        uintptr_t near[4] = {a + 1, a - 1, a + 8, a ^ ((uintptr_t)1 << 40)};
        for (size_t j = 0; j < 4; j++) {
            CHECK_STATUS(aof_last_id((aof_log_t *)near[j], &u), AOF_ERR_INVALID_ARG);
        }
    }
    CHECK_EQ_U64(u, SENTINEL);

    /* The closed handle is closed; the live one works. */
    CHECK_STATUS(aof_last_id(closed, &u), AOF_ERR_CLOSED);
    CHECK_EQ_U64(u, SENTINEL);
    CHECK_OK(aof_last_id(live, &u));
    CHECK_EQ_U64(u, 1);
    aoft_append_filled(live, 10, 2);
    CHECK_OK(aof_close(live));
    CHECK_STATUS(aof_last_id(live, &u), AOF_ERR_CLOSED);
    aoft_rmdir(&d);
    aoft_rmdir(&d2);
}

int main(void) {
    RUN(test_null_handles_and_out_params);
    RUN(test_bad_paths);
    RUN(test_bad_appends);
    RUN(test_bad_reads_and_waits);
    RUN(test_closed_handle);
    RUN(test_unknown_handle);
    RUN(test_stray_values_are_not_handles);
    return 0;
}
