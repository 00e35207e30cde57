/* The cold tier and the shared caches from C, with a filesystem archive in a temporary
 * directory: aof_manager_options_set_cache, aof_manager_options_set_archive_fs, _limits and
 * _retries, aof_options_set_archive_after, aof_archive_now, aof_sweep_archive. ~4,000
 * JSON-like records archived (the objects under <archive>/<prefix><uid>/<base>.seg.zst,
 * only the active segment left locally) read back byte-exact by id and by cursor, before
 * and after a reopen, within the cache budgets; stock `zstd -d` restores a segment file
 * from its object (when the tool is installed); an archive that fails: AOF_ERR_REMOTE from
 * aof_archive_now, AOF_ERR_WOULD_BLOCK from appends under backpressure, recovery once it
 * is back; AOF_ERR_WOULD_BLOCK from a read with every hot map pinned; no archive:
 * AOF_ERR_INVALID_ARG; bad input. */
#include "aoft.h"

#include <dirent.h>
#include <sys/stat.h>

enum { SEGMENT = 64 * 1024, FRAME = 8192, RECORDS = 4000, EVENT_CAP = 8192 };
/* Room for two segments with their indexes in the hot cache, 128 KiB of frames. */
enum { HOT = 2 * (SEGMENT + 8 * 1024), FRAMES = 128 * 1024 };

/* A JSON-like event whose length varies with `id` (some of 0 bytes, some of ~3 KB). */
static size_t event(uint64_t id, char *buf) {
    static const char *const actions[] = {"view", "click", "buy", "return"};
    if (id % 101 == 0) {
        return 0;
    }
    size_t pad = id % 89 == 1 ? 3000 : id % 50;
    int n = snprintf(buf, EVENT_CAP,
                     "{\"id\":%" PRIu64 ",\"ts\":%" PRIu64 ",\"user\":\"u%" PRIu64
                     "\",\"action\":\"%s\",\"amount\":%" PRIu64 ",\"pad\":\"",
                     id, (uint64_t)1700000000000u + id * 13, id % 211, actions[id % 4],
                     (id * 7919) % 10000);
    CHECK(n > 0 && (size_t)n + pad + 2 < EVENT_CAP);
    size_t len = (size_t)n;
    memset(buf + len, 'x', pad);
    len += pad;
    memcpy(buf + len, "\"}", 2);
    return len + 2;
}

static int is_event(const uint8_t *data, size_t len, uint64_t id) {
    char want[EVENT_CAP];
    size_t n = event(id, want);
    return n == len && (n == 0 || memcmp(want, data, n) == 0);
}

static void fill(aof_log_t *log, uint64_t first, uint64_t last) {
    char buf[EVENT_CAP];
    for (uint64_t id = first; id <= last; id++) {
        size_t len = event(id, buf);
        uint64_t got = 0;
        CHECK_OK(aof_append(log, (const uint8_t *)buf, len, &got));
        CHECK_EQ_U64(got, id);
    }
    CHECK_OK(aof_flush(log));
}

/* Every record from 1 to `last` reads back byte-exact by id and by a cursor. */
static void check_all(aof_log_t *log, uint64_t last) {
    uint64_t first = 0, visible = 0;
    CHECK_OK(aof_bounds(log, &first, &visible));
    CHECK_EQ_U64(first, 1);
    CHECK_EQ_U64(visible, last);
    uint8_t buf[EVENT_CAP];
    for (uint64_t id = 1; id <= last; id++) {
        size_t len = 0;
        CHECK_OK(aof_read(log, id, buf, sizeof buf, &len, NULL));
        if (!is_event(buf, len, id)) {
            fprintf(stderr, "aof_read(%" PRIu64 ") returned other bytes\n", id);
            CHECK(0);
        }
    }
    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    aof_record_t r;
    uint64_t expect = 1;
    int32_t s;
    while ((s = aof_cursor_next(c, &r)) == AOF_OK) {
        CHECK_EQ_U64(r.id, expect);
        CHECK(is_event(r.data, r.len, expect));
        expect++;
    }
    CHECK_STATUS(s, AOF_END);
    CHECK_EQ_U64(expect, last + 1);
    aof_cursor_free(c);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The number of entries in `dir` whose names end with `suffix` (-1: no such directory). */
static int64_t count_files(const char *dir, const char *suffix) {
    DIR *dp = opendir(dir);
    if (dp == NULL) {
        return -1;
    }
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        n += e->d_name[0] != '.' && ends_with(e->d_name, suffix);
    }
    CHECK(closedir(dp) == 0);
    return n;
}

