//! Segments: their byte format, one local segment file, the offset index, the directory
//! layout, the segment set that owns them, recovery and verification.

pub(crate) mod file;
pub mod format;
pub(crate) mod index;
pub(crate) mod layout;
pub(crate) mod reader;
pub(crate) mod recovery;
pub(crate) mod set;
pub mod verify;

pub use file::last_nonzero;
pub use layout::{parse_segment_name, segment_file_name};
pub use set::SegmentState;
