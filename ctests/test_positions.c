/* Byte positions: every record's position is the running sum of the payload lengths before
 * it (records of 0 bytes included) across segment rolls and a reopen, from
 * aof_cursor_next_ex and aof_position_of; aof_id_at_position and
 * aof_cursor_open_at_position find the record at or after any position; aof_stream_read
 * returns exactly the concatenated payloads from any position with any buffer size, seeks,
 * and tails; positions after aof_truncate_before (kept; below them AOF_ERR_TRUNCATED);
 * aof_record_ex_t's size checks; bad input for every one of these exports (NULLs, closed
 * logs, unknown handles, positions past the end, a too-small out_size, a zero-byte
 * buffer), with out-params left untouched. */
#include "aoft.h"

#define SENTINEL 0x5A5A5A5A5A5A5A5Aull
#define RECORDS 300u

/* Pairs of empty records, else up to 2499 bytes. */
static size_t len_of(uint64_t id) { return (id % 9 == 0 || id % 9 == 1) ? 0 : id * 131 % 2500; }

/* The log's contents as the test expects them: positions (index = id) and all payloads. */
typedef struct model {
    uint64_t pos[RECORDS + 2];
    uint8_t *bytes;
    uint64_t end;
} model;

static void append_all(aof_log_t *log, model *m, uint64_t first, uint64_t last) {
    for (uint64_t id = first; id <= last; id++) {
        m->pos[id] = m->end;
        size_t len = len_of(id);
        aoft_append_filled(log, len, id);
        aoft_fill(m->bytes + m->end, len, id);
        m->end += len;
    }
    m->pos[last + 1] = m->end;
}

static model *new_model(void) {
    model *m = (model *)calloc(1, sizeof *m);
    CHECK(m != NULL);
    m->bytes = (uint8_t *)malloc(RECORDS * 2500);
    CHECK(m->bytes != NULL);
    return m;
}

static void free_model(model *m) {
    free(m->bytes);
    free(m);
}

/* The first id whose payload holds the byte at `p`, or else the first starting at or after
 * it; past every record, the next id. */
static uint64_t at_or_after(const model *m, uint64_t last, uint64_t p) {
    for (uint64_t id = 1; id <= last; id++) {
        if (m->pos[id] >= p || m->pos[id] + len_of(id) > p) {
            return id;
        }
    }
    return last + 1;
}

static void check_positions(aof_log_t *log, const model *m, uint64_t last) {
    uint64_t first = SENTINEL, end = SENTINEL;
    CHECK_OK(aof_position_range(log, &first, &end));
    CHECK_EQ_U64(first, 0);
    CHECK_EQ_U64(end, m->end);

    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    aof_record_ex_t r;
    for (uint64_t id = 1; id <= last; id++) {
        CHECK_OK(aof_cursor_next_ex(c, &r, sizeof r));
        CHECK_EQ_U64(r.id, id);
        CHECK_EQ_U64(r.position, m->pos[id]);
        CHECK_EQ_U64(r.len, len_of(id));
        CHECK(r.data != NULL);
        CHECK(aoft_matches(r.data, r.len, id));
        CHECK(r.timestamp_us > 0);

        uint64_t p = SENTINEL, back = SENTINEL;
        CHECK_OK(aof_position_of(log, id, &p));
        CHECK_EQ_U64(p, m->pos[id]);
        /* id -> position -> id: the first record at that position. */
        CHECK_OK(aof_id_at_position(log, p, &back));
        CHECK_EQ_U64(back, at_or_after(m, last, p));
        if (id == 1 || m->pos[id - 1] != m->pos[id]) {
            CHECK_EQ_U64(back, id);
        }
    }
    memset(&r, 0x5A, sizeof r);
    CHECK_STATUS(aof_cursor_next_ex(c, &r, sizeof r), AOF_END);
    CHECK_EQ_U64(r.id, SENTINEL);
    aof_cursor_free(c);
}

static void test_positions_are_running_sums(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    model *m = new_model();
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    append_all(log, m, 1, RECORDS / 2);
    check_positions(log, m, RECORDS / 2);
    CHECK_OK(aof_close(log));

    log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    check_positions(log, m, RECORDS / 2);
    append_all(log, m, RECORDS / 2 + 1, RECORDS);
    check_positions(log, m, RECORDS);
    aof_metrics_t mt;
    CHECK_OK(aof_metrics(log, &mt, sizeof mt));
    CHECK(mt.segment_count >= 5); /* 64 KiB segments */
    CHECK_OK(aof_close(log));
    free_model(m);
    aoft_rmdir(&d);
}

