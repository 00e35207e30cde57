/*
 * aof.h - libaof: a durable, segmented append-only log. The C API.
 *
 * Reference: docs/C_API.md. On-disk format: docs/FORMAT.md.
 *
 * CONVENTIONS
 *
 * Status codes. Every call that can fail returns an aof_status_t (int32_t):
 *   0      AOF_OK: success.
 *   > 0    a non-error outcome: AOF_END (a cursor has no further visible record yet, or
 *          a stream no further visible byte), AOF_TIMED_OUT (a wait reached its timeout).
 *   < 0    an error, AOF_ERR_*. Error values are stable: a value keeps its meaning and is
 *          never reused for another error.
 * aof_errstr(status) describes a status with static text. A NULL required pointer gives
 * AOF_ERR_NULL_ARG before any other argument is looked at.
 *
 * Last error. Every call that returns an error (a negative status) stores a detailed
 * message for the calling thread; read it with aof_last_error_message() or copy it with
 * aof_last_error_copy(). Calls that succeed, or return AOF_END or AOF_TIMED_OUT, leave it
 * untouched, so read it only right after a failure.
 *
 * Out-parameters (named out_*) are written only when the call returns AOF_OK; on any other
 * status they keep their previous contents. The exceptions: aof_read(),
 * aof_manager_list() and aof_last_tier_error() store the needed size in *out_len when they
 * return AOF_ERR_BUFFER_TOO_SMALL, and aof_cq_poll() stores 0 in *out_count when it
 * returns AOF_TIMED_OUT. Out-parameters documented as "may be NULL" are optional.
 *
 * Ownership and lifetimes.
 *   aof_options_t *  from aof_options_new(), owned by the caller, freed with
 *                    aof_options_free(). aof_open() copies the options: free them any time.
 *   aof_log_t *      from aof_open() or aof_manager_open_log(), released with
 *                    aof_close(). The handle is an opaque token that libaof never
 *                    dereferences: a call with a closed handle returns AOF_ERR_CLOSED (it
 *                    is not undefined behaviour), and tokens are never reused within a
 *                    process.
 *   aof_manager_options_t *  from aof_manager_options_new(), owned by the caller, freed
 *                    with aof_manager_options_free(); aof_manager_open() copies them.
 *   aof_manager_t *  from aof_manager_open(), released with aof_manager_close(); a token
 *                    like aof_log_t. aof_manager_close() closes the logs of the manager
 *                    that are still open: their handles then return AOF_ERR_CLOSED and
 *                    must still be released with aof_close() (which returns AOF_OK).
 *   aof_cursor_t *   from aof_cursor_open() or aof_cursor_open_at_position(), freed with
 *                    aof_cursor_free(), before or after its log is closed (once the log is
 *                    closed its calls return AOF_ERR_CLOSED).
 *   aof_stream_t *   from aof_stream_open(), freed with aof_stream_free(), before or after
 *                    its log is closed (likewise).
 *   aof_completion_queue_t *  from aof_completion_queue_new() or
 *                    aof_completion_queue_new_callback(), freed with
 *                    aof_completion_queue_free() once no open log is attached to it
 *                    (AOF_ERR_BUSY before); a token like aof_log_t (a freed handle gives
 *                    AOF_ERR_CLOSED). The array a completion callback receives is valid
 *                    during the call only; aof_cq_poll() copies into the caller's array.
 *   Using options, a cursor or a stream after freeing it is undefined behaviour. Every
 *   _free() function, aof_close() and aof_manager_close() accept NULL and do nothing.
 *   aof_manager_list() copies the names, and aof_last_tier_error() the message, into the
 *   caller's buffer: nothing to free.
 *   Input buffers (const uint8_t *data, size_t len) are only read during the call; data
 *   may be NULL only when len is 0. aof_stream_read() copies into the caller's buffer:
 *   nothing to free.
 *   aof_record_t.data, filled in by aof_cursor_next() (and aof_record_ex_t.data, by
 *   aof_cursor_next_ex()), is borrowed from the cursor: it points into a read-only map of
 *   the segment file, which the cursor keeps alive. It is valid until the next call on
 *   that cursor (aof_cursor_next(), aof_cursor_next_ex() or aof_cursor_wait(), whatever
 *   it returns) or aof_cursor_free(), even if the log is closed meanwhile:
 *   after aof_close() the last record a cursor returned can still be read, and the
 *   cursor's next call returns AOF_ERR_CLOSED. Never write through it (the map is
 *   read-only: the write faults). It is never NULL.
 *   aof_errstr() and aof_version() return static strings. aof_last_error_message()
 *   returns a string owned by the calling thread, valid until its next libaof call.
 *
 * Threading. A log handle may be used from any number of threads at once (concurrent
 * appends share syncs: group commit), and aof_close() may run while other threads use it:
 * their calls complete or return AOF_ERR_CLOSED. The same holds for a manager handle and
 * aof_manager_close(). A completion queue may be used from any number of threads at once;
 * the callback of a callback queue runs on a dispatcher thread of its own. An options
 * handle, a cursor or a stream is used by one thread at a time; it may move between
 * threads. Blocking calls made from one of libaof's own threads return AOF_ERR_MISUSE
 * instead of deadlocking.
 *
 * Threads and resources. A log does its background work (write-outs, syncs, zero-ahead,
 * segment pre-allocation, retention, compression of sealed segments) on a runtime's
 * threads, never on a thread of its own. A log
 * opened with aof_open() has a small runtime of its own (1 worker, up to 8 blocking
 * threads). The logs of a manager share the manager's (aof_manager_options_set_*: 2
 * workers, up to 32 blocking threads by default), whatever their number. An idle log costs
 * no thread, 1 file descriptor for its LOCK plus 1 per segment file, and a few KiB of
 * memory (see aof_manager_open_log()).
 *
 * Durability and visibility. An appended record is durable (it survives a crash or power
 * cut) once it has been synced: at once with AOF_FLUSH_SYNC, or later according to the
 * flush policy, aof_flush() or aof_close(). aof_durable_id() says how far the log is
 * durable; aof_sync_until() waits for it, and aof_append_async() reports it later, once per
 * record, on a completion queue. With the default AOF_VISIBILITY_WRITTEN, readers
 * (aof_read(), cursors) may see records before they are durable, and a crash may take back
 * a record that was read. With AOF_VISIBILITY_DURABLE they see durable records only.
 *
 * Panics. A bug in libaof that panics is caught at the C boundary and reported as
 * AOF_ERR_PANIC (never an abort or an unwind into C); close the log after one.
 *
 * Versions. The AOF_VERSION_* macros give this header's version; aof_version() and
 * aof_version_number() the library's. Compare them to catch a mismatched build.
 */

#ifndef AOF_H
#define AOF_H

/* Generated by cbindgen from src/ffi/ with cbindgen.toml. Do not edit: run `make header`. */

#include <stddef.h>
#include <stdint.h>

#define AOF_STRINGIFY_(x) #x
#define AOF_STRINGIFY(x) AOF_STRINGIFY_(x)

/**
 * The version of this header as a string, "MAJOR.MINOR.PATCH", made from the
 * AOF_VERSION_MAJOR, AOF_VERSION_MINOR and AOF_VERSION_PATCH macros below.
 */
#define AOF_VERSION_STRING AOF_STRINGIFY(AOF_VERSION_MAJOR) "." AOF_STRINGIFY(AOF_VERSION_MINOR) "." AOF_STRINGIFY(AOF_VERSION_PATCH)

/**
 * Major version (compatibility of the ABI and the on-disk format within one major).
 */
#define AOF_VERSION_MAJOR 0

/**
 * Minor version.
 */
#define AOF_VERSION_MINOR 1

/**
 * Patch version.
 */
#define AOF_VERSION_PATCH 0

/**
 * The version as a number: `MAJOR * 10000 + MINOR * 100 + PATCH`.
 */
#define AOF_VERSION_NUMBER (((AOF_VERSION_MAJOR * 10000) + (AOF_VERSION_MINOR * 100)) + AOF_VERSION_PATCH)

/**
 * Success.
 */
#define AOF_OK 0

/**
 * Not an error: the cursor has no more visible records (yet).
 */
#define AOF_END 1

/**
 * Not an error: the wait ended because its timeout passed.
 */
#define AOF_TIMED_OUT 2

/**
 * A required pointer argument was NULL.
 */
#define AOF_ERR_NULL_ARG -1

/**
 * An argument is out of range or inconsistent (bad option, unknown handle, empty batch...).
 */
#define AOF_ERR_INVALID_ARG -2

/**
 * The record is larger than the log's maximum record size; nothing was written.
 */
#define AOF_ERR_TOO_LARGE -3

/**
 * No record with that id is visible (never appended, or not yet visible); also no visible
 * record at or after a byte position (past the end of the visible records).
 */
#define AOF_ERR_NOT_FOUND -4

/**
 * An operating-system I/O call failed (the last-error message names the call and file).
 */
#define AOF_ERR_IO -5

/**
 * An I/O call failed because the disk is full (ENOSPC).
 */
#define AOF_ERR_NO_SPACE -6

/**
 * Bytes on disk failed their checksum or framing.
 */
#define AOF_ERR_CORRUPTION -7

/**
 * The log directory is locked by another process or another open handle; or a completion
 * queue still has logs attached (`aof_completion_queue_free`).
 */
#define AOF_ERR_BUSY -8

/**
 * The log handle was closed (also returned to cursors of a closed log), or the completion
 * queue handle freed.
 */
#define AOF_ERR_CLOSED -9

/**
 * An earlier write or sync failed; the log refuses further writes. Close it and reopen.
 */
#define AOF_ERR_POISONED -10

/**
 * libaof panicked (a bug); the panic was caught at the C boundary. Close the log.
 */
#define AOF_ERR_PANIC -11

/**
 * An internal error (a bug or an impossible state).
 */
#define AOF_ERR_INTERNAL -12

/**
 * The caller's buffer is too small; `aof_read` stores the needed size in `*out_len`.
 */
#define AOF_ERR_BUFFER_TOO_SMALL -13

/**
 * A blocking call was made from a thread of libaof's own runtime, where it could deadlock;
 * or a completion queue's callback tried to free its own queue.
 */
#define AOF_ERR_MISUSE -14

/**
 * A manager has no log of that name (`aof_manager_drop_log`).
 */
#define AOF_ERR_NO_SUCH_LOG -15

/**
 * The segment catalogue failed (a libmdbx error, a damaged or full catalogue, a catalogue
 * entry written by a newer libaof); the last-error message names the file and the cause.
 */
#define AOF_ERR_CATALOG -16

/**
 * The record was removed by retention or `aof_truncate_before`; the last-error message
 * names the oldest id still available (see also `aof_bounds`).
 */
#define AOF_ERR_TRUNCATED -17

/**
 * No room, and no (more) waiting: in a cache of the tiers (`aof_manager_options_set_cache`),
 * behind the archive's bounds (`aof_manager_options_set_archive_limits`), or in the bound on
 * asynchronous appends in flight (`aof_options_set_async_limits`). Nothing changed; try
 * again later.
 */
#define AOF_ERR_WOULD_BLOCK -18

/**
 * The archive could not be reached after retries (or its circuit breaker is open), or
 * refused a request; the last-error message names the operation, key and endpoint.
 */
#define AOF_ERR_REMOTE -19

/**
 * The smallest budget `aof_manager_options_set_cache` accepts for either cache: 64 KiB.
 */
#define AOF_CACHE_MIN_BYTES 65536

/**
 * The default budget of the hot cache (mapped sealed segment files): 1 GiB.
 */
#define AOF_CACHE_DEFAULT_HOT_BYTES 1073741824

/**
 * The default budget of the frame cache (decompressed frames): 256 MiB.
 */
#define AOF_CACHE_DEFAULT_FRAME_BYTES 268435456

/**
 * How long a read waits for room in a cache by default: 10 s.
 */
#define AOF_CACHE_DEFAULT_WAIT_MS 10000

/**
 * Flush policy: every append returns once its record is on stable storage (concurrent
 * appenders share one `fdatasync`: group commit). The default.
 */
#define AOF_FLUSH_SYNC 0

/**
 * Flush policy: appends return at once; a background worker writes and syncs as fast as it
 * can.
 */
#define AOF_FLUSH_ASYNC 1

/**
 * Flush policy: sync in the background once `batch_records` records are waiting.
 */
#define AOF_FLUSH_BATCHED 2

/**
 * Flush policy: sync in the background every `interval_ms` milliseconds.
 */
#define AOF_FLUSH_PERIODIC 3

/**
 * Flush policy: whichever of `AOF_FLUSH_BATCHED` and `AOF_FLUSH_PERIODIC` comes first.
 */
#define AOF_FLUSH_BATCHED_OR_PERIODIC 4

/**
 * Visibility: readers see a record once it is written to the file (page cache), possibly
 * before it is durable; a crash may take back a record that was seen. The default.
 */
#define AOF_VISIBILITY_WRITTEN 0

/**
 * Visibility: readers see a record only once it is durable (synced).
 */
