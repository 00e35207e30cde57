/* One log handle hammered from 8 threads at once, under several flush policies, with
 * 64 KiB segments so that rolls happen under contention. Each thread appends (single
 * records and batches) self-describing payloads (writer, sequence number, length and a
 * checksum), scans and tails the log with its own cursor (aof_cursor_next,
 * aof_cursor_wait), reads records back (aof_read), flushes, and takes metrics and the
 * durable id, all at once. Afterwards: ids are dense 1..N, every record is the payload its
 * (writer, seq) describes, each writer's records appear in the order it appended them,
 * every id a writer got back reads back its own payload, the counters add up, everything
 * is durable after a flush, a final scan returns exactly N records in id order, and the
 * log reopens with the same N.
 *
 * Environment: AOFT_SEED fixes the operation mix (the seed used is printed);
 * AOFT_SCALE_DIV divides the operation count (make valgrind). */
#include "aoft.h"

#include <stdatomic.h>

enum {
    THREADS = 8,
    OPS_PER_THREAD = 1000,
    MAX_BATCH = 8,
    HDR = 20,    /* magic u32, writer u32, seq u64, body length u32 */
    TRAILER = 8, /* FNV-1a 64 of everything before it */
    MAX_BODY = 4096 + 8191,
    MAX_PAYLOAD = HDR + MAX_BODY + TRAILER, /* < 16 KiB, the maximum record size */
};
#define MAGIC 0x54464F41u /* "AOFT" */
#define ANY_SEQ UINT64_MAX

static uint64_t mix(uint64_t x) { /* splitmix64's finaliser */
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001B3ull;
    }
    return h;
}

/* Body length of record `seq` of writer `w`: mostly under 700 bytes, one in 61 between
 * 4 and 12 KiB (so segments fill fast and records straddle no segment boundary). */
static size_t body_len(uint32_t w, uint64_t seq) {
    uint64_t h = mix(((uint64_t)w << 48) ^ seq);
    if (h % 61 == 0) {
        return 4096 + (size_t)((h >> 20) % 8192);
    }
    return (size_t)((h >> 8) % 700);
}

/* Writes the payload of (w, seq) into buf (MAX_PAYLOAD bytes); returns its length. */
static size_t make_payload(uint8_t *buf, uint32_t w, uint64_t seq) {
    uint32_t magic = MAGIC;
    uint32_t bl = (uint32_t)body_len(w, seq);
    memcpy(buf, &magic, 4);
    memcpy(buf + 4, &w, 4);
    memcpy(buf + 8, &seq, 8);
    memcpy(buf + 16, &bl, 4);
    uint64_t x = mix(((uint64_t)w << 48) ^ seq ^ 0xA0F7ull) | 1;
    for (uint32_t i = 0; i < bl; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[HDR + i] = (uint8_t)(x >> 24);
    }
    uint64_t sum = fnv1a(buf, HDR + bl);
    memcpy(buf + HDR + bl, &sum, 8);
    return HDR + bl + TRAILER;
}

/* True if `data` is exactly the payload of the (writer, seq) it encodes; sets both. */
static int parse_payload(const uint8_t *data, size_t len, uint32_t *w, uint64_t *seq) {
    if (data == NULL || len < HDR + TRAILER || len > MAX_PAYLOAD) {
        return 0;
    }
    uint32_t magic, writer, bl;
    uint64_t s, sum;
    memcpy(&magic, data, 4);
    memcpy(&writer, data + 4, 4);
    memcpy(&s, data + 8, 8);
    memcpy(&bl, data + 16, 4);
    if (magic != MAGIC || writer >= THREADS || bl != body_len(writer, s) ||
        len != (size_t)HDR + bl + TRAILER) {
        return 0;
    }
    memcpy(&sum, data + HDR + bl, 8);
    if (sum != fnv1a(data, HDR + bl)) {
        return 0;
    }
    uint8_t want[MAX_PAYLOAD];
    if (make_payload(want, writer, s) != len || memcmp(want, data, len) != 0) {
        return 0;
    }
    *w = writer;
    *seq = s;
    return 1;
}