/* The one subdirectory of `dir` (a log's objects: its uid in 16 hex digits) into `out`. */
static void only_subdir(const char *dir, char *out, size_t cap) {
    DIR *dp = opendir(dir);
    CHECK(dp != NULL);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        CHECK(!found);
        found = 1;
        CHECK(strlen(e->d_name) == 16);
        CHECK(strspn(e->d_name, "0123456789abcdef") == 16);
        int n = snprintf(out, cap, "%s/%s", dir, e->d_name);
        CHECK(n > 0 && (size_t)n < cap);
    }
    CHECK(closedir(dp) == 0);
    CHECK(found);
}

/* Checks every object name in `dir` is `<base id, 20 digits>.seg.zst`; returns the first
 * one, bytewise, in `out`. */
static void check_object_names(const char *dir, char *out, size_t cap) {
    DIR *dp = opendir(dir);
    CHECK(dp != NULL);
    out[0] = '\0';
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        CHECK(strlen(e->d_name) == 20 + strlen(".seg.zst"));
        CHECK(strspn(e->d_name, "0123456789") == 20);
        CHECK(strcmp(e->d_name + 20, ".seg.zst") == 0);
        if (out[0] == '\0' || strcmp(e->d_name, out) < 0) {
            CHECK(strlen(e->d_name) < cap);
            strcpy(out, e->d_name);
        }
    }
    CHECK(closedir(dp) == 0);
    CHECK(out[0] != '\0');
}

static void path_join(char *out, size_t cap, const char *a, const char *b) {
    int n = snprintf(out, cap, "%s/%s", a, b);
    CHECK(n > 0 && (size_t)n < cap);
}

static aof_manager_options_t *manager_options(const char *archive_dir, int64_t wait_ms) {
    aof_manager_options_t *mo = NULL;
    CHECK_OK(aof_manager_options_new(&mo));
    CHECK_OK(aof_manager_options_set_cache(mo, HOT, FRAMES, wait_ms));
    if (archive_dir != NULL) {
        /* The retries before the archive: they apply to it whatever the order. */
        CHECK_OK(aof_manager_options_set_archive_retries(mo, 2, 10, 50, 4, 200));
        CHECK_OK(aof_manager_options_set_archive_fs(mo, archive_dir, "logs/"));
    }
    return mo;
}

static aof_manager_t *open_manager(const char *root, const char *archive_dir) {
    aof_manager_options_t *mo = manager_options(archive_dir, 30000);
    aof_manager_t *m = NULL;
    CHECK_OK(aof_manager_open(root, mo, &m));
    aof_manager_options_free(mo);
    return m;
}

static aof_options_t *log_options(uint64_t archive_after) {
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_OK(aof_options_set_segment_size(o, SEGMENT));
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED, 128, 0));
    CHECK_OK(aof_options_set_preallocate_threshold(o, 0));
    CHECK_OK(aof_options_set_zero_ahead(o, 0));
    CHECK_OK(aof_options_set_archive_after(o, archive_after));
    CHECK_OK(aof_options_set_tiering(o, 0, 0, AOF_TIER_DEFAULT_COMPRESSION_LEVEL, FRAME));
    return o;
}

static aof_log_t *open_log(aof_manager_t *m, const char *name, uint64_t archive_after) {
    aof_options_t *o = log_options(archive_after);
    aof_log_t *log = NULL;
    CHECK_OK(aof_manager_open_log(m, name, o, &log));
    aof_options_free(o);
    return log;
}

static void check_caches(aof_log_t *log) {
    aof_metrics_t mt;
    CHECK_OK(aof_metrics(log, &mt, sizeof mt));
    CHECK(mt.hot_bytes <= HOT);
    CHECK(mt.frame_bytes <= FRAMES);
}