#define AOF_VISIBILITY_DURABLE 1

/**
 * The zstd level `aof_options_set_tiering` uses by default (zstd's own default).
 */
#define AOF_TIER_DEFAULT_COMPRESSION_LEVEL 3

/**
 * The frame size `aof_options_set_tiering` uses by default: 256 KiB of segment bytes.
 */
#define AOF_TIER_DEFAULT_FRAME_SIZE 262144

/**
 * How many asynchronous appends of a log may be in flight by default (see
 * `aof_options_set_async_limits`).
 */
#define AOF_ASYNC_DEFAULT_MAX_RECORDS 65536

/**
 * How many payload bytes of asynchronous appends of a log may be in flight by default:
 * 64 MiB.
 */
#define AOF_ASYNC_DEFAULT_MAX_BYTES 67108864

/**
 * How long an asynchronous append waits for room by default: 30 s.
 */
#define AOF_ASYNC_DEFAULT_WAIT_MS 30000

/**
 * Cursor start: the oldest record of the log.
 */
#define AOF_START_OLDEST 0ull

/**
 * Cursor start: the newest record that exists when the cursor opens (like `AOF_START_END`
 * for an empty log).
 */
#define AOF_START_NEWEST (UINT64_MAX - 1)

/**
 * Cursor start: after the newest record; the cursor sees only records appended later.
 */
#define AOF_START_END UINT64_MAX

/**
 * The longest busy-poll `aof_cursor_set_spin` accepts, in microseconds (one second).
 */
#define AOF_CURSOR_MAX_SPIN_US 1000000

/**
 * The longest log name `aof_manager_open_log` accepts, in bytes (without the NUL).
 */
#define AOF_MANAGER_MAX_NAME_LEN 200

/**
 * The most threads of either kind a manager's runtime may be given.
 */
#define AOF_MANAGER_MAX_THREADS 1024

/**
 * A completion queue: where the outcomes of `aof_append_async` are posted, for one log or
 * several (of any manager, or opened alone). Made by `aof_completion_queue_new` (to poll)
 * or `aof_completion_queue_new_callback` (a callback receives them), freed with
 * `aof_completion_queue_free`. An opaque token like `aof_log_t`: libaof never
 * dereferences it, a freed handle gives `AOF_ERR_CLOSED`, and a value that was never a
 * queue handle (a log handle passed by mistake included) `AOF_ERR_INVALID_ARG`. May be
 * used from many threads at once.
 */
typedef struct aof_completion_queue_t aof_completion_queue_t;

/**
 * A cursor over a log. One thread at a time; it may be moved between threads.
 */
typedef struct aof_cursor_t aof_cursor_t;

/**
 * An open log. An opaque token, not a pointer: libaof never dereferences it, and looks it
 * up on every call. A closed handle is detected (`AOF_ERR_CLOSED`) and handles are never
 * reused within a process. A value `aof_open` (or `aof_manager_open_log`) did not return
 * is rejected with
 * `AOF_ERR_INVALID_ARG`, deterministically for small integers (below 2^32) and for any
 * 8-byte-aligned address (a pointer to memory, such as an options or cursor handle passed
 * by mistake), and for any other value (garbage, an uninitialised variable) except with
 * negligible probability: handles are scrambled with a key drawn at random by each
 * process. May be used from many threads at once.
 */
typedef struct aof_log_t aof_log_t;

/**
 * Options for `aof_manager_open`. Create with `aof_manager_options_new`, free with
 * `aof_manager_options_free`. One thread at a time.
 */
typedef struct aof_manager_options_t aof_manager_options_t;

/**
 * An open manager: the parent of the logs in one root directory, each in a subdirectory
 * named after the log, all sharing the manager's threads. An opaque token like
 * `aof_log_t`: libaof never dereferences it, and a closed handle is detected
 * (`AOF_ERR_CLOSED`). May be used from many threads at once.
 */
typedef struct aof_manager_t aof_manager_t;

/**
 * Options for `aof_open`. Create with `aof_options_new`, free with `aof_options_free`.
 * One thread at a time.
 */
typedef struct aof_options_t aof_options_t;

/**
 * A byte stream over the payloads of a log: the payloads of its visible records,
 * concatenated in id order, read from a byte position across record boundaries. Opened
 * with `aof_stream_open`, freed with `aof_stream_free` (before or after its log is
 * closed; once the log is closed its calls return `AOF_ERR_CLOSED`). One thread at a
 * time; it may be moved between threads. It keeps the segment it reads from mapped.
 */
typedef struct aof_stream_t aof_stream_t;

/**
 * The return type of every libaof call that can fail: `AOF_OK` (0), a positive non-error
 * condition (`AOF_END`, `AOF_TIMED_OUT`) or a negative `AOF_ERR_*` code.
 */
typedef int32_t aof_status_t;

/**
 * A record returned by `aof_cursor_next`. `data` is borrowed from the cursor: it points
 * into a read-only map of the segment file that the cursor keeps alive, and stays valid
 * until the next call on the same cursor (`aof_cursor_next`, `aof_cursor_wait`) or
 * `aof_cursor_free`, even if the log is closed meanwhile. It is never NULL, even when
 * `len` is 0.
 */
typedef struct aof_record_t {
    /**
     * The record's id (ids start at 1 and are dense).
     */
    uint64_t id;
    /**
     * When the record was appended, in microseconds since the Unix epoch.
     */
    uint64_t timestamp_us;
    /**
     * The payload (borrowed from the cursor, read-only: writing through it faults).
     */
    const uint8_t *data;
    /**
     * Payload length in bytes.
     */
    size_t len;
} aof_record_t;

/**
 * A record returned by `aof_cursor_next_ex`: the fields of `aof_record_t`, in the same
 * order, then the record's byte position. A struct that only grows: later versions append
 * fields, never reorder or remove them, so pass `sizeof(aof_record_ex_t)` as your program
 * was compiled. `data` is borrowed exactly as in `aof_record_t`.
 */
typedef struct aof_record_ex_t {
    /**
     * The record's id (ids start at 1 and are dense).
     */
    uint64_t id;
    /**
     * When the record was appended, in microseconds since the Unix epoch.
     */
    uint64_t timestamp_us;
    /**
     * The payload (borrowed from the cursor, read-only: writing through it faults).
     */
    const uint8_t *data;
    /**
     * Payload length in bytes.
     */
    size_t len;
    /**
     * The record's byte position: the payload bytes the log held before it (every record
     * before it, those removed since included). The next record's position is `position +
     * len`; a record of 0 bytes shares its position with the record after it.
     */
    uint64_t position;
} aof_record_ex_t;

/**
 * The outcome of one `aof_append_async`, as `aof_cq_poll` or a callback receives it.
 */
typedef struct aof_completion_t {
    /**
     * The record's id, as `aof_append_async` returned it.
     */
    uint64_t id;
    /**
     * The `user_data` given to `aof_append_async`, unchanged.
     */
    void *user_data;
    /**
     * The handle of the log the record was appended to. For comparison only: libaof never
     * dereferences it, and once that log is closed with `aof_close` it is a dead handle
     * (calls with it return `AOF_ERR_CLOSED`), though completions posted before or by the
     * close still carry it.
     */
    struct aof_log_t *log;
    /**
     * `AOF_OK`: the record is durable (the `fdatasync` that covers it returned).
     * `AOF_ERR_POISONED`: the log was poisoned (a failed write or sync) before the record
     * was durable; the record may or may not survive a crash, and the log's calls now
     * return `AOF_ERR_POISONED` with the reason as their last error. `AOF_ERR_CLOSED`: the
     * log was closed without its close being able to sync the record (the close itself
     * failed); it may or may not survive either.
     */
    aof_status_t status;
    /**
     * Zero; room for later use.
     */
    uint32_t reserved;
} aof_completion_t;

/**
 * The function a callback queue hands completions to: `completions` points to `count`
 * (1 to 256) completions, valid only during the call; `ctx` is the pointer given to
 * `aof_completion_queue_new_callback`. Runs on the queue's dispatcher thread; see
 * `aof_completion_queue_new_callback` for what it may and must not do.
 */
typedef void (*aof_completion_fn)(void *ctx,
                                  const struct aof_completion_t *completions,
                                  size_t count);

/**
 * Metrics of one log since it was opened (`recovery_*`: what `aof_open` found): counters,
 * gauges, and from the sixth version the summaries of its distributions (HDR histograms,
 * within 1 %: `<name>_count`, `_sum`, `_min`, `_p50`, `_p90`, `_p99`, `_p999`, `_max`; 0
 * while empty, or with histograms off). Fields are only ever appended in later versions,
 * never reordered or removed; pass `sizeof(aof_metrics_t)` to `aof_metrics`. A binding can
 * list the fields at run time: `aof_metrics_field_count`, `aof_metrics_field_name`.
 */
