//! The cold tier: sealed segments kept in an archive (object store or directory).
pub mod archive;
