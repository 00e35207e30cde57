/* Metrics: counters after appends, batches, reads and rolls; recovery fields after a clean
 * close and after a crash (a child process that exits without closing); the sizeof-based
 * size checks of aof_metrics. */
#include "aoft.h"

#include <stddef.h>
#include <sys/wait.h>

/* The first version's size: offset of the end of recovery_clean_shutdown. */
#define METRICS_V1_SIZE 120

static void get(aof_log_t *log, aof_metrics_t *m) {
    memset(m, 0xFF, sizeof *m);
    CHECK_OK(aof_metrics(log, m, sizeof *m));
}

static void test_counters(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aof_metrics_t m;
    get(log, &m);
    CHECK_EQ_U64(m.appends, 0);
    CHECK_EQ_U64(m.append_bytes, 0);
    CHECK_EQ_U64(m.batches, 0);
    CHECK_EQ_U64(m.reads, 0);
    CHECK_EQ_U64(m.last_id, 0);
    CHECK_EQ_U64(m.durable_id, 0);
    CHECK(m.segment_count >= 1);
    CHECK(m.segments_created >= 1);
    CHECK_EQ_U64(m.recovery_truncated_bytes, 0);

    for (uint64_t id = 1; id <= 10; id++) {
        aoft_append_filled(log, 100, id);
    }
    get(log, &m);
    CHECK_EQ_U64(m.appends, 10);
    CHECK_EQ_U64(m.append_bytes, 1000);
    CHECK_EQ_U64(m.last_id, 10);
    CHECK_EQ_U64(m.durable_id, 10); /* AOF_FLUSH_SYNC */
    CHECK(m.write_calls >= 1 && m.write_calls <= 10);
    CHECK(m.syncs >= 1 && m.syncs <= 10);

    uint8_t a[50], b[70];
    const uint8_t *datas[2] = {a, b};
    size_t lens[2] = {sizeof a, sizeof b};
    memset(a, 1, sizeof a);
    memset(b, 2, sizeof b);
    CHECK_OK(aof_append_batch(log, datas, lens, 2, NULL));
    get(log, &m);
    CHECK_EQ_U64(m.batches, 1);
    CHECK_EQ_U64(m.appends, 12);
    CHECK_EQ_U64(m.append_bytes, 1120);

    uint8_t buf[100];
    size_t len = 0;
    for (uint64_t id = 1; id <= 3; id++) {
        CHECK_OK(aof_read(log, id, buf, sizeof buf, &len, NULL));
    }
    get(log, &m);
    CHECK_EQ_U64(m.reads, 3);
    CHECK_EQ_U64(m.read_bytes, 300);

    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    aof_record_t r;
    while (aof_cursor_next(c, &r) == AOF_OK) {
    }
    aof_cursor_free(c);
    get(log, &m);
    CHECK_EQ_U64(m.reads, 3 + 12);
    CHECK_EQ_U64(m.read_bytes, 300 + 1120);

    /* Rolls: 64 KiB segments. */
    for (uint64_t id = 13; id <= 212; id++) {
        aoft_append_filled(log, 1500, id);
    }
    get(log, &m);
    CHECK(m.segments_created >= 4);
    CHECK(m.segments_sealed >= 3);
    CHECK(m.segment_count >= 4);
    CHECK(m.segments_sealed < m.segments_created);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_recovery_fields(void) {
    aoft_dir d;
    aoft_mkdir(&d);

    /* A crash: a child process appends (durably: AOF_FLUSH_SYNC) and exits without
     * closing. Done before this process opens any log, so the child starts with a clean
     * slate (fork copies no engine threads). */
    fflush(NULL);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
        for (uint64_t id = 1; id <= 40; id++) {
            aoft_append_filled(log, 200, id);
        }
        _exit(0); /* no aof_close: no clean-shutdown marker */
    }
    int wstatus = 0;
    CHECK(waitpid(child, &wstatus, 0) == child);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);

    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aof_metrics_t m;
    get(log, &m);
    CHECK_EQ_U64(m.recovery_clean_shutdown, 0);
    CHECK_EQ_U64(m.recovery_scanned_records, 40);
    CHECK_EQ_U64(m.last_id, 40);
    CHECK_EQ_U64(m.durable_id, 40);
    uint8_t buf[200];
    size_t len = 0;
    CHECK_OK(aof_read(log, 40, buf, sizeof buf, &len, NULL));
    CHECK(aoft_matches(buf, len, 40));
    CHECK_OK(aof_close(log));

    /* A clean close: the next open needs no scan. */
    log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    get(log, &m);
    CHECK_EQ_U64(m.recovery_clean_shutdown, 1);
    CHECK_EQ_U64(m.recovery_truncated_bytes, 0);
    CHECK_EQ_U64(m.last_id, 40);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