typedef struct aof_metrics_t {
    /**
     * Records appended (single and batched).
     */
    uint64_t appends;
    /**
     * Payload bytes appended.
     */
    uint64_t append_bytes;
    /**
     * `aof_append_batch` calls.
     */
    uint64_t batches;
    /**
     * `write` system calls that moved buffered records into segment files.
     */
    uint64_t write_calls;
    /**
     * `fdatasync` calls on segment files (group commit keeps this below `appends`).
     */
    uint64_t syncs;
    /**
     * Segment files created.
     */
    uint64_t segments_created;
    /**
     * Segments sealed with a footer.
     */
    uint64_t segments_sealed;
    /**
     * Records returned by `aof_read` and by cursors. A cursor adds its records every 1024,
     * when it reaches the end of the visible records, and when it is freed.
     */
    uint64_t reads;
    /**
     * Payload bytes returned by `aof_read` and by cursors.
     */
    uint64_t read_bytes;
    /**
     * Highest id appended (0: none).
     */
    uint64_t last_id;
    /**
     * Highest id known durable (0: none).
     */
    uint64_t durable_id;
    /**
     * Segment files the log holds now.
     */
    uint64_t segment_count;
    /**
     * Records scanned by recovery when the log was opened.
     */
    uint64_t recovery_scanned_records;
    /**
     * Bytes of a torn or corrupt tail that recovery cut off when the log was opened.
     */
    uint64_t recovery_truncated_bytes;
    /**
     * 1 when the log was opened after a clean close (no scan needed), else 0.
     */
    uint64_t recovery_clean_shutdown;
    /**
     * Bytes of zeros written ahead of the writer (`aof_options_set_zero_ahead`). Since
     * 0.1 (second version of this struct, 128 bytes).
     */
    uint64_t zeroed_bytes;
    /**
     * Segments removed by retention or `aof_truncate_before`. Since the third version of
     * this struct (144 bytes).
     */
    uint64_t segments_deleted;
    /**
     * Oldest id the log still holds (raised by retention; 1 before). Third version.
     */
    uint64_t first_id;
    /**
     * Sealed segments compressed into the warm tier. Since the fourth version of this
     * struct (336 bytes).
     */
    uint64_t segments_compressed;
    /**
     * Bytes of segment files compressed (their full size). Fourth version.
     */
    uint64_t compress_bytes_in;
    /**
     * Bytes of the compressed files written for them. Fourth version.
     */
    uint64_t compress_bytes_out;
    /**
     * Moves between tiers that failed in the background before anything was recorded
     * (nothing changed; tried again later). Fourth version.
     */
    uint64_t tier_failures;
    /**
     * Pins of sealed segment files found mapped in the hot cache. The hot and frame
     * cache counters are those of the caches the log shares: its manager's (all its logs
     * together), or its own when opened alone. Fourth version.
     */
    uint64_t hot_hits;
    /**
     * Pins of sealed segment files that had to map them. Fourth version.
     */
    uint64_t hot_misses;
    /**
     * Maps dropped from the hot cache to make room. Fourth version.
     */
    uint64_t hot_evictions;
    /**
     * Bytes the hot cache holds now (maps and offset indexes). Fourth version.
     */
    uint64_t hot_bytes;
    /**
     * Frames of compressed segments found in the frame cache. Fourth version.
     */
    uint64_t frame_hits;
    /**
     * Frames that had to be decompressed. Fourth version.
     */
    uint64_t frame_misses;
    /**
     * Frames dropped from the frame cache to make room. Fourth version.
     */
    uint64_t frame_evictions;
    /**
     * Bytes the frame cache holds now. Fourth version.
     */
    uint64_t frame_bytes;
    /**
     * Sealed segment files (plain or compressed) this log opened for readers since it
     * was opened: a map evicted and needed again counts again. Fourth version.
     */
    uint64_t files_opened;
    /**
     * Segments uploaded to the archive, verified and recorded as archived. Fourth
     * version.
     */
    uint64_t segments_archived;
    /**
     * Bytes of the compressed files archived. Fourth version.
     */
    uint64_t archive_bytes_out;
    /**
     * Objects of this log in the archive that no entry referred to, deleted.
     * Fourth version.
     */
    uint64_t archive_orphans_removed;
    /**
     * Times an append found the archive behind its bounds (it waited, or failed with
     * `AOF_ERR_WOULD_BLOCK`). Fourth version.
     */
    uint64_t backpressure_waits;
    /**
     * Upload requests (single puts and parts). The archive counters from here on are
     * those of the manager's archive client (all its logs together). Fourth version.
     */
    uint64_t archive_uploads;
    /**
     * Ranged and whole reads of archived objects. Fourth version.
     */
    uint64_t archive_gets;
    /**
     * Bytes downloaded from the archive. Fourth version.
     */
    uint64_t archive_bytes_in;
    /**
     * Archive requests that failed (each try). Fourth version.
     */
    uint64_t archive_failures;
    /**
     * Archive requests retried after a failure. Fourth version.
     */
    uint64_t archive_retries;
    /**
     * The archive's circuit breaker: 0 closed, 1 open (requests fail at once), 2
     * half-open (one probe allowed). Fourth version.
     */
    uint64_t archive_breaker;
    /**
     * Sealed segments of this log waiting to be archived (0 if it does not archive).
     * Fourth version.
     */
    uint64_t archive_pending;
    /**
     * Asynchronous appends (`aof_append_async`) that returned a record id. Since the fifth
     * version of this struct (0.1, 368 bytes).
     */
    uint64_t async_appends;
    /**
     * Their completions posted so far (durable, poisoned or closed). Fifth version.
     */
    uint64_t async_completed;
    /**
     * Asynchronous appends in flight now (appended, completion not posted yet). Fifth
     * version.
     */
    uint64_t async_in_flight;
    /**
     * Times an asynchronous append found the in-flight bound reached (it waited, or
     * returned `AOF_ERR_WOULD_BLOCK`). Fifth version.
     */
    uint64_t async_full;
    /**
     * Syncs made by `flush`, `close` and a seal (the caller asked for durability). Since the
     * sixth version of this struct (0.1, 1024 bytes).
     */
    uint64_t flushes_forced;
    /**
     * Background syncs started by the timer of `Periodic` or `BatchedOrPeriodic`. Sixth
     * version.
     */
    uint64_t flushes_periodic;
    /**
     * Background syncs started because records were waiting (`Batched`, `Async`, or an
     * asynchronous append waiting for room). Sixth version.
     */
    uint64_t flushes_batched;
    /**
     * Group-commit rounds led for `Sync` appends (blocking, or asynchronous through the sync
     * driver). Sixth version.
     */
    uint64_t flushes_sync;
    /**
     * Syncs that failed (each poisons the log). Sixth version.
     */
    uint64_t flushes_failed;
    /**
     * Records made durable by syncs (the durable id's advance). Sixth version.
     */
    uint64_t records_flushed;
    /**
     * Payload bytes made durable by syncs. Sixth version.
     */
    uint64_t bytes_flushed;
    /**
     * Records appended and not durable yet. Sixth version.
     */
    uint64_t pending_records;
    /**
     * Payload bytes appended and not durable yet. Sixth version.
     */
    uint64_t pending_bytes;
    /**
     * Damaged bytes found: each read that failed with `AOF_ERR_CORRUPTION`, and each
     * damaged range a verification reported. Sixth version.
     */
    uint64_t corruption_detected;
    /**
     * Latency of an append call, in nanoseconds: from the call to its return (under `Sync`,
     * durable). Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999,
     * max). Sixth version.
     */
    uint64_t append_latency_ns_count;
    /**
     * Its sum of the values. Sixth version.
     */
    uint64_t append_latency_ns_sum;
    /**
     * Its least value. Sixth version.
     */
    uint64_t append_latency_ns_min;
    /**
     * Its median. Sixth version.
     */
    uint64_t append_latency_ns_p50;
    /**
     * Its 90th percentile. Sixth version.
     */
    uint64_t append_latency_ns_p90;
    /**
     * Its 99th percentile. Sixth version.
     */
    uint64_t append_latency_ns_p99;
    /**
     * Its 99.9th percentile. Sixth version.
     */
    uint64_t append_latency_ns_p999;
    /**
     * Its greatest value. Sixth version.
     */
    uint64_t append_latency_ns_max;
    /**
     * Duration of each `fdatasync` of a segment file (and of a seal's), in nanoseconds. Its
     * values recorded (each distribution: count, sum, min, p50, p90, p99, p999, max). Sixth
     * version.
     */
    uint64_t sync_latency_ns_count;
    /**
     * Its sum of the values. Sixth version.
     */
    uint64_t sync_latency_ns_sum;
    /**
     * Its least value. Sixth version.
     */
    uint64_t sync_latency_ns_min;
    /**
     * Its median. Sixth version.
     */
    uint64_t sync_latency_ns_p50;
    /**
     * Its 90th percentile. Sixth version.
     */
    uint64_t sync_latency_ns_p90;
    /**
     * Its 99th percentile. Sixth version.
     */
    uint64_t sync_latency_ns_p99;
    /**
     * Its 99.9th percentile. Sixth version.
     */
    uint64_t sync_latency_ns_p999;
    /**
     * Its greatest value. Sixth version.
     */
    uint64_t sync_latency_ns_max;
    /**
     * Records made durable by each sync. Its values recorded (each distribution: count, sum,
     * min, p50, p90, p99, p999, max). Sixth version.
     */
    uint64_t sync_records_count;
    /**
     * Its sum of the values. Sixth version.
     */
    uint64_t sync_records_sum;
    /**
     * Its least value. Sixth version.
     */
    uint64_t sync_records_min;
    /**
     * Its median. Sixth version.
     */
    uint64_t sync_records_p50;
    /**
     * Its 90th percentile. Sixth version.
     */
    uint64_t sync_records_p90;
    /**
     * Its 99th percentile. Sixth version.
     */
    uint64_t sync_records_p99;
    /**
     * Its 99.9th percentile. Sixth version.
     */
    uint64_t sync_records_p999;
    /**
     * Its greatest value. Sixth version.
     */
    uint64_t sync_records_max;
    /**
     * Payload bytes made durable by each sync. Its values recorded (each distribution: count,
     * sum, min, p50, p90, p99, p999, max). Sixth version.
     */
    uint64_t sync_bytes_count;
    /**
     * Its sum of the values. Sixth version.
     */
    uint64_t sync_bytes_sum;
    /**
     * Its least value. Sixth version.
     */
    uint64_t sync_bytes_min;
    /**
     * Its median. Sixth version.
     */
    uint64_t sync_bytes_p50;
    /**
     * Its 90th percentile. Sixth version.
     */
    uint64_t sync_bytes_p90;
    /**
     * Its 99th percentile. Sixth version.
     */
    uint64_t sync_bytes_p99;
    /**
     * Its 99.9th percentile. Sixth version.
     */
    uint64_t sync_bytes_p999;
    /**
     * Its greatest value. Sixth version.
     */
    uint64_t sync_bytes_max;
    /**
     * Latency of `read` (by id), in nanoseconds. Its values recorded (each distribution:
     * count, sum, min, p50, p90, p99, p999, max). Sixth version.
     */
    uint64_t read_latency_ns_count;
    /**
     * Its sum of the values. Sixth version.
     */
    uint64_t read_latency_ns_sum;
    /**
     * Its least value. Sixth version.
     */
    uint64_t read_latency_ns_min;
    /**
     * Its median. Sixth version.
     */
    uint64_t read_latency_ns_p50;
    /**
     * Its 90th percentile. Sixth version.
     */
    uint64_t read_latency_ns_p90;
    /**
     * Its 99th percentile. Sixth version.
     */
    uint64_t read_latency_ns_p99;
    /**
     * Its 99.9th percentile. Sixth version.
     */
    uint64_t read_latency_ns_p999;
    /**
     * Its greatest value. Sixth version.
     */
    uint64_t read_latency_ns_max;
    /**
     * Writer to tailing reader, in nanoseconds: from a record's append (its timestamp) to a
     * cursor that waited at the tail returning it (microsecond resolution: record
     * timestamps are in microseconds). Its values recorded (each distribution: count, sum,
     * min, p50, p90, p99, p999, max). Sixth version.
     */
    uint64_t tail_latency_ns_count;
    /**
     * Its sum of the values. Sixth version.
     */
    uint64_t tail_latency_ns_sum;
    /**
     * Its least value. Sixth version.
     */
    uint64_t tail_latency_ns_min;
    /**
     * Its median. Sixth version.
     */
    uint64_t tail_latency_ns_p50;
    /**
     * Its 90th percentile. Sixth version.
     */
    uint64_t tail_latency_ns_p90;
    /**
     * Its 99th percentile. Sixth version.
     */
    uint64_t tail_latency_ns_p99;
    /**
     * Its 99.9th percentile. Sixth version.
     */
    uint64_t tail_latency_ns_p999;
    /**
     * Its greatest value. Sixth version.
     */
    uint64_t tail_latency_ns_max;
    /**
     * Asynchronous append to its completion being posted, in nanoseconds. Its values recorded
     * (each distribution: count, sum, min, p50, p90, p99, p999, max). Sixth version.
     */
    uint64_t completion_latency_ns_count;
    /**
     * Its sum of the values. Sixth version.
     */
    uint64_t completion_latency_ns_sum;
    /**
     * Its least value. Sixth version.
     */
    uint64_t completion_latency_ns_min;
    /**
     * Its median. Sixth version.
     */
    uint64_t completion_latency_ns_p50;
    /**
     * Its 90th percentile. Sixth version.
     */
    uint64_t completion_latency_ns_p90;
    /**
     * Its 99th percentile. Sixth version.
     */
    uint64_t completion_latency_ns_p99;
    /**
     * Its 99.9th percentile. Sixth version.
     */
    uint64_t completion_latency_ns_p999;
    /**
     * Its greatest value. Sixth version.
     */
    uint64_t completion_latency_ns_max;
    /**
     * Archive uploads (each object, all its parts), in nanoseconds (the manager's archive
     * client). Its values recorded (each distribution: count, sum, min, p50, p90, p99, p999,
     * max). Sixth version.
     */
    uint64_t upload_latency_ns_count;
    /**
     * Its sum of the values. Sixth version.
     */
    uint64_t upload_latency_ns_sum;
    /**
     * Its least value. Sixth version.
     */
    uint64_t upload_latency_ns_min;
    /**
     * Its median. Sixth version.
     */
    uint64_t upload_latency_ns_p50;
    /**
     * Its 90th percentile. Sixth version.
     */
    uint64_t upload_latency_ns_p90;
    /**
     * Its 99th percentile. Sixth version.
     */
    uint64_t upload_latency_ns_p99;
    /**
     * Its 99.9th percentile. Sixth version.
     */
    uint64_t upload_latency_ns_p999;
    /**
     * Its greatest value. Sixth version.
     */
    uint64_t upload_latency_ns_max;
    /**
     * Archive read requests, in nanoseconds (the manager's archive client). Its values
     * recorded (each distribution: count, sum, min, p50, p90, p99, p999, max). Sixth version.
     */
    uint64_t download_latency_ns_count;
    /**
     * Its sum of the values. Sixth version.
     */
    uint64_t download_latency_ns_sum;
    /**
     * Its least value. Sixth version.
     */
    uint64_t download_latency_ns_min;
    /**
     * Its median. Sixth version.
     */
    uint64_t download_latency_ns_p50;
    /**
     * Its 90th percentile. Sixth version.
     */
    uint64_t download_latency_ns_p90;
    /**
     * Its 99th percentile. Sixth version.
     */
    uint64_t download_latency_ns_p99;
    /**
     * Its 99.9th percentile. Sixth version.
     */
    uint64_t download_latency_ns_p999;
    /**
     * Its greatest value. Sixth version.
     */
    uint64_t download_latency_ns_max;
} aof_metrics_t;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The library's version string, `"MAJOR.MINOR.PATCH"` (static, never NULL).
 */
const char *aof_version(void);

/**
 * The library's version number, `MAJOR * 10000 + MINOR * 100 + PATCH`.
 */
uint32_t aof_version_number(void);

/**
 * Returns a static, NUL-terminated description of `status`; never NULL. Unknown codes give
 * `"unknown status"`. Does not touch the last-error message.
 */
const char *aof_errstr(aof_status_t status);

/**
 * The name of a status constant, e.g. `"AOF_ERR_CLOSED"` for `AOF_ERR_CLOSED` (a static
 * NUL-terminated string), for bindings and logs; NULL for a code that is not a status.
 */
const char *aof_status_name(aof_status_t status);

