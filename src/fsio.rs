//! The system calls the engine makes, in one place: every write, sync, allocation, rename
//! and lock goes through here, so fault injection has one seam (the `failpoints` feature),
//! and the `unsafe` they need is argued for here, call by call.
#![allow(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use crate::error::{Error, Result};

/// The action set on failpoint `name` (feature `failpoints`): `eio`, `enospc`, or for
/// writes `short` (half the bytes reach the file, then EIO). Always `None` without the
/// feature.
fn fault(name: &str) -> Option<String> {
    let _ = name;
    fail::fail_point!(name, |arg| Some(arg.unwrap_or_else(|| "eio".into())));
    None
}

fn injected_error(action: &str) -> io::Error {
    match action {
        "enospc" => io::Error::from_raw_os_error(libc::ENOSPC),
        _ => io::Error::from_raw_os_error(libc::EIO),
    }
}

/// Fails with the injected error if failpoint `name` is set.
fn check_fault(name: &str) -> io::Result<()> {
    match fault(name) {
        Some(action) => Err(injected_error(&action)),
        None => Ok(()),
    }
}

fn cvt(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Zeros are written in pieces of at most this size.
pub const ZERO_CHUNK: u64 = 1 << 20;

static ZEROS: [u8; ZERO_CHUNK as usize] = [0; ZERO_CHUNK as usize];

/// Writes zeros over `[from, to)` of `file`, `ZERO_CHUNK` at a time.
pub fn write_zeros(file: &File, path: &Path, from: u64, to: u64) -> Result<()> {
    let mut at = from;
    while at < to {
        let n = (to - at).min(ZERO_CHUNK);
        write_all_at(file, path, &ZEROS[..n as usize], at)?;
        at += n;
    }
    Ok(())
}

/// Wall-clock microseconds since the Unix epoch (0 before it). Called on every append, so
/// straight to `clock_gettime` (vDSO) without `SystemTime`'s conversions.
pub fn now_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    if ret != 0 || ts.tv_sec < 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// Writes all of `buf` at `offset`.
pub fn write_all_at(file: &File, path: &Path, buf: &[u8], offset: u64) -> Result<()> {
    if let Some(action) = fault("fsio::write") {
        if action == "short" {
            let _ = file.write_all_at(&buf[..buf.len() / 2], offset);
        }
        return Err(Error::io("write", path, injected_error(&action)));
    }
    file.write_all_at(buf, offset)
        .map_err(|e| Error::io("write", path, e))
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub fn read_exact_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<()> {
    file.read_exact_at(buf, offset)
        .map_err(|e| Error::io("read", path, e))
}

/// `fdatasync(2)`: the file's data and the metadata needed to read it back are durable.
pub fn fdatasync(file: &File, path: &Path) -> Result<()> {
    check_fault("fsio::fdatasync").map_err(|e| Error::io("fdatasync", path, e))?;
    loop {
        // SAFETY: the fd is owned by `file`, which outlives the call.
        let ret = unsafe { libc::fdatasync(file.as_raw_fd()) };
        match cvt(ret) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r.map_err(|e| Error::io("fdatasync", path, e)),
        }
    }
}

/// Reserves `len` bytes of disk for the file (extending it), so later writes into that
/// range cannot fail for lack of space. Falls back to `set_len` where the file system has
/// no `fallocate`.
pub fn allocate(file: &File, path: &Path, len: u64) -> Result<()> {
    let len_off = libc::off_t::try_from(len)
        .map_err(|_| Error::InvalidArgument(format!("file length {len} too large")))?;
    check_fault("fsio::fallocate").map_err(|e| Error::io("fallocate", path, e))?;
    loop {
        // SAFETY: the fd is owned by `file`; mode 0 only allocates and extends.
        let ret = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len_off) };
        match cvt(ret) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                return file.set_len(len).map_err(|e| Error::io("set_len", path, e));
            }
            Err(e) => return Err(Error::io("fallocate", path, e)),
        }
    }
}

/// Makes the directory's entries (created, renamed, removed files) durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    check_fault("fsio::fsync_dir").map_err(|e| Error::io("fsync directory", dir, e))?;
    let d = File::open(dir).map_err(|e| Error::io("open directory", dir, e))?;
    d.sync_all()
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Creates (or truncates) a file for reading and writing.
pub fn create_file(path: &Path) -> Result<File> {
    check_fault("fsio::create").map_err(|e| Error::io("create", path, e))?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io("create", path, e))
}

/// Opens an existing file for reading and writing.
pub fn open_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))
}

