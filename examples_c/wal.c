/*
 * wal.c - libaof as a database's write-ahead log.
 *
 *   ./wal [DIR]        (DIR defaults to ./wal-data)
 *
 * A toy key-value store keeps its table in memory and its changes in a libaof log. Each
 * change is appended with aof_append_async, so one thread keeps many in flight, and is
 * applied to the table (acknowledged to its client) only when its completion says it is
 * durable. Every CHECKPOINT_EVERY changes it writes the table to a snapshot file
 * (temporary file, fsync, rename) that records the last id it covers, then drops the log's
 * segments before that id with aof_truncate_before. At start it loads the snapshot and
 * replays the log after it: the table is whatever was acknowledged, whatever the crash.
 * The program ends by reopening its own directory and checking the recovered table.
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aof.h"

enum { KEYS = 512, CHANGES = 20000, IN_FLIGHT = 256, CHECKPOINT_EVERY = 5000 };

static void check(int32_t status, const char *what) {
    if (status != AOF_OK) {
        fprintf(stderr, "error: %s: %s (%d)\n  detail: %s\n", what, aof_errstr(status),
                (int)status, aof_last_error_message());
        exit(1);
    }
}

/* A change: set table[key] = value. Encoded as 12 bytes in the log. */
struct change {
    uint32_t key;
    uint64_t value;
};

struct db {
    char dir[4096];
    aof_log_t *log;
    aof_completion_queue_t *cq;
    uint64_t table[KEYS];
    uint64_t applied_id; /* the table holds every change up to this id */
    /* Changes in flight, by id modulo the ring (completions come in id order). */
    struct change ring[IN_FLIGHT];
    uint64_t in_flight;
    uint64_t since_checkpoint;
    uint64_t checkpoints, segments_dropped;
};

static void encode(const struct change *c, uint8_t out[12]) {
    memcpy(out, &c->key, 4);
    memcpy(out + 4, &c->value, 8);
}

static struct change decode(const uint8_t *p) {
    struct change c;
    memcpy(&c.key, p, 4);
    memcpy(&c.value, p + 4, 8);
    return c;
}

static void snapshot_path(const struct db *db, char *out, size_t n, const char *suffix) {
    snprintf(out, n, "%s/table.snapshot%s", db->dir, suffix);
}

/* Writes the table and the id it covers, durably, then lets the log drop what it covers. */
static void checkpoint(struct db *db) {
    char tmp[4200], path[4200];
    snapshot_path(db, tmp, sizeof tmp, ".tmp");
    snapshot_path(db, path, sizeof path, "");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, &db->applied_id, 8) != 8 ||
        write(fd, db->table, sizeof db->table) != (ssize_t)sizeof db->table || fsync(fd) != 0 ||
        close(fd) != 0 || rename(tmp, path) != 0) {
        perror("checkpoint");
        exit(1);
    }
    /* The snapshot is durable: the log no longer needs the changes it covers. Whole
     * segments only: a few changes before applied_id may stay and are replayed (harmless:
     * replay starts after the snapshot's id). */
    uint64_t first_before = 0, first_after = 0, last = 0;
    check(aof_bounds(db->log, &first_before, &last), "aof_bounds");
    check(aof_truncate_before(db->log, db->applied_id + 1), "aof_truncate_before");
    check(aof_bounds(db->log, &first_after, &last), "aof_bounds");
    db->checkpoints++;
    db->segments_dropped += first_after > first_before;
    db->since_checkpoint = 0;
}

/* Applies the completions waiting (waits up to timeout_ms for the first). */
static void drain(struct db *db, uint32_t timeout_ms) {
    aof_completion_t done[64];
    size_t n = 0;
    int32_t s = aof_cq_poll(db->cq, done, 64, timeout_ms, &n);
    if (s == AOF_TIMED_OUT) {
        return;
    }
    check(s, "aof_cq_poll");
    for (size_t i = 0; i < n; i++) {
        check(done[i].status, "a change did not become durable");
        if (done[i].id != db->applied_id + 1) {
            fprintf(stderr, "completion %" PRIu64 " out of order\n", done[i].id);
            exit(1);
        }
        /* Durable: apply it (and acknowledge the client, in a real database). */
        const struct change *c = &db->ring[done[i].id % IN_FLIGHT];
        db->table[c->key] = c->value;
        db->applied_id = done[i].id;
        db->in_flight--;
        if (++db->since_checkpoint >= CHECKPOINT_EVERY) {
            checkpoint(db);
        }
    }
}