static void test_archive_read_reopen(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    char root[700], archive[700], logdir[800], objects_root[800], objects[900];
    path_join(root, sizeof root, d.root, "root");
    path_join(archive, sizeof archive, d.root, "archive");
    path_join(logdir, sizeof logdir, root, "events");
    path_join(objects_root, sizeof objects_root, archive, "logs");

    aof_manager_t *m = open_manager(root, archive);
    aof_log_t *log = open_log(m, "events", 0);
    fill(log, 1, RECORDS);
    int32_t sealed = 0;
    CHECK_OK(aof_seal_now(log, &sealed));
    CHECK(sealed == 1);
    int64_t plain = count_files(logdir, ".seg");
    CHECK(plain >= 6);
    uint64_t segments = (uint64_t)plain - 1; /* sealed; the active one holds no record */

    uint64_t count = 0;
    CHECK_OK(aof_archive_now(log, &count));
    CHECK_EQ_U64(count, segments);
    CHECK_OK(aof_archive_now(log, &count)); /* nothing left: never the active segment */
    CHECK_EQ_U64(count, 0);
    CHECK_OK(aof_archive_now(log, NULL));
    /* Only the active segment is left locally; every other one is an object. */
    CHECK_EQ_U64(count_files(logdir, ".seg"), 1);
    CHECK_EQ_U64(count_files(logdir, ".seg.zst"), 0);
    only_subdir(objects_root, objects, sizeof objects);
    CHECK_EQ_U64(count_files(objects, ".seg.zst"), segments);
    char first[64];
    check_object_names(objects, first, sizeof first);
    CHECK(strcmp(first, "00000000000000000001.seg.zst") == 0);

    check_all(log, RECORDS);
    aof_metrics_t mt;
    CHECK_OK(aof_metrics(log, &mt, sizeof mt));
    CHECK_EQ_U64(mt.segments_archived, segments);
    CHECK(mt.archive_bytes_out > 0);
    CHECK(mt.archive_uploads >= segments);
    CHECK(mt.archive_gets > 0);
    CHECK(mt.archive_bytes_in > 0);
    CHECK_EQ_U64(mt.archive_failures, 0);
    CHECK_EQ_U64(mt.archive_breaker, 0);
    CHECK_EQ_U64(mt.archive_pending, 0);
    CHECK(mt.frame_misses > 0);
    CHECK(mt.hot_bytes <= HOT);
    CHECK(mt.frame_bytes <= FRAMES);

    /* Stock zstd restores a segment file from its object (when the tool is installed). */
    char object[1000], out[900], cmd[2100];
    path_join(object, sizeof object, objects, first);
    path_join(out, sizeof out, d.root, "restored.seg");
    int n = snprintf(cmd, sizeof cmd, "zstd -d -q -f -o '%s' '%s'", out, object);
    CHECK(n > 0 && (size_t)n < sizeof cmd);
    if (system("command -v zstd >/dev/null 2>&1") == 0) {
        CHECK(system(cmd) == 0);
        struct stat st;
        CHECK(stat(out, &st) == 0);
        CHECK_EQ_U64(st.st_size, SEGMENT);
        CHECK(remove(out) == 0);
    } else {
        fprintf(stderr, "    (zstd not installed: zstd -d check skipped)\n");
    }

    /* Objects no segment refers to are swept; the others are kept. */
    CHECK_OK(aof_sweep_archive(log, &count));
    CHECK_EQ_U64(count, 0);
    char stray[1000];
    path_join(stray, sizeof stray, objects, "99999999999999999999.seg.zst");
    FILE *f = fopen(stray, "wb");
    CHECK(f != NULL);
    CHECK(fputs("stray", f) >= 0);
    CHECK(fclose(f) == 0);
    CHECK_OK(aof_sweep_archive(log, &count));
    CHECK_EQ_U64(count, 1);
    CHECK_OK(aof_sweep_archive(log, NULL));
    CHECK_EQ_U64(count_files(objects, ".seg.zst"), segments);
    CHECK_OK(aof_metrics(log, &mt, sizeof mt));
    CHECK_EQ_U64(mt.archive_orphans_removed, 1);

    /* A reopen of the manager and the log reads everything back from the archive. */
    CHECK_OK(aof_close(log));
    CHECK_OK(aof_manager_close(m));
    m = open_manager(root, archive);
    log = open_log(m, "events", 0);
    check_all(log, RECORDS);
    check_caches(log);
    CHECK_OK(aof_metrics(log, &mt, sizeof mt));
    CHECK(mt.archive_gets > 0);
    /* Appends go on after archived segments. */
    fill(log, RECORDS + 1, RECORDS + 300);
    check_all(log, RECORDS + 300);
    uint64_t verified = 0;
    CHECK_OK(aof_verify(log, &verified));
    CHECK(verified >= 300);
    CHECK_OK(aof_close(log));
    CHECK_OK(aof_manager_close(m));
    aoft_rmdir(&d);
}