static void test_cursor_and_ids_at_positions(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    model *m = new_model();
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    append_all(log, m, 1, RECORDS);
    for (uint64_t k = 0; k < aoft_scaled(400); k++) {
        /* Every record's start and last byte, one inside, and the end. */
        uint64_t id = 1 + k % RECORDS;
        uint64_t probes[4] = {m->pos[id], m->pos[id] + len_of(id) / 2,
                              m->pos[id] + len_of(id) - (len_of(id) > 0), m->end};
        for (size_t i = 0; i < 4; i++) {
            uint64_t p = probes[i];
            uint64_t want = at_or_after(m, RECORDS, p);
            uint64_t got = SENTINEL;
            CHECK_OK(aof_id_at_position(log, p, &got));
            CHECK_EQ_U64(got, want);
            aof_cursor_t *c = NULL;
            CHECK_OK(aof_cursor_open_at_position(log, p, &c));
            aof_record_ex_t r;
            if (want > RECORDS) {
                CHECK_STATUS(aof_cursor_next_ex(c, &r, sizeof r), AOF_END);
            } else {
                CHECK_OK(aof_cursor_next_ex(c, &r, sizeof r));
                CHECK_EQ_U64(r.id, want);
                CHECK_EQ_U64(r.position, m->pos[want]);
                CHECK(r.position <= p && (p < r.position + r.len || r.position == p));
            }
            aof_cursor_free(c);
        }
    }
    /* Positions of 0 bytes: the first of a pair of empty records comes first. */
    uint64_t got = SENTINEL;
    CHECK_OK(aof_id_at_position(log, m->pos[9], &got));
    CHECK_EQ_U64(got, 9);
    CHECK_EQ_U64(m->pos[9], m->pos[10]);
    CHECK_EQ_U64(m->pos[10], m->pos[11]);
    CHECK(len_of(11) > 0);

    /* At the end: a cursor that sees only later records. */
    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open_at_position(log, m->end, &c));
    aof_record_t plain;
    CHECK_STATUS(aof_cursor_next(c, &plain), AOF_END);
    CHECK_OK(aof_append(log, (const uint8_t *)"tail", 4, NULL));
    CHECK_OK(aof_cursor_next(c, &plain));
    CHECK_EQ_U64(plain.id, RECORDS + 1);
    aof_cursor_free(c);
    CHECK_OK(aof_close(log));
    free_model(m);
    aoft_rmdir(&d);
}

/* Reads the stream to AOF_END in pieces of `cap` bytes; checks it returned the model's bytes
 * from `from` on, and the positions on the way. */
static void read_to_end(aof_stream_t *s, const model *m, uint64_t from, size_t cap) {
    uint8_t *buf = (uint8_t *)malloc(cap);
    CHECK(buf != NULL);
    uint64_t at = from;
    size_t n = 0;
    int32_t st;
    while ((st = aof_stream_read(s, buf, cap, &n)) == AOF_OK) {
        CHECK(n >= 1 && n <= cap);
        CHECK(n == cap || at + n == m->end); /* fills across records until the end */
        CHECK(memcmp(buf, m->bytes + at, n) == 0);
        at += n;
        uint64_t p = SENTINEL;
        CHECK_OK(aof_stream_position(s, &p));
        CHECK_EQ_U64(p, at);
    }
    CHECK_STATUS(st, AOF_END);
    CHECK_EQ_U64(at, m->end);
    free(buf);
}

