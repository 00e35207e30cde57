/* Status texts, the per-thread last error message and its copy-out, and the version
 * macros against the library. Includes the header twice to check its include guard. */
#include "aoft.h"
#include "aof.h"

#if AOF_VERSION_NUMBER != AOF_VERSION_MAJOR * 10000 + AOF_VERSION_MINOR * 100 + AOF_VERSION_PATCH
#error "AOF_VERSION_NUMBER must be usable in #if and agree with its parts"
#endif

/* Each status with its name as written in the header. */
#define NAMED(s) {s, #s}
static const struct {
    int32_t status;
    const char *name;
} NAMED_STATUSES[] = {
    NAMED(AOF_OK), NAMED(AOF_END), NAMED(AOF_TIMED_OUT), NAMED(AOF_ERR_NULL_ARG),
    NAMED(AOF_ERR_INVALID_ARG), NAMED(AOF_ERR_TOO_LARGE), NAMED(AOF_ERR_NOT_FOUND),
    NAMED(AOF_ERR_IO), NAMED(AOF_ERR_NO_SPACE), NAMED(AOF_ERR_CORRUPTION), NAMED(AOF_ERR_BUSY),
    NAMED(AOF_ERR_CLOSED), NAMED(AOF_ERR_POISONED), NAMED(AOF_ERR_PANIC),
    NAMED(AOF_ERR_INTERNAL), NAMED(AOF_ERR_BUFFER_TOO_SMALL), NAMED(AOF_ERR_MISUSE),
    NAMED(AOF_ERR_NO_SUCH_LOG), NAMED(AOF_ERR_CATALOG), NAMED(AOF_ERR_TRUNCATED),
    NAMED(AOF_ERR_WOULD_BLOCK), NAMED(AOF_ERR_REMOTE),
};

static const int32_t ALL_STATUSES[] = {
    AOF_OK, AOF_END, AOF_TIMED_OUT,
    AOF_ERR_NULL_ARG, AOF_ERR_INVALID_ARG, AOF_ERR_TOO_LARGE, AOF_ERR_NOT_FOUND, AOF_ERR_IO,
    AOF_ERR_NO_SPACE, AOF_ERR_CORRUPTION, AOF_ERR_BUSY, AOF_ERR_CLOSED, AOF_ERR_POISONED,
    AOF_ERR_PANIC, AOF_ERR_INTERNAL, AOF_ERR_BUFFER_TOO_SMALL, AOF_ERR_MISUSE,
    AOF_ERR_NO_SUCH_LOG, AOF_ERR_CATALOG, AOF_ERR_TRUNCATED, AOF_ERR_WOULD_BLOCK,
    AOF_ERR_REMOTE,
};
#define N_STATUSES (sizeof ALL_STATUSES / sizeof ALL_STATUSES[0])

static void test_status_values_are_the_released_ones(void) {
    /* These values are ABI: they may never change. */
    CHECK(AOF_OK == 0 && AOF_END == 1 && AOF_TIMED_OUT == 2);
    for (size_t i = 3; i < N_STATUSES; i++) {
        CHECK(ALL_STATUSES[i] == -(int32_t)(i - 2));
    }
    CHECK(AOF_ERR_MISUSE == -14);
    CHECK(AOF_ERR_NO_SUCH_LOG == -15);
    CHECK(AOF_ERR_CATALOG == -16);
    CHECK(AOF_ERR_TRUNCATED == -17);
    CHECK(AOF_ERR_WOULD_BLOCK == -18);
    CHECK(AOF_ERR_REMOTE == -19);
    CHECK(AOF_FLUSH_SYNC == 0 && AOF_FLUSH_ASYNC == 1 && AOF_FLUSH_BATCHED == 2 &&
          AOF_FLUSH_PERIODIC == 3 && AOF_FLUSH_BATCHED_OR_PERIODIC == 4);
    CHECK(AOF_VISIBILITY_WRITTEN == 0 && AOF_VISIBILITY_DURABLE == 1);
    CHECK(AOF_START_OLDEST == 0 && AOF_START_NEWEST == UINT64_MAX - 1 &&
          AOF_START_END == UINT64_MAX);
}

static void test_status_names(void) {
    size_t n = sizeof NAMED_STATUSES / sizeof NAMED_STATUSES[0];
    CHECK_EQ_U64(n, N_STATUSES);
    for (size_t i = 0; i < n; i++) {
        const char *name = aof_status_name(NAMED_STATUSES[i].status);
        CHECK(name != NULL);
        if (strcmp(name, NAMED_STATUSES[i].name) != 0) {
            fprintf(stderr, "aof_status_name(%d) = %s, want %s\n", NAMED_STATUSES[i].status,
                    name, NAMED_STATUSES[i].name);
            CHECK(0);
        }
    }
    CHECK(aof_status_name(-20) == NULL);
    CHECK(aof_status_name(3) == NULL);
    CHECK(aof_status_name(INT32_MIN) == NULL);
}

static void test_errstr(void) {
    for (size_t i = 0; i < N_STATUSES; i++) {
        const char *text = aof_errstr(ALL_STATUSES[i]);
        CHECK(text != NULL && text[0] != '\0');
        CHECK(strcmp(text, "unknown status") != 0);
        for (size_t j = 0; j < i; j++) {
            CHECK(strcmp(text, aof_errstr(ALL_STATUSES[j])) != 0);
        }
    }
    const int32_t unknown[] = {3, -20, 100, -100, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK(strcmp(aof_errstr(unknown[i]), "unknown status") == 0);
    }
    CHECK(aof_errstr(AOF_OK) == aof_errstr(AOF_OK)); /* static text */
}

