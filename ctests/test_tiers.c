/* The warm tier from C: aof_options_set_tiering, aof_seal_now, aof_compress_now,
 * aof_last_tier_error and the tier metrics. Records read back byte-exact by id, by cursor
 * (also one inside a segment while it is compressed) and as a stream, before and after a
 * reopen; the files on disk (<base>.seg.zst, only the active segment plain); stock
 * `zstd -d` restores a segment file when the tool is installed; background compression by
 * threshold; bad input. */
#include "aoft.h"

#include <dirent.h>
#include <sys/stat.h>

enum { SEGMENT = 64 * 1024, FRAME = 4096, RECORDS = 3000, EVENT_CAP = 8192 };

/* A JSON-like event whose length varies with `id`: some of 0 bytes, some larger than a
 * frame, so frames hold many records, one, or none. Returns its length. */
static size_t event(uint64_t id, char *buf) {
    static const char *const actions[] = {"view", "click", "buy", "return"};
    switch (id % 97) {
    case 0:
        return 0;
    case 1: {
        int n = snprintf(buf, EVENT_CAP, "{\"id\":%" PRIu64 ",\"blob\":\"", id);
        CHECK(n > 0);
        size_t len = (size_t)n;
        memset(buf + len, 'x' + (int)(id % 3), 6000);
        len += 6000;
        memcpy(buf + len, "\"}", 2);
        return len + 2;
    }
    default: {
        int n = snprintf(buf, EVENT_CAP,
                         "{\"id\":%" PRIu64 ",\"ts\":%" PRIu64 ",\"user\":\"u%" PRIu64
                         "\",\"action\":\"%s\",\"amount\":%" PRIu64 "}",
                         id, (uint64_t)1700000000000u + id * 17, id % 113, actions[id % 4],
                         (id * 7919) % 10000);
        CHECK(n > 0 && n < EVENT_CAP);
        return (size_t)n;
    }
    }
}

/* True if (data, len) is event `id`. */
static int is_event(const uint8_t *data, size_t len, uint64_t id) {
    char want[EVENT_CAP];
    size_t n = event(id, want);
    return n == len && (n == 0 || memcmp(want, data, n) == 0);
}

static aof_options_t *tier_options(uint64_t after_segments) {
    aof_options_t *o = NULL;
    CHECK_OK(aof_options_new(&o));
    CHECK_OK(aof_options_set_segment_size(o, SEGMENT));
    CHECK_OK(aof_options_set_flush_policy(o, AOF_FLUSH_BATCHED, 64, 0));
    CHECK_OK(aof_options_set_preallocate_threshold(o, 0));
    CHECK_OK(aof_options_set_zero_ahead(o, 0));
    CHECK_OK(aof_options_set_tiering(o, after_segments, 0, AOF_TIER_DEFAULT_COMPRESSION_LEVEL,
                                     FRAME));
    return o;
}

static aof_log_t *open_tiered(aoft_dir *d, uint64_t after_segments) {
    aof_options_t *o = tier_options(after_segments);
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(d->log, o, &log));
    aof_options_free(o);
    return log;
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

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The number of files in `dir` whose names end with `suffix`. */
static uint64_t count_files(const char *dir, const char *suffix) {
    DIR *dp = opendir(dir);
    CHECK(dp != NULL);
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        n += ends_with(e->d_name, suffix);
    }
    CHECK(closedir(dp) == 0);
    return n;
}

/* The name (in `dir`) of the first file, bytewise, whose name ends with `suffix`. */
static void first_file(const char *dir, const char *suffix, char *out, size_t cap) {
    DIR *dp = opendir(dir);
    CHECK(dp != NULL);
    out[0] = '\0';
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (ends_with(e->d_name, suffix) && (out[0] == '\0' || strcmp(e->d_name, out) < 0)) {
            CHECK(strlen(e->d_name) < cap);
            strcpy(out, e->d_name);
        }
    }
    CHECK(closedir(dp) == 0);
    CHECK(out[0] != '\0');
}

/* The contents of `path` (malloc'd) and its size. */
static uint8_t *read_whole(const char *path, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long size = ftell(f);
    CHECK(size >= 0);
    CHECK(fseek(f, 0, SEEK_SET) == 0);
    uint8_t *buf = (uint8_t *)malloc((size_t)size + 1);
    CHECK(buf != NULL);
    CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size);
    CHECK(fclose(f) == 0);
    *out_len = (size_t)size;
    return buf;
}