/* An archive that fails: its directory replaced by a file after the manager opened. */
static void test_archive_down(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    char root[700], archive[700];
    path_join(root, sizeof root, d.root, "root");
    path_join(archive, sizeof archive, d.root, "archive");

    /* A directory that cannot be created: aof_manager_open fails with AOF_ERR_REMOTE. */
    FILE *f = fopen(archive, "wb");
    CHECK(f != NULL);
    CHECK(fclose(f) == 0);
    char below[800];
    path_join(below, sizeof below, archive, "sub");
    aof_manager_options_t *mo = manager_options(below, 30000);
    aof_manager_t *m = NULL;
    CHECK_STATUS(aof_manager_open(root, mo, &m), AOF_ERR_REMOTE);
    CHECK(m == NULL);
    CHECK(remove(archive) == 0);

    /* Backpressure: at most 2 sealed segments wait for the archive; no wait. */
    CHECK_OK(aof_manager_options_set_archive_limits(mo, 2, 0, -1));
    CHECK_OK(aof_manager_options_set_archive_fs(mo, archive, "logs/"));
    CHECK_OK(aof_manager_open(root, mo, &m));
    aof_manager_options_free(mo);
    aof_log_t *log = open_log(m, "o", 1);
    CHECK(rmdir(archive) == 0 || errno == ENOENT);
    f = fopen(archive, "wb");
    CHECK(f != NULL);
    CHECK(fclose(f) == 0);

    char buf[EVENT_CAP];
    uint64_t id = 0;
    int32_t s = AOF_OK;
    for (id = 1; id <= 20000; id++) {
        size_t len = event(id, buf);
        uint64_t got = 0;
        s = aof_append(log, (const uint8_t *)buf, len, &got);
        if (s != AOF_OK) {
            break;
        }
        CHECK_EQ_U64(got, id);
    }
    CHECK_STATUS(s, AOF_ERR_WOULD_BLOCK);
    CHECK(strstr(aof_last_error_message(), "archive is behind") != NULL);
    uint64_t last = id - 1;
    uint64_t last_id = 0;
    CHECK_OK(aof_last_id(log, &last_id));
    CHECK_EQ_U64(last_id, last); /* nothing appended */
    aof_metrics_t mt;
    CHECK_OK(aof_metrics(log, &mt, sizeof mt));
    CHECK(mt.backpressure_waits >= 1);
    CHECK(mt.archive_pending >= 2);
    CHECK_EQ_U64(mt.segments_archived, 0);
    uint64_t count = 77;
    CHECK_STATUS(aof_archive_now(log, &count), AOF_ERR_REMOTE);
    CHECK_EQ_U64(count, 77);
    CHECK(strstr(aof_last_error_message(), "aof_archive_now: ") != NULL);
    check_all(log, last); /* nothing lost: every segment is still local */

    /* The archive is back: archive_now catches up and appends go on. */
    CHECK(remove(archive) == 0);
    CHECK(mkdir(archive, 0700) == 0);
    CHECK_OK(aof_archive_now(log, &count));
    CHECK(count >= 2);
    fill(log, last + 1, last + 200);
    check_all(log, last + 200);
    CHECK_OK(aof_close(log));
    CHECK_OK(aof_manager_close(m));
    aoft_rmdir(&d);
}

/* Two cursors pin the two maps the hot budget has room for; with no wait a read of a third
 * segment is AOF_ERR_WOULD_BLOCK until a pin is released. */