/**
 * Sets the two caches every log of the manager shares, and whether a read waits for room
 * in them.
 *
 * - `hot_bytes`: the budget of the *hot cache*, the maps of sealed segment files (plain or
 *   compressed) that readers use. It counts the full size of each mapped file plus 8
 *   bytes per record of it (its offset index, built on first touch and dropped with the
 *   map). The active segment of each open log is mapped outside the budget (the writer
 *   always needs it). Default `AOF_CACHE_DEFAULT_HOT_BYTES` (1 GiB).
 * - `frame_bytes`: the budget of the *frame cache*, the decompressed frames of compressed
 *   and archived segments; it counts each frame plus 8 bytes per record in it. Default
 *   `AOF_CACHE_DEFAULT_FRAME_BYTES` (256 MiB).
 * - `wait_ms`: how long a read waits for room when every entry of a cache is pinned by a
 *   reader (a cursor pins its current segment or frame); negative (or 0): it fails at
 *   once with `AOF_ERR_WOULD_BLOCK`, as it does when the wait ends. Default
 *   `AOF_CACHE_DEFAULT_WAIT_MS` (10 s).
 *
 * Entries not pinned are evicted least recently used first; a file evicted and needed
 * again is opened again (metric `files_opened`). A budget below `AOF_CACHE_MIN_BYTES`
 * (64 KiB): `AOF_ERR_INVALID_ARG`, options unchanged. Statuses: `AOF_ERR_NULL_ARG`,
 * `AOF_ERR_INVALID_ARG`.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_manager_options_new`.
 */
aof_status_t aof_manager_options_set_cache(struct aof_manager_options_t *options,
                                           uint64_t hot_bytes,
                                           uint64_t frame_bytes,
                                           int64_t wait_ms);

/**
 * Gives the manager an archive in a directory (a local disk, an NFS mount): the cold
 * tier. Sealed segments of its logs are uploaded there, as files, when a log says so
 * (`aof_options_set_archive_after`, `aof_archive_now`), and read back frame by frame.
 * `root` is a path (any bytes, like the root of `aof_manager_open`); `aof_manager_open`
 * creates it if missing (and fails with `AOF_ERR_REMOTE` if it cannot). `prefix` (UTF-8;
 * NULL or `""` for none) starts every object key; it usually ends with `/`. The object
 * of a segment is `<prefix><log uid, 16 hex digits>/<base id, 20 digits>.seg.zst`, a file
 * at that path under `root`. Replaces an archive set before; the limits and retries set
 * with `aof_manager_options_set_archive_limits` and `_retries` apply whenever they were
 * set. The strings are copied: the caller keeps ownership. See `aof_manager_options_set_archive_s3`
 * for what an archive does. Statuses: `AOF_ERR_NULL_ARG` (`options`, `root`),
 * `AOF_ERR_INVALID_ARG` (empty `root`; `prefix` not UTF-8, or making bad keys: a leading
 * `/`, an empty, `.` or `..` component), options unchanged.
 *
 * # Safety
 * `options` must be NULL or a live handle; `root` NULL or a NUL-terminated string;
 * `prefix` NULL or a NUL-terminated string.
 */
aof_status_t aof_manager_options_set_archive_fs(struct aof_manager_options_t *options,
                                                const char *root,
                                                const char *prefix);

/**
 * Gives the manager an archive in an S3-compatible bucket: the cold tier.
 *
 * `endpoint`: the URL of an S3-compatible store (`"http://127.0.0.1:9000"`), or NULL for
 * AWS itself. `region` and `bucket`: required, non-empty. `prefix` (NULL or `""` for
 * none) starts every object key; it usually ends with `/`. `path_style`: 1 for
 * path-style addressing (`endpoint/bucket/key`, which most self-hosted stores need), 0
 * for virtual-hosted (AWS). `access_key` and `secret_key`: static credentials, or both
 * NULL for the default credential chain (environment, profile, instance metadata). Every
 * string must be UTF-8; they are copied (the caller keeps ownership). Multipart uploads
 * above 16 MiB in 8 MiB parts; timeouts 5 s to connect, 30 s between bytes, 300 s per
 * attempt.
 *
 * What an archive does. One client per manager, shared by its logs. A sealed segment is
 * archived when its log says so (`aof_options_set_archive_after`, `aof_archive_now`):
 * compressed first if it is not (the zstd seekable format of the warm tier, see
 * `aof_options_set_tiering`), uploaded as `<prefix><log uid, 16 hex digits>/<base id, 20
 * digits>.seg.zst` (a conditional create: a retried upload never writes a second
 * object), verified (the object's size and its seek table must be the local file's), and
 * recorded in the catalogue; only then is the local file unlinked, never before its
 * archived copy is verified. An object is a standard zstd seekable file: stock `zstd -d`
 * restores the exact segment file. Reads of an archived segment fetch the one frame they
 * need with a ranged read into the frame cache (`aof_manager_options_set_cache`; a
 * sequential reader fetches a few frames ahead); reads by id, cursors and streams see no
 * difference but the latency. When the archive cannot be reached, reads of archived
 * segments return `AOF_ERR_REMOTE` (after the retries of
 * `aof_manager_options_set_archive_retries`), and appends go on until the limits of
 * `aof_manager_options_set_archive_limits` are reached. Retention and
 * `aof_truncate_before` delete the objects of the segments they remove.
 *
 * Replaces an archive set before; the limits and retries apply whenever they were set.
 * No request is made here, nor by `aof_manager_open` (which sets up the client, reading
 * the environment and profile for the default credential chain): the first upload or
 * read reports an unreachable store. Statuses: `AOF_ERR_NULL_ARG` (`options`, `region`,
 * `bucket`, or one of `access_key` and `secret_key` without the other),
 * `AOF_ERR_INVALID_ARG` (a string not UTF-8; an empty region, bucket or key; an endpoint
 * that is not an `http://` or `https://` URL; `path_style` not 0 or 1; a prefix making
 * bad keys; a library built without the `s3` feature), options unchanged.
 *
 * # Safety
 * `options` must be NULL or a live handle; each string NULL or NUL-terminated.
 */
aof_status_t aof_manager_options_set_archive_s3(struct aof_manager_options_t *options,
                                                const char *endpoint,
                                                const char *region,
                                                const char *bucket,
                                                const char *prefix,
                                                int32_t path_style,
                                                const char *access_key,
                                                const char *secret_key);

/**
 * Sets the backpressure of the archive: a log that archives
 * (`aof_options_set_archive_after`) may hold at most `max_pending_segments` sealed
 * segments not archived yet, and at most `max_pending_bytes` bytes of their files (plain
 * or compressed); 0 leaves a bound unset. Default: no bound. Past a bound, an append that
 * needs a new segment waits up to `backpressure_wait_ms` for the archive to catch up, then
 * fails with `AOF_ERR_WOULD_BLOCK` (nothing appended; metric `backpressure_waits`); a
 * negative wait fails at once. Default wait 30 s. So an archive that is down fills the
 * local disk only up to the bounds. May be called before or after the archive is set,
 * and applies to any archive set later. Statuses: `AOF_ERR_NULL_ARG`.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_manager_options_new`.
 */
aof_status_t aof_manager_options_set_archive_limits(struct aof_manager_options_t *options,
                                                    uint64_t max_pending_segments,
                                                    uint64_t max_pending_bytes,
                                                    int64_t backpressure_wait_ms);

/**
 * Sets how every archive request is retried, and the archive's circuit breaker.
 * `max_attempts` (at least 1; 1 = no retry) attempts per request; a retry waits
 * `backoff_base_ms`, doubled for each further one up to `backoff_max_ms` (a wait drawn
 * between half of it and all of it), and only a transient failure (unreachable, timeout,
 * 5xx, throttling) is retried. After `breaker_threshold` (at least 1) transient failures
 * in a row the breaker opens: requests fail at once with `AOF_ERR_REMOTE` (metric
 * `archive_breaker`) until `breaker_probe_ms` (at least 1) have passed, when one request
 * probes the store. Defaults: 4 attempts, 100 ms, 5000 ms, 8, 30000 ms. May be called
 * before or after the archive is set. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_INVALID_ARG`
 * (0 attempts, a threshold or probe interval of 0, `backoff_base_ms` above
 * `backoff_max_ms`), options unchanged.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_manager_options_new`.
 */
aof_status_t aof_manager_options_set_archive_retries(struct aof_manager_options_t *options,
                                                     uint32_t max_attempts,
                                                     uint32_t backoff_base_ms,
                                                     uint32_t backoff_max_ms,
                                                     uint32_t breaker_threshold,
                                                     uint32_t breaker_probe_ms);

/**
 * Returns this thread's last error message: `""` when no call on this thread has failed.
 * Never NULL. The pointer is owned by libaof and stays valid until the next libaof call on
 * this thread (in practice: until the next failing call) or the thread's exit. Successful
 * calls leave the message untouched, so check the status first.
 */
const char *aof_last_error_message(void);

/**
 * Copies this thread's last error message into `buf` as a NUL-terminated string,
 * truncated to `buf_len - 1` bytes when it does not fit. Returns the full length of the
 * message (excluding the NUL), so a return value `>= buf_len` means it was truncated.
 * With `buf_len == 0` nothing is written and `buf` may be NULL (use it to size a buffer).
 * If `buf` is NULL, nothing is written. Never changes the last error itself.
 *
 * # Safety
 * `buf` must be NULL or point to `buf_len` writable bytes.
 */
size_t aof_last_error_copy(char *buf, size_t buf_len);

/**
 * Creates options with the defaults: 64 MiB segments, a maximum record size derived from
 * the segment size (16 MiB with 64 MiB segments; see `aof_options_set_max_record_size`),
 * `AOF_FLUSH_SYNC`, background pre-allocation of the next segment at 50 % and
 * `AOF_VISIBILITY_WRITTEN`. On success `*out_options` owns a new handle; free it with
 * `aof_options_free`.
 *
 * # Safety
 * `out_options` must be NULL or valid for a write of a pointer.
 */
aof_status_t aof_options_new(struct aof_options_t **out_options);

/**
 * Frees options. NULL is a no-op. The options must not be used afterwards; logs opened
 * with them are not affected (`aof_open` copies them).
 *
 * # Safety
 * `options` must be NULL or a handle from `aof_options_new` that was not freed yet.
 */
void aof_options_free(struct aof_options_t *options);

/**
 * Sets the size of each segment file in bytes: 4096 (4 KiB) up to 4294963200
 * (4 GiB - 4 KiB). Default 64 MiB. Out of range: `AOF_ERR_INVALID_ARG`, options unchanged.
 * A record must fit in one segment with the segment's header and footer and its own
 * header: it may be at most the segment size - 160 bytes (rounded down to a multiple of 8
 * when the segment size is not one). Unless `aof_options_set_max_record_size` was called,
 * the maximum record size follows the segment size: min(16 MiB, segment size - 160), so
 * smaller segments need no other setting. An explicit maximum above the rule makes
 * `aof_open` fail with `AOF_ERR_INVALID_ARG`.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_options_new`.
 */
aof_status_t aof_options_set_segment_size(struct aof_options_t *options, uint64_t bytes);

/**
 * Sets the largest record `aof_append` accepts, in bytes: 1 up to 4294967295 (UINT32_MAX).
 * Out of range: `AOF_ERR_INVALID_ARG`, options unchanged. When it is never called, the
 * maximum is derived from the segment size: min(16 MiB, segment size - 160), 16 MiB with
 * the default 64 MiB segments. A value set here is used as is, and must fit in one segment
 * with the segment's header (64 bytes) and footer (64) and the record's header (32): at
 * most the segment size - 160 (rounded down to a multiple of 8 when the segment size is not
 * one); `aof_open` fails with `AOF_ERR_INVALID_ARG` otherwise, and the last-error message
 * states the rule.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_options_new`.
 */
aof_status_t aof_options_set_max_record_size(struct aof_options_t *options, uint64_t bytes);

/**
 * Sets the flush policy (`AOF_FLUSH_*`). `batch_records` (at least 1) is used by
 * `AOF_FLUSH_BATCHED` and `AOF_FLUSH_BATCHED_OR_PERIODIC`; `interval_ms` (at least 1) by
 * `AOF_FLUSH_PERIODIC` and `AOF_FLUSH_BATCHED_OR_PERIODIC`; a parameter the policy does not
 * use is ignored. Unknown policy or a used parameter of 0: `AOF_ERR_INVALID_ARG`, options
 * unchanged.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_options_new`.
 */
aof_status_t aof_options_set_flush_policy(struct aof_options_t *options,
                                          int32_t policy,
                                          uint32_t batch_records,
                                          uint32_t interval_ms);

/**
 * Sets when the next segment file is created in the background: once the active segment
 * is this full, in percent (1..=100). 0 disables background pre-allocation (the next
 * segment is created when the active one fills). Default 50. Above 100:
 * `AOF_ERR_INVALID_ARG`, options unchanged.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_options_new`.
 */
aof_status_t aof_options_set_preallocate_threshold(struct aof_options_t *options, uint32_t percent);

/**
 * Sets how many bytes of the active segment a background task keeps written with zeros
 * ahead of the writer, so that syncs overwrite written blocks rather than converting
 * pre-allocated ones (cheaper `fdatasync` when syncs are frequent; each segment is then
 * written twice, so the task skips zeroing while more than 256 KiB are appended per sync).
 * Rounded up to 4 KiB pages. 0 turns it off. Default 4 MiB. Above 1 GiB:
 * `AOF_ERR_INVALID_ARG`, options unchanged.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_options_new`.
 */