/* Every record from the first kept to `last` reads back byte-exact by id, by a cursor and
 * as one stream. */
static void check_all(aof_log_t *log, uint64_t last) {
    uint64_t first = 0, visible = 0;
    CHECK_OK(aof_bounds(log, &first, &visible));
    CHECK_EQ_U64(first, 1);
    CHECK_EQ_U64(visible, last);
    uint8_t buf[EVENT_CAP];
    for (uint64_t id = first; id <= last; id++) {
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
    uint64_t expect = first;
    int32_t s;
    while ((s = aof_cursor_next(c, &r)) == AOF_OK) {
        CHECK_EQ_U64(r.id, expect);
        CHECK(is_event(r.data, r.len, expect));
        expect++;
    }
    CHECK_STATUS(s, AOF_END);
    CHECK_EQ_U64(expect, last + 1);
    aof_cursor_free(c);

    /* The payloads as one stream, compared with the concatenated events. */
    aof_stream_t *st = NULL;
    CHECK_OK(aof_stream_open(log, 0, &st));
    uint64_t id = first;
    size_t off = 0; /* bytes of event `id` matched so far */
    char ev[EVENT_CAP];
    size_t ev_len = event(id, ev);
    uint8_t chunk[5000];
    size_t n = 0;
    while ((s = aof_stream_read(st, chunk, sizeof chunk, &n)) == AOF_OK) {
        for (size_t i = 0; i < n; i++) {
            while (off == ev_len) {
                id++;
                CHECK(id <= last);
                ev_len = event(id, ev);
                off = 0;
            }
            CHECK((uint8_t)ev[off] == chunk[i]);
            off++;
        }
    }
    CHECK_STATUS(s, AOF_END);
    CHECK(off == ev_len);
    while (id < last) { /* only records of 0 bytes may follow the last byte */
        id++;
        CHECK_EQ_U64(event(id, ev), 0);
    }
    aof_stream_free(st);
}

/* The tier's last error as a string, sized with a first call. */
static void last_tier_error(aof_log_t *log, char *buf, size_t cap) {
    size_t needed = 0;
    CHECK_STATUS(aof_last_tier_error(log, NULL, 0, &needed), AOF_ERR_BUFFER_TOO_SMALL);
    CHECK(needed >= 1 && needed <= cap);
    size_t len = 0;
    CHECK_OK(aof_last_tier_error(log, buf, cap, &len));
    CHECK_EQ_U64(len, needed);
    CHECK_EQ_U64(strlen(buf) + 1, len);
}

static void test_seal_compress_read_reopen(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = open_tiered(&d, 0);
    fill(log, 1, RECORDS);

    int32_t sealed = -1;
    CHECK_OK(aof_seal_now(log, &sealed));
    CHECK(sealed == 1);
    CHECK_OK(aof_seal_now(log, &sealed)); /* the new active segment holds no record */
    CHECK(sealed == 0);
    CHECK_OK(aof_seal_now(log, NULL)); /* the out-param is optional */
    uint64_t plain = count_files(d.log, ".seg");
    uint64_t sealed_segments = plain - 1;
    CHECK(sealed_segments >= 4);
    CHECK_EQ_U64(count_files(d.log, ".seg.zst"), 0);
    check_all(log, RECORDS);

    /* A copy of the oldest segment file, for zstd -d below. */
    char name[256];
    char path[1024];
    first_file(d.log, ".seg", name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", d.log, name);
    size_t original_len = 0;
    uint8_t *original = read_whole(path, &original_len);
    CHECK_EQ_U64(original_len, SEGMENT);

    /* A cursor inside the oldest segment keeps reading while it is compressed. */
    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    aof_record_t r;
    for (uint64_t id = 1; id <= 10; id++) {
        CHECK_OK(aof_cursor_next(c, &r));
        CHECK_EQ_U64(r.id, id);
    }

    uint64_t count = 0;
    CHECK_OK(aof_compress_now(log, &count));
    CHECK_EQ_U64(count, sealed_segments);
    CHECK_OK(aof_compress_now(log, &count)); /* nothing left: never the active segment */
    CHECK_EQ_U64(count, 0);
    CHECK_OK(aof_compress_now(log, NULL));
    CHECK_EQ_U64(count_files(d.log, ".seg.zst"), sealed_segments);
    CHECK_EQ_U64(count_files(d.log, ".seg"), 1);

    CHECK(is_event(r.data, r.len, 10)); /* the last record is still readable */
    for (uint64_t id = 11; id <= RECORDS; id++) {
        CHECK_OK(aof_cursor_next(c, &r));
        CHECK_EQ_U64(r.id, id);
        CHECK(is_event(r.data, r.len, id));
    }
    CHECK_STATUS(aof_cursor_next(c, &r), AOF_END);
    aof_cursor_free(c);

    aof_metrics_t m;
    CHECK_OK(aof_metrics(log, &m, sizeof m));
    CHECK(m.segments_compressed > 0);
    CHECK_EQ_U64(m.segments_compressed, sealed_segments);
    CHECK_EQ_U64(m.compress_bytes_in, sealed_segments * SEGMENT);
    CHECK(m.compress_bytes_out > 0);
    CHECK(m.compress_bytes_out < m.compress_bytes_in);
    CHECK_EQ_U64(m.tier_failures, 0);
    char msg[256];
    last_tier_error(log, msg, sizeof msg);
    CHECK(strcmp(msg, "") == 0);
    check_all(log, RECORDS);
    uint64_t verified = 0;
    CHECK_OK(aof_verify(log, &verified));
    CHECK_EQ_U64(verified, RECORDS);

    /* Stock zstd restores the exact segment file (when the tool is installed). */
    char out[1100], cmd[2400];
    int n = snprintf(out, sizeof out, "%s/restored.seg.out", d.root);
    CHECK(n > 0 && (size_t)n < sizeof out);
    n = snprintf(cmd, sizeof cmd, "zstd -d -q -f -o '%s' '%s.zst'", out, path);
    CHECK(n > 0 && (size_t)n < sizeof cmd);
    if (system("command -v zstd >/dev/null 2>&1") == 0) {
        CHECK(system(cmd) == 0);
        size_t restored_len = 0;
        uint8_t *restored = read_whole(out, &restored_len);
        CHECK_EQ_U64(restored_len, original_len);
        CHECK(memcmp(restored, original, original_len) == 0);
        free(restored);
        CHECK(remove(out) == 0);
    } else {
        fprintf(stderr, "    (zstd not installed: zstd -d check skipped)\n");
    }
    free(original);

    /* Appends go on; a reopen reads the compressed segments back. */
    fill(log, RECORDS + 1, RECORDS + 500);
    CHECK_OK(aof_close(log));
    log = open_tiered(&d, 0);
    check_all(log, RECORDS + 500);
    CHECK_OK(aof_seal_now(log, &sealed));
    CHECK(sealed == 1);
    CHECK_OK(aof_compress_now(log, &count));
    CHECK(count >= 1);
    check_all(log, RECORDS + 500);
    CHECK_OK(aof_close(log));
    log = open_tiered(&d, 0);
    check_all(log, RECORDS + 500);
    CHECK_OK(aof_verify(log, &verified));
    CHECK_EQ_U64(verified, RECORDS + 500);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_background_compression(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    /* Compress once two segments are newer (the active one included). */
    aof_log_t *log = open_tiered(&d, 2);
    fill(log, 1, RECORDS);
    aof_metrics_t m;
    for (int i = 0; i < 12000; i++) {
        CHECK_OK(aof_metrics(log, &m, sizeof m));
        if (m.segment_count >= 3 && m.segments_compressed == m.segment_count - 2) break;
        aoft_sleep_ms(5);
    }
    CHECK(m.segment_count >= 3);
    CHECK_EQ_U64(m.segments_compressed, m.segment_count - 2);
    CHECK(m.compress_bytes_out < m.compress_bytes_in);
    CHECK_EQ_U64(m.tier_failures, 0);
    CHECK_EQ_U64(count_files(d.log, ".seg.zst"), m.segments_compressed);
    char msg[256];
    last_tier_error(log, msg, sizeof msg);
    CHECK(strcmp(msg, "") == 0);
    check_all(log, RECORDS);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_bad_input(void) {
    /* Options: NULL first, then values, checked when set (options unchanged). */
    CHECK_STATUS(aof_options_set_tiering(NULL, 1, 1, 3, FRAME), AOF_ERR_NULL_ARG);
    aof_options_t *o = tier_options(0);
    CHECK_STATUS(aof_options_set_tiering(o, 1, 0, 23, FRAME), AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "aof_options_set_tiering: ") != NULL);
    CHECK(strstr(aof_last_error_message(), "compression_level 23") != NULL);
    CHECK_STATUS(aof_options_set_tiering(o, 1, 0, INT32_MIN, FRAME), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_tiering(o, 1, 0, 3, 4095), AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "frame_size 4095") != NULL);
    CHECK_STATUS(aof_options_set_tiering(o, 1, 0, 3, 0), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_options_set_tiering(o, 1, 0, 3, (64u << 20) + 1), AOF_ERR_INVALID_ARG);
    CHECK_OK(aof_options_set_tiering(o, 0, 0, -7, 64u << 20)); /* both ends of the ranges */
    CHECK_OK(aof_options_set_tiering(o, 0, 0, 22, 4096));
    CHECK_OK(aof_options_set_tiering(o, 0, 0, AOF_TIER_DEFAULT_COMPRESSION_LEVEL,
                                     AOF_TIER_DEFAULT_FRAME_SIZE));

    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(d.log, o, &log));
    aof_options_free(o);
    char buf[64];
    size_t len = 77;
    int32_t sealed = 77;
    uint64_t count = 77;

    /* NULLs: the log, then buffers and required out-params. */
    CHECK_STATUS(aof_seal_now(NULL, &sealed), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_compress_now(NULL, &count), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_last_tier_error(NULL, buf, sizeof buf, &len), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_last_tier_error(log, NULL, sizeof buf, &len), AOF_ERR_NULL_ARG);
    CHECK(strstr(aof_last_error_message(), "`buf` is NULL") != NULL);
    CHECK_STATUS(aof_last_tier_error(log, buf, sizeof buf, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_last_tier_error((aof_log_t *)(uintptr_t)1, NULL, 1, &len),
                 AOF_ERR_NULL_ARG);

    /* Values that are not log handles. */
    aof_log_t *stray = (aof_log_t *)(uintptr_t)12345;
    CHECK_STATUS(aof_seal_now(stray, &sealed), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_compress_now(stray, &count), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_last_tier_error(stray, buf, sizeof buf, &len), AOF_ERR_INVALID_ARG);
    CHECK(sealed == 77 && count == 77 && len == 77);

    /* An empty log: nothing to seal or compress. */
    CHECK_OK(aof_seal_now(log, &sealed));
    CHECK(sealed == 0);
    CHECK_OK(aof_compress_now(log, &count));
    CHECK_EQ_U64(count, 0);
    /* A buffer of exactly the size, and one byte short. */
    CHECK_OK(aof_last_tier_error(log, buf, 1, &len));
    CHECK_EQ_U64(len, 1);
    CHECK(buf[0] == '\0');
    memset(buf, 'z', sizeof buf);
    CHECK_STATUS(aof_last_tier_error(log, buf, 0, &len), AOF_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U64(len, 1);
    CHECK(buf[0] == 'z'); /* untouched */

    /* A closed log, before any other argument is looked at. */
    CHECK_OK(aof_close(log));
    sealed = 77;
    count = 77;
    len = 77;
    CHECK_STATUS(aof_seal_now(log, &sealed), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_seal_now(log, NULL), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_compress_now(log, &count), AOF_ERR_CLOSED);
    CHECK(strstr(aof_last_error_message(), "aof_compress_now: ") != NULL);
    CHECK_STATUS(aof_last_tier_error(log, buf, sizeof buf, &len), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_last_tier_error(log, NULL, 0, &len), AOF_ERR_CLOSED);
    CHECK(sealed == 77 && count == 77 && len == 77);
    aoft_rmdir(&d);
}

int main(void) {
    RUN(test_seal_compress_read_reopen);
    RUN(test_background_compression);
    RUN(test_bad_input);
    return 0;
}