pub fn rename(from: &Path, to: &Path) -> Result<()> {
    check_fault("fsio::rename").map_err(|e| Error::io("rename", from, e))?;
    fs::rename(from, to).map_err(|e| Error::io("rename", from, e))
}

pub fn remove_file(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|e| Error::io("remove", path, e))
}

/// Removes an empty directory.
pub fn remove_dir(path: &Path) -> Result<()> {
    fs::remove_dir(path).map_err(|e| Error::io("remove directory", path, e))
}

/// Takes an exclusive, non-blocking `flock` on `path` (created if missing). The lock lives
/// as long as the returned file. `flock` locks belong to the open file description, so a
/// second open in the same process is refused too.
pub fn lock_exclusive(path: &Path, dir: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io("open lock file", path, e))?;
    // SAFETY: the fd is owned by `file`.
    let ret = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    match cvt(ret) {
        Ok(()) => Ok(file),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Err(Error::Busy(dir.into())),
        Err(e) => Err(Error::io("flock", path, e)),
    }
}

/// The ranges of `from..to` that may hold data: everything but holes and, on file systems
/// that report them so (ext4, xfs), allocated-but-never-written extents. A file system
/// without `SEEK_DATA` gives the whole range back.
pub fn data_ranges(file: &File, path: &Path, from: u64, to: u64) -> Result<Vec<(u64, u64)>> {
    let fd = file.as_raw_fd();
    let seek = |at: u64, whence: libc::c_int| -> io::Result<Option<u64>> {
        let at =
            libc::off_t::try_from(at).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: the fd is owned by `file`; lseek only moves its offset.
        let ret = unsafe { libc::lseek(fd, at, whence) };
        if ret >= 0 {
            return Ok(Some(ret as u64));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENXIO) => Ok(None),
            _ => Err(err),
        }
    };
    let mut ranges = Vec::new();
    let mut at = from;
    while at < to {
        let start = match seek(at, libc::SEEK_DATA) {
            Ok(Some(start)) => start,
            Ok(None) => break,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(vec![(from, to)]),
            Err(e) => return Err(Error::io("lseek", path, e)),
        };
        if start >= to {
            break;
        }
        let end = match seek(start, libc::SEEK_HOLE) {
            Ok(Some(end)) => end.min(to),
            Ok(None) => to,
            Err(e) => return Err(Error::io("lseek", path, e)),
        };
        ranges.push((start, end));
        at = end;
    }
    Ok(ranges)
}

/// A non-blocking, close-on-exec eventfd (counter mode): what a completion queue signals
/// through, so that a caller's event loop (epoll, libuv, asyncio) can wait for it.
pub fn eventfd() -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: no pointers; the flags are valid for eventfd(2).
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(Error::io(
            "eventfd",
            Path::new("eventfd"),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` was just returned by eventfd(2) and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Adds 1 to an eventfd's counter: it becomes readable. Cannot fail short of a counter at
/// its maximum, which the callers (one signal per non-empty period) never reach.
pub fn eventfd_signal(fd: &std::os::fd::OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an fd owned by the caller.
    let _ = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

/// Resets an eventfd's counter to 0 (not readable any more); a no-op when it is 0.
pub fn eventfd_clear(fd: &std::os::fd::OwnedFd) {
    let mut count: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live u64 from an fd owned by the caller; the fd
    // is non-blocking, so EAGAIN (counter already 0) returns at once.
    let _ = unsafe { libc::read(fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_zeros_covers_the_range_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = create_file(&path).unwrap();
        let len = 2 * ZERO_CHUNK + 3 * 4096;
        write_all_at(&file, &path, &vec![0xAB; len as usize + 8], 0).unwrap();
        write_zeros(&file, &path, 8, len).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes[..8].iter().all(|&b| b == 0xAB));
        assert!(bytes[8..len as usize].iter().all(|&b| b == 0));
        assert!(bytes[len as usize..].iter().all(|&b| b == 0xAB));
    }

    #[test]
    fn data_ranges_cover_unsynced_writes_in_preallocated_space() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = create_file(&path).unwrap();
        allocate(&file, &path, 1 << 20).unwrap();
        // Written but not synced: only in the page cache, over unwritten extents.
        write_all_at(&file, &path, &[1u8; 100], 4096).unwrap();
        write_all_at(&file, &path, &[2u8; 10], 700_000).unwrap();
        let ranges = data_ranges(&file, &path, 0, 1 << 20).unwrap();
        for at in [4096u64, 4195, 700_000, 700_009] {
            assert!(
                ranges.iter().any(|&(s, e)| s <= at && at < e),
                "offset {at} not in {ranges:?}"
            );
        }
    }
}