static void *fresh_thread_message(void *arg) {
    int *empty = (int *)arg;
    const char *m = aof_last_error_message(); /* valid only on this thread */
    *empty = m != NULL && m[0] == '\0';
    return NULL;
}

static void *failing_thread(void *arg) {
    (void)arg;
    CHECK_STATUS(aof_options_set_visibility(NULL, 0), AOF_ERR_NULL_ARG);
    CHECK(strstr(aof_last_error_message(), "aof_options_set_visibility") != NULL);
    return NULL;
}

static void test_last_error_message(void) {
    /* A thread that never failed has an empty message. */
    int empty = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fresh_thread_message, &empty) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(empty);

    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_STATUS(aof_options_set_segment_size(o, 1), AOF_ERR_INVALID_ARG);
    const char *m = aof_last_error_message();
    CHECK(m != NULL);
    CHECK(strstr(m, "aof_options_set_segment_size") != NULL); /* names the call */
    CHECK(strstr(m, "segment size 1") != NULL);                 /* and the detail */
    char saved[256];
    CHECK(strlen(m) < sizeof saved);
    strcpy(saved, m);

    /* Success leaves it untouched... */
    CHECK_OK(aof_options_set_segment_size(o, 8192));
    CHECK(strcmp(aof_last_error_message(), saved) == 0);

    /* ...and so does a positive (non-error) status. */
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    CHECK_STATUS(aof_options_set_segment_size(o, 2), AOF_ERR_INVALID_ARG);
    strcpy(saved, aof_last_error_message());
    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    aof_record_t r;
    CHECK_STATUS(aof_cursor_next(c, &r), AOF_END);
    CHECK_STATUS(aof_cursor_wait(c, 0), AOF_TIMED_OUT);
    CHECK(strcmp(aof_last_error_message(), saved) == 0);

    /* Another thread's failure does not change this thread's message. */
    CHECK(pthread_create(&t, NULL, failing_thread, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(strcmp(aof_last_error_message(), saved) == 0);

    /* Engine errors carry their detail. */
    uint8_t big[20000];
    memset(big, 1, sizeof big);
    CHECK_STATUS(aof_append(log, big, sizeof big, NULL), AOF_ERR_TOO_LARGE);
    CHECK(strstr(aof_last_error_message(), "aof_append") != NULL);
    CHECK(strstr(aof_last_error_message(), "20000") != NULL);
    size_t len = 0;
    CHECK_STATUS(aof_read(log, 7, big, sizeof big, &len, NULL), AOF_ERR_NOT_FOUND);
    CHECK(strstr(aof_last_error_message(), "7") != NULL);

    aof_cursor_free(c);
    CHECK_OK(aof_close(log));
    aof_options_free(o);
    aoft_rmdir(&d);
}

static void test_last_error_copy(void) {
    CHECK_STATUS(aof_options_new(NULL), AOF_ERR_NULL_ARG);
    const char *m = aof_last_error_message();
    size_t full = strlen(m);
    CHECK(full > 8);

    CHECK_EQ_U64(aof_last_error_copy(NULL, 0), full); /* size query */
    char one[1] = {'x'};
    CHECK_EQ_U64(aof_last_error_copy(one, 0), full);
    CHECK(one[0] == 'x'); /* buf_len 0: nothing written */
    CHECK_EQ_U64(aof_last_error_copy(one, 1), full);
    CHECK(one[0] == '\0');

    char small[8];
    memset(small, 'z', sizeof small);
    CHECK_EQ_U64(aof_last_error_copy(small, sizeof small), full); /* truncated */
    CHECK(small[7] == '\0');
    CHECK(strncmp(small, m, 7) == 0);

    char *exact = (char *)malloc(full + 1);
    CHECK(exact != NULL);
    CHECK_EQ_U64(aof_last_error_copy(exact, full + 1), full);
    CHECK(strcmp(exact, m) == 0);
    free(exact);

    char big[512];
    CHECK_EQ_U64(aof_last_error_copy(big, sizeof big), full);
    CHECK(strcmp(big, m) == 0);
    CHECK(strcmp(aof_last_error_message(), big) == 0); /* copying does not change it */
}

static void test_version(void) {
    CHECK(aof_version() != NULL);
    CHECK(strcmp(aof_version(), AOF_VERSION_STRING) == 0);
    CHECK(aof_version_number() == AOF_VERSION_NUMBER);
    CHECK(AOF_VERSION_NUMBER ==
          AOF_VERSION_MAJOR * 10000 + AOF_VERSION_MINOR * 100 + AOF_VERSION_PATCH);
    char built[32];
    snprintf(built, sizeof built, "%d.%d.%d", AOF_VERSION_MAJOR, AOF_VERSION_MINOR,
             AOF_VERSION_PATCH);
    CHECK(strcmp(built, AOF_VERSION_STRING) == 0);
    printf("libaof %s (%u), header %s\n", aof_version(), (unsigned)aof_version_number(),
           AOF_VERSION_STRING);
}

int main(void) {
    RUN(test_status_names);
    RUN(test_status_values_are_the_released_ones);
    RUN(test_errstr);
    RUN(test_last_error_message);
    RUN(test_last_error_copy);
    RUN(test_version);
    return 0;
}