struct shared {
    aof_log_t *log;
    int32_t policy;
    uint64_t ops; /* per thread */
    atomic_uint_fast64_t appended;     /* records appended so far, all threads */
    atomic_int writers_done;           /* threads past their last append and flush */
    atomic_uint_fast64_t reads;        /* records returned by aof_read and cursors */
    atomic_uint_fast64_t read_bytes;   /* and their payload bytes */
};

struct worker {
    struct shared *sh;
    pthread_t thread;
    uint32_t index;
    uint64_t rng;
    /* What this thread appended. */
    uint64_t *ids; /* ids[seq]: the id aof_append(_batch) gave record seq */
    uint64_t cap;
    uint64_t nseq;
    uint64_t batches;
    uint64_t append_bytes;
    uint64_t synced_seq; /* records 0..synced_seq-1 are durable (so visible) */
    /* Its cursor. */
    aof_cursor_t *cursor;
    uint64_t cursor_next_id; /* the id the cursor must return next; 0: not known yet */
    uint64_t cursor_min_start, cursor_max_start; /* where an AOF_START_END cursor began */
    uint64_t next_seq_seen[THREADS]; /* per writer, the seq its next record must carry */
    uint64_t seen;                   /* records the cursor returned */
    aof_metrics_t last;              /* the previous metrics snapshot */
};

static uint64_t next_rand(struct worker *k) {
    k->rng = mix(k->rng);
    return k->rng;
}

static void count_read(struct worker *k, size_t len) {
    atomic_fetch_add(&k->sh->reads, 1);
    atomic_fetch_add(&k->sh->read_bytes, (uint64_t)len);
}

static void note_id(struct worker *k, uint64_t id) {
    CHECK(id >= 1);
    CHECK(k->nseq == 0 || id > k->ids[k->nseq - 1]); /* a writer's ids increase */
    if (k->nseq == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 1024;
        k->ids = (uint64_t *)realloc(k->ids, k->cap * sizeof *k->ids);
        CHECK(k->ids != NULL);
    }
    k->ids[k->nseq++] = id;
}

static void append_one(struct worker *k) {
    uint8_t buf[MAX_PAYLOAD];
    size_t len = make_payload(buf, k->index, k->nseq);
    uint64_t id = 0;
    CHECK_OK(aof_append(k->sh->log, buf, len, &id));
    note_id(k, id);
    k->append_bytes += len;
    if (k->sh->policy == AOF_FLUSH_SYNC) {
        k->synced_seq = k->nseq;
    }
    atomic_fetch_add(&k->sh->appended, 1);
}

static void append_batch(struct worker *k, size_t n) {
    uint8_t *bufs[MAX_BATCH];
    const uint8_t *datas[MAX_BATCH];
    size_t lens[MAX_BATCH];
    for (size_t i = 0; i < n; i++) {
        bufs[i] = (uint8_t *)malloc(MAX_PAYLOAD);
        CHECK(bufs[i] != NULL);
        lens[i] = make_payload(bufs[i], k->index, k->nseq + i);
        datas[i] = bufs[i];
    }
    uint64_t first = 0;
    CHECK_OK(aof_append_batch(k->sh->log, datas, lens, n, &first));
    for (size_t i = 0; i < n; i++) {
        note_id(k, first + i); /* a batch gets consecutive ids */
        k->append_bytes += lens[i];
        free(bufs[i]);
    }
    k->batches++;
    if (k->sh->policy == AOF_FLUSH_SYNC) {
        k->synced_seq = k->nseq;
    }
    atomic_fetch_add(&k->sh->appended, (uint64_t)n);
}

/* Checks one record from this thread's cursor: the next id, a valid payload, and the
 * next seq of its writer. */