/* Opens the log and recovers the table: the snapshot, then the log after it. */
static void db_open(struct db *db, const char *dir) {
    memset(db, 0, sizeof *db);
    snprintf(db->dir, sizeof db->dir, "%s", dir);
    aof_options_t *o = NULL;
    check(aof_options_new(&o), "aof_options_new");
    check(aof_options_set_segment_size(o, 64 << 10), "segment size"); /* small: to truncate */
    check(aof_options_set_async_limits(o, IN_FLIGHT, 1 << 20, 30000), "async limits");
    check(aof_open(dir, o, &db->log), "aof_open");
    aof_options_free(o);
    char path[4200];
    snapshot_path(db, path, sizeof path, "");
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        if (fread(&db->applied_id, 8, 1, f) != 1 ||
            fread(db->table, sizeof db->table, 1, f) != 1) {
            fprintf(stderr, "damaged snapshot\n");
            exit(1);
        }
        fclose(f);
    }
    uint64_t replayed = 0;
    aof_cursor_t *cur = NULL;
    check(aof_cursor_open(db->log, db->applied_id + 1, &cur), "aof_cursor_open");
    aof_record_t rec;
    int32_t s;
    while ((s = aof_cursor_next(cur, &rec)) == AOF_OK) {
        struct change c = decode(rec.data);
        db->table[c.key] = c.value;
        db->applied_id = rec.id;
        replayed++;
    }
    if (s != AOF_END) {
        check(s, "aof_cursor_next");
    }
    aof_cursor_free(cur);
    check(aof_completion_queue_new(&db->cq), "aof_completion_queue_new");
    check(aof_log_set_completion_queue(db->log, db->cq), "aof_log_set_completion_queue");
    printf("opened: table at id %" PRIu64 " (%" PRIu64 " changes replayed from the log)\n",
           db->applied_id, replayed);
}

static void db_close(struct db *db) {
    while (db->in_flight > 0) {
        drain(db, 10000);
    }
    check(aof_close(db->log), "aof_close");
    check(aof_completion_queue_free(db->cq), "aof_completion_queue_free");
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./wal-data";
    struct db db;
    db_open(&db, dir);
    uint64_t seed = db.applied_id * 2654435761u + 1;
    for (int i = 0; i < CHANGES; i++) {
        while (db.in_flight >= IN_FLIGHT) {
            drain(&db, 10000);
        }
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        struct change c = {(uint32_t)(seed >> 33) % KEYS, seed};
        uint8_t rec[12];
        encode(&c, rec);
        uint64_t id = 0;
        check(aof_append_async(db.log, rec, sizeof rec, NULL, &id), "aof_append_async");
        db.ring[id % IN_FLIGHT] = c;
        db.in_flight++;
        drain(&db, 0); /* apply whatever is durable already, without waiting */
    }
    db_close(&db);
    printf("%d changes applied through %" PRIu64 "; %" PRIu64 " checkpoints dropped log "
           "segments %" PRIu64 " times\n",
           CHANGES, db.applied_id, db.checkpoints, db.segments_dropped);

    /* A restart: the table recovered from snapshot + log equals the one in memory. */
    uint64_t expected[KEYS];
    memcpy(expected, db.table, sizeof expected);
    uint64_t expected_id = db.applied_id;
    int truncated = db.checkpoints > 0 && db.segments_dropped > 0;
    db_open(&db, dir);
    if (db.applied_id != expected_id || memcmp(expected, db.table, sizeof expected) != 0) {
        fprintf(stderr, "recovered table differs\n");
        return 1;
    }
    printf("recovered the same table at id %" PRIu64 "\n", db.applied_id);
    db_close(&db);
    return truncated ? 0 : 1;
}