aof_status_t aof_options_set_zero_ahead(struct aof_options_t *options, uint64_t bytes);

/**
 * Bounds what the log keeps: at most `max_bytes` bytes of segment files, at most
 * `max_segments` segments (both counting the active one), and no segment sealed longer
 * than `max_age_ms` ago; 0 leaves a bound unset. Whole sealed segments go, oldest first,
 * never the active one, so the log may hold up to one segment more than a bound; removal
 * runs in the background after each roll (and on a timer for the age bound). A read below
 * the oldest id kept then returns `AOF_ERR_TRUNCATED` (see `aof_bounds`). Default: keep
 * everything. `max_bytes` below the segment size (checked at `aof_open`, since the
 * segment size may be set later) is `AOF_ERR_INVALID_ARG` there.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_options_new`.
 */
aof_status_t aof_options_set_retention(struct aof_options_t *options,
                                       uint64_t max_bytes,
                                       uint64_t max_segments,
                                       uint64_t max_age_ms);

/**
 * Sets when and how sealed segments move to the warm tier: each is compressed into the
 * zstd seekable format, a file `<base id>.seg.zst` next to the plain `<base id>.seg` it
 * replaces. A sealed segment is compressed in the background (on the log's runtime, after
 * each roll and on a timer with an age threshold) once at least `compress_after_segments`
 * segments are newer than it (the active one included), or once it was sealed more than
 * `compress_after_age_ms` milliseconds ago, whichever comes first; 0 leaves a threshold
 * unset, and with both unset (the default) only `aof_compress_now` compresses. The active
 * segment is never compressed (`aof_seal_now` seals it). `compression_level` is a zstd
 * level (its range, negative fast levels up to 22; `AOF_TIER_DEFAULT_COMPRESSION_LEVEL`
 * is 3). `frame_size` is the decompressed size of a frame, 4096 ..= 67108864 (64 MiB;
 * `AOF_TIER_DEFAULT_FRAME_SIZE` is 256 KiB): a read of a record in a compressed segment
 * decompresses its one frame, so smaller frames make reads cheaper and compression worse;
 * frames end on record boundaries, and a record larger than a frame gets one of its own.
 *
 * Reads by id, cursors, byte positions and streams see no difference but the cost of
 * decompressing a frame, and a reader already inside a segment's plain file keeps reading
 * it. Stock `zstd -d` turns a `.seg.zst` file back into the exact bytes of the segment
 * file. Values are checked here: a level outside zstd's range or a frame size outside
 * the range is `AOF_ERR_INVALID_ARG`, options unchanged.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_options_new`.
 */
aof_status_t aof_options_set_tiering(struct aof_options_t *options,
                                     uint64_t compress_after_segments,
                                     uint64_t compress_after_age_ms,
                                     int32_t compression_level,
                                     uint64_t frame_size);

/**
 * Sets when sealed segments move to the cold tier, the archive of the log's manager
 * (`aof_manager_options_set_archive_fs`, `aof_manager_options_set_archive_s3`): a sealed
 * segment is archived in the background (after each roll, on the log's runtime) once at
 * least `archive_after_segments` segments are newer than it (the active one included);
 * 0 (the default) turns it off, and then only `aof_archive_now` archives. A segment is
 * compressed first if it is not yet (with the level and frame size of
 * `aof_options_set_tiering`), uploaded, verified, recorded, and only then unlinked
 * locally; see `aof_manager_options_set_archive_s3`. A background upload that fails
 * changes nothing and is tried again later (metric `tier_failures`,
 * `aof_last_tier_error`); with the limits of `aof_manager_options_set_archive_limits`,
 * appends then meet backpressure (`AOF_ERR_WOULD_BLOCK`). Ignored by a log without an
 * archive (opened with `aof_open`, or by a manager without one). Independent of the other
 * settings of `aof_options_set_tiering`, which keeps it. Statuses: `AOF_ERR_NULL_ARG`.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_options_new`.
 */
aof_status_t aof_options_set_archive_after(struct aof_options_t *options,
                                           uint64_t archive_after_segments);

/**
 * Turns the log's latency and size distributions on (`on` non-zero, the default) or off
 * (`aof_metrics_t`'s `*_count` ... `*_max` fields then stay 0 and no clock is read for
 * them; counters are kept either way). Statuses: `AOF_ERR_NULL_ARG`.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_options_new`.
 */
aof_status_t aof_options_set_histograms(struct aof_options_t *options, int32_t on);

/**
 * Sets which records readers (cursors, `aof_read`) see: `AOF_VISIBILITY_WRITTEN` (default)
 * or `AOF_VISIBILITY_DURABLE`. Anything else: `AOF_ERR_INVALID_ARG`, options unchanged.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_options_new`.
 */
aof_status_t aof_options_set_visibility(struct aof_options_t *options, int32_t visibility);

/**
 * Bounds the asynchronous appends of the log in flight (`aof_append_async` returned,
 * completion not posted yet): at most `max_records` of them, and at most `max_bytes` of
 * their payloads (a single record larger than `max_bytes` still goes through when none is
 * in flight); each at least 1. Past a bound an append asks for a sync at once (whatever
 * the flush policy: a completion is what makes room) and waits for room up to `wait_ms`
 * milliseconds, then fails with `AOF_ERR_WOULD_BLOCK`, having appended nothing; negative
 * or 0: it fails at once (and asks for no sync). The bound keeps a caller that appends
 * faster than the disk syncs from growing memory without limit; it counts appends until
 * their completion is posted, so completions posted and not taken yet (by `aof_cq_poll`
 * or the callback) are outside it: drain the queue. Defaults:
 * `AOF_ASYNC_DEFAULT_MAX_RECORDS` (65,536), `AOF_ASYNC_DEFAULT_MAX_BYTES` (64 MiB),
 * `AOF_ASYNC_DEFAULT_WAIT_MS` (30 s). A bound of 0: `AOF_ERR_INVALID_ARG`, options
 * unchanged. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_INVALID_ARG`.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_options_new`.
 */
aof_status_t aof_options_set_async_limits(struct aof_options_t *options,
                                          uint64_t max_records,
                                          uint64_t max_bytes,
                                          int64_t wait_ms);

/**
 * Opens the log in directory `path`, creating that directory if it is missing, but never
 * its parents: if the parent of `path` does not exist, the call fails with `AOF_ERR_IO`
 * and creates nothing (a typo in a parent is an error, not a new tree). `options` may be
 * NULL for the defaults; they are copied, so the caller may free them right after. On
 * success `*out_log` receives a new handle, to be closed with `aof_close`; on failure it
 * is left untouched. Statuses: `AOF_ERR_INVALID_ARG` (inconsistent options, empty path),
 * `AOF_ERR_BUSY` (the directory is open elsewhere, in this process or another),
 * `AOF_ERR_IO` (also: a missing parent directory, or `path` is a file),
 * `AOF_ERR_NO_SPACE`, `AOF_ERR_CORRUPTION` (damage recovery cannot repair).
 *
 * # Safety
 * `path` must be NULL or a NUL-terminated string; `options` NULL or a live options handle;
 * `out_log` NULL or valid for a write of a pointer.
 */
aof_status_t aof_open(const char *path,
                      const struct aof_options_t *options,
                      struct aof_log_t **out_log);

/**
 * Closes the log: writes and syncs everything appended, seals it with a clean-shutdown
 * marker and releases the directory. NULL is a no-op returning `AOF_OK`. The handle is
 * invalid afterwards whatever the status: the status only reports whether the final
 * write and sync succeeded (`AOF_ERR_IO`, `AOF_ERR_NO_SPACE`, `AOF_ERR_POISONED`). Calls
 * made with the handle later, including a second `aof_close`, return `AOF_ERR_CLOSED`;
 * calls running concurrently in other threads finish or fail with `AOF_ERR_CLOSED`.
 * Cursors of the log stay valid to free, and return `AOF_ERR_CLOSED`; the `data` of the
 * last record each cursor returned stays readable until that cursor's next call or free.
 * The completion of every `aof_append_async` of the log is in its completion queue before
 * this returns (`AOF_OK` once the final sync succeeded), and the queue is detached.
 */
aof_status_t aof_close(struct aof_log_t *log);

/**
 * Appends one record of `len` bytes and stores its id in `*out_id` (if not NULL). Ids
 * start at 1 and are dense. `data` may be NULL only if `len` is 0 (an empty record).
 * When the call returns depends on the flush policy: with `AOF_FLUSH_SYNC` the record is
 * durable; otherwise it is durable after a later sync (`aof_flush`, `aof_sync_until`).
 * Statuses: `AOF_ERR_NULL_ARG` (NULL `data` with `len > 0`), `AOF_ERR_TOO_LARGE` (nothing
 * written), `AOF_ERR_CLOSED`, `AOF_ERR_POISONED`, `AOF_ERR_IO`, `AOF_ERR_NO_SPACE`.
 *
 * # Safety
 * `data` must be NULL or point to `len` readable bytes; `out_id` NULL or writable.
 */
aof_status_t aof_append(struct aof_log_t *log, const uint8_t *data, size_t len, uint64_t *out_id);

/**
 * Appends `count` records as one batch: record `i` is `lens[i]` bytes at `datas[i]` (NULL
 * allowed where `lens[i]` is 0). They get consecutive ids, no other append interleaves,
 * and the first id is stored in `*out_first_id` (if not NULL). A batch is written with one
 * write but is not atomic across a crash: a prefix of it may survive one. `count == 0`:
 * `AOF_ERR_INVALID_ARG` (the arrays may then be NULL). If any record is too large,
 * `AOF_ERR_TOO_LARGE` and nothing is written. Other statuses as for `aof_append`.
 *
 * # Safety
 * `datas` and `lens` must be NULL or point to `count` elements each, and every non-NULL
 * `datas[i]` to `lens[i]` readable bytes; `out_first_id` NULL or writable.
 */
aof_status_t aof_append_batch(struct aof_log_t *log,
                              const uint8_t *const *datas,
                              const size_t *lens,
                              size_t count,
                              uint64_t *out_first_id);

/**
 * Writes and `fdatasync`s every record appended so far (by any thread) and returns when
 * they are durable. Statuses: `AOF_ERR_CLOSED`, `AOF_ERR_POISONED`, `AOF_ERR_IO`,
 * `AOF_ERR_NO_SPACE`; `AOF_ERR_MISUSE` if called from a libaof runtime thread.
 */
aof_status_t aof_flush(struct aof_log_t *log);

/**
 * Waits, without forcing a sync, until record `id` is durable (synced by the flush
 * policy, another thread's `aof_flush` or a `AOF_FLUSH_SYNC` append). Returns `AOF_OK`
 * once it is, or `AOF_TIMED_OUT` after `timeout_ms` milliseconds (0: just check;
 * `UINT32_MAX`: no limit). `id` above the last appended id: `AOF_ERR_INVALID_ARG`.
 * Also `AOF_ERR_CLOSED` (including when the log is closed during the wait),
 * `AOF_ERR_POISONED`, `AOF_ERR_MISUSE`.
 */
aof_status_t aof_sync_until(struct aof_log_t *log, uint64_t id, uint32_t timeout_ms);

/**
 * Removes every sealed segment whose records all precede `id`, as a database does after
 * a checkpoint. Whole segments only, never the active one: records a little before `id`
 * may stay (`aof_bounds` says what is left). Cursors inside a removed segment keep reading
 * it; reads below the new first id return `AOF_ERR_TRUNCATED`. `id` from 1 to one past the
 * last id, else `AOF_ERR_INVALID_ARG`. Crash-safe: a crash during the removal leaves
 * every kept record and the next open finishes it.
 */
aof_status_t aof_truncate_before(struct aof_log_t *log, uint64_t id);

/**
 * Stores the range of ids a read may ask for now: `*out_first`, the oldest id kept
 * (raised by retention and `aof_truncate_before`), and `*out_last`, the newest visible id
 * (`*out_last == *out_first - 1` when there is none).
 *
 * # Safety
 * `out_first` and `out_last` must be NULL or writable.
 */
aof_status_t aof_bounds(const struct aof_log_t *log, uint64_t *out_first, uint64_t *out_last);

/**
 * Seals the active segment now if it holds a record: writes its footer and syncs it (its
 * records are then durable) and starts the next segment. The sealed segment then counts
 * for retention and the warm tier like any other (`aof_options_set_tiering`,
 * `aof_compress_now`, which never touch the active segment). `*out_sealed` (may be NULL)
 * gets 1 if a segment was sealed, 0 if the active one held no record (nothing changed).
 * Blocks on the seal's write and sync: from one of libaof's runtime threads it returns
 * `AOF_ERR_MISUSE`. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG`
 * (not a log handle), `AOF_ERR_POISONED`, `AOF_ERR_IO`, `AOF_ERR_NO_SPACE`,
 * `AOF_ERR_CATALOG`, `AOF_ERR_MISUSE`.
 *
 * # Safety
 * `out_sealed` must be NULL or writable.
 */
aof_status_t aof_seal_now(struct aof_log_t *log, int32_t *out_sealed);