static void check_cursor_record(struct worker *k, const aof_record_t *r) {
    if (k->cursor_next_id == 0) { /* the first record of an AOF_START_END cursor */
        CHECK(r->id >= k->cursor_min_start && r->id <= k->cursor_max_start);
    } else {
        CHECK_EQ_U64(r->id, k->cursor_next_id);
    }
    k->cursor_next_id = r->id + 1;
    uint32_t w = 0;
    uint64_t seq = 0;
    if (!parse_payload(r->data, r->len, &w, &seq)) {
        fprintf(stderr, "thread %u: record %" PRIu64 " (%zu bytes) is not a valid payload\n",
                k->index, r->id, r->len);
        exit(1);
    }
    if (k->next_seq_seen[w] != ANY_SEQ) {
        CHECK_EQ_U64(seq, k->next_seq_seen[w]);
    }
    k->next_seq_seen[w] = seq + 1;
    k->seen++;
    count_read(k, r->len);
}

/* Reads the cursor up to AOF_END. */
static void drain(struct worker *k) {
    if (k->cursor == NULL) {
        return;
    }
    aof_record_t r;
    int32_t s;
    while ((s = aof_cursor_next(k->cursor, &r)) == AOF_OK) {
        check_cursor_record(k, &r);
    }
    CHECK_STATUS(s, AOF_END);
}

/* aof_read of an id this thread appended, checking it is its own record. */
static void read_own(struct worker *k, uint64_t seq) {
    uint8_t buf[MAX_PAYLOAD];
    size_t len = 0;
    uint64_t ts = 0;
    CHECK_OK(aof_read(k->sh->log, k->ids[seq], buf, sizeof buf, &len, &ts));
    uint32_t w = 0;
    uint64_t s = 0;
    CHECK(parse_payload(buf, len, &w, &s));
    CHECK_EQ_U64(w, k->index);
    CHECK_EQ_U64(s, seq);
    CHECK(ts > 0);
    count_read(k, len);
}

/* aof_flush, then: everything this thread appended is durable and reads back. */
static void flush_and_read(struct worker *k) {
    CHECK_OK(aof_flush(k->sh->log));
    k->synced_seq = k->nseq;
    uint64_t durable = 0;
    CHECK_OK(aof_durable_id(k->sh->log, &durable));
    if (k->nseq > 0) {
        CHECK(durable >= k->ids[k->nseq - 1]);
        read_own(k, k->nseq - 1);
        read_own(k, next_rand(k) % k->nseq);
    }
}

/* Reads a random durable record (any writer's) and one of this thread's synced ones. */
static void read_durable(struct worker *k) {
    uint64_t durable = 0;
    CHECK_OK(aof_durable_id(k->sh->log, &durable));
    if (durable > 0) {
        uint8_t buf[MAX_PAYLOAD];
        size_t len = 0;
        uint64_t id = 1 + next_rand(k) % durable;
        CHECK_OK(aof_read(k->sh->log, id, buf, sizeof buf, &len, NULL));
        uint32_t w = 0;
        uint64_t s = 0;
        CHECK(parse_payload(buf, len, &w, &s));
        count_read(k, len);
    }
    if (k->synced_seq > 0) {
        uint64_t seq = next_rand(k) % k->synced_seq;
        CHECK(durable >= k->ids[seq]);
        read_own(k, seq);
    }
}