static void test_no_room_would_block(void) {
    enum { LEN = 300, N = 1500 };
    aoft_dir d;
    aoft_mkdir(&d);
    char root[700];
    path_join(root, sizeof root, d.root, "root");
    aof_manager_options_t *mo = NULL;
    CHECK_OK(aof_manager_options_new(&mo));
    uint64_t hot = 2 * (SEGMENT + 8 * SEGMENT / LEN);
    CHECK_OK(aof_manager_options_set_cache(mo, hot, AOF_CACHE_MIN_BYTES, -1));
    aof_manager_t *m = NULL;
    CHECK_OK(aof_manager_open(root, mo, &m));
    aof_manager_options_free(mo);
    aof_log_t *log = open_log(m, "pins", 0);
    for (uint64_t id = 1; id <= N; id++) {
        aoft_append_filled(log, LEN, id);
    }
    CHECK_OK(aof_seal_now(log, NULL));
    aof_metrics_t mt;
    CHECK_OK(aof_metrics(log, &mt, sizeof mt));
    CHECK(mt.segment_count >= 6);

    aof_cursor_t *a = NULL, *b = NULL;
    aof_record_t r;
    CHECK_OK(aof_cursor_open(log, 1, &a));
    CHECK_OK(aof_cursor_next(a, &r));
    CHECK_EQ_U64(r.id, 1);
    CHECK_OK(aof_cursor_open(log, 1400, &b));
    CHECK_OK(aof_cursor_next(b, &r));
    CHECK_EQ_U64(r.id, 1400);
    uint8_t buf[LEN];
    size_t len = 77;
    CHECK_STATUS(aof_read(log, 700, buf, sizeof buf, &len, NULL), AOF_ERR_WOULD_BLOCK);
    CHECK(strstr(aof_last_error_message(), "hot cache") != NULL);
    CHECK_EQ_U64(len, 77);
    /* The pinned segments read on. */
    CHECK_OK(aof_cursor_next(a, &r));
    CHECK_EQ_U64(r.id, 2);
    CHECK(aoft_matches(r.data, r.len, 2));
    CHECK_OK(aof_cursor_next(b, &r));
    CHECK_EQ_U64(r.id, 1401);
    CHECK_OK(aof_metrics(log, &mt, sizeof mt));
    CHECK(mt.hot_bytes <= hot);
    aof_cursor_free(a);
    /* One pin released: the read finds room. */
    CHECK_OK(aof_read(log, 700, buf, sizeof buf, &len, NULL));
    CHECK_EQ_U64(len, LEN);
    CHECK(aoft_matches(buf, len, 700));
    aof_cursor_free(b);
    CHECK_OK(aof_close(log));
    CHECK_OK(aof_manager_close(m));
    aoft_rmdir(&d);
}

static void test_without_archive(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    char root[700];
    path_join(root, sizeof root, d.root, "root");
    aof_manager_t *m = open_manager(root, NULL);
    /* archive_after is ignored by a log without an archive. */
    aof_log_t *log = open_log(m, "plain", 1);
    fill(log, 1, 500);
    CHECK_OK(aof_seal_now(log, NULL));
    uint64_t count = 77;
    CHECK_STATUS(aof_archive_now(log, &count), AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "no archive") != NULL);
    CHECK_EQ_U64(count, 77);
    CHECK_OK(aof_sweep_archive(log, &count));
    CHECK_EQ_U64(count, 0);
    check_all(log, 500);
    CHECK_OK(aof_close(log));
    CHECK_OK(aof_manager_close(m));

    /* A log opened alone has no archive either. */
    aof_log_t *alone = NULL;
    CHECK_OK(aof_open(d.log, NULL, &alone));
    fill(alone, 1, 10);
    CHECK_STATUS(aof_archive_now(alone, NULL), AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_close(alone));
    aoft_rmdir(&d);
}

