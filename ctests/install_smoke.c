/* Built by `make install-test` against an installed libaof, with only
 * `pkg-config --cflags --libs aof`: proves the installed header, libraries and aof.pc work
 * together. argv[1]: a directory for the log (created). */
#include <stdio.h>
#include <string.h>

#include <aof.h>

#define CHECK_OK(expr)                                                                  \
    do {                                                                                \
        int32_t s_ = (expr);                                                            \
        if (s_ != AOF_OK) {                                                             \
            fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #expr,          \
                    aof_errstr(s_), aof_last_error_message());                          \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    if (strcmp(aof_version(), AOF_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s but library %s\n", AOF_VERSION_STRING, aof_version());
        return 1;
    }
    aof_log_t *log = NULL;
    CHECK_OK(aof_open(argv[1], NULL, &log));
    uint64_t id = 0;
    CHECK_OK(aof_append(log, (const uint8_t *)"installed", 9, &id));
    char buf[16];
    size_t len = 0;
    CHECK_OK(aof_read(log, id, (uint8_t *)buf, sizeof buf, &len, NULL));
    if (len != 9 || memcmp(buf, "installed", 9) != 0) {
        fprintf(stderr, "read back the wrong record\n");
        return 1;
    }
    CHECK_OK(aof_close(log));
    printf("install smoke test ok: libaof %s, record #%llu\n", aof_version(),
           (unsigned long long)id);
    return 0;
}