/* A metrics snapshot: every counter only grows, and covers this thread's own work. */
static void check_metrics(struct worker *k) {
    aof_metrics_t m;
    CHECK_OK(aof_metrics(k->sh->log, &m, sizeof m));
    const aof_metrics_t *p = &k->last;
    CHECK(m.appends >= p->appends && m.append_bytes >= p->append_bytes);
    CHECK(m.batches >= p->batches && m.write_calls >= p->write_calls);
    CHECK(m.syncs >= p->syncs && m.segments_created >= p->segments_created);
    CHECK(m.segments_sealed >= p->segments_sealed);
    CHECK(m.reads >= p->reads && m.read_bytes >= p->read_bytes);
    CHECK(m.last_id >= p->last_id && m.durable_id >= p->durable_id);
    CHECK(m.appends >= k->nseq && m.batches >= k->batches);
    CHECK(m.append_bytes >= k->append_bytes);
    CHECK(k->nseq == 0 || m.last_id >= k->ids[k->nseq - 1]);
    CHECK(m.segment_count >= 1);
    CHECK_EQ_U64(m.recovery_clean_shutdown, 0); /* a fresh directory */
    k->last = m;
}

static void open_cursor(struct worker *k, uint64_t start) {
    uint64_t before = 0, after = 0;
    CHECK_OK(aof_last_id(k->sh->log, &before));
    CHECK_OK(aof_cursor_open(k->sh->log, start, &k->cursor));
    CHECK_OK(aof_last_id(k->sh->log, &after));
    for (int w = 0; w < THREADS; w++) {
        k->next_seq_seen[w] = start == AOF_START_OLDEST ? 0 : ANY_SEQ;
    }
    if (start == AOF_START_OLDEST) {
        k->cursor_next_id = 1;
    } else {
        k->cursor_next_id = 0;
        k->cursor_min_start = before + 1;
        k->cursor_max_start = after + 1;
    }
}

static void *work(void *arg) {
    struct worker *k = (struct worker *)arg;
    struct shared *sh = k->sh;
    /* Even threads scan from the oldest record; odd ones start tailing a quarter in. */
    if (k->index % 2 == 0) {
        open_cursor(k, AOF_START_OLDEST);
    }
    for (uint64_t op = 0; op < sh->ops; op++) {
        if (k->cursor == NULL && op >= sh->ops / 4) {
            open_cursor(k, AOF_START_END);
        }
        uint64_t r = next_rand(k) % 32;
        if (r < 16) {
            append_one(k);
        } else if (r < 22) {
            append_batch(k, 1 + (size_t)(next_rand(k) % MAX_BATCH));
        } else if (r < 25) {
            drain(k);
        } else if (r < 27) {
            if (k->cursor != NULL) {
                int32_t s = aof_cursor_wait(k->cursor, 1);
                CHECK(s == AOF_OK || s == AOF_TIMED_OUT);
                drain(k);
            }
        } else if (r < 29) {
            check_metrics(k);
        } else if (r < 30) {
            flush_and_read(k);
        } else {
            read_durable(k);
        }
    }
    if (k->cursor == NULL) {
        open_cursor(k, AOF_START_END);
    }
    /* The last of this thread's records are durable, so visible, before it says done. */
    flush_and_read(k);
    atomic_fetch_add(&sh->writers_done, 1);

    /* Tail until every thread is done and the cursor has seen the last record. */
    uint64_t deadline = aoft_now_us() + 120u * 1000000u;
    for (;;) {
        int done = atomic_load(&sh->writers_done) == THREADS;
        uint64_t total = atomic_load(&sh->appended);
        drain(k);
        if (done && (k->cursor_next_id == total + 1 ||
                     (k->cursor_next_id == 0 && k->cursor_max_start == total + 1))) {
            break;
        }
        int32_t s = aof_cursor_wait(k->cursor, 100);
        CHECK(s == AOF_OK || s == AOF_TIMED_OUT);
        CHECK(aoft_now_us() < deadline);
    }
    return NULL;
}

/* Scans the whole log with a fresh cursor: exactly n records, ids 1..n, valid payloads,
 * each writer's seqs 0, 1, 2... in id order; if `w` is given, each record is where its
 * writer was told it went. Returns the payload bytes seen. */
