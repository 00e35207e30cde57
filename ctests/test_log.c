/* Log: open (it creates the log directory, never its parents), append, batches, reads,
 * flush and durability waits, verify, close and reopen, segment rolls, concurrent appends
 * from several threads. */
#include "aoft.h"

#include <dirent.h>
#include <sys/stat.h>

/* The number of entries in directory `path`, "." and ".." aside. */
static int count_entries(const char *path) {
    DIR *dir = opendir(path);
    CHECK(dir != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    CHECK(closedir(dir) == 0);
    return n;
}

/* aof_open creates the log directory itself, never a missing parent. */
static void test_open_creates_the_directory_but_not_its_parents(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    char parent[700], nested[800];
    int n = snprintf(parent, sizeof parent, "%s/missing-parent", d.root);
    CHECK(n > 0 && (size_t)n < sizeof parent);
    n = snprintf(nested, sizeof nested, "%s/log", parent);
    CHECK(n > 0 && (size_t)n < sizeof nested);

    aof_log_t *log = NULL;
    CHECK_STATUS(aof_open(nested, NULL, &log), AOF_ERR_IO);
    CHECK(log == NULL);
    CHECK(strstr(aof_last_error_message(), "missing-parent") != NULL);
    struct stat st;
    CHECK(stat(parent, &st) != 0 && errno == ENOENT);
    CHECK(count_entries(d.root) == 0); /* nothing created */

    CHECK_OK(aof_open(d.log, NULL, &log));
    CHECK(log != NULL);
    CHECK(stat(d.log, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(count_entries(d.root) == 1);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_append_and_read_back(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    uint64_t before = aoft_now_us();

    uint64_t last = 99;
    CHECK_OK(aof_last_id(log, &last));
    CHECK_EQ_U64(last, 0); /* empty log */

    const char *hello = "hello, log";
    uint64_t id = 0;
    CHECK_OK(aof_append(log, (const uint8_t *)hello, strlen(hello), &id));
    CHECK_EQ_U64(id, 1);
    CHECK_OK(aof_append(log, NULL, 0, &id)); /* empty record, NULL data */
    CHECK_EQ_U64(id, 2);
    uint8_t nothing = 0xAB;
    CHECK_OK(aof_append(log, &nothing, 0, &id)); /* empty record, non-NULL data */
    CHECK_EQ_U64(id, 3);
    CHECK_OK(aof_append(log, (const uint8_t *)"x", 1, NULL)); /* out_id may be NULL */
    for (uint64_t want = 5; want <= 50; want++) {
        aoft_append_filled(log, (size_t)(want * 37 % 3000), want);
    }
    uint64_t after = aoft_now_us();

    CHECK_OK(aof_last_id(log, &last));
    CHECK_EQ_U64(last, 50);

    uint8_t buf[4096];
    size_t len = 0;
    uint64_t ts = 0;
    CHECK_OK(aof_read(log, 1, buf, sizeof buf, &len, &ts));
    CHECK_EQ_U64(len, strlen(hello));
    CHECK(memcmp(buf, hello, len) == 0);
    CHECK(ts >= before - 1000000 && ts <= after + 1000000); /* same clock, 1 s slack */

    CHECK_OK(aof_read(log, 2, buf, sizeof buf, &len, NULL));
    CHECK_EQ_U64(len, 0);
    CHECK_OK(aof_read(log, 3, NULL, 0, &len, NULL)); /* empty record into no buffer */
    CHECK_EQ_U64(len, 0);
    CHECK_OK(aof_read(log, 4, buf, 1, &len, NULL)); /* exact fit */
    CHECK_EQ_U64(len, 1);
    CHECK(buf[0] == 'x');

    uint64_t prev_ts = 0;
    for (uint64_t want = 5; want <= 50; want++) {
        CHECK_OK(aof_read(log, want, buf, sizeof buf, &len, &ts));
        CHECK_EQ_U64(len, want * 37 % 3000);
        CHECK(aoft_matches(buf, len, want));
        CHECK(ts >= prev_ts); /* timestamps do not go backwards */
        prev_ts = ts;
    }
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_read_buffer_too_small(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aoft_append_filled(log, 1000, 1);

    /* Size first with a zero-length buffer... */
    size_t needed = 0;
    uint64_t ts = 12345;
    CHECK_STATUS(aof_read(log, 1, NULL, 0, &needed, &ts), AOF_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U64(needed, 1000); /* the documented exception: out_len is set */
    CHECK_EQ_U64(ts, 12345);    /* other out-params untouched */

    /* ...a buffer one byte short is left untouched... */
    uint8_t buf[1000];
    memset(buf, 0xEE, sizeof buf);
    size_t len = 0;
    CHECK_STATUS(aof_read(log, 1, buf, 999, &len, &ts), AOF_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U64(len, 1000);
    for (size_t i = 0; i < sizeof buf; i++) {
        CHECK(buf[i] == 0xEE);
    }
    CHECK(strstr(aof_last_error_message(), "aof_read") != NULL);

    /* ...then read with the size it asked for. */
    uint8_t *exact = (uint8_t *)malloc(needed);
    CHECK(exact != NULL);
    CHECK_OK(aof_read(log, 1, exact, needed, &len, &ts));
    CHECK_EQ_U64(len, 1000);
    CHECK(aoft_matches(exact, len, 1));
    free(exact);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_append_batch(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aoft_append_filled(log, 10, 1);

    uint8_t a[100], c[2000];
    aoft_fill(a, sizeof a, 2);
    aoft_fill(c, sizeof c, 4);
    const uint8_t *datas[3] = {a, NULL, c}; /* NULL with length 0: an empty record */
    size_t lens[3] = {sizeof a, 0, sizeof c};
    uint64_t first = 0;
    CHECK_OK(aof_append_batch(log, datas, lens, 3, &first));
    CHECK_EQ_U64(first, 2);
    CHECK_OK(aof_append_batch(log, datas, lens, 1, NULL)); /* out_first_id may be NULL */

    uint64_t last = 0;
    CHECK_OK(aof_last_id(log, &last));
    CHECK_EQ_U64(last, 5);
    uint8_t buf[2000];
    size_t len = 0;
    CHECK_OK(aof_read(log, 2, buf, sizeof buf, &len, NULL));
    CHECK_EQ_U64(len, 100);
    CHECK(aoft_matches(buf, len, 2));
    CHECK_OK(aof_read(log, 3, buf, sizeof buf, &len, NULL));
    CHECK_EQ_U64(len, 0);
    CHECK_OK(aof_read(log, 4, buf, sizeof buf, &len, NULL));
    CHECK_EQ_U64(len, 2000);
    CHECK(aoft_matches(buf, len, 4));
    CHECK_OK(aof_read(log, 5, buf, sizeof buf, &len, NULL));
    CHECK_EQ_U64(len, 100);

    /* A large batch that rolls across segments. */
    enum { N = 200 };
    static uint8_t payloads[N][700];
    const uint8_t *ptrs[N];
    size_t sizes[N];
    for (size_t i = 0; i < N; i++) {
        aoft_fill(payloads[i], sizeof payloads[i], 6 + i);
        ptrs[i] = payloads[i];
        sizes[i] = sizeof payloads[i];
    }
    CHECK_OK(aof_append_batch(log, ptrs, sizes, N, &first));
    CHECK_EQ_U64(first, 6);
    for (uint64_t id = 6; id < 6 + N; id++) {
        CHECK_OK(aof_read(log, id, buf, sizeof buf, &len, NULL));
        CHECK_EQ_U64(len, 700);
        CHECK(aoft_matches(buf, len, id));
    }
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_flush_and_sync_until(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    /* A batch size that is never reached and no timer: nothing syncs by itself. */
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_BATCHED, 1000000, 0);
    uint64_t id = aoft_append_filled(log, 100, 1);
    uint64_t durable = 99;
    CHECK_OK(aof_durable_id(log, &durable));
    CHECK_EQ_U64(durable, 0);
    CHECK_STATUS(aof_sync_until(log, id, 0), AOF_TIMED_OUT);
    CHECK_STATUS(aof_sync_until(log, id, 20), AOF_TIMED_OUT);
    CHECK_STATUS(aof_sync_until(log, id + 1, 0), AOF_ERR_INVALID_ARG); /* not appended */
    CHECK_OK(aof_flush(log));
    CHECK_OK(aof_durable_id(log, &durable));
    CHECK_EQ_U64(durable, 1);
    CHECK_OK(aof_sync_until(log, id, 0));
    CHECK_OK(aof_sync_until(log, id, UINT32_MAX)); /* already durable: returns at once */
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);

    /* With AOF_FLUSH_ASYNC the background worker makes records durable by itself. */
    aoft_mkdir(&d);
    log = aoft_open_small(&d, AOF_FLUSH_ASYNC, 0, 0);
    for (uint64_t i = 1; i <= 20; i++) {
        id = aoft_append_filled(log, 300, i);
    }
    CHECK_OK(aof_sync_until(log, id, 10000));
    CHECK_OK(aof_durable_id(log, &durable));
    CHECK(durable >= id);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);

    /* With AOF_FLUSH_PERIODIC the timer does. */
    aoft_mkdir(&d);
    log = aoft_open_small(&d, AOF_FLUSH_PERIODIC, 0, 10);
    id = aoft_append_filled(log, 300, 1);
    CHECK_OK(aof_sync_until(log, id, 10000));
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

struct waiter {
    aof_log_t *log;
    uint64_t id;
    int32_t status;
};

static void *wait_durable(void *arg) {
    struct waiter *w = (struct waiter *)arg;
    w->status = aof_sync_until(w->log, w->id, 10000);
    return NULL;
}

/* aof_sync_until in one thread is released by aof_flush in another. */
static void test_sync_until_woken_by_another_threads_flush(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_BATCHED, 1000000, 0);
    struct waiter w = {log, aoft_append_filled(log, 64, 1), 99};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, wait_durable, &w) == 0);
    aoft_sleep_ms(50);
    CHECK_OK(aof_flush(log));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_STATUS(w.status, AOF_OK);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_rolls_verify_close_and_reopen(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_BATCHED, 32, 0);
    for (uint64_t id = 1; id <= 300; id++) {
        aoft_append_filled(log, 1000 + (size_t)(id % 7) * 100, id);
    }
    uint64_t records = 0;
    CHECK_OK(aof_verify(log, &records));
    CHECK(records <= 300); /* records still in the write buffer are not checked */
    CHECK_OK(aof_flush(log));
    CHECK_OK(aof_verify(log, &records));
    CHECK_EQ_U64(records, 300);
    CHECK_OK(aof_verify(log, NULL)); /* out_records may be NULL */
    aof_metrics_t m;
    CHECK_OK(aof_metrics(log, &m, sizeof m));
    CHECK(m.segment_count >= 5); /* ~330 KB in 64 KiB segments */
    CHECK_OK(aof_close(log));

    /* Reopen: everything is there, and appends continue with the next id. */
    log = NULL;
    aof_options_t *o = aoft_small_options();
    CHECK_OK(aof_open(d.log, o, &log));
    aof_options_free(o);
    uint64_t last = 0, durable = 0;
    CHECK_OK(aof_last_id(log, &last));
    CHECK_OK(aof_durable_id(log, &durable));
    CHECK_EQ_U64(last, 300);
    CHECK_EQ_U64(durable, 300);
    uint8_t buf[2000];
    size_t len = 0;
    for (uint64_t id = 1; id <= 300; id++) {
        CHECK_OK(aof_read(log, id, buf, sizeof buf, &len, NULL));
        CHECK_EQ_U64(len, 1000 + (id % 7) * 100);
        CHECK(aoft_matches(buf, len, id));
    }
    aoft_append_filled(log, 10, 301);
    CHECK_OK(aof_verify(log, &records));
    CHECK_EQ_U64(records, 301);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_second_open_of_the_same_directory_is_busy(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aof_options_t *o = aoft_small_options();
    aof_log_t *second = NULL;
    CHECK_STATUS(aof_open(d.log, o, &second), AOF_ERR_BUSY);
    CHECK(second == NULL);
    CHECK(strstr(aof_last_error_message(), "locked") != NULL);
    CHECK_OK(aof_close(log));
    CHECK_OK(aof_open(d.log, o, &second)); /* free again after close */
    CHECK_OK(aof_close(second));
    aof_options_free(o);
    aoft_rmdir(&d);
}

enum { WRITERS = 4, PER_WRITER = 250 };

struct writer {
    aof_log_t *log;
    int index;
    uint64_t ids[PER_WRITER];
};

static void *write_records(void *arg) {
    struct writer *w = (struct writer *)arg;
    for (int i = 0; i < PER_WRITER; i++) {
        uint8_t rec[16];
        memset(rec, 0, sizeof rec);
        memcpy(rec, &w->index, sizeof w->index);
        memcpy(rec + 8, &i, sizeof i);
        CHECK_OK(aof_append(w->log, rec, sizeof rec, &w->ids[i]));
    }
    return NULL;
}

/* One log handle used by several threads at once: every append gets its own id, each
 * thread's ids increase, and each record holds what its thread wrote. */
static void test_concurrent_appends_share_one_handle(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    static struct writer w[WRITERS];
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i].log = log;
        w[i].index = i;
        CHECK(pthread_create(&t[i], NULL, write_records, &w[i]) == 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
    }
    uint64_t last = 0;
    CHECK_OK(aof_last_id(log, &last));
    CHECK_EQ_U64(last, WRITERS * PER_WRITER);
    static uint8_t seen[WRITERS * PER_WRITER + 1];
    for (int i = 0; i < WRITERS; i++) {
        for (int j = 0; j < PER_WRITER; j++) {
            uint64_t id = w[i].ids[j];
            CHECK(id >= 1 && id <= last);
            CHECK(!seen[id]);
            seen[id] = 1;
            CHECK(j == 0 || id > w[i].ids[j - 1]);
            uint8_t rec[16];
            size_t len = 0;
            CHECK_OK(aof_read(log, id, rec, sizeof rec, &len, NULL));
            CHECK_EQ_U64(len, 16);
            int index = -1, seq = -1;
            memcpy(&index, rec, sizeof index);
            memcpy(&seq, rec + 8, sizeof seq);
            CHECK(index == i && seq == j);
        }
    }
    aof_metrics_t m;
    CHECK_OK(aof_metrics(log, &m, sizeof m));
    CHECK_EQ_U64(m.appends, WRITERS * PER_WRITER);
    CHECK(m.syncs >= 1 && m.syncs <= m.appends); /* group commit never needs more */
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

int main(void) {
    RUN(test_open_creates_the_directory_but_not_its_parents);
    RUN(test_append_and_read_back);
    RUN(test_read_buffer_too_small);
    RUN(test_append_batch);
    RUN(test_flush_and_sync_until);
    RUN(test_sync_until_woken_by_another_threads_flush);
    RUN(test_rolls_verify_close_and_reopen);
    RUN(test_second_open_of_the_same_directory_is_busy);
    RUN(test_concurrent_appends_share_one_handle);
    return 0;
}
