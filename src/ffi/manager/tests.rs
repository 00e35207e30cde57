use std::ptr;

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::ffi::status::{AOF_ERR_CLOSED, AOF_ERR_INVALID_ARG, AOF_ERR_NULL_ARG};
use crate::ffi::tier_options::*;
use crate::tier::cold::Backend;
use crate::tier::shared::CacheOptions;

#[test]
fn options_are_range_checked() {
    let mut o = ptr::null_mut();
    // SAFETY: every call gets the live handle created here, freed at the end.
    unsafe {
        assert_eq!(aof_manager_options_new(&mut o), AOF_OK);
        assert_eq!((*o).inner, ManagerOptions::default());
        assert_eq!(
            aof_manager_options_set_worker_threads(o, 0),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(
            aof_manager_options_set_max_blocking_threads(o, 1025),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!((*o).inner, ManagerOptions::default());
        assert_eq!(aof_manager_options_set_worker_threads(o, 1024), AOF_OK);
        assert_eq!(aof_manager_options_set_max_blocking_threads(o, 1), AOF_OK);
        assert_eq!(
            (*o).inner,
            ManagerOptions {
                worker_threads: 1024,
                max_blocking_threads: 1,
                ..ManagerOptions::default()
            }
        );
        assert_eq!(
            aof_manager_options_set_worker_threads(ptr::null_mut(), 1),
            AOF_ERR_NULL_ARG
        );
        aof_manager_options_free(o);
        aof_manager_options_free(ptr::null_mut());
    }
}

#[test]
fn cache_and_archive_setters() {
    let mut o = ptr::null_mut();
    // SAFETY: every call gets the live handle created here (or NULL), freed at the end;
    // the strings are C literals.
    unsafe {
        assert_eq!(aof_manager_options_new(&mut o), AOF_OK);
        let defaults = CacheOptions::default();
        assert_eq!(
            aof_manager_options_set_cache(o, AOF_CACHE_MIN_BYTES - 1, 1 << 20, 0),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!((*o).inner.cache, defaults);
        assert_eq!(
            aof_manager_options_set_cache(o, AOF_CACHE_MIN_BYTES, 1 << 20, -1),
            AOF_OK
        );
        assert_eq!((*o).inner.cache.wait, None);
        assert_eq!(
            aof_manager_options_set_cache(o, 1 << 20, 1 << 20, 1500),
            AOF_OK
        );
        assert_eq!((*o).inner.cache.wait, Some(Duration::from_millis(1500)));

        // Limits and retries before the archive apply to it, and after it too.
        assert_eq!(aof_manager_options_set_archive_limits(o, 4, 0, -1), AOF_OK);
        assert_eq!(
            aof_manager_options_set_archive_retries(o, 0, 1, 2, 3, 4),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(
            aof_manager_options_set_archive_retries(o, 1, 3, 2, 3, 4),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(
            aof_manager_options_set_archive_retries(o, 1, 1, 2, 0, 4),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(
            aof_manager_options_set_archive_retries(o, 1, 1, 2, 3, 0),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(
            aof_manager_options_set_archive_retries(o, 2, 10, 50, 3, 200),
            AOF_OK
        );
        assert!((*o).inner.archive.is_none());
        assert_eq!(
            aof_manager_options_set_archive_fs(o, c"/tmp/a".as_ptr(), c"/x".as_ptr()),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(
            aof_manager_options_set_archive_fs(o, c"/tmp/a".as_ptr(), c"a//".as_ptr()),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(
            aof_manager_options_set_archive_fs(o, c"".as_ptr(), ptr::null()),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(
            aof_manager_options_set_archive_fs(o, ptr::null(), ptr::null()),
            AOF_ERR_NULL_ARG
        );
        assert!((*o).inner.archive.is_none());
        assert_eq!(
            aof_manager_options_set_archive_fs(o, c"/tmp/a".as_ptr(), c"p/".as_ptr()),
            AOF_OK
        );
        let a = (*o).inner.archive.clone().unwrap();
        assert_eq!(a.backend, Backend::Filesystem(PathBuf::from("/tmp/a")));
        assert_eq!(a.prefix, "p/");
        assert_eq!(a.max_pending_segments, Some(4));
        assert_eq!(a.max_pending_bytes, None);
        assert_eq!(a.backpressure_wait, None);
        assert_eq!(a.remote.max_attempts, 2);
        assert_eq!(a.remote.breaker_probe_interval, Duration::from_millis(200));
        assert_eq!(
            aof_manager_options_set_archive_limits(o, 0, 1 << 30, 250),
            AOF_OK
        );
        let a = (*o).inner.archive.clone().unwrap();
        assert_eq!(a.max_pending_segments, None);
        assert_eq!(a.max_pending_bytes, Some(1 << 30));
        assert_eq!(a.backpressure_wait, Some(Duration::from_millis(250)));
        assert_eq!(a.remote.max_attempts, 2);

        // S3: NULLs, pairs of keys, values.
        let s3 = |endpoint: *const c_char, path_style, ak: *const c_char, sk| {
            aof_manager_options_set_archive_s3(
                o,
                endpoint,
                c"us-east-1".as_ptr(),
                c"bucket".as_ptr(),
                c"cold/".as_ptr(),
                path_style,
                ak,
                sk,
            )
        };
        assert_eq!(
            s3(ptr::null(), 0, c"ak".as_ptr(), ptr::null()),
            AOF_ERR_NULL_ARG
        );
        assert_eq!(
            s3(ptr::null(), 0, ptr::null(), c"sk".as_ptr()),
            AOF_ERR_NULL_ARG
        );
        assert_eq!(
            aof_manager_options_set_archive_s3(
                o,
                ptr::null(),
                ptr::null(),
                c"b".as_ptr(),
                ptr::null(),
                0,
                ptr::null(),
                ptr::null()
            ),
            AOF_ERR_NULL_ARG
        );
        assert_eq!(
            s3(ptr::null(), 2, ptr::null(), ptr::null()),
            AOF_ERR_INVALID_ARG
        );
        let endpoint = c"http://127.0.0.1:9000".as_ptr();
        #[cfg(feature = "s3")]
        {
            assert_eq!(
                s3(c"ftp://x".as_ptr(), 1, ptr::null(), ptr::null()),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                s3(endpoint, 1, c"".as_ptr(), c"sk".as_ptr()),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(
                s3(endpoint, 1, c"\xff".as_ptr(), c"sk".as_ptr()),
                AOF_ERR_INVALID_ARG
            );
            assert_eq!(s3(endpoint, 1, c"ak".as_ptr(), c"sk".as_ptr()), AOF_OK);
            let a = (*o).inner.archive.clone().unwrap();
            let Backend::S3(config) = &a.backend else {
                panic!("{a:?}")
            };
            assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
            assert!(config.path_style);
            assert_eq!(config.credentials, Some(("ak".to_owned(), "sk".to_owned())));
            assert_eq!(a.prefix, "cold/");
            assert_eq!(a.max_pending_bytes, Some(1 << 30));
        }
        #[cfg(not(feature = "s3"))]
        {
            assert_eq!(
                s3(endpoint, 1, ptr::null(), ptr::null()),
                AOF_ERR_INVALID_ARG
            );
            assert!(crate::ffi::error_msg::last().contains("without the `s3` feature"));
        }
        assert_eq!(
            aof_manager_options_set_cache(ptr::null_mut(), 1 << 20, 1 << 20, 0),
            AOF_ERR_NULL_ARG
        );
        assert_eq!(
            aof_manager_options_set_archive_limits(ptr::null_mut(), 0, 0, 0),
            AOF_ERR_NULL_ARG
        );
        assert_eq!(
            aof_manager_options_set_archive_retries(ptr::null_mut(), 1, 0, 0, 1, 1),
            AOF_ERR_NULL_ARG
        );
        aof_manager_options_free(o);
    }
}

#[test]
fn handles_nulls_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let root = std::ffi::CString::new(root.as_os_str().as_bytes()).unwrap();
    let mut m = ptr::null_mut();
    let mut log = ptr::null_mut();
    // SAFETY: valid C strings and writable out-params throughout.
    unsafe {
        assert_eq!(aof_manager_open(root.as_ptr(), ptr::null(), &mut m), AOF_OK);
        assert_eq!(
            aof_manager_open_log(m, c"a/b".as_ptr(), ptr::null(), &mut log),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(
            aof_manager_open_log(m, c"\xff".as_ptr(), ptr::null(), &mut log),
            AOF_ERR_INVALID_ARG
        );
        // NULLs before the handle: a bogus handle with a NULL name is a NULL_ARG.
        let bogus = ptr::without_provenance_mut::<aof_manager_t>(usize::MAX - 7);
        assert_eq!(
            aof_manager_open_log(bogus, ptr::null(), ptr::null(), &mut log),
            AOF_ERR_NULL_ARG
        );
        assert_eq!(
            aof_manager_open_log(bogus, c"x".as_ptr(), ptr::null(), &mut log),
            AOF_ERR_INVALID_ARG
        );
        assert!(log.is_null());
        // A log handle is not a manager handle, and the other way round.
        assert_eq!(
            aof_manager_open_log(m, c"x".as_ptr(), ptr::null(), &mut log),
            AOF_OK
        );
        assert_eq!(
            aof_manager_drop_log(log.cast(), c"x".as_ptr()),
            AOF_ERR_INVALID_ARG
        );
        assert_eq!(crate::ffi::log::aof_flush(m.cast()), AOF_ERR_INVALID_ARG);
        assert_eq!(aof_manager_close(m), AOF_OK);
        assert_eq!(crate::ffi::log::aof_flush(log), AOF_ERR_CLOSED);
        assert_eq!(crate::ffi::log::aof_close(log), AOF_OK);
        assert_eq!(aof_manager_close(m), AOF_ERR_CLOSED);
        assert_eq!(aof_manager_close(ptr::null_mut()), AOF_OK);
    }
}