static void test_stream(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    model *m = new_model();
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    append_all(log, m, 1, RECORDS);

    const size_t caps[] = {1, 7, 100, 4096, 300000};
    const uint64_t starts[] = {0, 1, m->pos[50], m->pos[50] + 3, m->pos[RECORDS], m->end};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        for (size_t j = 0; j < sizeof starts / sizeof starts[0]; j++) {
            if (caps[i] == 1 && starts[j] < m->pos[RECORDS - 20]) {
                continue; /* byte by byte only near the end: valgrind is slow */
            }
            aof_stream_t *s = NULL;
            CHECK_OK(aof_stream_open(log, starts[j], &s));
            read_to_end(s, m, starts[j], caps[i]);
            aof_stream_free(s);
        }
    }

    /* Seeks: back, forward into another segment, past the end, then the log grows there. */
    aof_stream_t *s = NULL;
    CHECK_OK(aof_stream_open(log, 0, &s));
    uint8_t buf[64];
    size_t n = 0;
    CHECK_OK(aof_stream_read(s, buf, sizeof buf, &n));
    CHECK_OK(aof_stream_seek(s, m->pos[200] + 5));
    uint64_t p = 0;
    CHECK_OK(aof_stream_position(s, &p));
    CHECK_EQ_U64(p, m->pos[200] + 5);
    CHECK_OK(aof_stream_read(s, buf, sizeof buf, &n));
    CHECK_EQ_U64(n, sizeof buf);
    CHECK(memcmp(buf, m->bytes + m->pos[200] + 5, n) == 0);
    CHECK_OK(aof_stream_seek(s, 10));
    read_to_end(s, m, 10, 5000);
    CHECK_OK(aof_stream_seek(s, m->end + 3)); /* past the end: allowed */
    n = 77;
    CHECK_STATUS(aof_stream_read(s, buf, sizeof buf, &n), AOF_END);
    CHECK_EQ_U64(n, 77); /* untouched */
    uint8_t more[10];
    aoft_fill(more, sizeof more, 999);
    CHECK_OK(aof_append(log, more, sizeof more, NULL));
    CHECK_OK(aof_stream_read(s, buf, sizeof buf, &n));
    CHECK_EQ_U64(n, 7);
    CHECK(memcmp(buf, more + 3, 7) == 0);
    CHECK_STATUS(aof_stream_read(s, buf, sizeof buf, &n), AOF_END);
    aof_stream_free(s);
    aof_stream_free(NULL);
    CHECK_OK(aof_close(log));
    free_model(m);
    aoft_rmdir(&d);
}

/* After aof_truncate_before the records left keep their positions; positions and ids before
 * them give AOF_ERR_TRUNCATED, also to a stream seeking there. */
static void test_truncation(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    model *m = new_model();
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    append_all(log, m, 1, RECORDS);
    aof_stream_t *s = NULL;
    CHECK_OK(aof_stream_open(log, 0, &s));
    CHECK_OK(aof_truncate_before(log, RECORDS / 2));
    uint64_t first_id = 0, last_id = 0, first = SENTINEL, end = SENTINEL;
    CHECK_OK(aof_bounds(log, &first_id, &last_id));
    CHECK(first_id > 1 && first_id <= RECORDS / 2);
    CHECK_OK(aof_position_range(log, &first, &end));
    CHECK_EQ_U64(first, m->pos[first_id]);
    CHECK_EQ_U64(end, m->end);
    for (uint64_t id = first_id; id <= RECORDS; id++) {
        uint64_t p = SENTINEL, back = SENTINEL;
        CHECK_OK(aof_position_of(log, id, &p));
        CHECK_EQ_U64(p, m->pos[id]);
        CHECK_OK(aof_id_at_position(log, p, &back));
        CHECK_EQ_U64(back, id == first_id ? id : at_or_after(m, RECORDS, p));
    }
    uint64_t u = SENTINEL;
    aof_cursor_t *c = NULL;
    aof_stream_t *s2 = NULL;
    CHECK_STATUS(aof_position_of(log, first_id - 1, &u), AOF_ERR_TRUNCATED);
    CHECK_STATUS(aof_id_at_position(log, first - 1, &u), AOF_ERR_TRUNCATED);
    CHECK(strstr(aof_last_error_message(), "oldest position held") != NULL);
    CHECK_STATUS(aof_id_at_position(log, 0, &u), AOF_ERR_TRUNCATED);
    CHECK_STATUS(aof_cursor_open_at_position(log, first - 1, &c), AOF_ERR_TRUNCATED);
    CHECK_STATUS(aof_stream_open(log, 0, &s2), AOF_ERR_TRUNCATED);
    CHECK(c == NULL && s2 == NULL);
    CHECK_EQ_U64(u, SENTINEL);
    /* The stream opened before: back to the oldest byte held, then everything from there. */
    CHECK_STATUS(aof_stream_seek(s, first - 1), AOF_ERR_TRUNCATED);
    CHECK_OK(aof_stream_seek(s, first));
    read_to_end(s, m, first, 1000);
    aof_stream_free(s);
    CHECK_OK(aof_cursor_open_at_position(log, first, &c));
    aof_record_ex_t r;
    CHECK_OK(aof_cursor_next_ex(c, &r, sizeof r));
    CHECK_EQ_U64(r.id, first_id);
    CHECK_EQ_U64(r.position, first);
    aof_cursor_free(c);
    CHECK_OK(aof_close(log));
    free_model(m);
    aoft_rmdir(&d);
}