static uint64_t full_scan(aof_log_t *log, uint64_t n, const struct worker *w) {
    aof_cursor_t *c = NULL;
    CHECK_OK(aof_cursor_open(log, AOF_START_OLDEST, &c));
    uint64_t next_seq[THREADS] = {0};
    uint64_t count = 0, bytes = 0;
    aof_record_t r;
    int32_t s;
    while ((s = aof_cursor_next(c, &r)) == AOF_OK) {
        CHECK_EQ_U64(r.id, count + 1);
        uint32_t writer = 0;
        uint64_t seq = 0;
        CHECK(parse_payload(r.data, r.len, &writer, &seq));
        CHECK_EQ_U64(seq, next_seq[writer]);
        next_seq[writer]++;
        if (w != NULL) {
            CHECK(seq < w[writer].nseq);
            CHECK_EQ_U64(w[writer].ids[seq], r.id);
        }
        count++;
        bytes += r.len;
    }
    CHECK_STATUS(s, AOF_END);
    CHECK_EQ_U64(count, n);
    if (w != NULL) {
        for (int i = 0; i < THREADS; i++) {
            CHECK_EQ_U64(next_seq[i], w[i].nseq);
        }
    }
    aof_cursor_free(c);
    return bytes;
}

static void hammer(const char *name, int32_t policy, uint32_t batch, uint32_t interval_ms) {
    aoft_dir d;
    aoft_mkdir(&d);
    aof_log_t *log = aoft_open_small(&d, policy, batch, interval_ms); /* 64 KiB segments */

    uint64_t seed = aoft_now_us() ^ ((uint64_t)getpid() << 32);
    const char *env = getenv("AOFT_SEED");
    if (env != NULL && env[0] != '\0') {
        seed = strtoull(env, NULL, 0);
    }
    static struct shared sh;
    memset(&sh, 0, sizeof sh);
    sh.log = log;
    sh.policy = policy;
    sh.ops = aoft_scaled(OPS_PER_THREAD);
    atomic_init(&sh.appended, 0);
    atomic_init(&sh.writers_done, 0);
    atomic_init(&sh.reads, 0);
    atomic_init(&sh.read_bytes, 0);
    fprintf(stderr, "    %s: %d threads x %" PRIu64 " operations, AOFT_SEED=%" PRIu64 "\n",
            name, THREADS, sh.ops, seed);

    static struct worker w[THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < THREADS; i++) {
        w[i].sh = &sh;
        w[i].index = (uint32_t)i;
        w[i].rng = seed ^ mix((uint64_t)i + 1);
        CHECK(pthread_create(&w[i].thread, NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(w[i].thread, NULL) == 0);
    }

    uint64_t n = 0, batches = 0, bytes = 0;
    for (int i = 0; i < THREADS; i++) {
        n += w[i].nseq;
        batches += w[i].batches;
        bytes += w[i].append_bytes;
    }
    CHECK(n > 0);
    CHECK_EQ_U64(atomic_load(&sh.appended), n);

    /* Every thread's cursor saw every record after its start, each writer's in order. */
    for (int i = 0; i < THREADS; i++) {
        CHECK_EQ_U64(w[i].cursor_next_id == 0 ? w[i].cursor_max_start : w[i].cursor_next_id,
                     n + 1);
        for (int j = 0; j < THREADS; j++) {
            if (w[i].next_seq_seen[j] != ANY_SEQ) {
                CHECK_EQ_U64(w[i].next_seq_seen[j], w[j].nseq);
            }
        }
        if (i % 2 == 0) {
            CHECK_EQ_U64(w[i].seen, n);
        }
        aof_cursor_free(w[i].cursor);
    }

    /* Dense ids: the ids the threads got back are exactly 1..n, each once. */
    uint8_t *taken = (uint8_t *)calloc(n + 1, 1);
    CHECK(taken != NULL);
    for (int i = 0; i < THREADS; i++) {
        for (uint64_t s = 0; s < w[i].nseq; s++) {
            uint64_t id = w[i].ids[s];
            CHECK(id >= 1 && id <= n);
            CHECK(!taken[id]);
            taken[id] = 1;
        }
    }
    free(taken);

    uint64_t last = 0, durable = 0;
    CHECK_OK(aof_last_id(log, &last));
    CHECK_EQ_U64(last, n);
    CHECK_OK(aof_flush(log));
    CHECK_OK(aof_durable_id(log, &durable));
    CHECK_EQ_U64(durable, n);

    aof_metrics_t m;
    CHECK_OK(aof_metrics(log, &m, sizeof m));
    CHECK_EQ_U64(m.appends, n);
    CHECK_EQ_U64(m.append_bytes, bytes);
    CHECK_EQ_U64(m.batches, batches);
    CHECK_EQ_U64(m.last_id, n);
    CHECK_EQ_U64(m.durable_id, n);
    CHECK_EQ_U64(m.reads, atomic_load(&sh.reads));
    CHECK_EQ_U64(m.read_bytes, atomic_load(&sh.read_bytes));
    CHECK_EQ_U64(m.segment_count, m.segments_created);
    CHECK_EQ_U64(m.segments_sealed + 1, m.segments_created);
    CHECK(m.segments_created >= 2 || sh.ops < OPS_PER_THREAD); /* rolls under contention */
    CHECK(m.syncs >= 1 && m.write_calls >= 1);

    /* A final scan: n records in id order, each where its writer was told. */
    CHECK_EQ_U64(full_scan(log, n, w), bytes);
    /* Every id a writer got back reads back that writer's own payload. */
    for (int i = 0; i < THREADS; i++) {
        for (uint64_t s = 0; s < w[i].nseq; s++) {
            read_own(&w[i], s);
        }
    }
    uint64_t verified = 0;
    CHECK_OK(aof_verify(log, &verified));
    CHECK_EQ_U64(verified, n);
    fprintf(stderr,
            "    %s: %" PRIu64 " records (%" PRIu64 " batches), %" PRIu64 " segments, %" PRIu64
            " syncs, %" PRIu64 " writes, %" PRIu64 " reads\n",
            name, n, batches, m.segments_created, m.syncs, m.write_calls, m.reads);
    CHECK_OK(aof_close(log));

    /* The log reopens with the same n. */
    log = aoft_open_small(&d, policy, batch, interval_ms);
    CHECK_OK(aof_last_id(log, &last));
    CHECK_EQ_U64(last, n);
    CHECK_OK(aof_durable_id(log, &durable));
    CHECK_EQ_U64(durable, n);
    CHECK_OK(aof_metrics(log, &m, sizeof m));
    CHECK_EQ_U64(m.recovery_clean_shutdown, 1);
    CHECK_EQ_U64(full_scan(log, n, w), bytes);
    CHECK_OK(aof_verify(log, &verified));
    CHECK_EQ_U64(verified, n);
    uint64_t id = 0;
    CHECK_OK(aof_append(log, (const uint8_t *)"after", 5, &id));
    CHECK_EQ_U64(id, n + 1);
    CHECK_OK(aof_close(log));

    for (int i = 0; i < THREADS; i++) {
        free(w[i].ids);
    }
    aoft_rmdir(&d);
}

static void test_threads_sync(void) { hammer("AOF_FLUSH_SYNC", AOF_FLUSH_SYNC, 0, 0); }

static void test_threads_async(void) { hammer("AOF_FLUSH_ASYNC", AOF_FLUSH_ASYNC, 0, 0); }

static void test_threads_batched_or_periodic(void) {
    hammer("AOF_FLUSH_BATCHED_OR_PERIODIC(64, 5 ms)", AOF_FLUSH_BATCHED_OR_PERIODIC, 64, 5);
}

int main(void) {
    RUN(test_threads_sync);
    RUN(test_threads_async);
    RUN(test_threads_batched_or_periodic);
    return 0;
}
