// Compiles aof.h as C++ (g++ -std=c++17 -Wall -Wextra -Werror), included twice to check its
// include guard, and checks that the declarations have C linkage and the expected types.
#include "aof.h"
#include "aof.h"

#include <cstddef>
#include <cstdint>
#include <type_traits>

static_assert(std::is_same<aof_status_t, int32_t>::value, "status is int32_t");
static_assert(AOF_OK == 0 && AOF_END == 1 && AOF_TIMED_OUT == 2, "non-error statuses");
static_assert(AOF_ERR_NULL_ARG == -1 && AOF_ERR_MISUSE == -14, "error statuses");
static_assert(AOF_START_END == UINT64_MAX && AOF_START_NEWEST == UINT64_MAX - 1,
              "cursor starts");
static_assert(AOF_CURSOR_MAX_SPIN_US == 1000000u, "cursor spin limit");
static_assert(sizeof(aof_metrics_t) >= 120 && sizeof(aof_metrics_t) % 8 == 0, "metrics");
static_assert(offsetof(aof_record_t, id) == 0, "record layout");
static_assert(std::is_standard_layout<aof_record_t>::value, "record is a C struct");
static_assert(AOF_VERSION_NUMBER == AOF_VERSION_MAJOR * 10000 + AOF_VERSION_MINOR * 100 +
                                        AOF_VERSION_PATCH,
              "version number");

// Exports through pointers of the exact expected types: a mismatch does not compile.
extern "C" {
typedef aof_status_t (*open_fn)(const char *, const aof_options_t *, aof_log_t **);
}
[[maybe_unused]] static const open_fn open_ptr = &aof_open;
[[maybe_unused]] static aof_status_t (*const append_ptr)(aof_log_t *, const uint8_t *, size_t,
                                                         uint64_t *) = &aof_append;
[[maybe_unused]] static aof_status_t (*const batch_ptr)(aof_log_t *, const uint8_t *const *,
                                                        const size_t *, size_t, uint64_t *) =
    &aof_append_batch;
[[maybe_unused]] static aof_status_t (*const read_ptr)(const aof_log_t *, uint64_t, uint8_t *,
                                                       size_t, size_t *, uint64_t *) = &aof_read;
[[maybe_unused]] static aof_status_t (*const next_ptr)(aof_cursor_t *, aof_record_t *) =
    &aof_cursor_next;
[[maybe_unused]] static aof_status_t (*const metrics_ptr)(const aof_log_t *, aof_metrics_t *,
                                                          size_t) = &aof_metrics;
[[maybe_unused]] static const char *(*const errstr_ptr)(aof_status_t) = &aof_errstr;
[[maybe_unused]] static size_t (*const copy_ptr)(char *, size_t) = &aof_last_error_copy;
[[maybe_unused]] static aof_status_t (*const spin_ptr)(aof_cursor_t *, uint32_t) =
    &aof_cursor_set_spin;
[[maybe_unused]] static void (*const free_ptr)(aof_cursor_t *) = &aof_cursor_free;
[[maybe_unused]] static const char *(*const version_ptr)(void) = &aof_version;