/* aof_record_ex_t only grows: a too-small out_size is refused, a larger one (a newer
 * header's struct) gets the fields this library knows and zeros after them. */
static void test_record_ex_sizes(void) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aoft_append_filled(log, 10, 1);
    aoft_append_filled(log, 20, 2);
    aoft_append_filled(log, 30, 3);
    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));

    CHECK(sizeof(aof_record_ex_t) == offsetof(aof_record_ex_t, position) + 8);
    aof_record_ex_t r;
    memset(&r, 0x5A, sizeof r);
    CHECK_STATUS(aof_cursor_next_ex(c, &r, sizeof r - 1), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_cursor_next_ex(c, &r, offsetof(aof_record_ex_t, position)),
                 AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_cursor_next_ex(c, &r, 0), AOF_ERR_INVALID_ARG);
    CHECK(strstr(aof_last_error_message(), "sizeof(aof_record_ex_t)") != NULL);
    CHECK_EQ_U64(r.id, SENTINEL); /* untouched, and the cursor did not move */

    struct {
        aof_record_ex_t rec;
        uint64_t later_field;
    } big;
    memset(&big, 0x5A, sizeof big);
    CHECK_OK(aof_cursor_next_ex(c, &big.rec, sizeof big));
    CHECK_EQ_U64(big.rec.id, 1);
    CHECK_EQ_U64(big.rec.position, 0);
    CHECK_EQ_U64(big.later_field, 0);

    /* aof_cursor_next and aof_cursor_next_ex mix on one cursor. */
    aof_record_t plain;
    CHECK_OK(aof_cursor_next(c, &plain));
    CHECK_EQ_U64(plain.id, 2);
    CHECK_OK(aof_cursor_next_ex(c, &r, sizeof r));
    CHECK_EQ_U64(r.id, 3);
    CHECK_EQ_U64(r.position, 30);
    CHECK(aoft_matches(r.data, r.len, 3));
    aof_cursor_free(c);
    CHECK_OK(aof_close(log));
    aoft_rmdir(&d);
}