/* A caller compiled against a newer header passes a bigger struct. */
typedef struct future_metrics {
    aof_metrics_t v1;
    uint64_t latency_p50_us;
    uint64_t latency_p99_us;
} future_metrics;

static void test_struct_size_checks(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aoft_append_filled(log, 10, 1);

    CHECK(sizeof(aof_metrics_t) >= METRICS_V1_SIZE);
    CHECK(sizeof(aof_metrics_t) % 8 == 0);

    /* Exactly the first version's size. */
    aof_metrics_t m;
    memset(&m, 0xFF, sizeof m);
    CHECK_OK(aof_metrics(log, &m, METRICS_V1_SIZE));
    CHECK_EQ_U64(m.appends, 1);
    CHECK_EQ_U64(m.recovery_clean_shutdown, 0);
    /* Fields added after the first version are left as the caller had them. */
    CHECK_EQ_U64(m.zeroed_bytes, UINT64_MAX);

    /* Larger than this library knows: known fields filled, the rest zeroed. */
    future_metrics f;
    memset(&f, 0xFF, sizeof f);
    CHECK_OK(aof_metrics(log, (aof_metrics_t *)&f, sizeof f));
    CHECK_EQ_U64(f.v1.appends, 1);
    CHECK_EQ_U64(f.v1.last_id, 1);
    CHECK_EQ_U64(f.latency_p50_us, 0);
    CHECK_EQ_U64(f.latency_p99_us, 0);

    /* Too small or not a multiple of 8: rejected, nothing written. */
    const size_t bad[] = {0, 8, METRICS_V1_SIZE - 8, METRICS_V1_SIZE - 1, METRICS_V1_SIZE + 1,
                          METRICS_V1_SIZE + 4};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&f, 0xAB, sizeof f);
        CHECK_STATUS(aof_metrics(log, (aof_metrics_t *)&f, bad[i]), AOF_ERR_INVALID_ARG);
        CHECK_EQ_U64(f.v1.appends, 0xABABABABABABABABull);
    }
    CHECK_STATUS(aof_metrics(log, NULL, sizeof m), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_metrics(NULL, &m, sizeof m), AOF_ERR_NULL_ARG);
    CHECK_OK(aof_close(log));
    CHECK_STATUS(aof_metrics(log, &m, sizeof m), AOF_ERR_CLOSED);
    /* NULLs, then the handle, then the size: a closed handle with a bad size is CLOSED. */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&f, 0xAB, sizeof f);
        CHECK_STATUS(aof_metrics(log, (aof_metrics_t *)&f, bad[i]), AOF_ERR_CLOSED);
        CHECK_EQ_U64(f.v1.appends, 0xABABABABABABABABull);
    }
    CHECK_STATUS(aof_metrics(log, NULL, 0), AOF_ERR_NULL_ARG);
    aoft_rmdir(&d);
}

