//! The layout of a log directory, the one place that knows its file names:
//!
//! ```text
//! <dir>/LOCK                      flock'ed by the handle that has the log open
//! <dir>/CLEAN                     clean-shutdown marker (format in docs/FORMAT.md)
//! <dir>/next.seg.tmp              the next segment while it is prepared
//! <dir>/<base id, 20 digits>.seg  one segment file, named by its first record's id
//! <dir>/<base id>.seg.zst          a sealed segment compressed (the warm tier)
//! <dir>/<base id>.seg.zst.tmp      a compression in progress
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const CLEAN_FILE: &str = "CLEAN";
const NEXT_SEGMENT_TMP: &str = "next.seg.tmp";
const LOCK_FILE: &str = "LOCK";
const SEGMENT_SUFFIX: &str = ".seg";
const COMPRESSED_SUFFIX: &str = ".seg.zst";
const COMPRESSED_TMP_SUFFIX: &str = ".seg.zst.tmp";

/// The kinds of files a segment may have in the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentFileKind {
    Plain,
    Compressed,
    CompressedTmp,
}

/// The paths of one log directory.
#[derive(Clone, Debug)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    pub fn new(dir: impl Into<PathBuf>) -> Layout {
        Layout { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn lock_file(&self) -> PathBuf {
        self.dir.join(LOCK_FILE)
    }

    pub fn clean_marker(&self) -> PathBuf {
        self.dir.join(CLEAN_FILE)
    }

    /// Where the next segment is prepared before it is renamed into place.
    pub fn next_segment_tmp(&self) -> PathBuf {
        self.dir.join(NEXT_SEGMENT_TMP)
    }

    pub fn segment(&self, base_id: u64) -> PathBuf {
        self.dir.join(segment_file_name(base_id))
    }

    /// The compressed file of segment `base_id`.
    pub fn compressed(&self, base_id: u64) -> PathBuf {
        self.dir.join(format!("{base_id:020}{COMPRESSED_SUFFIX}"))
    }

    /// Where the compressed file of segment `base_id` is written before it is renamed.
    pub fn compressed_tmp(&self, base_id: u64) -> PathBuf {
        self.dir
            .join(format!("{base_id:020}{COMPRESSED_TMP_SUFFIX}"))
    }

    /// Removes every file of segment `base_id` (plain, compressed, in progress); the
    /// caller syncs the directory. True if there was one.
    pub fn remove_segment_files(&self, base_id: u64) -> Result<bool> {
        let mut removed = false;
        for path in [
            self.segment(base_id),
            self.compressed(base_id),
            self.compressed_tmp(base_id),
        ] {
            if path.exists() {
                crate::fsio::remove_file(&path)?;
                removed = true;
            }
        }
        Ok(removed)
    }

    /// Every file of a segment in the directory (plain, compressed, compression in
    /// progress), sorted by base id, then kind.
    pub fn list_all(&self) -> Result<Vec<(u64, SegmentFileKind, PathBuf)>> {
        let dir = &self.dir;
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io("read directory", dir, e))? {
            let entry = entry.map_err(|e| Error::io("read directory", dir, e))?;
            if let Some((base, kind)) = entry.file_name().to_str().and_then(parse_file_name) {
                out.push((base, kind, entry.path()));
            }
        }
        out.sort_by_key(|(base, kind, _)| (*base, *kind as u8));
        Ok(out)
    }
}

/// Name of the segment whose first record is `base_id`: zero-padded so names sort in id
/// order.
pub fn segment_file_name(base_id: u64) -> String {
    format!("{base_id:020}{SEGMENT_SUFFIX}")
}

/// The base id encoded in a segment file name, if it is one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    match parse_file_name(name)? {
        (base, SegmentFileKind::Plain) => Some(base),
        _ => None,
    }
}

/// The base id and kind of a segment's file, by its name.
fn parse_file_name(name: &str) -> Option<(u64, SegmentFileKind)> {
    let (digits, kind) = if let Some(d) = name.strip_suffix(COMPRESSED_TMP_SUFFIX) {
        (d, SegmentFileKind::CompressedTmp)
    } else if let Some(d) = name.strip_suffix(COMPRESSED_SUFFIX) {
        (d, SegmentFileKind::Compressed)
    } else {
        (name.strip_suffix(SEGMENT_SUFFIX)?, SegmentFileKind::Plain)
    };
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(segment_file_name(1), "00000000000000000001.seg");
        assert_eq!(
            parse_segment_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_segment_name("1.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000000x.seg"), None);
        assert_eq!(parse_segment_name("next.seg.tmp"), None);
        assert!(segment_file_name(9) < segment_file_name(10));
        let layout = Layout::new("/d");
        for (path, kind) in [
            (layout.segment(7), SegmentFileKind::Plain),
            (layout.compressed(7), SegmentFileKind::Compressed),
            (layout.compressed_tmp(7), SegmentFileKind::CompressedTmp),
        ] {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert_eq!(parse_file_name(name), Some((7, kind)), "{name}");
        }
        assert_eq!(parse_segment_name("00000000000000000007.seg.zst"), None);
    }
}
