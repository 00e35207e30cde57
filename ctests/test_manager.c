/* The manager of many logs: every aof_manager_* export with good and bad input. Options
 * (NULLs, ranges); open (NULLs, empty root, a file as root, a missing parent, a second
 * manager on the same root); logs opened by name (bad names of every kind, twice, options
 * honoured, logs see nothing of each other); the NUL-separated list (sizing, too small,
 * exact, empty); drop (NULLs, bad names, an open log, a missing log, the directory gone);
 * close (NULL, logs still open are closed, their handles still released by aof_close, a
 * second close, unknown handles); a reopen keeps every record; one manager handle shared
 * by threads; the process's thread count does not grow with the number of logs. */
#include "aoft.h"

#include <dirent.h>
#include <sys/stat.h>

#define SENTINEL_PTR ((void *)(uintptr_t)0x5A5A5A50u)

static void root_of(aoft_dir *d, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s/mgr", d->root);
    CHECK(n > 0 && (size_t)n < cap);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static size_t count_entries(const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static aof_options_t *small_options(void) {
    aof_options_t *o = aoft_small_options();
    CHECK_OK(aof_options_set_zero_ahead(o, 0));
    return o;
}

static aof_log_t *open_log(aof_manager_t *m, const char *name) {
    aof_options_t *o = small_options();
    aof_log_t *log = NULL;
    CHECK_OK(aof_manager_open_log(m, name, o, &log));
    CHECK(log != NULL);
    aof_options_free(o);
    return log;
}

/* Lists into a fresh buffer; the caller frees it. *count gets the number of names. */
static char *list(aof_manager_t *m, size_t *count) {
    size_t needed = 0;
    CHECK_STATUS(aof_manager_list(m, NULL, 0, &needed), AOF_ERR_BUFFER_TOO_SMALL);
    CHECK(needed >= 1);
    char *buf = (char *)malloc(needed);
    CHECK(buf != NULL);
    size_t len = 0;
    CHECK_OK(aof_manager_list(m, buf, needed, &len));
    CHECK_EQ_U64(len, needed);
    CHECK(buf[len - 1] == '\0');
    size_t n = 0;
    for (const char *p = buf; *p != '\0'; p += strlen(p) + 1) {
        n++;
    }
    *count = n;
    return buf;
}

/* The i-th name of a list. */
static const char *nth(const char *buf, size_t i) {
    const char *p = buf;
    while (i-- > 0) {
        CHECK(*p != '\0');
        p += strlen(p) + 1;
    }
    return p;
}

static void test_options(void) {
    aof_manager_options_t *o = NULL;
    CHECK_STATUS(aof_manager_options_new(NULL), AOF_ERR_NULL_ARG);
    CHECK_OK(aof_manager_options_new(&o));
    CHECK(o != NULL);
    CHECK_STATUS(aof_manager_options_set_worker_threads(NULL, 2), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_options_set_max_blocking_threads(NULL, 2), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_options_set_worker_threads(o, 0), AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "aof_manager_options_set_worker_threads") != NULL);
    CHECK_STATUS(aof_manager_options_set_worker_threads(o, AOF_MANAGER_MAX_THREADS + 1),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_options_set_max_blocking_threads(o, 0), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_options_set_max_blocking_threads(o, UINT32_MAX),
                 AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_manager_options_set_worker_threads(o, 1));
    CHECK_OK(aof_manager_options_set_worker_threads(o, AOF_MANAGER_MAX_THREADS));
    CHECK_OK(aof_manager_options_set_max_blocking_threads(o, AOF_MANAGER_MAX_THREADS));
    CHECK_OK(aof_manager_options_set_max_blocking_threads(o, 1));
    aof_manager_options_free(o);
    aof_manager_options_free(NULL);
}

static void test_open_bad_roots(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    char root[600];
    root_of(&d, root, sizeof root);
    aof_manager_t *m = (aof_manager_t *)SENTINEL_PTR;
    CHECK_STATUS(aof_manager_open(NULL, NULL, &m), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_open(root, NULL, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_open("", NULL, &m), AOF_ERR_INVALID_ARG);
    /* A file where the root should be, and a root whose parent is missing. */
    FILE *f = fopen(root, "w");
    CHECK(f != NULL);
    fclose(f);
    CHECK_STATUS(aof_manager_open(root, NULL, &m), AOF_ERR_IO);
    CHECK(strstr(aof_last_error_message(), "aof_manager_open") != NULL);
    CHECK(remove(root) == 0);
    char deep[700];
    snprintf(deep, sizeof deep, "%s/no/such", d.root);
    CHECK_STATUS(aof_manager_open(deep, NULL, &m), AOF_ERR_IO);
    CHECK(m == (aof_manager_t *)SENTINEL_PTR); /* untouched on failure */

    /* One manager per root, in this process or another. */
    aof_manager_options_t *o = NULL;
    CHECK_OK(aof_manager_options_new(&o));
    CHECK_OK(aof_manager_options_set_worker_threads(o, 1));
    CHECK_OK(aof_manager_open(root, o, &m));
    aof_manager_options_free(o); /* copied: the manager keeps working */
    aof_manager_t *m2 = NULL;
    CHECK_STATUS(aof_manager_open(root, NULL, &m2), AOF_ERR_BUSY);
    CHECK(m2 == NULL);
    aof_log_t *log = open_log(m, "still-works");
    CHECK_OK(aof_close(log));
    CHECK_OK(aof_manager_close(m));
    CHECK_OK(aof_manager_open(root, NULL, &m2));
    CHECK(m2 != m);
    CHECK_OK(aof_manager_close(m2));
    aoft_rmdir(&d);
}

static void test_open_logs_and_names(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    char root[600];
    root_of(&d, root, sizeof root);
    aof_manager_t *m = NULL;
    CHECK_OK(aof_manager_open(root, NULL, &m));
    aof_log_t *log = (aof_log_t *)SENTINEL_PTR;

    /* NULLs come first, even before the handle. */
    CHECK_STATUS(aof_manager_open_log(NULL, "a", NULL, &log), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_open_log(m, NULL, NULL, &log), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_open_log(m, "a", NULL, NULL), AOF_ERR_NULL_ARG);
    aof_manager_t *bogus = (aof_manager_t *)(uintptr_t)0x7ff0deadbeef0ull;
    CHECK_STATUS(aof_manager_open_log(bogus, NULL, NULL, &log), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_open_log(bogus, "a", NULL, &log), AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "not a manager handle") != NULL);

    /* Bad names of every kind. */
    char long_name[AOF_MANAGER_MAX_NAME_LEN + 2];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0'; /* 201 bytes */
    const char *bad[] = {"",    ".",     "..",     ".hidden", ".manager.lock", ".dropping.a",
                         "a/b", "/abs",  "../up",  "new\nline", "tab\t", "\xff\xfe",
                         long_name};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(aof_manager_open_log(m, bad[i], NULL, &log), AOF_ERR_INVALID_ARG);
        CHECK(strstr(aof_last_error_message(), "aof_manager_open_log") != NULL);
        CHECK_STATUS(aof_manager_drop_log(m, bad[i]), AOF_ERR_INVALID_ARG);
    }
    CHECK(log == (aof_log_t *)SENTINEL_PTR);
    CHECK_EQ_U64(count_entries(root), 3); /* only the lock file and the catalogue (2 files) */

    /* The longest name works. */
    long_name[AOF_MANAGER_MAX_NAME_LEN] = '\0';
    log = open_log(m, long_name);
    CHECK_OK(aof_close(log));

    /* Two logs: each an ordinary handle, seeing only its own records. */
    aof_log_t *a = open_log(m, "orders-1");
    aof_log_t *b = open_log(m, "orders-2");
    for (uint64_t id = 1; id <= 300; id++) { /* several 64 KiB segments */
        aoft_append_filled(a, 500, id);
    }
    aoft_append_filled(b, 10, 1);
    uint64_t last = 0;
    CHECK_OK(aof_last_id(a, &last));
    CHECK_EQ_U64(last, 300);
    CHECK_OK(aof_last_id(b, &last));
    CHECK_EQ_U64(last, 1);
    uint8_t buf[600];
    size_t len = 0;
    CHECK_OK(aof_read(b, 1, buf, sizeof buf, &len, NULL));
    CHECK(len == 10 && aoft_matches(buf, len, 1));
    CHECK_STATUS(aof_read(b, 2, buf, sizeof buf, &len, NULL), AOF_ERR_NOT_FOUND);
    aof_metrics_t mt;
    CHECK_OK(aof_metrics(a, &mt, sizeof mt));
    CHECK(mt.segments_sealed >= 2); /* the log's options were honoured */

    /* A log is open once. */
    aof_log_t *again = NULL;
    CHECK_STATUS(aof_manager_open_log(m, "orders-1", NULL, &again), AOF_ERR_BUSY);
    char direct[700];
    snprintf(direct, sizeof direct, "%s/orders-1", root);
    CHECK_STATUS(aof_open(direct, NULL, &again), AOF_ERR_BUSY);
    CHECK(again == NULL);

    /* Manager and log handles are not interchangeable. */
    CHECK_STATUS(aof_flush((aof_log_t *)(void *)m), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_drop_log((aof_manager_t *)(void *)a, "x"), AOF_ERR_INVALID_ARG);

    CHECK_OK(aof_close(a));
    CHECK_OK(aof_close(b));
    CHECK_OK(aof_manager_close(m));
    aoft_rmdir(&d);
}

