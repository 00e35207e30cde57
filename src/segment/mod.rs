//! Segment files: their format, and a segment's file, map and offset index.
pub mod format;
