/* Built by `make install-test` against the installed libaof, once with the shared library
 * (`pkg-config --libs aof`) and once with the static one (`pkg-config --libs aof-static`):
 * a program that defines, for its own use, functions and variables under names that
 * libaof's dependencies use inside the library (crc64fast-nvme's C API `digest_*`,
 * crc-fast's `crc_fast_checksum`, zstd's `ZSTD_*`, libmdbx's `mdbx_*` and `globals`,
 * zstd's `g_debuglevel`). libaof exports only `aof_*`, so
 * - both builds link (a static library exporting these names would make the link fail
 *   with "multiple definition of `digest_new'"), and
 * - the program's definitions never replace libaof's own: a log that checksums, keeps a
 *   libmdbx catalogue and compresses with zstd works, and none of the program's
 *   functions is called by libaof (each counts its calls).
 * argv[1]: a directory for the log (created). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aof.h>

/* --- the program's own definitions ---------------------------------------------------- */

static unsigned calls; /* calls of the functions below, by anyone */

struct digest {
    uint64_t sum;
};

void *digest_new(void);
void digest_write(void *digest, const char *data, size_t len);
uint64_t digest_sum64(const void *digest);
void digest_free(void *digest);
uint32_t crc_fast_checksum(const char *data, size_t len);
size_t ZSTD_compress2(void);
size_t ZSTD_decompressDCtx(void);
size_t ZSTD_compressBound(size_t len);
int mdbx_env_open(void);
int mdbx_put(void);

void *digest_new(void) {
    calls++;
    struct digest *d = malloc(sizeof *d);
    if (d != NULL) {
        d->sum = 0;
    }
    return d;
}

/* Not a CRC: the sum of the bytes. */
void digest_write(void *digest, const char *data, size_t len) {
    calls++;
    struct digest *d = digest;
    for (size_t i = 0; i < len; i++) {
        d->sum += (unsigned char)data[i];
    }
}

uint64_t digest_sum64(const void *digest) {
    calls++;
    return ((const struct digest *)digest)->sum;
}

void digest_free(void *digest) {
    calls++;
    free(digest);
}

uint32_t crc_fast_checksum(const char *data, size_t len) {
    calls++;
    (void)data;
    return (uint32_t)len;
}

size_t ZSTD_compress2(void) {
    calls++;
    return 0;
}

size_t ZSTD_decompressDCtx(void) {
    calls++;
    return 0;
}

size_t ZSTD_compressBound(size_t len) {
    calls++;
    return len;
}

int mdbx_env_open(void) {
    calls++;
    return -1;
}

int mdbx_put(void) {
    calls++;
    return -1;
}

int globals = 7;
int g_debuglevel = 3;

/* --- the test --------------------------------------------------------------------------- */

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

#define CHECK_OK(expr)                                                                  \
    do {                                                                                \
        int32_t s_ = (expr);                                                            \
        if (s_ != AOF_OK) {                                                             \
            fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #expr,          \
                    aof_errstr(s_), aof_last_error_message());                          \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

enum { RECORDS = 400, RECORD_LEN = 1000 };

static void fill(uint8_t *buf, unsigned i) {
    /* Compressible, and different for every record. */
    int n = snprintf((char *)buf, RECORD_LEN, "{\"record\": %u, \"text\": \"", i);
    for (int j = n; j < RECORD_LEN - 2; j++) {
        buf[j] = (uint8_t)('a' + (i + (unsigned)j / 16) % 26);
    }
    buf[RECORD_LEN - 2] = '"';
    buf[RECORD_LEN - 1] = '}';
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }

    /* 1. The program's names are the program's. */
    void *d = digest_new();
    CHECK(d != NULL);
    digest_write(d, "abc", 3);
    CHECK(digest_sum64(d) == 'a' + 'b' + 'c');
    digest_free(d);
    CHECK(crc_fast_checksum("12345", 5) == 5);
    CHECK(ZSTD_compress2() == 0 && ZSTD_decompressDCtx() == 0 && ZSTD_compressBound(9) == 9);
    CHECK(mdbx_env_open() == -1 && mdbx_put() == -1);
    CHECK(globals == 7 && g_debuglevel == 3);
    const unsigned own_calls = 10;
    CHECK(calls == own_calls);

    /* 2. libaof's are libaof's: records checksummed (CRC-64), segments sealed and
     *    compressed (zstd) and recorded in the catalogue (libmdbx), read back after a
     *    reopen and verified. */
    aof_options_t *opts = NULL;
    CHECK_OK(aof_options_new(&opts));
    CHECK_OK(aof_options_set_segment_size(opts, 64 * 1024));
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(argv[1], opts, &log));
    static uint8_t rec[RECORD_LEN];
    for (unsigned i = 0; i < RECORDS; i++) {
        fill(rec, i);
        uint64_t id = 0;
        CHECK_OK(aof_append(log, rec, sizeof rec, &id));
        CHECK(id == i + 1);
    }
    int32_t sealed = 0;
    CHECK_OK(aof_seal_now(log, &sealed));
    CHECK(sealed == 1);
    uint64_t compressed = 0;
    CHECK_OK(aof_compress_now(log, &compressed));
    CHECK(compressed >= 5); /* 400 KB of records in 64 KiB segments */
    CHECK_OK(aof_close(log));

    log = NULL;
    CHECK_OK(aof_open(argv[1], opts, &log));
    aof_options_free(opts);
    static uint8_t want[RECORD_LEN], got[RECORD_LEN];
    for (unsigned i = 0; i < RECORDS; i++) {
        size_t len = 0;
        CHECK_OK(aof_read(log, i + 1, got, sizeof got, &len, NULL));
        fill(want, i);
        CHECK(len == RECORD_LEN && memcmp(got, want, len) == 0);
    }
    uint64_t verified = 0;
    CHECK_OK(aof_verify(log, &verified));
    CHECK(verified == RECORDS);
    aof_metrics_t m;
    CHECK_OK(aof_metrics(log, &m, sizeof m));
    CHECK(m.recovery_clean_shutdown == 1);
    CHECK_OK(aof_close(log));

    /* None of the program's functions was called by libaof. */
    CHECK(calls == own_calls);
    printf("symbol clash test ok: the program's digest_*, crc_fast_checksum, ZSTD_*, mdbx_*, "
           "globals and g_debuglevel are its own; libaof %s used its own (%u records, "
           "%llu segments compressed)\n",
           aof_version(), (unsigned)RECORDS, (unsigned long long)compressed);
    return 0;
}
