use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;

use super::*;
use crate::ffi::status::{AOF_ERR_CLOSED, AOF_ERR_INVALID_ARG, AOF_ERR_NULL_ARG};

#[test]
fn unknown_handles_are_rejected_without_dereferencing() {
    assert_eq!(aof_close(std::ptr::null_mut()), AOF_OK);
    let bogus = std::ptr::without_provenance_mut::<aof_log_t>(usize::MAX - 7);
    assert_eq!(aof_flush(bogus), AOF_ERR_INVALID_ARG);
    assert_eq!(aof_flush(std::ptr::null_mut()), AOF_ERR_NULL_ARG);
    assert_eq!(aof_close(bogus), AOF_ERR_INVALID_ARG);
    let mut id = 77;
    // SAFETY: `id` is writable.
    assert_eq!(unsafe { aof_last_id(bogus, &mut id) }, AOF_ERR_INVALID_ARG);
    assert_eq!(id, 77);
}

#[test]
fn null_arguments_come_first() {
    let bogus = std::ptr::without_provenance_mut::<aof_log_t>(usize::MAX - 7);
    // SAFETY: NULL `data` with a nonzero length is rejected before any read.
    let status = unsafe { aof_append(bogus, std::ptr::null(), 4, std::ptr::null_mut()) };
    assert_eq!(status, AOF_ERR_NULL_ARG);
    // SAFETY: NULL `out_len` is rejected before anything is written.
    let status = unsafe {
        aof_read(
            bogus,
            1,
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, AOF_ERR_NULL_ARG);
    // SAFETY: NULL arrays with a nonzero count are rejected before any read.
    let status = unsafe {
        aof_append_batch(
            bogus,
            std::ptr::null(),
            std::ptr::null(),
            2,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, AOF_ERR_NULL_ARG);
    let mut out = std::ptr::null_mut();
    // SAFETY: `out` is writable; NULL path is rejected first.
    let status = unsafe { aof_open(std::ptr::null(), std::ptr::null(), &mut out) };
    assert_eq!(status, AOF_ERR_NULL_ARG);
    // SAFETY: an empty string is a valid C string.
    let status = unsafe { aof_open(c"".as_ptr(), std::ptr::null(), &mut out) };
    assert_eq!(status, AOF_ERR_INVALID_ARG);
    assert!(out.is_null());
}

/// Opens a log through the C API in a fresh directory.
fn open_temp() -> (tempfile::TempDir, *mut aof_log_t) {
    let dir = tempfile::tempdir().unwrap();
    let path = CString::new(dir.path().join("log").into_os_string().into_vec()).unwrap();
    let mut log = std::ptr::null_mut();
    // SAFETY: a C string, NULL options, a writable out-param.
    let status = unsafe { aof_open(path.as_ptr(), std::ptr::null(), &mut log) };
    assert_eq!(status, AOF_OK);
    (dir, log)
}

#[test]
fn the_handle_comes_before_lengths_and_counts() {
    let (_dir, log) = open_temp();
    let byte = 7u8;
    let data: *const u8 = &byte;
    let datas = [data];
    let huge = [usize::MAX];
    let mut id = 77;
    // Lengths no buffer can have: rejected as values before anything is read. The
    // element of `huge` is read, but the record it describes is not.
    // SAFETY: `data`, `datas` and `huge` are readable (one element each); every call
    // fails before reading more; `id` is writable.
    unsafe {
        assert_eq!(
            aof_append(log, data, usize::MAX, &mut id),
            AOF_ERR_INVALID_ARG
        );
        let status = aof_append_batch(log, datas.as_ptr(), huge.as_ptr(), 1, &mut id);
        assert_eq!(status, AOF_ERR_INVALID_ARG);
        let status = aof_append_batch(log, datas.as_ptr(), huge.as_ptr(), usize::MAX, &mut id);
        assert_eq!(status, AOF_ERR_INVALID_ARG);
        assert_eq!(aof_close(log), AOF_OK);
        // A closed handle is reported before them.
        assert_eq!(aof_append(log, data, usize::MAX, &mut id), AOF_ERR_CLOSED);
        let status = aof_append_batch(log, datas.as_ptr(), huge.as_ptr(), 1, &mut id);
        assert_eq!(status, AOF_ERR_CLOSED);
        let status = aof_append_batch(log, datas.as_ptr(), huge.as_ptr(), usize::MAX, &mut id);
        assert_eq!(status, AOF_ERR_CLOSED);
        let status = aof_append_batch(log, datas.as_ptr(), huge.as_ptr(), 0, &mut id);
        assert_eq!(status, AOF_ERR_CLOSED);
        // NULLs before the handle, also a NULL record inside a batch.
        let status = aof_append(log, std::ptr::null(), usize::MAX, &mut id);
        assert_eq!(status, AOF_ERR_NULL_ARG);
        let nulls = [std::ptr::null::<u8>()];
        let status = aof_append_batch(log, nulls.as_ptr(), huge.as_ptr(), 1, &mut id);
        assert_eq!(status, AOF_ERR_NULL_ARG);
        assert_eq!(
            crate::ffi::error_msg::last(),
            "aof_append_batch: `datas[0]` is NULL"
        );
        let status = aof_append_batch(log, std::ptr::null(), huge.as_ptr(), 1, &mut id);
        assert_eq!(status, AOF_ERR_NULL_ARG);
    }
    assert_eq!(id, 77);
}

/// Status of `aof_last_id` on `handle`, with a check that the out-param is untouched on
/// failure.
fn last_id_status(handle: *const aof_log_t) -> aof_status_t {
    let mut id = 77;
    // SAFETY: `id` is writable; the handle is never dereferenced.
    let status = unsafe { aof_last_id(handle, &mut id) };
    if status != AOF_OK {
        assert_eq!(id, 77);
    }
    status
}

#[test]
fn stray_values_are_not_handles() {
    // Logs opened and closed first, so that counters 1, 2, ... have been taken.
    for _ in 0..3 {
        let (_dir, log) = open_temp();
        assert_eq!(aof_close(log), AOF_OK);
    }
    let (_dir, live) = open_temp();
    let (_dir2, closed) = open_temp();
    assert_eq!(aof_close(closed), AOF_OK);

    for small in 1..=1000usize {
        let h = std::ptr::without_provenance::<aof_log_t>(small);
        assert_eq!(last_id_status(h), AOF_ERR_INVALID_ARG, "{small}");
        assert_eq!(aof_flush(h.cast_mut()), AOF_ERR_INVALID_ARG, "{small}");
    }
    assert!(crate::ffi::error_msg::last().contains("is not a log handle"));
    // Random values, and values next to live and closed handles.
    let seed = std::collections::hash_map::RandomState::new();
    let random = (0..64u64).map(|i| std::hash::BuildHasher::hash_one(&seed, i) as usize);
    let neighbours = [live, closed].into_iter().flat_map(|h| {
        let a = h.addr();
        [
            a.wrapping_add(1),
            a.wrapping_sub(1),
            a ^ (1 << 40),
            a.wrapping_add(8),
        ]
    });
    for value in random.chain(neighbours) {
        let h = std::ptr::without_provenance::<aof_log_t>(value);
        assert_eq!(last_id_status(h), AOF_ERR_INVALID_ARG, "{value:#x}");
    }
    // Addresses of memory: a local and an options handle passed by mistake.
    let local = 0u64;
    let mut options = std::ptr::null_mut();
    // SAFETY: a writable out-param; freed below.
    let status = unsafe { crate::ffi::options::aof_options_new(&mut options) };
    assert_eq!(status, AOF_OK);
    for addr in [(&raw const local).addr(), options.addr()] {
        let h = std::ptr::without_provenance::<aof_log_t>(addr);
        assert_eq!(last_id_status(h), AOF_ERR_INVALID_ARG, "{addr:#x}");
    }
    // SAFETY: the handle from aof_options_new, freed once.
    unsafe { crate::ffi::options::aof_options_free(options) };

    // A closed handle is closed; a live one works.
    assert_eq!(last_id_status(closed), AOF_ERR_CLOSED);
    assert_eq!(aof_flush(closed), AOF_ERR_CLOSED);
    assert!(crate::ffi::error_msg::last().contains("was closed"));
    let mut id = 0;
    // SAFETY: three readable bytes and a writable out-param.
    let status = unsafe { aof_append(live, b"abc".as_ptr(), 3, &mut id) };
    assert_eq!(status, AOF_OK);
    assert_eq!(id, 1);
    assert_eq!(last_id_status(live), AOF_OK);
    assert_eq!(aof_flush(live), AOF_OK);
    assert_eq!(aof_close(live), AOF_OK);
    assert_eq!(last_id_status(live), AOF_ERR_CLOSED);
}

#[test]
fn timeouts() {
    assert_eq!(timeout(u32::MAX), None);
    assert_eq!(timeout(0), Some(Duration::ZERO));
    assert_eq!(timeout(1500), Some(Duration::from_millis(1500)));
}