static void test_bad_input(void) {
    aof_log_t *const no_log = NULL;
    uint64_t u = SENTINEL, v = SENTINEL;
    size_t n = 77;
    uint8_t buf[8];
    aof_record_ex_t r;
    memset(&r, 0x5A, sizeof r);

    /* NULLs, before anything else. */
    CHECK_STATUS(aof_position_of(no_log, 1, &u), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_id_at_position(no_log, 0, &u), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_position_range(no_log, &u, &v), AOF_ERR_NULL_ARG);
    aof_cursor_t *c = NULL;
    CHECK_STATUS(aof_cursor_open_at_position(no_log, 0, &c), AOF_ERR_NULL_ARG);
    CHECK(c == NULL);
    aof_stream_t *s = NULL;
    CHECK_STATUS(aof_stream_open(no_log, 0, &s), AOF_ERR_NULL_ARG);
    CHECK(s == NULL);
    CHECK_STATUS(aof_cursor_next_ex(NULL, &r, sizeof r), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_stream_read(NULL, buf, sizeof buf, &n), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_stream_seek(NULL, 0), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_stream_position(NULL, &u), AOF_ERR_NULL_ARG);
    aof_stream_free(NULL);

    /* Unknown handles. */
    aof_log_t *bogus = (aof_log_t *)(uintptr_t)12345;
    CHECK_STATUS(aof_position_of(bogus, 1, &u), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_id_at_position(bogus, 0, &u), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_position_range(bogus, &u, &v), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_cursor_open_at_position(bogus, 0, &c), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_stream_open(bogus, 0, &s), AOF_ERR_INVALID_ARG);

    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, AOF_FLUSH_SYNC, 0, 0);
    aoft_append_filled(log, 100, 1);
    aoft_append_filled(log, 0, 2);
    aoft_append_filled(log, 50, 3);

    /* NULL out-params on a live log. */
    CHECK_STATUS(aof_position_of(log, 1, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_id_at_position(log, 0, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_position_range(log, NULL, &v), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_position_range(log, &u, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_cursor_open_at_position(log, 0, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_stream_open(log, 0, NULL), AOF_ERR_NULL_ARG);
    CHECK_EQ_U64(u, SENTINEL);
    CHECK_EQ_U64(v, SENTINEL);

    /* Ids and positions that are not there: the end is 150. */
    CHECK_STATUS(aof_position_of(log, 0, &u), AOF_ERR_NOT_FOUND);
    CHECK_STATUS(aof_position_of(log, 4, &u), AOF_ERR_NOT_FOUND);
    CHECK_STATUS(aof_id_at_position(log, 151, &u), AOF_ERR_NOT_FOUND);
    CHECK(strstr(aof_last_error_message(), "byte position 151") != NULL);
    CHECK_STATUS(aof_id_at_position(log, UINT64_MAX, &u), AOF_ERR_NOT_FOUND);
    CHECK_STATUS(aof_cursor_open_at_position(log, 151, &c), AOF_ERR_NOT_FOUND);
    CHECK_STATUS(aof_stream_open(log, 151, &s), AOF_ERR_NOT_FOUND);
    CHECK_EQ_U64(u, SENTINEL);
    CHECK(c == NULL && s == NULL);
    CHECK_OK(aof_id_at_position(log, 150, &u));
    CHECK_EQ_U64(u, 4); /* the end: the id the next record gets */
    CHECK_OK(aof_id_at_position(log, 100, &u));
    CHECK_EQ_U64(u, 2); /* the empty record, before record 3 at the same position */

    /* The stream's own arguments. */
    CHECK_OK(aof_stream_open(log, 0, &s));
    CHECK_STATUS(aof_stream_read(s, NULL, 1, &n), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_stream_read(s, buf, sizeof buf, NULL), AOF_ERR_NULL_ARG);
    CHECK_STATUS(aof_stream_read(s, buf, 0, &n), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_stream_read(s, NULL, 0, &n), AOF_ERR_INVALID_ARG);
    CHECK_STATUS(aof_stream_position(s, NULL), AOF_ERR_NULL_ARG);
    CHECK_EQ_U64(n, 77);
    CHECK_OK(aof_stream_position(s, &u));
    CHECK_EQ_U64(u, 0); /* nothing read by the failed calls */
    CHECK_STATUS(aof_cursor_next_ex(NULL, NULL, 0), AOF_ERR_NULL_ARG);
    CHECK_OK(aof_cursor_open_at_position(log, 0, &c));
    CHECK_STATUS(aof_cursor_next_ex(c, NULL, sizeof r), AOF_ERR_NULL_ARG);

    /* A closed log: every call but the frees says so, before looking at the values. */
    CHECK_OK(aof_close(log));
    u = SENTINEL;
    CHECK_STATUS(aof_position_of(log, 1, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_id_at_position(log, 0, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_id_at_position(log, UINT64_MAX, &u), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_position_range(log, &u, &v), AOF_ERR_CLOSED);
    aof_cursor_t *c2 = NULL;
    aof_stream_t *s2 = NULL;
    CHECK_STATUS(aof_cursor_open_at_position(log, 0, &c2), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_stream_open(log, 0, &s2), AOF_ERR_CLOSED);
    CHECK(c2 == NULL && s2 == NULL);
    CHECK_STATUS(aof_cursor_next_ex(c, &r, sizeof r), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_cursor_next_ex(c, &r, 0), AOF_ERR_CLOSED);
    CHECK_EQ_U64(r.id, SENTINEL);
    CHECK_STATUS(aof_stream_read(s, buf, sizeof buf, &n), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_stream_read(s, buf, 0, &n), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_stream_seek(s, 1), AOF_ERR_CLOSED);
    CHECK_STATUS(aof_stream_position(s, &u), AOF_ERR_CLOSED);
    CHECK_EQ_U64(u, SENTINEL);
    CHECK_EQ_U64(n, 77);
    aof_cursor_free(c);
    aof_stream_free(s);
    aoft_rmdir(&d);
}

int main(void) {
    RUN(test_positions_are_running_sums);
    RUN(test_cursor_and_ids_at_positions);
    RUN(test_stream);
    RUN(test_truncation);
    RUN(test_record_ex_sizes);
    RUN(test_bad_input);
    return 0;
}