/* Distributions, the Prometheus text, reset, the run-time field list, status names. */
static void test_distributions_and_text(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    for (uint64_t id = 1; id <= 20; id++) {
        aoft_append_filled(log, 64, id);
    }
    aof_metrics_t m;
    get(log, &m);
    CHECK_EQ_U64(m.append_latency_ns_count, 20);
    CHECK_EQ_U64(m.flushes_sync, 20);
    CHECK_EQ_U64(m.records_flushed, 20);
    CHECK_EQ_U64(m.bytes_flushed, 20 * 64);
    CHECK_EQ_U64(m.sync_records_count, 20);
    CHECK_EQ_U64(m.sync_records_max, 1);
    CHECK(m.sync_latency_ns_count >= 20);
    CHECK(m.append_latency_ns_min <= m.append_latency_ns_p50);
    CHECK(m.append_latency_ns_p50 <= m.append_latency_ns_p99);
    CHECK(m.append_latency_ns_p99 <= m.append_latency_ns_max);
    CHECK(m.append_latency_ns_max > 0);

    /* The size first (NULL buffer), then the text. */
    size_t needed = 0;
    CHECK_STATUS(aof_metrics_prometheus(log, NULL, 0, &needed), AOF_ERR_BUFFER_TOO_SMALL);
    CHECK(needed > 1000);
    /* Values (and so the text) may grow a little between two calls: room to spare. */
    size_t cap = needed + 4096;
    char *text = malloc(cap);
    CHECK(text != NULL);
    size_t got = 0;
    CHECK_STATUS(aof_metrics_prometheus(log, text, 16, &got), AOF_ERR_BUFFER_TOO_SMALL);
    CHECK(got > 1000);
    CHECK_OK(aof_metrics_prometheus(log, text, cap, &got));
    CHECK(got <= cap && text[got - 1] == '\0' && strlen(text) == got - 1);
    CHECK(strstr(text, "# TYPE aof_appends_total counter\n") != NULL);
    CHECK(strstr(text, "aof_appends_total{log=\"") != NULL);
    CHECK(strstr(text, "\"} 20\n") != NULL);
    CHECK(strstr(text, "# TYPE aof_append_latency_seconds summary\n") != NULL);
    free(text);
    CHECK_STATUS(aof_metrics_prometheus(log, NULL, 8, &got), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_metrics_prometheus(NULL, NULL, 0, &got), AOF_ERR_NULL_ARG);

    /* Reset forgets the distributions, never the counters. */
    CHECK_OK(aof_metrics_reset(log));
    get(log, &m);
    CHECK_EQ_U64(m.append_latency_ns_count, 0);
    CHECK_EQ_U64(m.append_latency_ns_max, 0);
    CHECK_EQ_U64(m.appends, 20);

    /* The field list at run time agrees with the struct. */
    CHECK_EQ_U64(aof_metrics_field_count() * 8, sizeof(aof_metrics_t));
    CHECK(strcmp(aof_metrics_field_name(0), "appends") == 0);
    CHECK(strcmp(aof_metrics_field_name(offsetof(aof_metrics_t, flushes_sync) / 8),
                 "flushes_sync") == 0);
    CHECK(strcmp(aof_metrics_field_name(aof_metrics_field_count() - 1),
                 "download_latency_ns_max") == 0);
    CHECK(aof_metrics_field_name(aof_metrics_field_count()) == NULL);

    CHECK_OK(aof_close(log));
    CHECK_STATUS(aof_metrics_reset(log), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_metrics_prometheus(log, NULL, 0, &got), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_metrics_reset(NULL), AOF_ERR_NULL_ARG);
    aoft_rmdir(&d);
}

/* A manager renders every open log with its name. */
static void test_manager_text(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_manager_t *mgr = NULL;
    CHECK_OK(aof_manager_open(d.log, NULL, &mgr));
    aof_log_t *a = NULL, *b = NULL;
    CHECK_OK(aof_manager_open_log(mgr, "orders", NULL, &a));
    CHECK_OK(aof_manager_open_log(mgr, "payments", NULL, &b));
    CHECK_OK(aof_append(a, (const uint8_t *)"x", 1, NULL));
    size_t needed = 0;
    CHECK_STATUS(aof_manager_metrics_prometheus(mgr, NULL, 0, &needed),
                 AOF_ERR_BUFFER_TOO_SMALL);
    char *text = malloc(needed + 4096);
    CHECK(text != NULL);
    CHECK_OK(aof_manager_metrics_prometheus(mgr, text, needed + 4096, &needed));
    CHECK(strstr(text, "aof_appends_total{log=\"orders\"} 1\n") != NULL);
    CHECK(strstr(text, "aof_appends_total{log=\"payments\"} 0\n") != NULL);
    free(text);
    CHECK_OK(aof_close(a));
    CHECK_OK(aof_close(b));
    CHECK_OK(aof_manager_close(mgr));
    CHECK_STATUS(aof_manager_metrics_prometheus(mgr, NULL, 0, &needed), AOF_ERR_CLOSED);
    aoft_rmdir(&d);
}

int main(void) {
    RUN(test_recovery_fields); /* first: it forks before this process starts any engine */
    RUN(test_counters);
    RUN(test_struct_size_checks);
    RUN(test_distributions_and_text);
    RUN(test_manager_text);
    return 0;
}