static void test_list(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    char root[600];
    root_of(&d, root, sizeof root);
    aof_manager_t *m = NULL;
    CHECK_OK(aof_manager_open(root, NULL, &m));
    char buf[64];
    size_t len = 77;

    CHECK_STATUS(aof_manager_list(NULL, buf, sizeof buf, &len), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_list(m, buf, sizeof buf, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_list(m, NULL, 5, &len), AOF_ERR_NULL_ARG);
    CHECK_EQ_U64(len, 77);

    /* Empty: just the final NUL. */
    memset(buf, 'z', sizeof buf);
    CHECK_OK(aof_manager_list(m, buf, sizeof buf, &len));
    CHECK_EQ_U64(len, 1);
    CHECK(buf[0] == '\0' && buf[1] == 'z');
    CHECK_STATUS(aof_manager_list(m, NULL, 0, &len), AOF_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U64(len, 1);

    /* Sorted, open or closed. */
    const char *names[] = {"zeta", "alpha", "mid-3"};
    for (size_t i = 0; i < 3; i++) {
        CHECK_OK(aof_close(open_log(m, names[i])));
    }
    aof_log_t *open_one = open_log(m, "beta"); /* open or closed, listed all the same */
    const char want[] = "alpha\0beta\0mid-3\0zeta\0"; /* + the literal's own final NUL */
    size_t need = sizeof want;
    CHECK_EQ_U64(need, 23);

    /* Too small: the size needed, the buffer untouched. */
    memset(buf, 'z', sizeof buf);
    len = 0;
    CHECK_STATUS(aof_manager_list(m, buf, need - 1, &len), AOF_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U64(len, need);
    CHECK(buf[0] == 'z');
    CHECK(strstr(aof_last_error_message(), "aof_manager_list") != NULL);

    /* Exactly enough. */
    CHECK_OK(aof_manager_list(m, buf, need, &len));
    CHECK_EQ_U64(len, need);
    CHECK(memcmp(buf, want, need) == 0);
    CHECK(buf[need] == 'z');

    size_t count = 0;
    char *all = list(m, &count);
    CHECK_EQ_U64(count, 4);
    CHECK(strcmp(nth(all, 0), "alpha") == 0 && strcmp(nth(all, 3), "zeta") == 0);
    free(all);

    /* Entries that are not logs are not listed. */
    char path[700];
    snprintf(path, sizeof path, "%s/not-a-log", root);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/.hidden", root);
    CHECK(mkdir(path, 0755) == 0);
    all = list(m, &count);
    CHECK_EQ_U64(count, 4);
    free(all);

    CHECK_OK(aof_close(open_one));
    CHECK_OK(aof_manager_close(m));
    aoft_rmdir(&d);
}

static void test_drop(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    char root[600];
    root_of(&d, root, sizeof root);
    aof_manager_t *m = NULL;
    CHECK_OK(aof_manager_open(root, NULL, &m));
    aof_log_t *victim = open_log(m, "victim");
    aof_log_t *keep = open_log(m, "keep");
    for (uint64_t id = 1; id <= 400; id++) {
        aoft_append_filled(victim, 400, id);
    }
    aoft_append_filled(keep, 100, 1);

    CHECK_STATUS(aof_manager_drop_log(NULL, "victim"), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_drop_log(m, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_drop_log(m, "../victim"), AOF_ERR_INVALID_ARG);
    /* Open: refused, and the log goes on working. */
    CHECK_STATUS(aof_manager_drop_log(m, "victim"), AOF_ERR_BUSY);
    CHECK(strstr(aof_last_error_message(), "victim") != NULL);
    aoft_append_filled(victim, 400, 401);
    CHECK_OK(aof_close(victim));

    CHECK_OK(aof_manager_drop_log(m, "victim"));
    char path[700];
    snprintf(path, sizeof path, "%s/victim", root);
    CHECK(!exists(path));
    snprintf(path, sizeof path, "%s/.dropping.victim", root);
    CHECK(!exists(path));
    CHECK_EQ_U64(count_entries(root), 4); /* the lock file, the catalogue (2 files), keep/ */
    size_t count = 0;
    char *all = list(m, &count);
    CHECK_EQ_U64(count, 1);
    CHECK(strcmp(nth(all, 0), "keep") == 0);
    free(all);

    /* Gone, or never there. */
    CHECK_STATUS(aof_manager_drop_log(m, "victim"), AOF_ERR_NO_SUCH_LOG);
    CHECK(strstr(aof_last_error_message(), "no log named") != NULL);
    CHECK_STATUS(aof_manager_drop_log(m, "never"), AOF_ERR_NO_SUCH_LOG);
    CHECK(strcmp(aof_errstr(AOF_ERR_NO_SUCH_LOG), "unknown status") != 0);

    /* The name can be used again: a new, empty log. */
    aof_log_t *fresh = open_log(m, "victim");
    uint64_t last = 99;
    CHECK_OK(aof_last_id(fresh, &last));
    CHECK_EQ_U64(last, 0);
    CHECK_OK(aof_close(fresh));
    uint64_t keep_last = 0;
    CHECK_OK(aof_last_id(keep, &keep_last));
    CHECK_EQ_U64(keep_last, 1);
    CHECK_OK(aof_close(keep));
    CHECK_OK(aof_manager_close(m));
    aoft_rmdir(&d);
}

static void test_close_and_reopen(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    char root[600];
    root_of(&d, root, sizeof root);
    aof_manager_t *m = NULL;
    CHECK_OK(aof_manager_close(NULL));
    CHECK_OK(aof_manager_open(root, NULL, &m));

    /* Logs still open at close, under a background flush policy too. */
    aof_options_t *o = small_options();
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_ASYNC, 0, 0));
    aof_log_t *async_log = NULL;
    CHECK_OK(aof_manager_open_log(m, "async", o, &async_log));
    aof_options_free(o);
    aof_log_t *sync_log = open_log(m, "sync");
    for (uint64_t id = 1; id <= 50; id++) {
        aoft_append_filled(async_log, 200, id);
        aoft_append_filled(sync_log, 200, id);
    }
    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(sync_log, AOF_START_OLDEST, &c));

    CHECK_OK(aof_manager_close(m));
    uint8_t byte = 1;
    uint64_t id = 0;
    CHECK_STATUS(aof_append(async_log, &byte, 1, &id), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_flush(sync_log), AOF_ERR_CLOSED);
    aof_record_t r;
    CHECK_STATUS(aof_cursor_next(c, &r), AOF_ERR_CLOSED);
    aof_cursor_free(c);
    CHECK_OK(aof_close(async_log)); /* still released with aof_close */
    CHECK_OK(aof_close(sync_log));
    CHECK_STATUS(aof_close(sync_log), AOF_ERR_CLOSED);

    /* A closed manager handle. */
    aof_log_t *log = NULL;
    size_t len = 0;
    CHECK_STATUS(aof_manager_open_log(m, "x", NULL, &log), AOF_ERR_CLOSED);
    CHECK(strstr(aof_last_error_message(), "was closed") != NULL);
    CHECK_STATUS(aof_manager_list(m, NULL, 0, &len), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_manager_drop_log(m, "sync"), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_manager_close(m), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_manager_close((aof_manager_t *)(uintptr_t)0x7ff0deadbeef0ull),
                 AOF_ERR_INVALID_ARG);
    CHECK(log == NULL);

    /* Reopened: everything there, closed cleanly. */
    CHECK_OK(aof_manager_open(root, NULL, &m));
    const char *names[] = {"async", "sync"};
    for (size_t i = 0; i < 2; i++) {
        log = open_log(m, names[i]);
        uint64_t last = 0;
        CHECK_OK(aof_last_id(log, &last));
        CHECK_EQ_U64(last, 50);
        aof_metrics_t mt;
        CHECK_OK(aof_metrics(log, &mt, sizeof mt));
        CHECK_EQ_U64(mt.recovery_clean_shutdown, 1);
        uint8_t buf[200];
        CHECK_OK(aof_read(log, 50, buf, sizeof buf, &len, NULL));
        CHECK(len == 200 && aoft_matches(buf, len, 50));
        CHECK_OK(aof_close(log));
    }
    CHECK_OK(aof_manager_close(m));
    aoft_rmdir(&d);
}

typedef struct worker_arg {
    aof_manager_t *m;
    int index;
    uint64_t logs;
} worker_arg;

/* Opens, fills, closes and drops logs of its own through the shared manager handle. */
static void *worker(void *p) {
    worker_arg *a = (worker_arg *)p;
    for (uint64_t i = 0; i < a->logs; i++) {
        char name[64];
        snprintf(name, sizeof name, "w%d-%" PRIu64, a->index, i);
        aof_log_t *log = open_log(a->m, name);
        for (uint64_t id = 1; id <= 20; id++) {
            aoft_append_filled(log, 100, id);
        }
        CHECK_OK(aof_close(log));
        if (i % 2 == 1) {
            CHECK_OK(aof_manager_drop_log(a->m, name));
        }
    }
    return NULL;
}

static size_t thread_count(void) {
    return count_entries("/proc/self/task");
}

static void test_threads_share_a_manager(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    char root[600];
    root_of(&d, root, sizeof root);
    size_t before = thread_count();
    aof_manager_options_t *o = NULL;
    CHECK_OK(aof_manager_options_new(&o));
    CHECK_OK(aof_manager_options_set_worker_threads(o, 2));
    CHECK_OK(aof_manager_options_set_max_blocking_threads(o, 4));
    aof_manager_t *m = NULL;
    CHECK_OK(aof_manager_open(root, o, &m));
    aof_manager_options_free(o);

    enum { WORKERS = 4 };
    pthread_t t[WORKERS];
    worker_arg args[WORKERS];
    uint64_t per = aoft_scaled(10) * 2;
    for (int i = 0; i < WORKERS; i++) {
        args[i] = (worker_arg){m, i, per};
        CHECK(pthread_create(&t[i], NULL, worker, &args[i]) == 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
    }
    size_t count = 0;
    char *all = list(m, &count);
    CHECK_EQ_U64(count, WORKERS * per / 2);
    free(all);

    /* Many logs open at once: the thread count stays within the runtime's bound (2
     * workers + 4 blocking + 2), whatever the number of logs. */
    uint64_t n = aoft_scaled(200);
    aof_log_t **logs = (aof_log_t **)calloc(n, sizeof *logs);
    CHECK(logs != NULL);
    size_t peak = 0;
    aof_options_t *lo = small_options();
    CHECK_OK(aof_options_set_flush_policy(lo, AOF_FLUSH_ASYNC, 0, 0));
    for (uint64_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "many-%" PRIu64, i);
        CHECK_OK(aof_manager_open_log(m, name, lo, &logs[i]));
        aoft_append_filled(logs[i], 100, 1);
        size_t now = thread_count();
        peak = now > peak ? now : peak;
    }
    aof_options_free(lo);
    for (uint64_t i = 0; i < n; i++) {
        CHECK_OK(aof_flush(logs[i]));
    }
    fprintf(stderr, "    %" PRIu64 " logs: %zu threads before, peak %zu\n", n, before, peak);
    CHECK(peak <= before + 2 + 4 + 2);
    CHECK_OK(aof_manager_close(m)); /* closes them all */
    for (uint64_t i = 0; i < n; i++) {
        CHECK_OK(aof_close(logs[i]));
    }
    free(logs);
    aoft_rmdir(&d);
}

int main(void) {
    RUN(test_options);
    RUN(test_open_bad_roots);
    RUN(test_open_logs_and_names);
    RUN(test_list);
    RUN(test_drop);
    RUN(test_close_and_reopen);
    RUN(test_threads_share_a_manager);
    return 0;
}