/**
 * Compresses every sealed segment still in a plain file now, whatever the thresholds of
 * `aof_options_set_tiering` say (its level and frame size apply), and stores how many it
 * compressed in `*out_count` (may be NULL; 0 when there was none). Never the active
 * segment: call `aof_seal_now` first to include its records. Each segment goes to
 * `<base id>.seg.zst` (zstd seekable format; stock `zstd -d` restores the exact segment
 * file), is recorded in the catalogue, and only then is its plain `.seg` file removed;
 * a crash in between leaves one of the two, which the next open settles. Appends, reads
 * and cursors go on meanwhile: a reader already inside a plain file keeps reading it, and
 * every read finds each record in one file or the other, byte-exact. The metrics
 * `segments_compressed`, `compress_bytes_in` and `compress_bytes_out` count the work.
 * Blocks until done (file I/O on the calling thread): from one of libaof's runtime
 * threads it returns `AOF_ERR_MISUSE`. A failure stops at the segment that failed; the
 * segments compressed before it stay compressed. Statuses: `AOF_ERR_NULL_ARG`,
 * `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG` (not a log handle), `AOF_ERR_POISONED`,
 * `AOF_ERR_IO`, `AOF_ERR_NO_SPACE`, `AOF_ERR_CORRUPTION` (a segment's bytes fail their
 * checksums while being compressed), `AOF_ERR_CATALOG`, `AOF_ERR_MISUSE`.
 *
 * # Safety
 * `out_count` must be NULL or writable.
 */
aof_status_t aof_compress_now(struct aof_log_t *log, uint64_t *out_count);

/**
 * Archives every sealed segment of the log not archived yet now, whatever
 * `aof_options_set_archive_after` says, through the archive of the log's manager, and
 * stores how many it archived in `*out_count` (may be NULL; 0 when there was none).
 * Never the active segment: call `aof_seal_now` first to include its records. Each
 * segment is compressed first if it is not yet (`aof_options_set_tiering`: its level and
 * frame size), uploaded as `<prefix><log uid, 16 hex digits>/<base id, 20
 * digits>.seg.zst`, verified (the object's size and seek table must be the local file's),
 * recorded in the catalogue, and only then unlinked locally: nothing is unlinked before
 * its archived copy is verified, and a crash in between leaves the local file, which
 * stays authoritative (an object left behind is removed by `aof_sweep_archive`). An object
 * is a standard zstd seekable file: stock `zstd -d` restores the exact segment file.
 * Appends, reads and cursors go on meanwhile; records of archived segments are read
 * back transparently, frame by frame. The metrics `segments_archived`,
 * `archive_bytes_out` and `archive_uploads` count the work. Blocks until done (uploads on
 * the calling thread): from one of libaof's runtime threads it returns `AOF_ERR_MISUSE`.
 * A failure stops at the segment that failed; the segments archived before it stay
 * archived. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG` (not a
 * log handle; the log has no archive: opened with `aof_open`, or by a manager without
 * one), `AOF_ERR_REMOTE` (the archive cannot be reached after the retries, its circuit
 * breaker is open, or it refused the upload; the segment stays local and is whole),
 * `AOF_ERR_POISONED`, `AOF_ERR_IO`, `AOF_ERR_NO_SPACE`, `AOF_ERR_CORRUPTION`,
 * `AOF_ERR_CATALOG`, `AOF_ERR_MISUSE`.
 *
 * # Safety
 * `out_count` must be NULL or writable.
 */
aof_status_t aof_archive_now(struct aof_log_t *log, uint64_t *out_count);

/**
 * Deletes the objects of this log in the archive that no segment of the log refers to
 * (left by a crash between an upload and the catalogue, or by a removal whose delete
 * failed), and stores how many in `*out_count` (may be NULL). Only keys under the log's
 * own `<prefix><log uid>/`; never an object a segment refers to. A log without an archive
 * has none: 0. Counted in the metric `archive_orphans_removed`. Blocks on the archive's
 * list and delete requests: from one of libaof's runtime threads it returns
 * `AOF_ERR_MISUSE`. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG`
 * (not a log handle), `AOF_ERR_REMOTE`, `AOF_ERR_CATALOG`, `AOF_ERR_MISUSE`.
 *
 * # Safety
 * `out_count` must be NULL or writable.
 */
aof_status_t aof_sweep_archive(struct aof_log_t *log, uint64_t *out_count);

/**
 * Copies the message of the last move between tiers that failed in the background (the
 * compression the thresholds of `aof_options_set_tiering` start) into `buf`,
 * NUL-terminated: `""` if none has failed since the log was opened. Such a failure
 * changes nothing (the segment stays in its plain file and is tried again later) and is
 * counted in the metric `tier_failures`; the message stays until a later failure replaces
 * it. Failures of `aof_compress_now` are returned by it instead. `*out_len` receives the
 * bytes written, NUL included (1 for `""`). If they do not fit in `buf_len` bytes,
 * returns `AOF_ERR_BUFFER_TOO_SMALL` with the size needed in `*out_len` (the one
 * out-param written on failure; `buf` is untouched): call with `buf_len = 0` (and `buf`
 * NULL) to size a buffer. The copy is the caller's; nothing to free. Statuses:
 * `AOF_ERR_NULL_ARG` (`log`, `out_len`, or `buf` with `buf_len > 0`), `AOF_ERR_CLOSED`,
 * `AOF_ERR_INVALID_ARG` (not a log handle), `AOF_ERR_BUFFER_TOO_SMALL`.
 *
 * # Safety
 * `buf` must be NULL or point to `buf_len` writable bytes; `out_len` NULL or writable.
 */
aof_status_t aof_last_tier_error(const struct aof_log_t *log,
                                 char *buf,
                                 size_t buf_len,
                                 size_t *out_len);

/**
 * Stores the highest durable id in `*out_id` (0: none yet).
 *
 * # Safety
 * `out_id` must be NULL or writable.
 */
aof_status_t aof_durable_id(const struct aof_log_t *log, uint64_t *out_id);

/**
 * Stores the highest appended id in `*out_id` (0: the log is empty). With
 * `AOF_VISIBILITY_DURABLE` this may be above what readers can see yet.
 *
 * # Safety
 * `out_id` must be NULL or writable.
 */
aof_status_t aof_last_id(const struct aof_log_t *log, uint64_t *out_id);

/**
 * Copies record `id` into `buf` (`buf_len` bytes), stores its length in `*out_len` and,
 * if `out_timestamp_us` is not NULL, its append time (microseconds since the Unix epoch).
 * `buf` may be NULL only if `buf_len` is 0. If the record is longer than `buf_len`, returns
 * `AOF_ERR_BUFFER_TOO_SMALL` and stores the needed size in `*out_len` (the one out-param
 * written on failure; `buf` and `*out_timestamp_us` are untouched), so a caller can size a
 * buffer with `buf_len = 0` first. A record that does not exist or is not visible yet:
 * `AOF_ERR_NOT_FOUND`. Also `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`, `AOF_ERR_CLOSED`.
 *
 * # Safety
 * `buf` must be NULL or point to `buf_len` writable bytes; `out_len` NULL or writable;
 * `out_timestamp_us` NULL or writable.
 */
aof_status_t aof_read(const struct aof_log_t *log,
                      uint64_t id,
                      uint8_t *buf,
                      size_t buf_len,
                      size_t *out_len,
                      uint64_t *out_timestamp_us);

/**
 * Reads every record written to the segment files and checks its checksum and framing
 * (and every sealed segment's footer). On success stores the number of records checked in
 * `*out_records` (if not NULL). Under a background flush policy, records still waiting in
 * the write buffer are not checked: call `aof_flush` first to include them. Damage:
 * `AOF_ERR_CORRUPTION` (the last-error message names the file and offset). Also
 * `AOF_ERR_IO`, `AOF_ERR_CLOSED`.
 *
 * # Safety
 * `out_records` must be NULL or writable.
 */
aof_status_t aof_verify(const struct aof_log_t *log, uint64_t *out_records);

/**
 * Opens a cursor on `log`, starting at `start_id`: `AOF_START_OLDEST`,
 * `AOF_START_NEWEST`, `AOF_START_END` or a record id (from the oldest id up to one past the
 * newest). On success `*out_cursor` owns a new cursor, to be freed with `aof_cursor_free`
 * (before or after `aof_close`). An id outside that range: `AOF_ERR_NOT_FOUND`. Also
 * `AOF_ERR_CLOSED`.
 *
 * # Safety
 * `out_cursor` must be NULL or valid for a write of a pointer.
 */
aof_status_t aof_cursor_open(struct aof_log_t *log,
                             uint64_t start_id,
                             struct aof_cursor_t **out_cursor);

/**
 * Moves to the next record and describes it in `*out_record`: `AOF_OK`; or `AOF_END` when
 * there is no further visible record yet (`*out_record` untouched; more may come: see
 * `aof_cursor_wait`). The record's `data` is valid until the next call on this cursor or
 * its free, even if the log is closed in between. Errors: `AOF_ERR_CLOSED` (the log was
 * closed), `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`.
 *
 * # Safety
 * `cursor` must be NULL or a live cursor not used by another thread during the call;
 * `out_record` NULL or writable.
 */
aof_status_t aof_cursor_next(struct aof_cursor_t *cursor, struct aof_record_t *out_record);

/**
 * Opens a cursor on `log` at byte position `position`: its first record is the first
 * record at or after that position (as `aof_id_at_position` says: the record whose payload
 * holds the byte at `position`, else the first record starting at or after it, so records
 * of 0 bytes at `position` come first). `position` may be anything from the oldest
 * record's position to the end of the visible records (`aof_position_range`); at the end
 * the cursor sees only records appended later. Past that end: `AOF_ERR_NOT_FOUND`; before
 * its start (removed by retention or `aof_truncate_before`): `AOF_ERR_TRUNCATED`.
 * Otherwise as `aof_cursor_open`: on success `*out_cursor` owns a new cursor, freed with
 * `aof_cursor_free`, used by one thread at a time. Also `AOF_ERR_CLOSED`,
 * `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`.
 *
 * # Safety
 * `out_cursor` must be NULL or valid for a write of a pointer.
 */
aof_status_t aof_cursor_open_at_position(struct aof_log_t *log,
                                         uint64_t position,
                                         struct aof_cursor_t **out_cursor);

/**
 * As `aof_cursor_next`, and also gives the record's byte position: fills `*out` (an
 * `aof_record_ex_t`), a struct that only grows. Pass `out_size = sizeof(aof_record_ex_t)`
 * as your program was compiled: a library newer than the header fills only the fields
 * the program knows; an older one fills those it has and sets the rest of `out_size` to
 * 0. `out_size` below the size of the first version (40 bytes on 64-bit targets):
 * `AOF_ERR_INVALID_ARG`, checked after the cursor (a cursor of a closed log gives
 * `AOF_ERR_CLOSED` first). `AOF_END` leaves `*out` untouched. The record's `data` is
 * borrowed as with `aof_cursor_next`: valid until the next call on this cursor or its
 * free. `aof_cursor_next` and `aof_cursor_next_ex` may be mixed on one cursor.
 *
 * # Safety
 * `cursor` must be NULL or a live cursor not used by another thread during the call;
 * `out` NULL or pointing to `out_size` writable bytes.
 */
aof_status_t aof_cursor_next_ex(struct aof_cursor_t *cursor,
                                struct aof_record_ex_t *out,
                                size_t out_size);

/**
 * Waits until `aof_cursor_next` has a record: `AOF_OK` at once if one is already visible,
 * else when an append (or, with `AOF_VISIBILITY_DURABLE`, a sync) makes one visible;
 * `AOF_TIMED_OUT` after `timeout_ms` milliseconds (0: just check; `UINT32_MAX`: no limit).
 * Also `AOF_ERR_CLOSED` (including when the log is closed during the wait),
 * `AOF_ERR_MISUSE`. Invalidates the `data` of the cursor's previous record.
 *
 * # Safety
 * `cursor` must be NULL or a live cursor not used by another thread during the call.
 */
aof_status_t aof_cursor_wait(struct aof_cursor_t *cursor, uint32_t timeout_ms);

/**
 * Makes `aof_cursor_wait` busy-poll for up to `spin_us` microseconds before it sleeps.
 * Trades a core (spinning at 100 % while it polls) for wake-up latency: a record that
 * lands during the spin is seen within a few microseconds instead of after the wake-up of
 * a sleeping thread (tens of microseconds or more). Useful when records arrive more often
 * than the spin, so the reader is usually polling when one lands. 0 (the default) never
 * spins. The spin never outlasts the wait's timeout, and closing the log still ends a
 * spinning wait. `spin_us` above `AOF_CURSOR_MAX_SPIN_US`: `AOF_ERR_INVALID_ARG`, the
 * spin unchanged. Also `AOF_ERR_CLOSED`. Does not invalidate the cursor's last record.
 *
 * # Safety
 * `cursor` must be NULL or a live cursor not used by another thread during the call.
 */
