//! The layout of a log directory, the one place that knows its file names:
//!
//! ```text
//! <dir>/LOCK                      flock'ed by the handle that has the log open
//! <dir>/CLEAN                     clean-shutdown marker (format in docs/FORMAT.md)
//! <dir>/next.seg.tmp              the next segment while it is prepared
//! <dir>/<base id, 20 digits>.seg  one segment file, named by its first record's id
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const CLEAN_FILE: &str = "CLEAN";
const NEXT_SEGMENT_TMP: &str = "next.seg.tmp";
const LOCK_FILE: &str = "LOCK";
const SEGMENT_SUFFIX: &str = ".seg";

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

    /// Segment files in the directory, sorted by base id.
    pub fn list_segments(&self) -> Result<Vec<(u64, PathBuf)>> {
        let dir = &self.dir;
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io("read directory", dir, e))? {
            let entry = entry.map_err(|e| Error::io("read directory", dir, e))?;
            if let Some(base) = entry.file_name().to_str().and_then(parse_segment_name) {
                out.push((base, entry.path()));
            }
        }
        out.sort();
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
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
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
    }
}
