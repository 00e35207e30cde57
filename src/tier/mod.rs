//! Tiered storage: how sealed segments are kept once they leave the hot tier.
pub mod archive;
pub mod cache;
pub mod cold;
pub mod seekable;
pub mod shared;
pub mod warm;