aof_status_t aof_cursor_set_spin(struct aof_cursor_t *cursor, uint32_t spin_us);

/**
 * Frees a cursor. NULL is a no-op. Fine before or after its log is closed. The cursor and
 * the `data` of its last record must not be used afterwards.
 *
 * # Safety
 * `cursor` must be NULL or a cursor from `aof_cursor_open` or
 * `aof_cursor_open_at_position` that was not freed yet.
 */
void aof_cursor_free(struct aof_cursor_t *cursor);

/**
 * Stores the byte position of record `id` in `*out_position`: the payload bytes the log
 * held before it (removed records included). Any id `aof_read` can read; as with it, an id
 * not appended or not visible yet gives `AOF_ERR_NOT_FOUND`, a removed one
 * `AOF_ERR_TRUNCATED`. Also `AOF_ERR_CLOSED`, `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`. The log
 * handle may be shared by threads, as for every log call.
 *
 * # Safety
 * `out_position` must be NULL or writable.
 */
aof_status_t aof_position_of(const struct aof_log_t *log, uint64_t id, uint64_t *out_position);

/**
 * Stores in `*out_id` the id of the first record at or after byte position `position`:
 * the record whose payload holds the byte at `position`; else the first record starting
 * at or after it. So records of 0 bytes at `position` come before the record that starts
 * there (they share its position), and `aof_id_at_position(aof_position_of(id))` is `id`
 * unless `id` follows records of 0 bytes at the same position. At the end of the visible
 * records: the id the next record will get. O(log n). A position past the end of
 * `aof_position_range`: `AOF_ERR_NOT_FOUND`; before its start (removed by retention or
 * `aof_truncate_before`): `AOF_ERR_TRUNCATED`. Also `AOF_ERR_CLOSED`,
 * `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`.
 *
 * # Safety
 * `out_id` must be NULL or writable.
 */
aof_status_t aof_id_at_position(const struct aof_log_t *log, uint64_t position, uint64_t *out_id);

/**
 * Stores the byte positions the log holds: `*out_first`, the position of the oldest
 * record held (0 until retention or `aof_truncate_before` removes records; the position of
 * the first id `aof_bounds` gives), and `*out_end`, the end of the visible
 * records (the payload bytes appended so far, once visible). Cursors and streams open at
 * any position from `*out_first` to `*out_end`, both included. Also `AOF_ERR_CLOSED`,
 * `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`.
 *
 * # Safety
 * `out_first` and `out_end` must be NULL or writable.
 */
aof_status_t aof_position_range(const struct aof_log_t *log,
                                uint64_t *out_first,
                                uint64_t *out_end);

/**
 * Opens a byte stream over the payloads of `log`, at byte position `position` (from the
 * oldest record's position to the end of the visible records, as `aof_position_range`
 * gives; past the end: `AOF_ERR_NOT_FOUND`, before the start: `AOF_ERR_TRUNCATED`). It
 * sees every record appended before it was opened, and later ones as they become visible.
 * On success `*out_stream` owns a new stream, to be freed with `aof_stream_free` (before
 * or after `aof_close`); one thread at a time. Also `AOF_ERR_CLOSED`,
 * `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`.
 *
 * # Safety
 * `out_stream` must be NULL or valid for a write of a pointer.
 */
aof_status_t aof_stream_open(struct aof_log_t *log,
                             uint64_t position,
                             struct aof_stream_t **out_stream);

/**
 * Copies up to `cap` bytes of payload from the stream's position into `buf`, across
 * record boundaries, stores how many in `*out_len` and moves the position past them:
 * `AOF_OK` with `*out_len` between 1 and `cap` (below `cap` only when the visible records
 * end first). `AOF_END` when no byte is visible at the position yet (the end of the
 * visible records, or past it after `aof_stream_seek`): `*out_len` untouched; a later
 * read returns what is appended meanwhile. `cap` of 0: `AOF_ERR_INVALID_ARG` (after the
 * stream's log is checked; `buf` may then be NULL). Records removed by retention or
 * `aof_truncate_before` before the stream reached them: `AOF_ERR_TRUNCATED` (the record
 * the stream is in stays readable to its end: the stream keeps its segment mapped); the
 * bytes read before an error are returned first, the error by the next call. Also
 * `AOF_ERR_CLOSED`, `AOF_ERR_CORRUPTION`, `AOF_ERR_IO`.
 *
 * # Safety
 * `stream` must be NULL or a live stream not used by another thread during the call; `buf`
 * NULL or pointing to `cap` writable bytes; `out_len` NULL or writable.
 */
aof_status_t aof_stream_read(struct aof_stream_t *stream,
                             uint8_t *buf,
                             size_t cap,
                             size_t *out_len);

/**
 * Moves the stream to byte position `position`: anywhere from the oldest record's
 * position on, past the end of the visible records included (reads there return
 * `AOF_END` until the log grows that far, as with a file). Below the oldest record held:
 * `AOF_ERR_TRUNCATED` (the position is unchanged). Also `AOF_ERR_CLOSED`.
 *
 * # Safety
 * `stream` must be NULL or a live stream not used by another thread during the call.
 */
aof_status_t aof_stream_seek(struct aof_stream_t *stream, uint64_t position);

/**
 * Stores the stream's position (of the next byte `aof_stream_read` returns) in
 * `*out_position`. Also `AOF_ERR_CLOSED`.
 *
 * # Safety
 * `stream` must be NULL or a live stream not used by another thread during the call;
 * `out_position` NULL or writable.
 */
aof_status_t aof_stream_position(const struct aof_stream_t *stream, uint64_t *out_position);

/**
 * Frees a stream. NULL is a no-op. Fine before or after its log is closed. The stream
 * must not be used afterwards.
 *
 * # Safety
 * `stream` must be NULL or a stream from `aof_stream_open` that was not freed yet.
 */
void aof_stream_free(struct aof_stream_t *stream);

/**
 * Creates a completion queue to poll: `aof_cq_poll` takes completions, and `aof_cq_fd`
 * gives an eventfd that is readable while completions wait (for epoll, poll, an event
 * loop). Attach it to logs with `aof_log_set_completion_queue`. On success `*out_cq`
 * receives a new handle, to be freed with `aof_completion_queue_free`. Statuses:
 * `AOF_ERR_NULL_ARG`, `AOF_ERR_IO` (no eventfd: out of descriptors).
 *
 * # Safety
 * `out_cq` must be NULL or valid for a write of a pointer.
 */
aof_status_t aof_completion_queue_new(struct aof_completion_queue_t **out_cq);

/**
 * Creates a completion queue that hands completions to `callback` instead of being
 * polled (`aof_cq_poll` and `aof_cq_fd` return `AOF_ERR_INVALID_ARG` for it). Attach it
 * to logs with `aof_log_set_completion_queue`. On success `*out_cq` receives a new
 * handle, to be freed with `aof_completion_queue_free`.
 *
 * The callback runs on a dispatcher thread the queue owns (one per queue, started here,
 * joined by `aof_completion_queue_free`), never on libaof's runtime threads nor on the
 * thread whose sync made the records durable. It gets batches of 1 to 256 completions
 * in the order they were posted (each log's in id order), one call at a time; the array
 * is valid only during the call. `ctx` (may be NULL) is passed to every call as is, and
 * used from the dispatcher thread only: it must be safe to use there. While the callback
 * runs, later completions of every log on the queue wait: a slow callback delays them,
 * never the appends (which only the in-flight bound of `aof_options_set_async_limits`
 * holds back, as completions are counted when posted, not when delivered). It must
 * return normally: no C++ exception, `longjmp` or thread exit may leave it. It may call
 * libaof, `aof_append_async`, `aof_close` and `aof_completion_queue_free` of another
 * queue included, but not free its own queue (`AOF_ERR_MISUSE`). Statuses:
 * `AOF_ERR_NULL_ARG` (`callback`, `out_cq`), `AOF_ERR_INTERNAL` (the thread could not be
 * started).
 *
 * # Safety
 * `callback` must be NULL or a function of this signature that stays callable until
 * `aof_completion_queue_free` returns; `out_cq` NULL or valid for a write of a pointer.
 */
aof_status_t aof_completion_queue_new_callback(aof_completion_fn callback,
                                               void *ctx,
                                               struct aof_completion_queue_t **out_cq);

/**
 * Frees a completion queue. NULL is a no-op returning `AOF_OK`. Refused with
 * `AOF_ERR_BUSY` while an open log is attached to it (the handle stays valid): close
 * the log (`aof_close` detaches it once every completion of the log is posted) or
 * detach it with `aof_log_set_completion_queue(log, NULL)` first. Completions not taken
 * yet are dropped with a polled queue; a callback queue delivers them to its callback
 * and joins its dispatcher thread before this returns, so the callback and `ctx` are not
 * used afterwards. From the queue's own callback: `AOF_ERR_MISUSE` (it cannot join the
 * thread it runs on). Later calls with the handle return `AOF_ERR_CLOSED`. Do not free
 * a queue while another thread waits in `aof_cq_poll` on it: that wait lasts its
 * timeout (nothing is freed under it). Statuses: `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG`
 * (not a queue handle), `AOF_ERR_BUSY`, `AOF_ERR_MISUSE`.
 */
aof_status_t aof_completion_queue_free(struct aof_completion_queue_t *cq);

/**
 * Attaches the completion queue `cq` to the log: `aof_append_async` on the log posts its
 * completions there, with `log` set to this handle. NULL `cq` detaches the log's queue
 * (then `aof_append_async` fails until another is attached). Replaces a queue attached
 * before. Any number of logs, of any manager or opened alone, may share a queue; their
 * completions interleave, each log's in id order. Refused with `AOF_ERR_INVALID_ARG`
 * while asynchronous appends of the log are in flight (their completions go to the queue
 * they were made for; wait for them, or `aof_flush`, then poll). `aof_close` detaches
 * the queue once every completion of the log is posted. Statuses: `AOF_ERR_NULL_ARG`
 * (`log`), `AOF_ERR_CLOSED` (the log closed, or the queue freed), `AOF_ERR_INVALID_ARG`
 * (not a log or not a queue handle; appends in flight).
 */
aof_status_t aof_log_set_completion_queue(struct aof_log_t *log, struct aof_completion_queue_t *cq);

/**
 * Appends one record of `len` bytes now and returns at once: its id goes to `*out_id`
 * (if not NULL), and the record is visible to readers as `aof_append`'s would be (per
 * `aof_options_set_visibility`). Its durability is reported later by exactly one
 * completion on the log's queue (`aof_log_set_completion_queue`), with `user_data`
 * (any value, NULL included; never dereferenced) handed back as is: one for every call
 * that returned `AOF_OK`, none for a call that failed. Completions of one log arrive in
 * id order, whatever the flush policy (they follow its syncs; under `AOF_FLUSH_SYNC`
 * libaof syncs in the background, one `fdatasync` for all the appends waiting). `data`
 * may be NULL only if `len` is 0. Past the in-flight bound of
 * `aof_options_set_async_limits` the call waits for room (asking for a sync), up to the
 * bound's wait, then fails with `AOF_ERR_WOULD_BLOCK`, having appended nothing. Statuses:
 * `AOF_ERR_NULL_ARG` (`log`, or NULL `data` with `len > 0`), `AOF_ERR_CLOSED`,
 * `AOF_ERR_INVALID_ARG` (not a log handle; no queue attached), `AOF_ERR_TOO_LARGE`
 * (nothing written), `AOF_ERR_WOULD_BLOCK`, `AOF_ERR_POISONED`, `AOF_ERR_IO`,
 * `AOF_ERR_NO_SPACE`.
 *
 * # Safety
 * `data` must be NULL or point to `len` readable bytes; `out_id` NULL or writable.
 */
aof_status_t aof_append_async(struct aof_log_t *log,
                              const uint8_t *data,
                              size_t len,
                              void *user_data,
                              uint64_t *out_id);

/**
 * Moves up to `max` completions into `out[0..*out_count]`, in posting order (each log's
 * in id order), waiting up to `timeout_ms` milliseconds for the first (0: does not wait;
 * `UINT32_MAX`: no limit, as in `aof_sync_until`). Returns `AOF_OK` with `*out_count`
 * from 1 to `max`, or `AOF_TIMED_OUT` with `*out_count` set to 0 (the one status besides
 * `AOF_OK` that writes it) and `out` untouched. Every completion is taken by exactly one
 * poll, also when several threads poll one queue. `out` may be NULL only when `max` is 0,
 * which is itself `AOF_ERR_INVALID_ARG` (checked after the handle, like every value).
 * Statuses: `AOF_ERR_NULL_ARG` (`cq`, `out_count`, `out` with `max > 0`),
 * `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG` (not a queue handle; a callback queue; `max`
 * of 0).
 *
 * # Safety
 * `out` must be NULL or point to `max` writable `aof_completion_t`; `out_count` NULL or
 * writable.
 */
aof_status_t aof_cq_poll(struct aof_completion_queue_t *cq,
                         struct aof_completion_t *out,
                         size_t max,
                         uint32_t timeout_ms,
                         size_t *out_count);