static void test_bad_input(void) {
    aof_manager_options_t *mo = NULL;
    CHECK_OK(aof_manager_options_new(&mo));

    /* NULLs first. */
    CHECK_STATUS(aof_manager_options_set_cache(NULL, HOT, FRAMES, 0), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_fs(NULL, "/tmp/x", NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_fs(mo, NULL, "p/"), AOF_ERR_NULL_ARG);
    CHECK(strstr(aof_last_error_message(), "`root` is NULL") != NULL);
    CHECK_STATUS(aof_manager_options_set_archive_s3(NULL, NULL, "r", "b", NULL, 0, NULL, NULL),
                 AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_s3(mo, NULL, NULL, "b", NULL, 0, NULL, NULL),
                 AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_s3(mo, NULL, "r", NULL, NULL, 0, NULL, NULL),
                 AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_s3(mo, NULL, "r", "b", NULL, 0, "ak", NULL),
                 AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_s3(mo, NULL, "r", "b", NULL, 0, NULL, "sk"),
                 AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_limits(NULL, 1, 1, 0), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_retries(NULL, 1, 0, 0, 1, 1),
                 AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_options_set_archive_after(NULL, 1), AOF_ERR_NULL_ARG);

    /* Values, checked when set. */
    CHECK_STATUS(aof_manager_options_set_cache(mo, AOF_CACHE_MIN_BYTES - 1, FRAMES, 0),
                 AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "aof_manager_options_set_cache: ") != NULL);
    CHECK_STATUS(aof_manager_options_set_cache(mo, HOT, 0, 0), AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_manager_options_set_cache(mo, AOF_CACHE_MIN_BYTES, AOF_CACHE_MIN_BYTES,
                                           INT64_MIN));
    CHECK_OK(aof_manager_options_set_cache(mo, AOF_CACHE_DEFAULT_HOT_BYTES,
                                           AOF_CACHE_DEFAULT_FRAME_BYTES,
                                           AOF_CACHE_DEFAULT_WAIT_MS));
    CHECK_OK(aof_manager_options_set_cache(mo, UINT64_MAX, UINT64_MAX, INT64_MAX));
    CHECK_STATUS(aof_manager_options_set_archive_fs(mo, "", NULL), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_fs(mo, "/tmp/x", "/abs/"), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_fs(mo, "/tmp/x", "a//b/"), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_fs(mo, "/tmp/x", "../up/"), AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "prefix") != NULL);
    CHECK_STATUS(aof_manager_options_set_archive_fs(mo, "/tmp/x", "bad\xff/"),
                 AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "UTF-8") != NULL);
    CHECK_STATUS(aof_manager_options_set_archive_s3(mo, NULL, "r", "b", NULL, 2, NULL, NULL),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_s3(mo, NULL, "", "b", NULL, 0, NULL, NULL),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_s3(mo, NULL, "r", "", NULL, 0, NULL, NULL),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_s3(mo, "localhost:9000", "r", "b", NULL, 1,
                                                    NULL, NULL),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_s3(mo, NULL, "r", "b", NULL, 0, "", "sk"),
                 AOF_ERR_INVALID_ARG);
    /* A valid S3 archive is accepted (no request is made), or refused clearly by a library
     * built without the s3 feature. */
    int32_t s = aof_manager_options_set_archive_s3(mo, "http://127.0.0.1:9", "us-east-1",
                                                   "bucket", "cold/", 1, "ak", "sk");
    if (s != AOF_OK) {
        CHECK_STATUS(s, AOF_ERR_INVALID_ARG);
        CHECK(strstr(aof_last_error_message(), "without the `s3` feature") != NULL);
    }
    CHECK_STATUS(aof_manager_options_set_archive_retries(mo, 0, 10, 50, 4, 200),
                 AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "max_attempts") != NULL);
    CHECK_STATUS(aof_manager_options_set_archive_retries(mo, 2, 60, 50, 4, 200),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_retries(mo, 2, 10, 50, 0, 200),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_manager_options_set_archive_retries(mo, 2, 10, 50, 4, 0),
                 AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_manager_options_set_archive_retries(mo, 1, 0, 0, 1, 1));
    CHECK_OK(aof_manager_options_set_archive_limits(mo, 0, 0, INT64_MIN));
    CHECK_OK(aof_manager_options_set_archive_limits(mo, UINT64_MAX, UINT64_MAX, INT64_MAX));
    CHECK_OK(aof_manager_options_set_archive_fs(mo, "/tmp/x", NULL));
    CHECK_OK(aof_manager_options_set_archive_fs(mo, "/tmp/x", ""));
    aof_manager_options_free(mo);

    /* aof_archive_now and aof_sweep_archive: NULL, stray and closed handles. */
    uint64_t count = 77;
    CHECK_STATUS(aof_archive_now(NULL, &count), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_sweep_archive(NULL, &count), AOF_ERR_NULL_ARG);
    aof_log_t *stray = (aof_log_t *)(uintptr_t)12345;
    CHECK_STATUS(aof_archive_now(stray, &count), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_sweep_archive(stray, &count), AOF_ERR_INVALID_ARG);
    aoft_dir d;
    aoft_mkdir(&d);
    char root[700], archive[700];
    path_join(root, sizeof root, d.root, "root");
    path_join(archive, sizeof archive, d.root, "archive");
    aof_manager_t *m = open_manager(root, archive);
    aof_log_t *log = open_log(m, "x", 0);
    CHECK_OK(aof_archive_now(log, &count)); /* an empty log: nothing to archive */
    CHECK_EQ_U64(count, 0);
    count = 77;
    CHECK_OK(aof_close(log));
    CHECK_STATUS(aof_archive_now(log, &count), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_archive_now(log, NULL), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_sweep_archive(log, &count), AOF_ERR_CLOSED);
    CHECK(strstr(aof_last_error_message(), "aof_sweep_archive: ") != NULL);
    CHECK_EQ_U64(count, 77);
    CHECK_OK(aof_manager_close(m));
    aoft_rmdir(&d);
}

int main(void) {
    RUN(test_archive_read_reopen);
    RUN(test_archive_down);
    RUN(test_no_room_would_block);
    RUN(test_without_archive);
    RUN(test_bad_input);
    return 0;
}