/**
 * Stores in `*out_fd` the queue's eventfd: readable while completions wait in the queue,
 * for epoll, poll or an event loop. On each wake-up drain the queue with `aof_cq_poll`
 * (timeout 0) until it returns `AOF_TIMED_OUT`: the descriptor stays readable until a
 * poll empties the queue (and becomes readable again when a completion is posted to an
 * empty queue), so a level-triggered wait sees it again if completions are left, and an
 * edge-triggered one may not. Owned by the queue: never read, write or close it; valid
 * until `aof_completion_queue_free`. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED`,
 * `AOF_ERR_INVALID_ARG` (not a queue handle; a callback queue, which has none).
 *
 * # Safety
 * `out_fd` must be NULL or writable.
 */
aof_status_t aof_cq_fd(const struct aof_completion_queue_t *cq, int *out_fd);

/**
 * Copies a snapshot of the log's counters into `*out`. Pass `out_size =
 * sizeof(aof_metrics_t)` as your program was compiled: a library newer than the header
 * fills only the fields the program knows; an older one fills those it has and sets the
 * rest of `out_size` to 0. `out_size` below the first version's size (120 bytes) or not a
 * multiple of 8: `AOF_ERR_INVALID_ARG`. Also `AOF_ERR_CLOSED`.
 *
 * # Safety
 * `out` must be NULL or point to `out_size` writable bytes.
 */
aof_status_t aof_metrics(const struct aof_log_t *log, struct aof_metrics_t *out, size_t out_size);

/**
 * Renders the log's metrics in the Prometheus text exposition format (version 0.0.4) into
 * `buf`, NUL-terminated, for a host program to serve on its own `/metrics` endpoint. Every
 * sample has a `log` label: the log's name under a manager, else its directory. Counters
 * are `aof_<field>_total`, gauges `aof_<field>`; each distribution is a summary
 * (`quantile` 0 = min, 0.5, 0.9, 0.99, 0.999, 1 = max, plus `_sum` and `_count`), in
 * seconds for the `*_ns` ones. `*out_len` receives the bytes needed, NUL included, whether
 * or not they fit; `AOF_ERR_BUFFER_TOO_SMALL` if they do not (call again with a larger
 * buffer; a few more bytes may be needed by then as values grow). `buf` may be NULL with
 * `buf_len` 0 to ask for the size. Statuses: `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED`,
 * `AOF_ERR_INVALID_ARG` (not a log handle), `AOF_ERR_BUFFER_TOO_SMALL`.
 *
 * # Safety
 * `buf` must be NULL or point to `buf_len` writable bytes; `out_len` NULL or writable.
 */
aof_status_t aof_metrics_prometheus(const struct aof_log_t *log,
                                    char *buf,
                                    size_t buf_len,
                                    size_t *out_len);

/**
 * Forgets the log's distributions (every `*_count` ... `*_max` field except the archive's,
 * which belong to its manager), so that the next snapshot reports the interval since
 * this call. Counters are never reset: take differences between snapshots. Statuses:
 * `AOF_ERR_NULL_ARG`, `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG`.
 */
aof_status_t aof_metrics_reset(struct aof_log_t *log);

/**
 * The number of `uint64_t` fields of `aof_metrics_t` this library fills (its size is 8
 * times that): a binding may size its buffer from it and name the fields with
 * `aof_metrics_field_name`, without a copy of the struct.
 */
size_t aof_metrics_field_count(void);

/**
 * The name of field `index` of `aof_metrics_t` (its C identifier, e.g. `"appends"`), a
 * static NUL-terminated string; NULL if `index` is not below `aof_metrics_field_count()`.
 */
const char *aof_metrics_field_name(size_t index);

/**
 * Creates manager options with the defaults: 2 worker threads, at most 32 blocking
 * threads. On success `*out_options` owns a new handle; free it with
 * `aof_manager_options_free`.
 *
 * # Safety
 * `out_options` must be NULL or valid for a write of a pointer.
 */
aof_status_t aof_manager_options_new(struct aof_manager_options_t **out_options);

/**
 * Frees manager options. NULL is a no-op. Managers opened with them are not affected
 * (`aof_manager_open` copies them).
 *
 * # Safety
 * `options` must be NULL or a handle from `aof_manager_options_new` not freed yet.
 */
void aof_manager_options_free(struct aof_manager_options_t *options);

/**
 * Sets the number of async worker threads of the manager's runtime: 1 up to
 * `AOF_MANAGER_MAX_THREADS` (1024). Default 2. They run the logs' background tasks
 * (timers, wake-ups), never blocking file I/O. Out of range: `AOF_ERR_INVALID_ARG`,
 * options unchanged.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_manager_options_new`.
 */
aof_status_t aof_manager_options_set_worker_threads(struct aof_manager_options_t *options,
                                                    uint32_t threads);

/**
 * Sets the most threads the manager's blocking pool may run at once: 1 up to
 * `AOF_MANAGER_MAX_THREADS` (1024). Default 32. The pool runs the background file I/O of
 * every log (write-outs and syncs of the background flush policies, zero-ahead, segment
 * pre-allocation); its threads start on demand and end after 10 s idle. Out of range:
 * `AOF_ERR_INVALID_ARG`, options unchanged.
 *
 * # Safety
 * `options` must be NULL or a live handle from `aof_manager_options_new`.
 */
aof_status_t aof_manager_options_set_max_blocking_threads(struct aof_manager_options_t *options,
                                                          uint32_t threads);

/**
 * Opens the manager of directory `root`, creating the directory (not its parents) if it
 * is missing, and finishes any drop a crash interrupted (see `aof_manager_drop_log`).
 * `options` may be NULL for the defaults; they are copied. It starts the manager's
 * runtime: `worker_threads` threads at once, blocking threads on demand up to
 * `max_blocking_threads`; that is every thread the manager and all its logs use,
 * whatever the number of logs. On success `*out_manager` receives a new handle, to be
 * closed with `aof_manager_close`; on failure it is left untouched. Statuses:
 * `AOF_ERR_NULL_ARG` (`root` or `out_manager`), `AOF_ERR_INVALID_ARG` (empty `root`),
 * `AOF_ERR_BUSY` (another manager, in this process or another, has `root` open),
 * `AOF_ERR_IO` (also: `root` is a file or its parent is missing), `AOF_ERR_NO_SPACE`,
 * `AOF_ERR_MISUSE`, `AOF_ERR_REMOTE` (the directory of a filesystem archive cannot be
 * created, or the S3 client cannot be set up).
 *
 * # Safety
 * `root` must be NULL or a NUL-terminated string; `options` NULL or a live options
 * handle; `out_manager` NULL or valid for a write of a pointer.
 */
aof_status_t aof_manager_open(const char *root,
                              const struct aof_manager_options_t *options,
                              struct aof_manager_t **out_manager);

/**
 * Opens (creating if needed) the log `name` in the subdirectory `<root>/<name>`, on the
 * manager's runtime; recovery is as for `aof_open`. `options` may be NULL for the
 * defaults; they are copied. A name is 1 to `AOF_MANAGER_MAX_NAME_LEN` (200) bytes of
 * UTF-8 without `/`, control characters or a leading `.` (so neither `.` nor `..`; names
 * starting with a dot are the manager's own). On success `*out_log` receives an ordinary
 * log handle: use it with every `aof_*` log call, from any thread, and release it with
 * `aof_close` (before or after `aof_manager_close`). On failure `*out_log` is untouched.
 *
 * An open log holds one file descriptor for its `LOCK` and one per segment file, plus one
 * once zero-ahead has run on its active segment and one while the next segment is being
 * pre-allocated: an idle log of one or two segments holds 2 or 3. Mind `RLIMIT_NOFILE`
 * when opening many logs. A log has no thread of its own. An idle log costs about 5 KiB
 * of private memory plus 12 KiB per 64 MiB of segment capacity (offset-index tables:
 * ~17 KiB for a one-segment log with the default options), and keeps about 64 KiB of
 * page cache mapped (shared and reclaimable, not private); measured by the bench's
 * `manager` cell, see docs/C_API.md.
 *
 * Statuses: `AOF_ERR_NULL_ARG` (`manager`, `name` or `out_log`), `AOF_ERR_CLOSED`,
 * `AOF_ERR_INVALID_ARG` (a bad name, inconsistent options, not a manager handle),
 * `AOF_ERR_BUSY` (the log is open already, in this process or another, or another
 * thread is opening or dropping it), `AOF_ERR_IO` (also: out of file descriptors),
 * `AOF_ERR_NO_SPACE`, `AOF_ERR_CORRUPTION`, `AOF_ERR_MISUSE`.
 *
 * # Safety
 * `name` must be NULL or a NUL-terminated string; `options` NULL or a live options
 * handle; `out_log` NULL or valid for a write of a pointer.
 */
aof_status_t aof_manager_open_log(struct aof_manager_t *manager,
                                  const char *name,
                                  const struct aof_options_t *options,
                                  struct aof_log_t **out_log);

/**
 * Lists the logs under the manager's root, open or not, sorted bytewise, into `buf`:
 * each name followed by a NUL, then one more NUL (`"a\0b\0\0"`; no logs: `"\0"`).
 * `*out_len` receives the bytes written, final NUL included. If they do not fit in
 * `buf_len` bytes, returns `AOF_ERR_BUFFER_TOO_SMALL` with the size needed in `*out_len`
 * (the one out-param written on failure; `buf` is untouched): call with `buf_len = 0`
 * (and `buf` NULL) to size a buffer, and again if logs were created meanwhile. `buf` may
 * be NULL only if `buf_len` is 0. Statuses: `AOF_ERR_NULL_ARG` (`manager`, `out_len`, or
 * `buf` with `buf_len > 0`), `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG` (not a manager
 * handle), `AOF_ERR_BUFFER_TOO_SMALL`, `AOF_ERR_IO`.
 *
 * # Safety
 * `buf` must be NULL or point to `buf_len` writable bytes; `out_len` NULL or writable.
 */
aof_status_t aof_manager_list(const struct aof_manager_t *manager,
                              char *buf,
                              size_t buf_len,
                              size_t *out_len);

/**
 * Drops the log `name` for good: its directory and every record in it. The log must be
 * closed (`aof_close`). Durable and crash-safe: when this returns `AOF_OK` the log is
 * gone, and a crash during the call leaves either the whole log under its name or
 * nothing under its name (the directory is first renamed to a reserved name and only
 * then emptied; the next `aof_manager_open` removes what a crash left; docs/FORMAT.md
 * gives the steps). If a step after the rename fails, the log is already gone under its
 * name and the error is returned; the rest is removed by the next drop of that name or
 * the next `aof_manager_open`. Statuses: `AOF_ERR_NULL_ARG` (`manager`, `name`),
 * `AOF_ERR_CLOSED`, `AOF_ERR_INVALID_ARG` (a bad name, not a manager handle),
 * `AOF_ERR_NO_SUCH_LOG`, `AOF_ERR_BUSY` (the log is open, in this process or another, or
 * another thread is opening or dropping it), `AOF_ERR_IO`, `AOF_ERR_MISUSE`.
 *
 * # Safety
 * `name` must be NULL or a NUL-terminated string.
 */
aof_status_t aof_manager_drop_log(struct aof_manager_t *manager, const char *name);

/**
 * Renders the metrics of every log the manager has open in the Prometheus text
 * exposition format, NUL-terminated: each metric family once, one sample per log with its
 * name as the `log` label (the format is as for `aof_metrics_prometheus`). Size and
 * statuses as for `aof_metrics_prometheus`, with a manager handle.
 *
 * # Safety
 * `buf` must be NULL or point to `buf_len` writable bytes; `out_len` NULL or writable.
 */
aof_status_t aof_manager_metrics_prometheus(const struct aof_manager_t *manager,
                                            char *buf,
                                            size_t buf_len,
                                            size_t *out_len);

/**
 * Closes the manager. Every log it opened that is still open is closed first, as by
 * `aof_close` (written, synced, marked clean): their handles stay valid, their calls
 * return `AOF_ERR_CLOSED` from then on, and each must still be released with
 * `aof_close` (which then returns `AOF_OK`). Opens and drops running on other threads
 * finish first. Then the root is released and the manager's threads stop. NULL is a
 * no-op returning `AOF_OK`. The handle is invalid afterwards whatever the status, which
 * is the first error of a log's close (`AOF_ERR_IO`, `AOF_ERR_NO_SPACE`,
 * `AOF_ERR_POISONED`; every log is closed anyway). Later calls with the handle, a second
 * `aof_manager_close` included, return `AOF_ERR_CLOSED`; calls running concurrently on
 * other threads finish or fail with `AOF_ERR_CLOSED`. Not a handle:
 * `AOF_ERR_INVALID_ARG`. From a libaof thread: `AOF_ERR_MISUSE` (nothing closed).
 */
aof_status_t aof_manager_close(struct aof_manager_t *manager);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* AOF_H */
